package sip

import (
	"context"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/command"
)

// A binding restored after a restart is served to queries and, if the phone
// never refreshes, expires with an unregistration.
func TestRestoredBindingExpires(t *testing.T) {
	s, reg := newTestServer(t, func(c *Config) {
		c.MaxExpires, c.MinExpires, c.DefaultExpires, c.SweepInterval = 2*time.Second, time.Second, 2*time.Second, 100*time.Millisecond
	})
	n := s.Restore([]Restored{
		{Device: "SEP001122334455", Contact: "sip:001122334455@10.0.0.5:5060", DN: "1000"},
		{Device: "bogus", Contact: "sip:x@y"},
	})
	if n != 1 {
		t.Fatalf("restored %d, want 1", n)
	}
	mac, _ := macKey("001122334455")
	if dn, b := s.table.snapshot(mac); dn != "1000" || len(b) != 1 || b[0].uri() != "sip:001122334455@10.0.0.5:5060" {
		t.Fatalf("snapshot: %q %+v", dn, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.sweepOnce.Do(func() { go s.sweeper() })
	for ctx.Err() == nil {
		if u := reg.unregistrations(); len(u) > 0 {
			if u[0].Device != "SEP001122334455" || u[0].Reason != command.UnregisterExpired {
				t.Fatalf("unregistration %+v", u[0])
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the restored binding never expired")
}
