// Package replaytest builds small event stores with a known history, by
// running real domain commands through the registrar's command side
// (internal/command) on a memory store with a fake clock, for the tests of
// the read models, the replay tool and the compliance reports.
//
// It imports the command side, the configuration and the memory store (test
// support).
package replaytest

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
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/testreg"
)

// Clock is a fake clock shared by the service and the store.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// T0 is when the history starts.
var T0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Phones of the history.
const (
	Rogue   = "SEP00000000DEAD" // refused while closed, then while mixed
	Phone1  = "SEP001122000001" // SCCP 7961, W1, DN 1000; moved, then to pool Staff
	Phone2  = "SEP001122000002" // SCCP 7961, W1, DN 1001; unregistered
	Phone3  = "SEP001122000003" // SCCP 7961, W1, DN 1002; deleted
	Phone4  = "SEP001122000004" // SIP 7961, refused (SCCP then), then W1 over SIP, DN 1003
	Phone5  = "SEP001122000005" // SCCP-only 7902 while the protocol is SIP, W1, DN 1004
	Phone6  = "SEP001122000006" // SIP 7961, W2, DN 1002 (freed by Phone3)
	Phone7  = "SEP001122000007" // SIP 7961, W2, DN 1005; the window's limit
	Phone8  = "SEP001122000008" // refused: W2 closed by its limit
	Admin   = "admin:alice"
	Admin2  = "admin:bob"
	Admin3  = "admin:carol"
	Securer = "admin:security"
)

// History is a store and the instants of its story.
type History struct {
	Store *memory.Store
	Clock *Clock
	Svc   *testreg.Registrar
	// Instants between the steps (each is after the step it names and
	// before the next one).
	Configured   time.Time // the sample configuration applied, nothing else
	W1Open       time.Time // W1 open, three SCCP phones in it
	W1Closed     time.Time // W1 closed by bob, five phones
	Reconfigured time.Time // Phone1 moved and reconfigured, Phone3 deleted
	W2Closed     time.Time // W2 closed by its limit
	Mixed        time.Time // security mixed
	End          time.Time // W3 expired; the end
}

// Build runs the story. Every instant is on a whole minute.
func Build(t testing.TB) *History {
	t.Helper()
	ctx := context.Background()
	clk := &Clock{now: T0}
	store := memory.New(memory.WithClock(clk.Now))
	svc, err := testreg.Open(t, store, command.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := &History{Store: store, Clock: clk, Svc: svc}
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Configure(ctx, cfg.Cluster.Commands(true, "config"), command.Origin{Actor: "config"}); err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration) { clk.Add(d) }
	mark := func(p *time.Time) { step(time.Minute); *p = clk.Now(); step(time.Minute) }
	admin := func(who string, cmd domain.Command) {
		t.Helper()
		if _, err := svc.Execute(ctx, cmd, command.Origin{Actor: who, Peer: "192.0.2.10:50000"}); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	reg := func(dev, model string, p domain.Protocol, addr string, want domain.RejectReason) {
		t.Helper()
		adapter := "sccp"
		if p == domain.SIP {
			adapter = "sip"
		}
		_, err := svc.Register(ctx, command.Registration{Device: dev, Model: model, Protocol: p, Address: addr,
			Adapter: adapter, Peer: "10.0.0.99:2000", CorrelationID: fmt.Sprintf("c-%s-%d", dev, clk.Now().Unix())})
		var rej *domain.Rejection
		switch {
		case want == "" && err != nil:
			t.Fatalf("register %s: %v", dev, err)
		case want != "" && (!errors.As(err, &rej) || rej.Reason != want):
			t.Fatalf("register %s: want %s, got %v", dev, want, err)
		}
	}
	mark(&h.Configured)

	// A rogue phone while autoregistration is closed.
	reg(Rogue, "7961", domain.SCCP, "10.6.6.6:2000", domain.RejectWindowClosed)
	step(time.Hour)

	// W1: alice opens; three SCCP phones.
	admin(Admin, domain.OpenWindow{Reason: "bulk add, ticket 42", For: time.Hour, By: Admin})
	for i, dev := range []string{Phone1, Phone2, Phone3} {
		step(time.Minute)
		reg(dev, "7961", domain.SCCP, fmt.Sprintf("10.0.0.%d:2000", i+1), "")
	}
	mark(&h.W1Open)
	// A SIP phone is refused; alice switches the protocol to SIP inside
	// the window; it comes back; an SCCP-only 7902 still registers.
	reg(Phone4, "7961", domain.SIP, "sip:SEP001122000004@10.0.0.4:5060", domain.RejectWrongProtocol)
	step(time.Minute)
	admin(Admin, domain.SetProtocol{Protocol: domain.SIP, By: Admin})
	step(time.Minute)
	reg(Phone4, "7961", domain.SIP, "sip:SEP001122000004@10.0.0.4:5060", "")
	step(time.Minute)
	reg(Phone5, "7902", domain.SCCP, "10.0.0.5:2000", "")
	step(5 * time.Minute)
	admin(Admin2, domain.CloseWindow{Reason: "batch done", By: Admin2})
	mark(&h.W1Closed)

	// Afterwards: Phone1 moves and is reconfigured; Phone2 unregisters;
	// Phone3 is deleted.
	reg(Phone1, "7961", domain.SCCP, "10.0.1.1:2000", "")
	step(time.Minute)
	if err := svc.Unregister(ctx, command.Unregistration{Device: Phone2, Reason: command.UnregisterKeepalive, Adapter: "sccp"}); err != nil {
		t.Fatal(err)
	}
	step(time.Minute)
	admin(Admin3, domain.ReconfigureDevice{Device: Phone1, Pool: "Staff", Description: "desk 12", By: Admin3})
	step(time.Minute)
	admin(Admin3, domain.DeleteDevice{Device: Phone3, By: Admin3})
	mark(&h.Reconfigured)

	// Next day, W2 with a limit of two: Phone6 gets the freed DN 1002,
	// Phone7 reaches the limit, Phone8 is refused.
	step(22 * time.Hour)
	admin(Admin2, domain.OpenWindow{Reason: "two lobby phones", For: 30 * time.Minute, Max: 2, By: Admin2})
	step(time.Minute)
	reg(Phone6, "7961", domain.SIP, "sip:SEP001122000006@10.0.0.6:5060", "")
	step(time.Minute)
	reg(Phone7, "7961", domain.SIP, "sip:SEP001122000007@10.0.0.7:5060", "")
	step(time.Minute)
	reg(Phone8, "7961", domain.SIP, "sip:SEP001122000008@10.0.0.8:5060", domain.RejectWindowClosed)
	mark(&h.W2Closed)

	// Mixed mode: the rogue is refused for it; back to nonsecure.
	admin(Securer, domain.SetSecurityMode{Mode: domain.Mixed, By: Securer})
	step(time.Minute)
	reg(Rogue, "7961", domain.SCCP, "10.6.6.6:2000", domain.RejectMixedMode)
	mark(&h.Mixed)
	step(time.Hour)
	admin(Securer, domain.SetSecurityMode{Mode: domain.Nonsecure, By: Securer})

	// W3: opened for 15 minutes, nobody comes, the timer closes it.
	step(time.Hour)
	admin(Admin, domain.OpenWindow{Reason: "spare phones", For: 15 * time.Minute, By: Admin})
	step(20 * time.Minute)
	if _, err := svc.Execute(ctx, domain.ExpireWindow{}, command.System); err != nil {
		t.Fatal(err)
	}
	mark(&h.End)
	return h
}
