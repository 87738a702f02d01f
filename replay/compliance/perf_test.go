package compliance_test

import (
	"context"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/replay"
	"github.com/autoreg/autoreg/replay/compliance"
)

// TestLargeStore reports on a big SQLite store named by
// COMPLIANCE_LARGE_STORE (make one with `replay generate --events 1000000
// --out FILE`) and logs the time and the Go heap: its peak while reading,
// and what the report keeps. Skipped without the variable.
func TestLargeStore(t *testing.T) {
	file := os.Getenv("COMPLIANCE_LARGE_STORE")
	if file == "" {
		t.Skip("set COMPLIANCE_LARGE_STORE to a store made by `replay generate --events 1000000 --out FILE`")
	}
	ctx := context.Background()
	st, err := replay.OpenSQLite(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	})
	start := time.Now()
	// The whole history: --until far in the future.
	r, err := compliance.Build(ctx, replay.Env{Store: st}, compliance.Options{Until: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		Store: file})
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := compliance.WriteHTML(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d events (last read %d) in %s: %.0f events/s; %d windows, %d findings (%+v)",
		head, r.LastPosition, elapsed.Round(time.Millisecond), float64(r.LastPosition)/elapsed.Seconds(),
		len(r.Windows), len(r.Findings), r.Summary)
	t.Logf("Go heap in use: peak %.1f MB while reading; %.1f MB kept with the report (%.1f MB before); %.0f bytes allocated per event",
		float64(peak)/1e6, float64(after.HeapInuse)/1e6, float64(base.HeapInuse)/1e6,
		float64(after.TotalAlloc-base.TotalAlloc)/float64(max(r.LastPosition, 1)))
	runtime.KeepAlive(r)
}
