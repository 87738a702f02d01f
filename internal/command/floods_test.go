package command_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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

// floodSample is sample with the flood limits given.
func floodSample(t *testing.T, store eventstore.Store, clk *clock, lim command.FloodLimits) *testreg.Registrar {
	t.Helper()
	svc := testreg.New(t, store, command.Options{Clock: clk.Now, Floods: lim})
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Configure(context.Background(), cfg.Cluster.Commands(true, "config"), command.Origin{Actor: "config"}); err != nil {
		t.Fatal(err)
	}
	return svc
}

func registerFrom(svc *testreg.Registrar, dev, addr, peer string) (command.Registered, error) {
	return svc.Register(context.Background(), command.Registration{Device: dev, Model: "7961", Protocol: domain.SCCP,
		Address: addr, Adapter: "test", Peer: peer})
}

// eventTypes counts the events after position from, by type.
func eventTypes(t *testing.T, store eventstore.Store, from uint64) map[string]int {
	t.Helper()
	n := map[string]int{}
	err := store.ReadAll(context.Background(), from+1, func(r eventstore.RecordedEvent) error {
		n[r.Type]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func head(t *testing.T, store eventstore.Store) uint64 {
	t.Helper()
	h, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A known device flapping between two addresses, and reconnecting after
// each unregistration: 3 changes at once, then one per 20 s; the others
// are refused as busy (ErrBusy, and ErrUnavailable: come back later) and
// write nothing.
func TestMovesAreBoundedPerDevice(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0}
	svc := floodSample(t, store, clk, command.FloodLimits{})
	if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "phones", By: "admin:alice"}, command.Admin("alice", "")); err != nil {
		t.Fatal(err)
	}
	dev := mac(1)
	if r, err := registerFrom(svc, dev, "10.0.0.1", "10.0.0.1:2000"); err != nil || !r.Autoregistered {
		t.Fatalf("autoregistration: %+v %v", r, err)
	}
	from := head(t, store)

	addrs := []string{"10.0.0.2", "10.0.0.1"}
	moved, busy, refreshed := 0, 0, 0
	for i := range 100 { // 100 flaps in 10 s
		clk.Add(100 * time.Millisecond)
		a := addrs[i%2]
		r, err := registerFrom(svc, dev, a, fmt.Sprintf("%s:%d", a, 2000+i))
		switch {
		case err == nil && r.Moved:
			moved++
		case err == nil && !r.Changed:
			refreshed++ // back where the last recorded move put it
		case errors.Is(err, command.ErrBusy):
			busy++
			if !errors.Is(err, command.ErrUnavailable) || !command.Unavailable(err) {
				t.Fatalf("a busy refusal must read as unavailable: %v", err)
			}
			var be *command.BusyError
			if !errors.As(err, &be) || be.Device != dev || be.Source != "" || be.RetryAfter <= 0 || be.RetryAfter > command.DefaultMoveEvery {
				t.Fatalf("busy error: %#v", be)
			}
		default:
			t.Fatalf("flap %d: %+v %v", i, r, err)
		}
	}
	if moved != command.DefaultMoveBurst || busy != 100-moved-refreshed || busy < 48 {
		t.Errorf("10 s of flapping: %d moves recorded, %d refused, %d refreshes; want %d recorded", moved, busy, refreshed, command.DefaultMoveBurst)
	}
	// 20 s later, one more.
	clk.Add(command.DefaultMoveEvery)
	if r, err := registerFrom(svc, dev, "10.0.0.9", "10.0.0.9:1"); err != nil || !r.Moved {
		t.Fatalf("after 20 s: %+v %v", r, err)
	}
	if _, err := registerFrom(svc, dev, "10.0.0.8", "10.0.0.8:1"); !errors.Is(err, command.ErrBusy) {
		t.Fatalf("right after: want busy, got %v", err)
	}
	// A refresh (same address) writes nothing and is never refused.
	for range 10 {
		if _, err := registerFrom(svc, dev, "10.0.0.9", "10.0.0.9:2"); err != nil {
			t.Fatalf("refresh: %v", err)
		}
	}
	// Unregister and register again (an SCCP connect-register-close loop):
	// the registrations anew take tokens too.
	clk.Add(time.Hour)
	registered := 0
	for range 50 {
		clk.Add(time.Second)
		_, err := registerFrom(svc, dev, "10.0.0.9", "10.0.0.9:3")
		if err == nil {
			registered++
			if err := svc.Unregister(ctx, command.Unregistration{Device: dev, Reason: command.UnregisterConnLost, Adapter: "test"}); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, command.ErrBusy) {
			t.Fatal(err)
		}
	}
	// The first is a refresh (it was registered there), then 3 at once,
	// then one per 20 s in the 50 s: 6, 5 of them registrations anew.
	if registered != 6 {
		t.Errorf("50 s of connect-register-close: %d registrations accepted, want 6", registered)
	}
	got := eventTypes(t, store, from)
	want := map[string]int{domain.TypeDeviceMoved: 4, domain.TypeDeviceRegistered: 5, domain.TypeDeviceUnregistered: 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events written (-want +got):\n%s", diff)
	}
	// The state is what the phone was told last: where its last recorded
	// change put it.
	d, _ := svc.Device(dev)
	if d.Address != "10.0.0.9" || d.Registered {
		t.Errorf("device after the flood: %+v", d)
	}
}

// Moves of many known devices from one source address: at most
// SourceMoveBurst at once from it; a trusted source is not bounded.
func TestMovesAreBoundedPerSource(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0}
	svc := floodSample(t, store, clk, command.FloodLimits{SourceMoveBurst: 5, SourceMoveEvery: time.Second,
		TrustedSources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "phones", By: "admin:alice"}, command.Admin("alice", "")); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := registerFrom(svc, mac(i), "10.0.0.1", fmt.Sprintf("10.1.0.%d:2000", i)); err != nil {
			t.Fatal(err)
		}
	}
	moved := 0
	for i := range 20 {
		_, err := registerFrom(svc, mac(i), "10.0.0.66", "198.51.100.66:5060")
		var be *command.BusyError
		switch {
		case err == nil:
			moved++
		case errors.As(err, &be) && be.Source == "198.51.100.66":
		default:
			t.Fatalf("device %d: %v", i, err)
		}
	}
	if moved != 5 {
		t.Errorf("20 devices moved from one source at once: %d recorded, want 5", moved)
	}
	clk.Add(time.Second)
	if _, err := registerFrom(svc, mac(19), "10.0.0.66", "198.51.100.66:5060"); err != nil {
		t.Errorf("a second later: %v", err)
	}
	for i := range 10 {
		if _, err := registerFrom(svc, mac(i), "192.0.2.7", "192.0.2.7:5060"); err != nil {
			t.Errorf("device %d from a trusted source: %v", i, err)
		}
	}
}

// Refusals of many devices from many sources: at most MaxRejectionEvents
// registration_rejected a minute in all; each refusal is still answered;
// the rest are summed up in one rejections_suppressed once the minute is
// over; a new handler (a restart) and the read side load the store.
func TestRejectionsAreBoundedGlobally(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0.Add(10 * time.Second)}
	lim := command.FloodLimits{MaxRejectionEvents: 10}
	svc := floodSample(t, store, clk, lim)
	from := head(t, store)

	for i := range 25 {
		src := fmt.Sprintf("203.0.113.%d", i%5)
		if _, err := registerFrom(svc, mac(100+i), src, src+":5060"); !isReject(err, domain.RejectWindowClosed) {
			t.Fatalf("stranger %d: %v", i, err)
		}
	}
	// The same strangers again within the minute: the domain's own bound
	// (one per device and reason a minute) holds for the suppressed too.
	for i := range 25 {
		if _, err := registerFrom(svc, mac(100+i), "203.0.113.1", "203.0.113.1:5060"); !isReject(err, domain.RejectWindowClosed) {
			t.Fatalf("stranger %d again: %v", i, err)
		}
	}
	if n, err := svc.FlushSuppressed(ctx); err != nil || n != 0 {
		t.Fatalf("flush within the minute: %d %v", n, err)
	}
	if got := eventTypes(t, store, from); got[domain.TypeRegistrationRejected] != 10 || len(got) != 1 {
		t.Fatalf("within the minute: %v", got)
	}

	clk.Add(time.Minute)
	if n, err := svc.FlushSuppressed(ctx); err != nil || n != 1 {
		t.Fatalf("flush after the minute: %d %v", n, err)
	}
	if n, err := svc.FlushSuppressed(ctx); err != nil || n != 0 {
		t.Fatalf("flush again: %d %v", n, err)
	}
	var sums []domain.RejectionsSuppressed
	err := store.ReadAll(ctx, from+1, func(r eventstore.RecordedEvent) error {
		if r.Type != domain.TypeRejectionsSuppressed {
			return nil
		}
		if r.Stream != domain.RegistrarStream {
			t.Errorf("summary on stream %s", r.Stream)
		}
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			return err
		}
		sums = append(sums, e.(domain.RejectionsSuppressed))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.RejectionsSuppressed{{From: t0, To: t0.Add(time.Minute), Count: 15,
		Reasons: map[domain.RejectReason]int{domain.RejectWindowClosed: 15}, Devices: 15, Sources: 5, Limit: 10}}
	if diff := cmp.Diff(want, sums); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}

	// The next minute records again, up to the bound.
	for i := range 12 {
		_, _ = registerFrom(svc, mac(200+i), "203.0.113.9", "203.0.113.9:5060")
	}
	if got := eventTypes(t, store, from); got[domain.TypeRegistrationRejected] != 20 {
		t.Errorf("after the next minute's refusals: %v", got)
	}

	// A restart folds the store, the summary included.
	again := testreg.New(t, store, command.Options{Clock: clk.Now, Floods: lim})
	if _, err := registerFrom(again, mac(300), "203.0.113.9", "203.0.113.9:5060"); !isReject(err, domain.RejectWindowClosed) {
		t.Fatalf("after a restart: %v", err)
	}
}
