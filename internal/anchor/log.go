package anchor

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// Log is the append-only checkpoint file the registrar writes.
type Log struct {
	f    *os.File
	path string
}

// OpenLog opens (creating it, mode 0644) the checkpoint log at path for
// appending. Every write goes to the end of the file, whatever the offset.
func OpenLog(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the checkpoint log: %w", err)
	}
	return &Log{f: f, path: path}, nil
}

// Path is the log's file.
func (l *Log) Path() string { return l.path }

// Append writes c as one line, in one write, and syncs the file.
func (l *Log) Append(c Checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("appending to the checkpoint log %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("syncing the checkpoint log %s: %w", l.path, err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// maxLine bounds a line of the log (a checkpoint is about 300 bytes).
const maxLine = 64 << 10

// ReadLog reads the checkpoints of a log, in file order. A line that is
// not a checkpoint is an error wrapping ErrBadLog that names it; blank
// lines are skipped. A last line without its newline (a write cut short)
// is an error too.
func ReadLog(r io.Reader) ([]Entry, error) {
	br := bufio.NewReaderSize(r, maxLine)
	var out []Entry
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line %d is longer than %d bytes", ErrBadLog, n, maxLine)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(line) > 0 && line[len(line)-1] != '\n' {
			return nil, fmt.Errorf("%w: line %d has no end (a write cut short?)", ErrBadLog, n)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var c Checkpoint
			dec := json.NewDecoder(bytes.NewReader(t))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				return nil, fmt.Errorf("%w: line %d is not a checkpoint: %v", ErrBadLog, n, err)
			}
			out = append(out, Entry{Line: n, Checkpoint: c})
		}
		if err != nil { // io.EOF
			return out, nil
		}
	}
}

// ReadLogFile reads the log at path (ReadLog).
func ReadLogFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoints: %w", err)
	}
	defer f.Close()
	es, err := ReadLog(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return es, nil
}

// VerifyLog checks every entry: its form, its signature by one of keys,
// and its order (each node's checkpoints come with positions and times
// that never go back). The first failure is an error wrapping ErrBadLog
// naming the line. It returns the entries as Anchors, for the store to be
// checked against.
func VerifyLog(name string, entries []Entry, keys ...ed25519.PublicKey) (*Anchors, error) {
	if len(keys) == 0 {
		return nil, errors.New("no public key to verify the checkpoints with")
	}
	byID := map[string]ed25519.PublicKey{}
	var ids []string
	for _, k := range keys {
		id := KeyID(k)
		byID[id] = k
		ids = append(ids, id)
	}
	last := map[string]Entry{} // by node
	for _, e := range entries {
		pub, ok := byID[e.Key]
		if !ok {
			return nil, fmt.Errorf("%w: %s:%d: signed by key %s, not by the key given (%v)", ErrBadLog, name, e.Line, orDash(e.Key), ids)
		}
		if err := Verify(e.Checkpoint, pub); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrBadLog, name, e.Line, err)
		}
		if p, ok := last[e.Node]; ok {
			if e.Position < p.Position || e.Time.Before(p.Time) {
				return nil, fmt.Errorf("%w: %s:%d: node %s's checkpoint at position %d (%s) comes after its checkpoint at position %d (%s) on line %d: the log's lines were reordered",
					ErrBadLog, name, e.Line, orDash(e.Node), e.Position, ts(e.Time), p.Position, ts(p.Time), p.Line)
			}
		}
		last[e.Node] = e
	}
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b Entry) int { return cmp.Compare(a.Position, b.Position) })
	return &Anchors{File: name, Entries: sorted}, nil
}

// VerifyLogFile reads the log at path and verifies it (VerifyLog). A log
// that does not exist, or holds no checkpoint, is an error: nothing
// anchors the history.
func VerifyLogFile(path string, keys ...ed25519.PublicKey) (*Anchors, error) {
	es, err := ReadLogFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrBadLog, path)
	}
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("%w: %s holds no checkpoint: nothing anchors the history", ErrBadLog, path)
	}
	return VerifyLog(path, es, keys...)
}
