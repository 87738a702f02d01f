package snapshot

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/projections"
	"github.com/autoreg/autoreg/replay/generate"
)

// TestWriterIsDueAfterEventsOrTime: a snapshot is due once the read side
// is EveryEvents past the last one, or Every has passed with events since;
// never when nothing came, whatever the time.
func TestWriterIsDueAfterEventsOrTime(t *testing.T) {
	ctx := context.Background()
	clk := generate.NewClock(generate.Options{}.Start)
	store := memory.New(memory.WithClock(clk.Now))
	w := generate.NewStoreWriter(store, clk)
	if _, err := generate.Generate(ctx, w, generate.Options{Events: 1_000}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reader := projections.NewReader(store, nil)
	if _, err := reader.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	head := reader.Position()
	path := filepath.Join(t.TempDir(), "s")

	byCount := NewWriter(store, reader, path, head-100, WriterOptions{EveryEvents: 101})
	if byCount.due() {
		t.Fatal("due 100 events after the last snapshot, every 101")
	}
	byCount = NewWriter(store, reader, path, head-100, WriterOptions{EveryEvents: 100})
	if !byCount.due() {
		t.Fatal("not due 100 events after the last snapshot, every 100")
	}
	if _, err := byCount.Write(ctx); err != nil {
		t.Fatal(err)
	}
	if byCount.due() {
		t.Fatal("due right after a snapshot")
	}

	byTime := NewWriter(store, reader, path, head-1, WriterOptions{Every: time.Hour})
	if byTime.due() {
		t.Fatal("due before its time")
	}
	byTime.lastAt = time.Now().Add(-time.Hour)
	if !byTime.due() {
		t.Fatal("not due an hour after the last snapshot, with events since")
	}
	idle := NewWriter(store, reader, path, head, WriterOptions{Every: time.Hour, EveryEvents: 1})
	idle.lastAt = time.Now().Add(-24 * time.Hour)
	if idle.due() {
		t.Fatal("due with no event since the last snapshot")
	}
	off := NewWriter(store, reader, path, 0, WriterOptions{})
	if off.due() {
		t.Fatal("due with neither a count nor a time")
	}
}
