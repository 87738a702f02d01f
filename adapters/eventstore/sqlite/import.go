package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite/internal/lite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// ErrImport: events given to Import do not continue the store's history
// (a position, a stream version or the hash chain does not follow).
var ErrImport = errors.New("imported events do not continue the store")

// Import writes events recorded by another store as they are: their
// positions, stream versions, IDs, times and hashes, for copying a history
// from one store to another (replay copy). They must continue this store
// exactly: the first at the position after the head, each stream's
// versions on from the stream's last, and each hash the chain of the one
// before (eventstore.ChainHash); otherwise nothing is written and the error
// wraps ErrImport. RecordedAt must lie between the years 1678 and 2262 (the
// store keeps Unix nanoseconds).
//
// The events are written in one transaction on a connection of their own,
// which waits for the store's writer like another process would; the
// writer picks up the new head before its next commit, and subscribers are
// woken. Import returns once the events are durable. In layout 2 the same
// transaction indexes the tail first, then indexes the imported events as
// it writes them: it leaves no tail behind.
func (s *Store) Import(ctx context.Context, events []eventstore.RecordedEvent) error {
	if s.readOnly {
		return fmt.Errorf("%s: %w", s.path, ErrReadOnly)
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	c, err := lite.Open(s.path, lite.OpenReadWrite|lite.OpenNoMutex)
	if err != nil {
		return classify(s.path, err)
	}
	defer c.Close()
	if err := c.BusyTimeout(DefaultBusyTimeout); err != nil {
		return classify(s.path, err)
	}
	if err := c.Exec(`PRAGMA synchronous = FULL; BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("import: %w", classify(s.path, err))
	}
	err = importTx(ctx, c, s.path, events)
	if err == nil {
		err = c.Exec(`COMMIT`)
		if err != nil {
			err = fmt.Errorf("import: commit: %w", classify(s.path, err))
		}
	}
	if err != nil {
		c.Exec(`ROLLBACK`)
		return err
	}
	s.changes.broadcast()
	return nil
}

// importTx checks and inserts the events inside the open transaction.
func importTx(ctx context.Context, c *lite.Conn, path string, events []eventstore.RecordedEvent) error {
	l, err := readLayout(c, path)
	if err != nil {
		return err
	}
	last, err := c.Prepare(`SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`)
	if err != nil {
		return err
	}
	var head uint64
	var prev []byte
	row, err := last.Step()
	if row {
		head, prev = uint64(last.Int64(0)), bytes.Clone(last.Bytes(1))
	}
	if rerr := last.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	// A stream's version before the import. In layout 2, the index is
	// first brought up to date, so that it alone has them (scanning the
	// tail for each stream would cost a long import dearly), and the
	// imported events are indexed as they are written.
	versionSQL := streamVersionSQL(l)
	var ix *indexer
	var indexRow *lite.Stmt
	if l == layoutDeferred {
		if ix, err = newIndexer(c, path); err != nil {
			return err
		}
		for {
			from, err := ix.read(head)
			if err != nil {
				return err
			}
			if from == head {
				break
			}
			if _, err := ix.index(from, head); err != nil {
				return err
			}
		}
		versionSQL = `SELECT max(version) FROM stream_index WHERE stream = ?1`
		if indexRow, err = c.Prepare(`INSERT INTO stream_index (stream, version, position) VALUES (?1, ?2, ?3)`); err != nil {
			return err
		}
	}
	streamVersion, err := c.Prepare(versionSQL)
	if err != nil {
		return err
	}
	insert, err := c.Prepare(`INSERT INTO events (` + eventColumns + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`)
	if err != nil {
		return err
	}
	next := map[string]uint64{} // each stream's next version
	minTime, maxTime := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	for i, e := range events {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if e.Position != head+1 {
			return fmt.Errorf("%w: event %s is at position %d, the store's next is %d", ErrImport, e.ID, e.Position, head+1)
		}
		v, ok := next[e.Stream]
		if !ok {
			if err := streamVersion.BindText(1, e.Stream); err != nil {
				return err
			}
			row, err := streamVersion.Step()
			if row && !streamVersion.IsNull(0) {
				v = uint64(streamVersion.Int64(0)) + 1
			}
			if rerr := streamVersion.Reset(); err == nil {
				err = rerr
			}
			if err != nil {
				return err
			}
		}
		if e.Version != v {
			return fmt.Errorf("%w: position %d: stream %q version %d, the stream's next is %d", ErrImport, e.Position, e.Stream, e.Version, v)
		}
		if want := eventstore.ChainHash(prev, e); !bytes.Equal(want, e.Hash) {
			return fmt.Errorf("%w: position %d (stream %q version %d): the hash does not chain to the event before", ErrImport, e.Position, e.Stream, e.Version)
		}
		if e.RecordedAt.Before(minTime) || e.RecordedAt.After(maxTime) {
			return fmt.Errorf("%w: position %d: time %v out of range", ErrImport, e.Position, e.RecordedAt)
		}
		if err := bindEvent(insert, e); err != nil {
			return err
		}
		if err := insert.Exec(); err != nil {
			if lite.Code(err) == lite.CodeConstraint {
				return fmt.Errorf("%w: position %d: %w: %v", ErrImport, e.Position, eventstore.ErrDuplicateEvent, err)
			}
			return err
		}
		if indexRow != nil {
			if err := bindIndexRow(indexRow, e); err != nil {
				return err
			}
			if err := indexRow.Exec(); err != nil {
				if lite.Code(err) == lite.CodeConstraint {
					return fmt.Errorf("%w: position %d: stream %q version %d is indexed already: %v", ErrImport, e.Position, e.Stream, e.Version, err)
				}
				return err
			}
		}
		next[e.Stream] = v + 1
		head, prev = e.Position, e.Hash
	}
	if ix != nil {
		return ix.set(head)
	}
	return nil
}

// bindIndexRow binds an event's stream index row to st.
func bindIndexRow(st *lite.Stmt, e eventstore.RecordedEvent) error {
	if err := st.BindText(1, e.Stream); err != nil {
		return err
	}
	if err := st.BindInt64(2, int64(e.Version)); err != nil {
		return err
	}
	return st.BindInt64(3, int64(e.Position))
}

// bindEvent binds an event's columns (eventColumns) to st.
func bindEvent(st *lite.Stmt, e eventstore.RecordedEvent) error {
	for _, err := range []error{
		st.BindInt64(1, int64(e.Position)),
		st.BindText(2, e.Stream),
		st.BindInt64(3, int64(e.Version)),
		st.BindText(4, e.ID),
		st.BindText(5, e.Type),
		st.BindBlob(6, e.Data),
		st.BindBlob(7, e.Metadata),
		st.BindInt64(8, e.RecordedAt.UnixNano()),
		st.BindBlob(9, e.Hash),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
