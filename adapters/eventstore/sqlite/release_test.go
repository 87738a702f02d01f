package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// TestReleaseMemoryClosesReaders: after a long read, ReleaseMemory closes
// the idle read connections (their mapped pages with them); reads go on,
// on new ones, which the pool keeps.
func TestReleaseMemoryClosesReaders(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.WithReadParallelism(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5000 {
		if _, err := s.Append(ctx, eventstore.StreamAppend{Stream: fmt.Sprintf("autoreg-s%d", i%7), Expected: eventstore.Any,
			Events: []eventstore.EventData{{ID: fmt.Sprintf("id-%d", i), Type: "t", Data: []byte(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		if err := s.ReadAll(ctx, 1, func(eventstore.RecordedEvent) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 5000 || s.IdleReaders() == 0 {
		t.Fatalf("%d events, %d idle readers", n, s.IdleReaders())
	}
	// Released in the middle of a read.
	stop := errors.New("stop")
	err = s.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error {
		if e.Position == 1 {
			s.ReleaseMemory()
			if n := s.IdleReaders(); n != 0 {
				t.Errorf("%d idle readers right after ReleaseMemory", n)
			}
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
	if n := s.IdleReaders(); n != 0 {
		t.Fatalf("%d idle readers after the read", n)
	}
	if n := count(); n != 5000 {
		t.Fatalf("%d events read after ReleaseMemory", n)
	}
	if s.IdleReaders() == 0 {
		t.Fatal("the connections opened after ReleaseMemory are not kept")
	}
}
