package replay

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore"

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
