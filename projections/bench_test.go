package projections_test

import (
	"sync"
	"testing"

	"github.com/autoreg/autoreg/adapters/eventstore"
	"github.com/autoreg/autoreg/domain"
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

// BenchmarkProjections replays a realistic history into the four read
// models through a Runner: decoding and applying every event.
func BenchmarkProjections(b *testing.B) {
	events := benchHistory(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
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
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
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
