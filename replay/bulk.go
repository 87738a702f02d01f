package replay

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// bulkLoader writes a generated history straight into the events table of
// a new, empty SQLite store, in big transactions of multi-row INSERTs, with
// the positions, versions, RecordedAt and hash chain the store itself would
// give each event (eventstore.ChainHash), checking each append's expected
// versions as the store would.
//
// The store's Append commits (and syncs) once per call, and a call carries
// each stream once, so a history written command by command through it goes
// at the speed of the disk's syncs; the registrar gets its speed from many
// concurrent appends in one commit, which a single generator does not have.
// Loading the table directly keeps every command's events together, in
// order, each with the simulated time of its decision. The file is created
// by sqlite.Open and read back through sqlite.OpenReadOnly and Verify.
type bulkLoader struct {
	db   *sql.DB
	rows chan [][]any // chunks of rows: the INSERT's arguments
	done chan error
	// cur is the chunk being filled (bulkRowsPerInsert rows of 9
	// arguments at most); batch the chunks to send.
	cur      []any
	batch    [][]any
	head     uint64
	prev     []byte // the last event's hash
	versions map[string]int64
}

// rowArgs is the number of columns of a row.
const rowArgs = 9

const (
	bulkRowsPerInsert = 64
	bulkRowsPerTx     = 64 * 1024
)

func openBulk(ctx context.Context, path string) (*bulkLoader, error) {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	// While the new file is loaded, nobody else has it: no journal, no
	// syncs, an exclusive lock, and up to 1 GiB of page cache so that the
	// indexes stay in memory. Close puts it back in WAL mode and syncs.
	db, err := sql.Open("sqlite", "file:"+esc+"?_pragma=busy_timeout(5000)&_pragma=locking_mode(EXCLUSIVE)"+
		"&_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-1048576)&_pragma=mmap_size(17179869184)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n != 0 {
		db.Close()
		return nil, usagef("%s already holds %d events: generate writes only into a new store", path, n)
	}
	b := &bulkLoader{db: db, rows: make(chan [][]any, 4), done: make(chan error, 1),
		versions: map[string]int64{}, cur: make([]any, 0, rowArgs*bulkRowsPerInsert)}
	go func() { b.done <- b.insert(ctx) }()
	return b, nil
}

// Write implements generate.Writer.
func (b *bulkLoader) Write(ctx context.Context, at time.Time, appends []eventstore.StreamAppend) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at = at.UTC().Round(0)
	for _, a := range appends {
		cur, ok := b.versions[a.Stream]
		if !ok {
			cur = -1
		}
		if !a.Expected.Allows(cur) {
			return &eventstore.ConflictError{Stream: a.Stream, Expected: a.Expected, Actual: cur}
		}
		for _, e := range a.Events {
			cur++
			b.head++
			rec := eventstore.RecordedEvent{Position: b.head, Stream: a.Stream, Version: uint64(cur),
				ID: e.ID, Type: e.Type, Data: e.Data, Metadata: nonNil(e.Metadata), RecordedAt: at}
			rec.Hash = eventstore.ChainHash(b.prev, rec)
			b.prev = rec.Hash
			// The arguments are made here, beside the generator, so that
			// the loader's goroutine only inserts.
			b.cur = append(b.cur, int64(rec.Position), rec.Stream, int64(rec.Version), rec.ID, rec.Type, rec.Data,
				rec.Metadata, at.UnixNano(), rec.Hash)
			if len(b.cur) == cap(b.cur) {
				b.batch = append(b.batch, b.cur)
				b.cur = make([]any, 0, rowArgs*bulkRowsPerInsert)
			}
		}
		b.versions[a.Stream] = cur
	}
	if len(b.batch) >= 64 {
		return b.send()
	}
	return nil
}

func (b *bulkLoader) send() error {
	if len(b.batch) == 0 {
		return nil
	}
	select {
	case b.rows <- b.batch:
		b.batch = nil
		return nil
	case err := <-b.done:
		b.done <- err
		if err == nil {
			err = fmt.Errorf("generate: the loader stopped")
		}
		return err
	}
}

// Close writes what is left and waits for the loader.
func (b *bulkLoader) Close() error {
	if len(b.cur) > 0 {
		b.batch = append(b.batch, b.cur)
		b.cur = nil
	}
	err := b.send()
	close(b.rows)
	if lerr := <-b.done; err == nil {
		err = lerr
	}
	if err == nil {
		err = b.index()
	}
	if err == nil {
		// Back to the store's mode, durably.
		_, err = b.db.Exec(`PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL; PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	if cerr := b.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// index fills the store's deferred stream index (files of schema version 2
// have one: see adapters/eventstore/sqlite) for every event loaded, in one
// sorted pass, and moves its watermark to the last event, so that the new
// store reads streams by index seeks from the start rather than scanning a
// tail of the whole history. Files without the table index inline.
func (b *bulkLoader) index() error {
	var n int
	if err := b.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'stream_index'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	_, err := b.db.Exec(`BEGIN;
		INSERT INTO stream_index (stream, version, position) SELECT stream, version, position FROM events ORDER BY stream, version;
		UPDATE stream_index_state SET indexed_through = (SELECT coalesce(max(position), 0) FROM events) WHERE one = 1;
		COMMIT`)
	if err != nil {
		b.db.Exec(`ROLLBACK`)
		return fmt.Errorf("indexing the streams: %w", err)
	}
	return nil
}

// insert is the loader's goroutine.
func (b *bulkLoader) insert(ctx context.Context) (err error) {
	const cols = `(position, stream, version, id, type, data, metadata, recorded_at, hash)`
	one := `(?,?,?,?,?,?,?,?,?)`
	many := `INSERT INTO events ` + cols + ` VALUES ` + strings.TrimSuffix(strings.Repeat(one+",", bulkRowsPerInsert), ",")
	var tx *sql.Tx
	var stmtMany, stmtOne *sql.Stmt
	begin := func() error {
		var err error
		if tx, err = b.db.BeginTx(ctx, nil); err != nil {
			return err
		}
		if stmtMany, err = tx.PrepareContext(ctx, many); err != nil {
			return err
		}
		stmtOne, err = tx.PrepareContext(ctx, `INSERT INTO events `+cols+` VALUES `+one)
		return err
	}
	defer func() {
		if tx != nil {
			tx.Rollback()
		}
		for range b.rows { // unblock the generator
		}
	}()
	if err := begin(); err != nil {
		return err
	}
	inTx := 0
	for batch := range b.rows {
		for _, chunk := range batch {
			if len(chunk) == rowArgs*bulkRowsPerInsert {
				if _, err := stmtMany.ExecContext(ctx, chunk...); err != nil {
					return fmt.Errorf("generate: insert at position %v: %w", chunk[0], err)
				}
			} else {
				for i := 0; i < len(chunk); i += rowArgs {
					if _, err := stmtOne.ExecContext(ctx, chunk[i:i+rowArgs]...); err != nil {
						return fmt.Errorf("generate: insert at position %v: %w", chunk[i], err)
					}
				}
			}
			inTx += len(chunk) / rowArgs
		}
		if inTx >= bulkRowsPerTx {
			if err := tx.Commit(); err != nil {
				return err
			}
			tx = nil
			if err := begin(); err != nil {
				return err
			}
			inTx = 0
		}
	}
	err = tx.Commit()
	tx = nil
	return err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
