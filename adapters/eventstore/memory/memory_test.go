package memory_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/adapters/eventstore/storetest"
	"github.com/autoreg/autoreg/internal/eventstore"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{New: func(t *testing.T) storetest.Opener {
		var last *memory.Store
		return func(t *testing.T) eventstore.Store {
			if last == nil {
				last = memory.New()
			} else {
				last = last.Reopen()
			}
			return last
		}
	}})
}

func TestClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.FixedZone("CET", 3600))
	s := memory.New(memory.WithClock(func() time.Time { return at }))
	defer s.Close()
	if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "s", Expected: eventstore.NoStream,
		Events: []eventstore.EventData{{ID: "e1", Type: "t"}}}); err != nil {
		t.Fatal(err)
	}
	var got []time.Time
	if err := s.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error {
		got = append(got, e.RecordedAt)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Time{at.UTC()}, got); diff != "" {
		t.Fatalf("RecordedAt (-want +got):\n%s", diff)
	}
	if got[0].Location() != time.UTC {
		t.Fatalf("RecordedAt location %v, want UTC", got[0].Location())
	}
}
