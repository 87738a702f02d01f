// Package snapfile is the file format of the registrar's snapshots: a
// header (what the snapshot reflects: a store position and the hash chain's
// head there), a body the read side writes and reads (see projections:
// Reader.Snapshot, RestoreReader), and a SHA-256 of everything before it;
// the primitives the body is written with (Encoder, Decoder); and the
// atomic write of a file (WriteFile: a temporary file, fsynced, renamed).
//
// A snapshot is derived data: a file that does not decode, or does not fit
// the store, is ignored by its reader. So decoding never panics, whatever
// the bytes (the package is fuzzed): every error wraps ErrCorrupt, or
// ErrVersion for a file of another format version.
//
// Layout, integers little-endian:
//
//	magic     8 bytes  "AREGSNAP"
//	version   uint32   Version
//	position  uint64   the global position of the last event the snapshot holds
//	written   int64    Unix nanoseconds when it was written
//	hash      32 bytes the chain hash of the event at position (eventstore.ChainHash)
//	body      uint64 length, then the bytes
//	checksum  32 bytes SHA-256 of every byte before it
//
// It imports the standard library only.
package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Version is the format version this program writes and reads. A change of
// the header or of the body's layout (anywhere: projections' sections
// included) takes a new number; a file of another version is ignored.
const Version = 3 // 3: a device record holds its credential salt

// HashSize is the size of a chain hash (SHA-256).
const HashSize = sha256.Size

var magic = [8]byte{'A', 'R', 'E', 'G', 'S', 'N', 'A', 'P'}

// headerSize is the size of the fixed part before the body.
const headerSize = 8 + 4 + 8 + 8 + HashSize + 8

// Errors of Decode, wrapped with details.
var (
	// ErrCorrupt: the bytes are not a whole, intact snapshot.
	ErrCorrupt = errors.New("snapshot is corrupt")
	// ErrVersion: a snapshot of another format version.
	ErrVersion = errors.New("snapshot of another format version")
)

// Header is what a snapshot reflects.
type Header struct {
	// Version is the format version (Version when written by this program).
	Version uint32
	// Position is the global position of the last event the snapshot
	// holds.
	Position uint64
	// Hash is the chain hash of the event at Position: the snapshot fits a
	// store only if the store's event there has it.
	Hash []byte
	// Written is when the snapshot was written.
	Written time.Time
}

// Parts returns the file's bytes for a header and a body, in three parts
// (header, body, checksum), so that a large body is not copied: write them
// one after the other (WriteFile does).
func Parts(h Header, body []byte) ([][]byte, error) {
	if len(h.Hash) != HashSize {
		return nil, fmt.Errorf("snapshot header: a chain hash of %d bytes, want %d", len(h.Hash), HashSize)
	}
	head := make([]byte, 0, headerSize)
	head = append(head, magic[:]...)
	head = binary.LittleEndian.AppendUint32(head, Version)
	head = binary.LittleEndian.AppendUint64(head, h.Position)
	head = binary.LittleEndian.AppendUint64(head, uint64(h.Written.UnixNano()))
	head = append(head, h.Hash...)
	head = binary.LittleEndian.AppendUint64(head, uint64(len(body)))
	sum := sha256.New()
	sum.Write(head)
	sum.Write(body)
	return [][]byte{head, body, sum.Sum(nil)}, nil
}

// Encode returns the file's bytes for a header and a body, in one slice.
func Encode(h Header, body []byte) ([]byte, error) {
	parts, err := Parts(h, body)
	if err != nil {
		return nil, err
	}
	return bytes.Join(parts, nil), nil
}

// Decode checks a file's bytes and returns its header and body (a slice of
// b). The version is read first, so that a file of another version is
// reported as such (ErrVersion) rather than as corrupt.
func Decode(b []byte) (Header, []byte, error) {
	var h Header
	if len(b) < len(magic)+4 || !bytes.Equal(b[:len(magic)], magic[:]) {
		return h, nil, fmt.Errorf("%w: not a snapshot file (no %q at its start)", ErrCorrupt, magic[:])
	}
	h.Version = binary.LittleEndian.Uint32(b[len(magic):])
	if h.Version != Version {
		return h, nil, fmt.Errorf("%w: format version %d, this program reads version %d", ErrVersion, h.Version, Version)
	}
	if len(b) < headerSize+HashSize {
		return h, nil, fmt.Errorf("%w: %d bytes, shorter than a header and a checksum (%d): truncated", ErrCorrupt, len(b), headerSize+HashSize)
	}
	n := binary.LittleEndian.Uint64(b[headerSize-8:])
	if want := uint64(len(b) - headerSize - HashSize); n != want {
		return h, nil, fmt.Errorf("%w: the header says the body is %d bytes, the file holds %d: truncated or extended", ErrCorrupt, n, want)
	}
	end := len(b) - HashSize
	sum := sha256.Sum256(b[:end])
	if !bytes.Equal(sum[:], b[end:]) {
		return h, nil, fmt.Errorf("%w: its SHA-256 does not match its content", ErrCorrupt)
	}
	off := len(magic) + 4
	h.Position = binary.LittleEndian.Uint64(b[off:])
	h.Written = time.Unix(0, int64(binary.LittleEndian.Uint64(b[off+8:]))).UTC()
	h.Hash = bytes.Clone(b[off+16 : off+16+HashSize])
	return h, b[headerSize:end], nil
}

// ReadFile reads and decodes the snapshot file at path (see Decode). A
// missing file is an error wrapping fs.ErrNotExist.
func ReadFile(path string) (Header, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Header{}, nil, err
	}
	return Decode(b)
}

// tempPrefix names the temporary files WriteFile makes beside path.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// WriteFile writes parts, one after the other, to the file at path
// atomically: to a temporary file in the same directory, fsynced, renamed
// over path, and the directory fsynced. A crash at any moment leaves at
// path either the file before or the new one, whole (and maybe a temporary
// file, which RemoveTemp removes).
func WriteFile(path string, parts ...[]byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	for _, p := range parts {
		if _, err = f.Write(p); err != nil {
			return err
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveTemp removes the temporary files WriteFile left beside path (a
// process killed while writing) that were last modified before `before`,
// and returns their names.
func RemoveTemp(path string, before time.Time) []string {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	prefix := tempPrefix(path)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if os.Remove(name) == nil {
			out = append(out, name)
		}
	}
	return out
}

// FileSize is the size of the file holding a body of n bytes.
func FileSize(n int) int { return headerSize + n + HashSize }
