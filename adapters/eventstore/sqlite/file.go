package sqlite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite/internal/lite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

const (
	// applicationID marks a SQLite file as an autoreg event store
	// (PRAGMA application_id, header offset 68): "AREG".
	applicationID = 0x41524547
	// schemaVersion is the layout this package creates (PRAGMA
	// user_version, header offset 60). It reads and writes every layout
	// from 1 to schemaVersion:
	//
	//   - 1: the events table with an inline UNIQUE (stream, version),
	//     which every append maintains;
	//   - 2: the events table without it, and a stream index the writer
	//     maintains in batches (see index.go).
	//
	// Files of layout 1 keep layout 1: nothing migrates them.
	schemaVersion = 2
	// pageSize is the page size of new files.
	pageSize = 4096
)

// schema creates a new store. It runs on a fresh file in rollback-journal
// mode, so that the application ID and the schema are in the main file
// before it is switched to WAL and moved into place.
//
// events is the log: the source of truth, and the only table an append
// writes to. stream_index is derived from it: a row per event at positions
// 1 to stream_index_state.indexed_through (the watermark), written in the
// same transaction as the watermark; the events above the watermark are
// the tail, which readers of a stream scan (see index.go).
var schema = fmt.Sprintf(`
PRAGMA page_size = %d;
PRAGMA journal_mode = DELETE;
PRAGMA synchronous = FULL;
BEGIN;
CREATE TABLE events (
	position    INTEGER PRIMARY KEY CHECK (position > 0), -- global, gap-free from 1
	stream      TEXT    NOT NULL CHECK (stream <> ''),
	version     INTEGER NOT NULL CHECK (version >= 0),    -- within the stream, from 0
	id          TEXT    NOT NULL UNIQUE,
	type        TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	metadata    BLOB    NOT NULL,
	recorded_at INTEGER NOT NULL,                         -- Unix nanoseconds, UTC
	hash        BLOB    NOT NULL                          -- eventstore.ChainHash
) STRICT;
CREATE TABLE stream_index (
	stream   TEXT    NOT NULL,
	version  INTEGER NOT NULL,
	position INTEGER NOT NULL,                            -- the event's, in events
	PRIMARY KEY (stream, version)
) STRICT, WITHOUT ROWID;
CREATE TABLE stream_index_state (
	one             INTEGER PRIMARY KEY CHECK (one = 1),  -- a single row
	indexed_through INTEGER NOT NULL CHECK (indexed_through >= 0)
) STRICT;
INSERT INTO stream_index_state (one, indexed_through) VALUES (1, 0);
PRAGMA application_id = %d;
PRAGMA user_version = %d;
COMMIT;
PRAGMA journal_mode = WAL;
`, pageSize, applicationID, schemaVersion)

// ErrNotEventStore: the file exists but is not an event store (not a SQLite
// database, or one that some other program made). The store does not touch
// such a file.
var ErrNotEventStore = errors.New("not an autoreg event store")

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// inspect checks the file at path before SQLite opens it, reading only its
// 100-byte header and sizes: exists is false if there is no file. It fails
// with ErrNotEventStore for a file that is not ours and with
// eventstore.ErrCorrupt for one of ours that is visibly damaged (bad header,
// or shorter than its header says).
func inspect(path string) (exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", eventstore.ErrUnavailable, path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return true, fmt.Errorf("%w: %s: %w", eventstore.ErrUnavailable, path, err)
	}
	if !info.Mode().IsRegular() {
		return true, fmt.Errorf("%w: %s is not a regular file", ErrNotEventStore, path)
	}
	size := info.Size()
	if size == 0 {
		return true, fmt.Errorf("%w: %s is empty (a new store is never empty: this is another program's file, or a store truncated to nothing)", ErrNotEventStore, path)
	}
	var h [100]byte
	n, err := io.ReadFull(f, h[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return true, fmt.Errorf("%w: %s: %w", eventstore.ErrUnavailable, path, err)
	}
	if !bytes.HasPrefix(h[:n], sqliteMagic[:min(n, len(sqliteMagic))]) {
		return true, fmt.Errorf("%w: %s is not a SQLite database", ErrNotEventStore, path)
	}
	if n < len(h) {
		return true, fmt.Errorf("%w: %s: truncated to %d bytes, inside the database header", eventstore.ErrCorrupt, path, n)
	}
	be := binary.BigEndian
	if id := be.Uint32(h[68:]); id != applicationID {
		return true, fmt.Errorf("%w: %s is a SQLite database of another program (application_id %#x, want %#x)", ErrNotEventStore, path, id, applicationID)
	}
	switch v := be.Uint32(h[60:]); {
	case v == 0:
		return true, fmt.Errorf("%w: %s: schema version 0: the store was never fully created", eventstore.ErrCorrupt, path)
	case v > schemaVersion:
		return true, fmt.Errorf("%s: schema version %d is newer than this program's %d: upgrade the program", path, v, schemaVersion)
	}
	ps := int64(be.Uint16(h[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return true, fmt.Errorf("%w: %s: bad page size %d in the header", eventstore.ErrCorrupt, path, ps)
	}
	// With a WAL that holds frames, a checkpoint may have been cut short:
	// SQLite finishes it from the WAL, so the main file's size proves
	// nothing yet. Otherwise the file must hold every page the header
	// counts (when that count is valid: version-valid-for == change counter).
	if walFrames(path) {
		return true, nil
	}
	if size%ps != 0 {
		return true, fmt.Errorf("%w: %s: size %d is not a whole number of %d-byte pages: the file was truncated", eventstore.ErrCorrupt, path, size, ps)
	}
	if pages, counter, validFor := int64(be.Uint32(h[28:])), be.Uint32(h[24:]), be.Uint32(h[92:]); pages > 0 && counter == validFor && size < pages*ps {
		return true, fmt.Errorf("%w: %s: %d bytes, but its header counts %d pages of %d bytes (%d bytes): the file was truncated", eventstore.ErrCorrupt, path, size, pages, ps, pages*ps)
	}
	return true, nil
}

// walFrames reports whether the store's WAL file exists and holds more
// than its header.
func walFrames(path string) bool {
	info, err := os.Stat(path + "-wal")
	return err == nil && info.Size() > 32
}

// create makes a new, empty store at path without ever exposing a
// half-made file there: it builds the store in a temporary file next to
// path, syncs it, and links it into place only if path still does not exist
// (if another process created it meanwhile, create leaves that one alone and
// returns nil).
func create(path string) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("%w: create %s: %w", eventstore.ErrUnavailable, path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer func() {
		os.Remove(name)
		os.Remove(name + "-journal")
		os.Remove(name + "-wal")
		os.Remove(name + "-shm")
	}()

	c, err := lite.Open(name, lite.OpenReadWrite|lite.OpenNoMutex)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, classify(path, err))
	}
	if err := c.Exec(schema); err != nil {
		c.Close()
		return fmt.Errorf("create %s: %w", path, classify(path, err))
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, classify(path, err))
	}
	if err := syncFile(name); err != nil {
		return fmt.Errorf("%w: create %s: %w", eventstore.ErrUnavailable, path, err)
	}

	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created by someone else in the meantime
		}
		// No hard links here: fall back to a rename, which could only
		// replace a file that appeared in the last instant.
		if _, serr := os.Lstat(path); serr == nil {
			return nil
		}
		if rerr := os.Rename(name, path); rerr != nil {
			return fmt.Errorf("%w: create %s: %w", eventstore.ErrUnavailable, path, rerr)
		}
	}
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("%w: create %s: sync directory: %w", eventstore.ErrUnavailable, path, err)
	}
	return nil
}

// syncFile fsyncs a file or directory.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// classify maps SQLite errors onto the port's sentinels, naming the file:
// a full disk, a lock held elsewhere past the busy timeout, I/O failures and
// the like are ErrUnavailable (try again later); a damaged file is
// ErrCorrupt. Other errors are returned as they are.
func classify(path string, err error) error {
	switch lite.Code(err) {
	case lite.CodeBusy, lite.CodeLocked, lite.CodeIOErr, lite.CodeFull, lite.CodeCantOpen,
		lite.CodeNoMem, lite.CodeProtocol, lite.CodeReadOnly, lite.CodePerm:
		return fmt.Errorf("%w: %s: %w", eventstore.ErrUnavailable, path, err)
	case lite.CodeCorrupt, lite.CodeNotADB:
		return fmt.Errorf("%w: %s: %w", eventstore.ErrCorrupt, path, err)
	}
	return err
}
