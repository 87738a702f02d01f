package projections_test

import (
	"context"
	"testing"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay/generate"
)

// generated returns a memory store holding a generated history of n events.
func generated(tb testing.TB, n int) *memory.Store {
	tb.Helper()
	ctx := context.Background()
	clock := generate.NewClock(generate.Options{}.Start)
	store := memory.New(memory.WithClock(clock.Now))
	w := generate.NewStoreWriter(store, clock)
	if _, err := generate.Generate(ctx, w, generate.Options{Events: n, Seed: 42}); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	return store
}

// recorded reads a store into memory.
func recorded(tb testing.TB, s eventstore.Store) []eventstore.RecordedEvent {
	tb.Helper()
	var out []eventstore.RecordedEvent
	if err := s.ReadAll(context.Background(), 1, func(e eventstore.RecordedEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}
