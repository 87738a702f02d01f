package sqlite_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// benchEvent is an event of a realistic size for the registrar: a device
// registration (~150 bytes of JSON) with its metadata, and a time-ordered
// UUIDv7 ID as the registrar's service makes them (random v4 IDs would
// scatter the id index's inserts over many pages, and each commit would
// write several times as many pages).
func benchEvent(n int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.Must(uuid.NewV7()).String(),
		Type:     "autoregistration.device_registered",
		Data:     fmt.Appendf(nil, `{"device":"SEP%012X","model":"Cisco 7965","protocol":"SCCP","line":"%d","ip":"10.1.%d.%d","window":"w-2026-03"}`, n, 1000+n%9000, n/256%256, n%256),
		Metadata: fmt.Appendf(nil, `{"actor":"registrar","correlation":"%08x-0000-4000-8000-000000000000"}`, n),
	}
}

// benchDir is where benchmark stores live: a test temporary directory, or a
// fresh directory under $EVENTSTORE_BENCH_DIR (/dev/shm there takes fsync
// out of the figures, to see the CPU cost alone).
func benchDir(b *testing.B) string {
	b.Helper()
	base := os.Getenv("EVENTSTORE_BENCH_DIR")
	if base == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(base, "eventstore-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func openBench(b *testing.B, opts ...sqlite.Option) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(benchDir(b), "events.db"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure resets the timer and returns a function that reports events/s,
// and the CPU time the process spent per event (all goroutines: a figure
// that other processes on the machine disturb less than wall time).
func measure(b *testing.B) (report func(events int)) {
	b.ResetTimer()
	cpu0 := cpuTime()
	return func(events int) {
		b.StopTimer()
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(events), "cpu-µs/event")
	}
}

// BenchmarkAppend is one single-event Append at a time, each durable
// before the next starts.
func BenchmarkAppend(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	evs := make([]eventstore.EventData, b.N)
	for i := range evs {
		evs[i] = benchEvent(i)
	}
	report := measure(b)
	for i := range b.N {
		if _, err := s.Append(ctx, eventstore.StreamAppend{Stream: fmt.Sprintf("device-%d", i%100), Expected: eventstore.Any, Events: evs[i : i+1]}); err != nil {
			b.Fatal(err)
		}
	}
	report(b.N)
}

// BenchmarkAppendBatch appends n events per Append, sequentially.
func BenchmarkAppendBatch(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := openBench(b)
			ctx := context.Background()
			batches := make([][]eventstore.EventData, b.N)
			for i := range batches {
				batches[i] = make([]eventstore.EventData, n)
				for j := range batches[i] {
					batches[i][j] = benchEvent(i*n + j)
				}
			}
			report := measure(b)
			for i := range b.N {
				if _, err := s.Append(ctx, eventstore.StreamAppend{Stream: fmt.Sprintf("batch-%d", i%100), Expected: eventstore.Any, Events: batches[i]}); err != nil {
					b.Fatal(err)
				}
			}
			report(b.N * n)
		})
	}
}

// BenchmarkAppendConcurrent has 16 goroutines each append single events,
// each Append waiting for its own durable commit: the group commit turns
// them into one transaction and one fsync per group.
func BenchmarkAppendConcurrent(b *testing.B) {
	const writers = 16
	s := openBench(b)
	ctx := context.Background()
	evs := make([]eventstore.EventData, b.N)
	for i := range evs {
		evs[i] = benchEvent(i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	report := measure(b)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("writer-%d", w)
			version := int64(-1)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				expected := eventstore.NoStream
				if version >= 0 {
					expected = eventstore.Exact(uint64(version))
				}
				res, err := s.Append(ctx, eventstore.StreamAppend{Stream: stream, Expected: expected, Events: evs[i : i+1]})
				if err != nil {
					b.Error(err)
					return
				}
				version = res.Versions[0]
			}
		})
	}
	wg.Wait()
	report(b.N)
	st := s.Stats()
	b.ReportMetric(float64(st.Appends)/float64(max(st.Groups, 1)), "appends/commit")
}

// BenchmarkEnqueue is one goroutine pipelining single-event appends
// (eventstore.Pipeliner, as the registrar's service does) with up to 256 in
// flight: groups are not limited by the number of waiting goroutines.
func BenchmarkEnqueue(b *testing.B) {
	const window = 256
	s := openBench(b)
	ctx := context.Background()
	evs := make([]eventstore.EventData, b.N)
	for i := range evs {
		evs[i] = benchEvent(i)
	}
	waits := make([]func() (eventstore.AppendResult, error), 0, b.N)
	report := measure(b)
	for i := range b.N {
		if i >= window {
			if _, err := waits[i-window](); err != nil {
				b.Fatal(err)
			}
		}
		waits = append(waits, s.Enqueue(ctx, eventstore.StreamAppend{Stream: fmt.Sprintf("device-%d", i%1000), Expected: eventstore.Any, Events: evs[i : i+1]}))
	}
	for _, wait := range waits[max(0, b.N-window):] {
		if _, err := wait(); err != nil {
			b.Fatal(err)
		}
	}
	report(b.N)
	st := s.Stats()
	b.ReportMetric(float64(st.Appends)/float64(max(st.Groups, 1)), "appends/commit")
}

// BenchmarkFsync measures the disk under the benchmarks: overwrite n bytes
// of a preallocated file and fsync it, as a WAL commit does (a group of 16
// single-event appends to 16 streams writes some 20 pages, ~90 KB). Durable
// appends cannot be faster than this; compare with the Append figures.
func BenchmarkFsync(b *testing.B) {
	for _, n := range []int{4 << 10, 96 << 10} {
		b.Run(fmt.Sprintf("%dKB", n>>10), func(b *testing.B) {
			f, err := os.Create(filepath.Join(benchDir(b), "fsync"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(make([]byte, 64*n)); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, n)
			b.ResetTimer()
			for i := range b.N {
				if _, err := f.WriteAt(buf, int64(i%64*n)); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJournalCheck is what the journal watch adds to every group
// commit: the stat of the database file and of its WAL, compared with what
// the writer opened (watch.go). Compare with BenchmarkAppend, whose every
// iteration is one group.
func BenchmarkJournalCheck(b *testing.B) {
	s := openBench(b)
	if _, err := s.Append(context.Background(), eventstore.StreamAppend{Stream: "s", Expected: eventstore.Any,
		Events: []eventstore.EventData{benchEvent(0)}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.CheckJournal(); err != nil {
			b.Fatal(err)
		}
	}
}

// readAllEvents is the size of the store BenchmarkReadAll reads.
const readAllEvents = 200_000

var (
	readAllOnce sync.Once
	readAllPath string
	readAllDir  string
)

// filledStore is a store of readAllEvents events (made once per run, in
// batches of 1,000 over 100 streams).
func filledStore(b *testing.B) string {
	readAllOnce.Do(func() {
		dir, err := os.MkdirTemp(os.Getenv("EVENTSTORE_BENCH_DIR"), "eventstore-bench-")
		if err != nil {
			b.Fatal(err)
		}
		readAllDir = dir
		readAllPath = filepath.Join(dir, "events.db")
		s, err := sqlite.Open(context.Background(), readAllPath)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		const batch = 1000
		for i := 0; i < readAllEvents; i += batch {
			evs := make([]eventstore.EventData, batch)
			for j := range evs {
				evs[j] = benchEvent(i + j)
			}
			if _, err := s.Append(context.Background(), eventstore.StreamAppend{Stream: fmt.Sprintf("device-%d", i/batch%100), Expected: eventstore.Any, Events: evs}); err != nil {
				b.Fatal(err)
			}
		}
	})
	if readAllPath == "" {
		b.Fatal("no filled store")
	}
	return readAllPath
}

// BenchmarkReadAll reads the whole of a 200,000-event store per iteration.
func BenchmarkReadAll(b *testing.B) {
	path := filledStore(b)
	for _, readers := range []int{1, 2} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			s, err := sqlite.OpenReadOnly(context.Background(), path, sqlite.WithReadParallelism(readers))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			var bytes int64
			report := measure(b)
			for range b.N {
				n := 0
				if err := s.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error {
					n++
					bytes += int64(len(e.Data))
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if n != readAllEvents {
					b.Fatalf("read %d events, want %d", n, readAllEvents)
				}
			}
			report(b.N * readAllEvents)
		})
	}
}

// BenchmarkReadStream reads one 20-event stream of a store of 20,000 (1,000
// streams), with every event indexed, and with the last 1,000 (one in
// each stream) in the tail: each read of a stream scans the tail, which
// the writer keeps under a batch (1,024 events).
func BenchmarkReadStream(b *testing.B) {
	dir := benchDir(b)
	path := filepath.Join(dir, "events.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	const streams, perStream = 1000, 20
	n := 0
	fill := func(s *sqlite.Store, rounds int) {
		for range rounds {
			appends := make([]eventstore.StreamAppend, streams)
			for i := range appends {
				appends[i] = eventstore.StreamAppend{Stream: fmt.Sprintf("device-%d", i), Expected: eventstore.Any, Events: []eventstore.EventData{benchEvent(n)}}
				n++
			}
			if _, err := s.Append(ctx, appends...); err != nil {
				b.Fatal(err)
			}
		}
	}
	fill(s, perStream-1)
	if err := s.Close(); err != nil { // indexes everything
		b.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path, sqlite.WithIndexUpkeep(math.MaxUint64, 0, false))
	if err != nil {
		b.Fatal(err)
	}
	fill(s, 1)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, tail := range []bool{true, false} {
		b.Run(fmt.Sprintf("tail=%d", map[bool]int{true: streams}[tail]), func(b *testing.B) {
			opt := sqlite.WithIndexUpkeep(math.MaxUint64, 0, false)
			if !tail {
				opt = sqlite.WithIndexUpkeep(1, 0, true) // indexes at Open
			}
			s, err := sqlite.Open(ctx, path, opt)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			report := measure(b)
			for i := range b.N {
				got := 0
				if err := s.ReadStream(ctx, fmt.Sprintf("device-%d", i*7919%streams), 0, func(eventstore.RecordedEvent) error {
					got++
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if got != perStream {
					b.Fatalf("read %d events, want %d", got, perStream)
				}
			}
			report(b.N * perStream)
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if readAllDir != "" {
		os.RemoveAll(readAllDir)
	}
	os.Exit(code)
}
