package projections_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/snapfile"
	"github.com/autoreg/autoreg/projections"
)

var (
	fuzzOnce   sync.Once
	fuzzEvents []eventstore.RecordedEvent
)

// FuzzRestoreReader: whatever the body, RestoreReader never panics, and
// fails only with snapfile.ErrCorrupt; the read models it accepts can be
// read, written again, and fed the history's events (from a position the
// input picks) without panicking. The committed seeds are snapshots of a
// generated history (testdata/fuzz/FuzzRestoreReader).
func FuzzRestoreReader(f *testing.F) {
	fuzzOnce.Do(func() { fuzzEvents = recorded(f, generated(f, 300)) })
	for _, cut := range []int{1, len(fuzzEvents) / 2, len(fuzzEvents)} {
		_, body, err := caughtUp(f, fuzzEvents[:cut]).Snapshot()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(cut), body)
	}
	f.Fuzz(func(t *testing.T, at uint16, body []byte) {
		pos := uint64(at) % uint64(len(fuzzEvents)+1)
		r, _, err := projections.RestoreReader(headedSource{sliceSource(fuzzEvents)}, nil, pos, body)
		if err != nil {
			if !errors.Is(err, snapfile.ErrCorrupt) {
				t.Fatalf("an error that is not ErrCorrupt: %v", err)
			}
			return
		}
		set := projections.SetOf(r)
		for _, d := range set.Devices.All() {
			r.DeviceState(d.Name)
		}
		set.Assignment.Ranges()
		r.Holdings()
		r.CommandState()
		if _, _, err := r.Snapshot(); err != nil {
			t.Fatal(err)
		}
		_, _ = r.CatchUp(context.Background())
		_, _ = r.Status(context.Background())
	})
}
