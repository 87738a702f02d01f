package sqlite

import (
	"fmt"
	"strings"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite/internal/lite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// The deferred stream index (layout 2).
//
// A stream's events are found through an index on (stream, version). In
// layout 1 it is a UNIQUE constraint of the events table, which each append
// updates: one leaf page per stream per commit, most of the pages a commit
// of single-event appends to many streams writes to the WAL. In layout 2
// appends write the events table only, and the writer goroutine brings the
// derived table stream_index up to date in batches (see upkeep): when the
// tail (the events above the watermark stream_index_state.indexed_through)
// reaches upkeep.batch events, inside a group's transaction; when it has
// been idle for a while; at Open (a long tail) and at Close. Import indexes
// what it writes. A batch writes the index rows of the events above the
// watermark and moves the watermark, in one transaction, so the file
// always holds index rows for exactly the positions 1 to the watermark,
// whatever the moment of a crash; any state of the index reads the same.
//
// So every lookup by stream reads the index and scans the tail, in one
// read transaction: a stream's events up to the watermark come from the
// index (in version order), those above it from the tail (in position
// order, which is version order within a stream). The tail stays short
// (under upkeep.batch, plus a group), except in a file that a program
// other than this package loaded without indexing it (replay generate
// indexes what it loads): Open indexes it; read-only opens cannot, and scan
// the long tail.
//
// The writer's check of expected versions reads, within its write
// transaction, its cache of stream versions, else the streams of the tail
// (which it knows, having written them, or rescans once when another
// connection committed or a rollback undid some), else the index alone, so
// versions stay unique within each stream with any number of writers on the
// file (the database's write lock orders them); the index's primary key
// turns a duplicate that got into the events table some other way into
// eventstore.ErrCorrupt when it is indexed. A watermark past the last event
// (events deleted from the end) is eventstore.ErrCorrupt at open.

// layout is a file's schema version (PRAGMA user_version).
type layout int64

const (
	// layoutInline: events has UNIQUE (stream, version), kept by every
	// insert (files made before layout 2).
	layoutInline layout = 1
	// layoutDeferred: events has no (stream, version) index; stream_index
	// and its watermark hold it, up to date to the watermark.
	layoutDeferred layout = 2
)

// upkeep says when the writer indexes the tail.
type upkeep struct {
	// batch: a group's transaction indexes the tail (with the group's
	// events) once it has at least batch events, and so does Open. Each
	// lookup by stream scans the tail: this bounds what that costs.
	batch uint64
	// idle: the writer indexes the tail once it had no append for this
	// long (0: never).
	idle time.Duration
	// atClose: Close indexes the tail.
	atClose bool
}

var defaultUpkeep = upkeep{batch: 1024, idle: 100 * time.Millisecond, atClose: true}

// maxIndexBatch bounds the events one transaction indexes (Open and Close
// index a long tail in several).
const maxIndexBatch = 1 << 16

// readLayout reads the connection's file's layout.
func readLayout(c *lite.Conn, path string) (layout, error) {
	st, err := c.Prepare(`PRAGMA user_version`)
	if err != nil {
		return 0, classify(path, err)
	}
	row, err := st.Step()
	var v int64
	if row {
		v = st.Int64(0)
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return 0, classify(path, err)
	}
	if l := layout(v); l == layoutInline || l == layoutDeferred {
		return l, nil
	}
	return 0, fmt.Errorf("%w: %s: schema version %d", eventstore.ErrCorrupt, path, v)
}

// watermarkSQL is the last indexed position, inside a statement.
const watermarkSQL = `(SELECT indexed_through FROM stream_index_state WHERE one = 1)`

// streamVersionSQL is a stream's last version (NULL: no stream), ?1 the
// stream.
func streamVersionSQL(l layout) string {
	if l == layoutInline {
		return `SELECT max(version) FROM events WHERE stream = ?1`
	}
	return `SELECT max(v) FROM (
		SELECT max(version) AS v FROM stream_index WHERE stream = ?1
		UNION ALL
		SELECT max(version) FROM events WHERE position > ` + watermarkSQL + ` AND stream = ?1)`
}

// streamSQL reads a stream's events from a version, in version order:
// ?1 the stream, ?2 the first version, ?3 the most rows. In layout 2 it
// reads the indexed events only, and streamTailSQL the others. An index row
// that does not match its event (the table was edited behind the store's
// back) yields nothing, and the reader finds a version missing.
func streamSQL(l layout) string {
	if l == layoutInline {
		return `SELECT ` + eventColumns + ` FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version LIMIT ?3`
	}
	return `SELECT ` + qualified("e") + ` FROM stream_index i
		JOIN events e ON e.position = i.position AND e.stream = i.stream AND e.version = i.version
		WHERE i.stream = ?1 AND i.version >= ?2 ORDER BY i.version LIMIT ?3`
}

// streamTailSQL (layout 2) reads a stream's events above the watermark:
// parameters as streamSQL's.
const streamTailSQL = `SELECT ` + eventColumns + ` FROM events
	WHERE position > ` + watermarkSQL + ` AND stream = ?1 AND version >= ?2 ORDER BY position LIMIT ?3`

// qualified is eventColumns prefixed with a table's alias.
func qualified(alias string) string {
	cols := strings.Split(eventColumns, ", ")
	for i := range cols {
		cols[i] = alias + "." + cols[i]
	}
	return strings.Join(cols, ", ")
}

// indexer brings a layout-2 file's stream index up to date, inside a write
// transaction its caller holds on conn.
type indexer struct {
	path      string
	watermark *lite.Stmt
	insert    *lite.Stmt
	advance   *lite.Stmt
}

func newIndexer(c *lite.Conn, path string) (*indexer, error) {
	ix := &indexer{path: path}
	for _, p := range []struct {
		stmt **lite.Stmt
		sql  string
	}{
		{&ix.watermark, `SELECT indexed_through FROM stream_index_state WHERE one = 1`},
		// In position order: sorting the rows in key order first costs
		// more than it saves.
		{&ix.insert, `INSERT INTO stream_index (stream, version, position)
			SELECT stream, version, position FROM events WHERE position > ?1 AND position <= ?2`},
		{&ix.advance, `UPDATE stream_index_state SET indexed_through = ?1 WHERE one = 1`},
	} {
		var err error
		if *p.stmt, err = c.Prepare(p.sql); err != nil {
			return nil, schemaError(path, err)
		}
	}
	return ix, nil
}

// read returns the watermark. head is the last position: a watermark past
// it means that indexed events were deleted.
func (ix *indexer) read(head uint64) (uint64, error) {
	row, err := ix.watermark.Step()
	var w int64
	if row {
		w = ix.watermark.Int64(0)
	}
	if rerr := ix.watermark.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return 0, classify(ix.path, err)
	}
	if !row {
		return 0, fmt.Errorf("%w: %s: the stream index's watermark is missing", eventstore.ErrCorrupt, ix.path)
	}
	return checkWatermark(ix.path, w, head)
}

// checkWatermark checks a watermark against the last position.
func checkWatermark(path string, w int64, head uint64) (uint64, error) {
	if w < 0 || uint64(w) > head {
		return 0, fmt.Errorf("%w: %s: the stream index covers positions up to %d, but the last event is at position %d: events were deleted", eventstore.ErrCorrupt, path, w, head)
	}
	return uint64(w), nil
}

// index indexes the events above the watermark from, up to position to
// (at most maxIndexBatch of them), and moves the watermark. It returns the
// new watermark. from must be the watermark as the open transaction sees
// it, and to at most the last position.
func (ix *indexer) index(from, to uint64) (uint64, error) {
	to = min(to, from+maxIndexBatch)
	if to <= from {
		return from, nil
	}
	err := ix.insert.BindInt64(1, int64(from))
	if err == nil {
		err = ix.insert.BindInt64(2, int64(to))
	}
	if err == nil {
		err = ix.insert.Exec()
	}
	if lite.Code(err) == lite.CodeConstraint {
		return from, fmt.Errorf("%w: %s: two events have the same stream and version (one between positions %d and %d): %w", eventstore.ErrCorrupt, ix.path, from+1, to, err)
	}
	if err != nil {
		return from, classify(ix.path, err)
	}
	if err := ix.set(to); err != nil {
		return from, err
	}
	return to, nil
}

// set moves the watermark to position to, whose events the open
// transaction has indexed.
func (ix *indexer) set(to uint64) error {
	err := ix.advance.BindInt64(1, int64(to))
	if err == nil {
		err = ix.advance.Exec()
	}
	if err != nil {
		return classify(ix.path, err)
	}
	return nil
}
