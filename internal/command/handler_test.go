package command_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// sample returns a service on store with the sample topology applied and,
// if rangeEnd is set, the range 1000..rangeEnd.
func sample(t *testing.T, store eventstore.Store, clk *clock, rangeEnd string, shared bool) *testreg.Registrar {
	t.Helper()
	ctx := context.Background()
	svc, err := testreg.Open(t, store, command.Options{Clock: clk.Now, Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if rangeEnd != "" {
		cfg.Cluster.Range.End = rangeEnd
	}
	if _, err := svc.Configure(ctx, cfg.Cluster.Commands(true, "config"), command.Origin{Actor: "config"}); err != nil {
		t.Fatal(err)
	}
	return svc
}

func mac(i int) string { return fmt.Sprintf("SEP%012X", 0x001122000000+i) }

func register(svc *testreg.Registrar, dev, model string, p domain.Protocol, addr string) (command.Registered, error) {
	return svc.Register(context.Background(), command.Registration{Device: dev, Model: model, Protocol: p, Address: addr, Adapter: "test", Peer: addr})
}

func TestAutoregistrationEndToEndOnTheStore(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0}
	svc := sample(t, store, clk, "", false)

	if _, err := register(svc, mac(1), "7961", domain.SCCP, "10.0.0.1:1"); !isReject(err, domain.RejectWindowClosed) {
		t.Fatalf("closed by default: want window_closed, got %v", err)
	}
	if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "bulk add", For: 30 * time.Minute, By: "alice"}, command.Admin("alice", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	var dns []string
	for i := 1; i <= 3; i++ {
		r, err := register(svc, mac(i), "7961", domain.SCCP, fmt.Sprintf("10.0.0.%d:2000", i))
		if err != nil {
			t.Fatal(err)
		}
		if !r.Autoregistered || r.Pool != "Default" {
			t.Errorf("phone %d: %+v", i, r)
		}
		dns = append(dns, r.DN)
	}
	if diff := cmp.Diff([]string{"1000", "1001", "1002"}, dns); diff != "" {
		t.Errorf("DNs (-want +got):\n%s", diff)
	}

	// A refresh writes nothing; a move writes device.moved and keeps the DN.
	head, _ := store.Head(ctx)
	r, err := register(svc, mac(2), "7961", domain.SCCP, "10.0.0.2:2000")
	if err != nil || r.Changed || r.DN != "1001" {
		t.Fatalf("refresh: %+v %v", r, err)
	}
	if h, _ := store.Head(ctx); h != head {
		t.Errorf("refresh wrote %d events", h-head)
	}
	r, err = register(svc, mac(2), "7961", domain.SCCP, "10.9.9.9:2000")
	if err != nil || !r.Moved || r.DN != "1001" {
		t.Fatalf("move: %+v %v", r, err)
	}

	// The DN assignment and the device's registration are one atomic append:
	// adjacent positions, and the metadata names the adapter and the admin.
	var types []string
	var actors []string
	_ = store.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error {
		types = append(types, e.Type)
		m, err := command.DecodeMetadata(e.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		actors = append(actors, m.Actor)
		return nil
	})
	found := false
	for i := 0; i+1 < len(types); i++ {
		if types[i] == domain.TypeDNAssigned && types[i+1] == domain.TypeDeviceAutoregistered {
			found = true
		}
		if types[i] == domain.TypeWindowOpened && actors[i] != "admin:alice" {
			t.Errorf("window opened by %q, want admin:alice", actors[i])
		}
	}
	if !found {
		t.Errorf("no adjacent dn_assigned + device.autoregistered in %v", types)
	}

	// A new service on the same store rebuilds the same state.
	again, err := testreg.Open(t, store, command.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(svc.Devices(), again.Devices()); diff != "" {
		t.Errorf("state after reload (-before +after):\n%s", diff)
	}

	// The window's time runs out: the next unknown phone closes it.
	clk.Add(31 * time.Minute)
	if _, err := register(svc, mac(9), "7961", domain.SCCP, "x"); !isReject(err, domain.RejectWindowClosed) {
		t.Fatalf("after the window: %v", err)
	}
	if svc.Status().Open {
		t.Error("window still open after its duration")
	}
}

func isReject(err error, reason domain.RejectReason) bool {
	var r *domain.Rejection
	return errors.As(err, &r) && r.Reason == reason
}

// 150 phones at once in one window on a 100-DN range: exactly 100 DNs, all
// distinct, and the others refused.
func TestConcurrentAutoregistrationsNeverShareADN(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0}
	svc := sample(t, store, clk, "1099", false)
	if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "bulk", By: "alice"}, command.Admin("alice", "")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[string]string{}
	var refused atomic.Int32
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := register(svc, mac(i), "7960", domain.SCCP, "a")
			if err != nil {
				refused.Add(1)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := held[r.DN]; dup {
				t.Errorf("DN %s given to %s and %s", r.DN, other, r.Device)
			}
			held[r.DN] = r.Device
		}(i)
	}
	wg.Wait()
	if len(held) != 100 || refused.Load() != 50 {
		t.Errorf("assigned %d, refused %d; want 100 and 50", len(held), refused.Load())
	}
}

// Two registrars on one store: optimistic concurrency keeps every DN with one device.
func TestTwoServicesOnOneStore(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0}
	a := sample(t, store, clk, "1099", true)
	b, err := testreg.Open(t, store, command.Options{Clock: clk.Now, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Execute(ctx, domain.OpenWindow{Reason: "bulk", By: "alice"}, command.Admin("alice", "")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(2)
		go func(i int) { defer wg.Done(); _, _ = register(a, mac(i), "7960", domain.SCCP, "a") }(i)
		go func(i int) { defer wg.Done(); _, _ = register(b, mac(1000+i), "7960", domain.SCCP, "b") }(i)
	}
	wg.Wait()
	check, err := testreg.Open(t, store, command.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, d := range check.Devices() {
		if other, dup := seen[d.DN]; dup {
			t.Errorf("DN %s held by %s and %s", d.DN, other, d.Name)
		}
		seen[d.DN] = d.Name
	}
	if len(seen) != 100 {
		t.Errorf("%d devices registered, want the whole range of 100", len(seen))
	}
}

// failing makes appends fail while broken is set.
type failing struct {
	eventstore.Store
	broken atomic.Bool
}

func (f *failing) Append(ctx context.Context, a ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	if f.broken.Load() {
		return eventstore.AppendResult{}, fmt.Errorf("disk full: %w", eventstore.ErrUnavailable)
	}
	return f.Store.Append(ctx, a...)
}

// A failed write is reported, and forgotten: the next phone gets the DN the
// failed one would have had.
func TestFailedAppendLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	store := &failing{Store: memory.New()}
	clk := &clock{now: t0}
	svc := sample(t, store, clk, "", false)
	if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "bulk", By: "alice"}, command.Admin("alice", "")); err != nil {
		t.Fatal(err)
	}
	store.broken.Store(true)
	if _, err := register(svc, mac(1), "7960", domain.SCCP, "a"); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if _, ok := svc.Device(mac(1)); ok {
		t.Error("the device is known although its events were not written")
	}
	store.broken.Store(false)
	r, err := register(svc, mac(2), "7960", domain.SCCP, "a")
	if err != nil || r.DN != "1000" {
		t.Fatalf("after recovery: %+v %v (want DN 1000)", r, err)
	}
}

// Strangers refused long ago are forgotten; one that comes back is refused
// again (after a conflict and a reload of its stream), and its events stay
// one stream with consecutive versions.
func TestForgottenStrangerComesBack(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0}
	svc := sample(t, store, clk, "", false)
	if _, err := register(svc, mac(7), "7961", domain.SCCP, "a"); !isReject(err, domain.RejectWindowClosed) {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	if n := svc.PruneStrangers(clk.Now()); n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	if _, err := register(svc, mac(7), "7961", domain.SCCP, "a"); !isReject(err, domain.RejectWindowClosed) {
		t.Fatal(err)
	}
	var versions []uint64
	_ = store.ReadStream(ctx, domain.DeviceStream(mac(7)), 0, func(e eventstore.RecordedEvent) error {
		versions = append(versions, e.Version)
		return nil
	})
	if diff := cmp.Diff([]uint64{0, 1}, versions); diff != "" {
		t.Errorf("stream versions (-want +got):\n%s", diff)
	}
}
