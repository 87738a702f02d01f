package replay

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// rawSQLite reads the events table of a SQLite store file directly,
// read-only, without the store's own checks: verify uses it on a store
// that sqlite.OpenReadOnly refuses as corrupt, to find the first bad event
// rather than stop at the symptom the store saw (its last event).
type rawSQLite struct {
	db *sql.DB
}

func openRaw(path string) (*rawSQLite, error) {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+esc+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	return &rawSQLite{db: db}, nil
}

func (r *rawSQLite) Close() error { return r.db.Close() }

// ReadAll implements eventstore.AllReader.
func (r *rawSQLite) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	rows, err := r.db.QueryContext(ctx, `SELECT position, stream, version, id, type, data, metadata, recorded_at, hash
		FROM events WHERE position >= ? ORDER BY position`, int64(from))
	if err != nil {
		return fmt.Errorf("reading the events table: %w", err)
	}
	return scanEvents(rows, fn)
}

// ReadTypes implements typedReader.
func (r *rawSQLite) ReadTypes(ctx context.Context, types []string, fn func(eventstore.RecordedEvent) error) error {
	if len(types) == 0 {
		return nil
	}
	args := make([]any, len(types))
	for i, t := range types {
		args[i] = t
	}
	rows, err := r.db.QueryContext(ctx, `SELECT position, stream, version, id, type, data, metadata, recorded_at, hash
		FROM events WHERE type IN (?`+strings.Repeat(",?", len(types)-1)+`) ORDER BY position`, args...)
	if err != nil {
		return fmt.Errorf("reading the events table: %w", err)
	}
	return scanEvents(rows, fn)
}

func scanEvents(rows *sql.Rows, fn func(eventstore.RecordedEvent) error) error {
	defer rows.Close()
	for rows.Next() {
		var e eventstore.RecordedEvent
		var pos, version, nanos int64
		if err := rows.Scan(&pos, &e.Stream, &version, &e.ID, &e.Type, &e.Data, &e.Metadata, &nanos, &e.Hash); err != nil {
			return fmt.Errorf("reading the events table: %w", err)
		}
		e.Position, e.Version, e.RecordedAt = uint64(pos), uint64(version), time.Unix(0, nanos).UTC()
		if len(e.Data) == 0 {
			e.Data = nil
		}
		if len(e.Metadata) == 0 {
			e.Metadata = nil
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// typedReader reads the events of some types only, in order: a store that
// can filter them where they are kept spares the commands that need few of
// the events (windows, events --type) reading all the others.
type typedReader interface {
	ReadTypes(ctx context.Context, types []string, fn func(eventstore.RecordedEvent) error) error
}

// sqliteStore is a SQLite store opened read-only, with a reader of its
// table that filters by type.
type sqliteStore struct {
	eventstore.Store
	raw *rawSQLite
}

func (s sqliteStore) ReadTypes(ctx context.Context, types []string, fn func(eventstore.RecordedEvent) error) error {
	return s.raw.ReadTypes(ctx, types, fn)
}

func (s sqliteStore) Close() error {
	err := s.Store.Close()
	if rerr := s.raw.Close(); err == nil {
		err = rerr
	}
	return err
}
