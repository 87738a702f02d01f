package projections_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

// TestDeviceStateIsTheAggregates: the command side decides from what the
// devices read model says of a device (DeviceState), so for every device of
// a realistic history it must be exactly the Device aggregate's state folded
// from the device's stream (LastRejected aside: the command side keeps
// that), with the stream's version. A field added to domain.DeviceState
// and forgotten by the read model fails here.
func TestDeviceStateIsTheAggregates(t *testing.T) {
	events := recorded(t, generated(t, 30_000))
	want := map[string]domain.DeviceState{}
	versions := map[string]int64{}
	for _, r := range events {
		name, ok := domain.DeviceFromStream(r.Stream)
		if !ok {
			continue
		}
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		st, seen := want[name]
		if !seen {
			st = domain.NewDevice(name)
		}
		want[name] = domain.EvolveDevice(st, e, r.RecordedAt)
		versions[name] = int64(r.Version)
	}
	reader := projections.NewReader(headedSource{sliceSource(events)}, nil)
	if _, err := reader.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{} // the fields set somewhere in the history
	for name, w := range want {
		w.LastRejected = nil
		got, v, found := reader.DeviceState(name)
		if !found {
			t.Fatalf("%s: not in the read model", name)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Fatalf("%s (-aggregate +read model):\n%s", name, diff)
		}
		if v != versions[name] {
			t.Fatalf("%s: version %d, want %d", name, v, versions[name])
		}
		rv := reflect.ValueOf(w)
		for i := range rv.NumField() {
			if !rv.Field(i).IsZero() {
				fields[rv.Type().Field(i).Name] = true
			}
		}
	}
	if _, _, found := reader.DeviceState("SEP0000DEADBEEF"); found {
		t.Fatal("a device never seen is found")
	}
	// The history must exercise every field but LastRejected, or the
	// comparison above proves less than it says.
	for i := range reflect.TypeFor[domain.DeviceState]().NumField() {
		f := reflect.TypeFor[domain.DeviceState]().Field(i).Name
		if !fields[f] && f != "LastRejected" {
			t.Errorf("no device of the history has %s set: the test does not cover it", f)
		}
	}
	t.Logf("%d devices compared", len(want))
}

// headedSource serves events from memory and says where they end.
type headedSource struct{ sliceSource }

func (s headedSource) Head(context.Context) (uint64, error) { return uint64(len(s.sliceSource)), nil }
