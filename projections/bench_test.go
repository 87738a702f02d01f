package projections_test

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

var (
	benchOnce   sync.Once
	benchEvents []eventstore.RecordedEvent
)

// benchHistory is a generated history of 300,000 events, in memory.
func benchHistory(b *testing.B) []eventstore.RecordedEvent {
	benchOnce.Do(func() { benchEvents = recorded(b, generated(b, 300_000)) })
	return benchEvents
}

// sliceSource serves events from memory.
type sliceSource []eventstore.RecordedEvent

func (s sliceSource) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	for _, e := range s[from-1:] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s sliceSource) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	return errors.New("not live")
}

// BenchmarkProjections replays a realistic history (300,000 generated
// events, in memory) into the five read models: decoding and applying every
// event. "catchup" is Runner.CatchUp (decoding and applying on two
// goroutines); "apply" calls Runner.Apply for each event on one.
func BenchmarkProjections(b *testing.B) {
	events := benchHistory(b)
	// events/s is by the wall clock; events/cpu-s by the CPU time the
	// process used (both cores, the garbage collector included), which
	// other programs running on the machine disturb less.
	report := func(b *testing.B, n int, cpu time.Duration) {
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
	}
	b.Run("catchup", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		c0 := cpuTime()
		for b.Loop() {
			set := projections.NewSet()
			r := projections.NewRunner(sliceSource(events), set.All()...)
			if pos, err := r.CatchUp(context.Background()); err != nil || pos != uint64(len(events)) {
				b.Fatal(pos, err)
			}
			n += len(events)
		}
		report(b, n, cpuTime()-c0)
	})
	b.Run("apply", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		c0 := cpuTime()
		for b.Loop() {
			set := projections.NewSet()
			r := projections.NewRunner(nil, set.All()...)
			for _, e := range events {
				if err := r.Apply(e); err != nil {
					b.Fatal(err)
				}
			}
			n += len(events)
		}
		report(b, n, cpuTime()-c0)
	})
}

// cpuTime is the CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecode: the Decoder alone, and domain.Decode for comparison.
func BenchmarkDecode(b *testing.B) {
	events := benchHistory(b)
	b.Run("Decoder", func(b *testing.B) {
		d := projections.NewDecoder()
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for _, e := range events {
				if _, err := d.Decode(e.Type, e.Data); err != nil {
					b.Fatal(err)
				}
			}
			n += len(events)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("domain.Decode", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for _, e := range events {
				if _, err := domain.Decode(e.Type, e.Data); err != nil {
					b.Fatal(err)
				}
			}
			n += len(events)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	})
}
