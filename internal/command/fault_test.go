package command_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
)

// downStore is a store whose appends, while down, are held until release
// and then fail with ErrUnavailable (a disk full under a group commit:
// several appends in flight fail together).
type downStore struct {
	eventstore.Store
	mu      sync.Mutex
	down    bool
	queued  int
	release chan struct{}
}

func (f *downStore) Enqueue(ctx context.Context, appends ...eventstore.StreamAppend) func() (eventstore.AppendResult, error) {
	f.mu.Lock()
	down, release := f.down, f.release
	if down {
		f.queued++
	}
	f.mu.Unlock()
	if !down {
		res, err := f.Store.Append(ctx, appends...)
		return func() (eventstore.AppendResult, error) { return res, err }
	}
	return func() (eventstore.AppendResult, error) {
		<-release
		return eventstore.AppendResult{}, fmt.Errorf("%w: disk full", eventstore.ErrUnavailable)
	}
}

func (f *downStore) Append(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	return f.Enqueue(ctx, appends...)()
}

// Several first registrations fail together (the store is down); once it is
// back, the same phones registering again from the same address must be
// written, not answered from a cache that still holds their failed
// autoregistration. (Found by the e2e fault test: only the first failed
// append's streams were rebuilt, the others' speculative devices stayed in
// the cache, and their next REGISTER was taken for a refresh: 200 with a DN
// the store never got.)
func TestFailedAppendsInFlightTogetherLeaveNothingInTheCache(t *testing.T) {
	store := &downStore{Store: memory.New()}
	clk := &clock{now: t0}
	// Build the sample on the plain store, then serve through the downStore one.
	sample(t, store.Store, clk, "1099", false)
	ctx := context.Background()
	svc, err := testreg.Open(t, store, command.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "test", By: "admin:test"}, command.Admin("test", "")); err != nil {
		t.Fatal(err)
	}

	const n = 8
	store.mu.Lock()
	store.down, store.release = true, make(chan struct{})
	store.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = register(svc, mac(i), "8961", domain.SIP, fmt.Sprintf("sip:%d@10.0.0.1:5060", i))
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		store.mu.Lock()
		q := store.queued
		store.mu.Unlock()
		if q == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", q, n)
		}
	}
	store.mu.Lock()
	close(store.release)
	store.down = false
	store.mu.Unlock()
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("phone %d while the store is down: %v, want ErrUnavailable", i, err)
		}
	}
	if st := svc.Status(); st.Devices != 0 {
		t.Errorf("after the failures, the cache holds %d devices, want 0", st.Devices)
	}

	for i := range n {
		reg, err := register(svc, mac(i), "8961", domain.SIP, fmt.Sprintf("sip:%d@10.0.0.1:5060", i))
		if err != nil {
			t.Fatalf("phone %d once the store is back: %v", i, err)
		}
		if !reg.Autoregistered {
			t.Errorf("phone %d once the store is back: %+v, want an autoregistration (nothing of it was stored)", i, reg)
		}
		found := false
		if err := store.Store.ReadStream(ctx, domain.DeviceStream(mac(i)), 0, func(eventstore.RecordedEvent) error {
			found = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !found {
			t.Errorf("phone %d was answered with DN %s but nothing is in the store", i, reg.DN)
		}
	}
}
