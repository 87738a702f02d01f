package service

import (
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
)

// TestDevCacheRoundTrip stores an entry with every field of the device's
// state set and reads it back whole: a field added to domain.DeviceState
// and forgotten in devRec fails here.
func TestDevCacheRoundTrip(t *testing.T) {
	e := devEntry{
		state: domain.DeviceState{
			Name: "SEP001122334455", Exists: true, Deleted: true, Model: "7961", Protocol: domain.SIP,
			DN: "1000", Partition: "Internal", Pool: "Default", CSS: "AutoCSS", Description: "lobby",
			Autoregistered: true, Window: "w-1", Registered: true, Address: "10.0.0.1:5060",
			LastRejected: map[domain.RejectReason]time.Time{domain.RejectWindowClosed: time.Unix(1, 0)},
		},
		version:  7,
		reloaded: 3,
	}
	v := reflect.ValueOf(e.state)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("test entry leaves DeviceState.%s zero: set it so the round trip covers it", v.Type().Field(i).Name)
		}
	}
	c := newDevCache()
	c.put(e)
	c.put(devEntry{state: domain.NewDevice("SEP00AABBCCDDEE"), version: -1})
	got, ok := c.get(e.state.Name)
	if !ok {
		t.Fatal("entry not found")
	}
	if diff := cmp.Diff(e, got, cmp.AllowUnexported(devEntry{})); diff != "" {
		t.Fatalf("round trip (-put +get):\n%s", diff)
	}
	if _, ok := c.get("SEP0000000000FF"); ok {
		t.Fatal("found a device never put")
	}
	if got := c.getOrNew("SEP0000000000FF"); got.version != -1 || got.state.Name != "SEP0000000000FF" || got.state.Exists {
		t.Fatalf("getOrNew of an unknown device = %+v", got)
	}
	c.setReloaded(e.state.Name, 9)
	if got, _ := c.get(e.state.Name); got.reloaded != 9 {
		t.Fatalf("reloaded = %d after setReloaded(9)", got.reloaded)
	}
	c.delete(e.state.Name)
	if _, ok := c.get(e.state.Name); ok {
		t.Fatal("found after delete")
	}
}

// TestDevRecSize keeps the per-device record within the size its comment
// promises: the registrar holds one per device.
func TestDevRecSize(t *testing.T) {
	if n := unsafe.Sizeof(devRec{}); n > 112 {
		t.Fatalf("devRec is %d bytes, want <= 112", n)
	}
}
