package command_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// A flood of registrations from unknown devices while the window is closed,
// from many goroutines, over three minutes of the clock: the known devices
// are still registered, the log grows by at most one rejection per device
// and reason a minute, and the strangers are forgotten afterwards.
func TestRejectionFloodIsBounded(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clk := &clock{now: t0}
	svc := sample(t, store, clk, "", false)
	origin := command.Origin{Actor: "admin:alice"}
	if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "known", By: "admin:alice"}, origin); err != nil {
		t.Fatal(err)
	}
	const known = 10
	for i := range known {
		if _, err := register(svc, mac(i), "7961", domain.SCCP, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Execute(ctx, domain.CloseWindow{Reason: "flood", By: "admin:alice"}, origin); err != nil {
		t.Fatal(err)
	}
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const strangers, workers, rounds = 500, 8, 18 // a round every 10 s: 3 minutes
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < strangers; i += workers {
					if _, err := register(svc, mac(1000+i), "7961", domain.SCCP, "192.0.2.66"); !isReject(err, domain.RejectWindowClosed) {
						t.Errorf("stranger %d: %v", i, err)
						return
					}
				}
			})
		}
		// The known phones refresh meanwhile.
		for i := range known {
			if _, err := register(svc, mac(i), "7961", domain.SCCP, "10.0.0.1"); err != nil {
				t.Fatalf("known device %d during the flood, round %d: %v", i, round, err)
			}
		}
		wg.Wait()
		clk.Add(10 * time.Second)
	}

	last := map[string]time.Time{}
	count := map[string]int{}
	err = store.ReadAll(ctx, head+1, func(e eventstore.RecordedEvent) error {
		ev, err := domain.Decode(e.Type, e.Data)
		if err != nil {
			return err
		}
		rej, ok := ev.(domain.RegistrationRejected)
		if !ok {
			t.Errorf("the flood wrote a %s", e.Type)
			return nil
		}
		if prev, ok := last[rej.Device]; ok && rej.At.Sub(prev) < domain.RejectionInterval {
			t.Errorf("%s rejected twice in a minute: %v, %v", rej.Device, prev, rej.At)
		}
		last[rej.Device] = rej.At
		count[rej.Device]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 180 s of flood: each stranger at 0, 60, 120 s.
	for i := range strangers {
		if n := count[mac(1000+i)]; n != 3 {
			t.Errorf("stranger %d: %d rejection events in 3 minutes, want 3", i, n)
		}
	}
	t.Logf("%d registrations refused, %d rejection events", strangers*rounds, len(count)*3)

	clk.Add(2 * time.Minute)
	if n := svc.PruneStrangers(clk.Now()); n != strangers {
		t.Errorf("pruned %d strangers, want %d", n, strangers)
	}
	if got := len(svc.Devices()); got != known {
		t.Errorf("%d devices after the flood, want %d", got, known)
	}
}
