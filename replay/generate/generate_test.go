package generate_test

import (
	"context"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay/generate"
)

func gen(t *testing.T, n int, seed uint64) (*memory.Store, generate.Stats) {
	t.Helper()
	ctx := context.Background()
	clock := generate.NewClock(time.Time{})
	store := memory.New(memory.WithClock(clock.Now))
	w := generate.NewStoreWriter(store, clock)
	st, err := generate.Generate(ctx, w, generate.Options{Events: n, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return store, st
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	store, st := gen(t, 30_000, 7)
	head, _ := store.Head(ctx)
	if int(head) != st.Events || st.Events < 30_000 || st.Events > 30_010 {
		t.Fatalf("head %d, stats %+v", head, st)
	}
	if _, err := eventstore.VerifyChain(ctx, store, nil); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	var last time.Time
	err := store.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error {
		if _, err := domain.Decode(e.Type, e.Data); err != nil {
			t.Fatalf("position %d: %v", e.Position, err)
		}
		if e.RecordedAt.Before(last) {
			t.Fatalf("position %d: time goes back: %v < %v", e.Position, e.RecordedAt, last)
		}
		last = e.RecordedAt
		types[e.Type]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", st)
	t.Logf("types %v", types)
	for _, typ := range []string{domain.TypeWindowOpened, domain.TypeWindowClosed, domain.TypeDNAssigned,
		domain.TypeDeviceAutoregistered, domain.TypeRegistrationRejected, domain.TypeDeviceMoved,
		domain.TypeDeviceReconfigured, domain.TypeDeviceDeleted, domain.TypeProtocolSet, domain.TypeSecurityModeSet,
		domain.TypeDeviceRegistered, domain.TypeDeviceUnregistered, domain.TypeRangeConfigured} {
		if types[typ] == 0 {
			t.Errorf("no %s in the history", typ)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	ctx := context.Background()
	a, _ := gen(t, 3000, 3)
	b, _ := gen(t, 3000, 3)
	var ea, eb []eventstore.RecordedEvent
	a.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error { ea = append(ea, e); return nil })
	b.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error { eb = append(eb, e); return nil })
	if len(ea) != len(eb) {
		t.Fatalf("%d events, then %d", len(ea), len(eb))
	}
	for i := range ea {
		if string(ea[i].Hash) != string(eb[i].Hash) {
			t.Fatalf("position %d differs", i+1)
		}
	}
}

// pipe is a memory store that takes queued appends (eventstore.Pipeliner),
// committing each at once, as a store's writer would in queue order.
type pipe struct{ *memory.Store }

func (p pipe) Enqueue(ctx context.Context, appends ...eventstore.StreamAppend) func() (eventstore.AppendResult, error) {
	res, err := p.Append(ctx, appends...)
	return func() (eventstore.AppendResult, error) { return res, err }
}

// TestStoreWriterPipelined: through a Pipeliner, every command is its own
// append and gets its own time from the clock's queue.
func TestStoreWriterPipelined(t *testing.T) {
	ctx := context.Background()
	clock := generate.NewClock(time.Time{})
	store := pipe{memory.New(memory.WithClock(clock.Now))}
	w := generate.NewStoreWriter(store, clock)
	w.Window = 16
	st, err := generate.Generate(ctx, w, generate.Options{Events: 5000, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The same history as written one merged append at a time, but each
	// event at its decision's time.
	ref, _ := gen(t, 5000, 9)
	var got, want []eventstore.RecordedEvent
	store.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error { got = append(got, e); return nil })
	ref.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error { want = append(want, e); return nil })
	if len(got) != st.Events || len(got) != len(want) {
		t.Fatalf("%d events, %d merged, stats %d", len(got), len(want), st.Events)
	}
	for i := range got {
		if got[i].ID != want[i].ID || string(got[i].Data) != string(want[i].Data) || got[i].Stream != want[i].Stream {
			t.Fatalf("position %d differs", i+1)
		}
		m, err := command.DecodeMetadata(got[i].Metadata)
		if err != nil || m.EventID != got[i].ID || m.Actor == "" || m.Command == "" {
			t.Fatalf("position %d: metadata %+v: %v", i+1, m, err)
		}
		if !got[i].RecordedAt.Equal(m.DecidedAt) {
			t.Fatalf("position %d: recorded at %v, decided at %v", i+1, got[i].RecordedAt, m.DecidedAt)
		}
	}
}
