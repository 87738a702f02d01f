package generate_test

import (
	"context"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore"
	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
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
