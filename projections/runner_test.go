package projections_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
	rt "github.com/autoreg/autoreg/replay/replaytest"
)

// TestRunnerLive follows a store while the registrar writes to it, and
// reads its own writes with WaitFor.
func TestRunnerLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := rt.Build(t)
	set := projections.NewSet()
	r := projections.NewRunner(h.Store, set.All()...)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	out, err := h.Svc.Execute(ctx, domain.OpenWindow{Reason: "live", By: rt.Admin}, command.Admin("alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := r.WaitFor(wctx, out.Position); err != nil {
		t.Fatal(err)
	}
	if w, open := set.Windows.Current(); !open || w.ID != "W4" || w.OpenReason != "live" {
		t.Fatalf("after WaitFor: %+v %v", w, open)
	}

	// Many writers, many readers waiting for their own writes.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("SEP0011220001%02X", i)
			reg, err := h.Svc.Register(ctx, command.Registration{Device: dev, Model: "7961", Protocol: domain.SIP,
				Address: "sip:" + dev + "@10.1.0.1:5060", Adapter: "sip"})
			if err != nil {
				t.Error(err)
				return
			}
			head, _ := h.Store.Head(ctx)
			if err := r.WaitFor(wctx, head); err != nil {
				t.Error(err)
				return
			}
			if got, ok := set.Devices.Get(dev); !ok || got.DN != reg.DN {
				t.Errorf("%s: read model %+v, registered with %s", dev, got, reg.DN)
			}
			if holder, _ := set.Assignment.Holder("Internal", reg.DN); holder != dev {
				t.Errorf("%s: DN %s held by %q", dev, reg.DN, holder)
			}
		}()
	}
	wg.Wait()
	if w, _ := set.Windows.Current(); len(w.Registrations) != 20 {
		t.Errorf("%d registrations in the live window", len(w.Registrations))
	}

	// A position never written: WaitFor gives up with the context.
	short, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer scancel()
	if err := r.WaitFor(short, 1<<40); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for the future: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := r.WaitFor(context.Background(), 1<<40); !errors.Is(err, projections.ErrStopped) {
		t.Errorf("after Run: %v", err)
	}
	if err := r.WaitFor(context.Background(), 1); err != nil {
		t.Errorf("a position reached, after Run: %v", err)
	}
}

// TestRebuildAndResume: rebuilding from zero gives the same read models;
// a runner over projections already at some position resumes after it.
func TestRebuildAndResume(t *testing.T) {
	ctx := context.Background()
	h, set, r := build(t)
	before := set.Windows.List()
	beforeDev := set.Devices.All()
	if _, err := r.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, set.Windows.List()); diff != "" {
		t.Errorf("windows after rebuild:\n%s", diff)
	}
	if diff := cmp.Diff(beforeDev, set.Devices.All()); diff != "" {
		t.Errorf("devices after rebuild:\n%s", diff)
	}

	// A new projection joins: only it sees the old events again.
	fresh := projections.NewWindows()
	r2 := projections.NewRunner(h.Store, set.Windows, fresh)
	if r2.Position() != 0 {
		t.Fatalf("starts at %d", r2.Position())
	}
	if _, err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, fresh.List()); diff != "" {
		t.Errorf("fresh windows:\n%s", diff)
	}
	if diff := cmp.Diff(before, set.Windows.List()); diff != "" {
		t.Errorf("windows applied twice:\n%s", diff)
	}
	head, _ := h.Store.Head(ctx)
	if set.Windows.Checkpoint() != head || fresh.Checkpoint() != head {
		t.Errorf("checkpoints %d %d, head %d", set.Windows.Checkpoint(), fresh.Checkpoint(), head)
	}
}

// TestRunnerStopsOnABadEvent: an event that does not decode stops the
// runner with an error naming its position.
func TestRunnerStopsOnABadEvent(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	_, err := store.Append(ctx, eventstore.StreamAppend{Stream: domain.ClusterStream, Expected: eventstore.Any,
		Events: []eventstore.EventData{{ID: "e1", Type: domain.TypeProtocolSet, Data: []byte(`{"schema_version":1,"data":{"protocol":"SIP","by":"x"}}`)},
			{ID: "e2", Type: "cluster.from_the_future", Data: []byte(`{}`)}}},
		eventstore.StreamAppend{Stream: "other-software", Expected: eventstore.Any,
			Events: []eventstore.EventData{{ID: "e3", Type: "whatever", Data: []byte(`not json`)}}})
	if err != nil {
		t.Fatal(err)
	}
	set := projections.NewSet()
	r := projections.NewRunner(store, set.All()...)
	_, err = r.CatchUp(ctx)
	var unknown *domain.UnknownEventError
	if !errors.As(err, &unknown) || r.Position() != 1 {
		t.Fatalf("err %v at %d", err, r.Position())
	}
	if got := err.Error(); !strings.Contains(got, "position 2") {
		t.Errorf("error does not name the position: %s", got)
	}
}
