package sqlite_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// TestImport copies a history with its own times and hashes, refuses what
// does not continue the store, and leaves a store the writer goes on with.
func TestImport(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	src, err := sqlite.Open(t.Context(), filepath.Join(dir, "src.db"), sqlite.WithClock(func() time.Time {
		clock = clock.Add(1500 * time.Millisecond)
		return clock
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := range 30 {
		if _, err := src.Append(t.Context(),
			eventstore.StreamAppend{Stream: fmt.Sprintf("s%d", i%3), Expected: eventstore.Any,
				Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t", Data: []byte(`{}`), Metadata: []byte(`{"m":1}`)}}},
			eventstore.StreamAppend{Stream: "t", Expected: eventstore.Any, Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "u"}}},
		); err != nil {
			t.Fatal(err)
		}
	}
	var all []eventstore.RecordedEvent
	if err := src.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}

	dst, err := sqlite.Open(t.Context(), filepath.Join(dir, "dst.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.Import(t.Context(), all[:20]); err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(all[20:])
	bad[3].RecordedAt = bad[3].RecordedAt.Add(time.Second)
	gap := all[21:]
	version := slices.Clone(all[20:])
	version[0].Version++
	for name, evs := range map[string][]eventstore.RecordedEvent{"altered": bad, "gap": gap, "version": version, "again": all[:5]} {
		if err := dst.Import(t.Context(), evs); !errors.Is(err, sqlite.ErrImport) {
			t.Fatalf("Import %s: %v, want ErrImport", name, err)
		}
	}
	if err := dst.Import(t.Context(), all[20:]); err != nil {
		t.Fatal(err)
	}
	var got []eventstore.RecordedEvent
	if err := dst.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Fatalf("imported history differs (-source +copy):\n%s", diff)
	}
	// The writer picks up the imported head.
	res, err := dst.Append(t.Context(), eventstore.StreamAppend{Stream: "t", Expected: eventstore.Exact(29), Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "u"}}})
	if err != nil || res.Position != 61 {
		t.Fatalf("Append after Import = %+v, %v; want position 61", res, err)
	}
	if n, err := dst.Verify(t.Context(), nil); err != nil || n != 61 {
		t.Fatalf("Verify = %d, %v; want 61", n, err)
	}
	ro, err := sqlite.OpenReadOnly(t.Context(), filepath.Join(dir, "src.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Import(t.Context(), all[:1]); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("Import on a read-only store: %v", err)
	}
}
