package replay_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/autoreg/autoreg/replay"
)

// TestGeneratedStoreIsIndexed: a generated store's streams are indexed
// through its last event, so its first reader does not scan the whole
// history for each stream.
func TestGeneratedStoreIsIndexed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.db")
	res, err := replay.GenerateStore(t.Context(), path, replay.GenerateOptions{Events: 3000, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var watermark, rows, events int
	if err := db.QueryRow(`SELECT (SELECT indexed_through FROM stream_index_state), (SELECT count(*) FROM stream_index), (SELECT count(*) FROM events)`).Scan(&watermark, &rows, &events); err != nil {
		t.Fatal(err)
	}
	if events != res.Events || watermark != events || rows != events {
		t.Fatalf("%d events (generated %d), watermark %d, %d index rows: want all indexed", events, res.Events, watermark, rows)
	}
	var mismatched int
	if err := db.QueryRow(`SELECT count(*) FROM stream_index i JOIN events e ON e.position = i.position WHERE e.stream <> i.stream OR e.version <> i.version`).Scan(&mismatched); err != nil || mismatched != 0 {
		t.Fatalf("%d index rows that do not match their event (%v)", mismatched, err)
	}
}
