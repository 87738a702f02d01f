package generate_test

import (
	"context"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay/generate"
)

type nopWriter struct{}

func (nopWriter) Write(context.Context, time.Time, []eventstore.StreamAppend) error { return nil }

// BenchmarkGenerate measures the simulation alone (decide, evolve, encode).
func BenchmarkGenerate(b *testing.B) {
	events := 0
	for b.Loop() {
		st, err := generate.Generate(context.Background(), nopWriter{}, generate.Options{Events: 200_000})
		if err != nil {
			b.Fatal(err)
		}
		events += st.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
