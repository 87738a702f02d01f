package command

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
	// The same with every string that packs replaced by one that does not:
	// kept on the side and read back exactly.
	odd := e
	odd.state.Name, odd.state.DN, odd.state.Address = "rogue-device", "10a", "[2001:db8::1]:5060"
	odd.state.Description, odd.state.Protocol = "desk 12", "H323"
	c.put(odd)
	for _, want := range []devEntry{e, odd} {
		got, ok := c.get(want.state.Name)
		if !ok {
			t.Fatalf("%s not found", want.state.Name)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(devEntry{})); diff != "" {
			t.Fatalf("round trip of %s (-put +get):\n%s", want.state.Name, diff)
		}
	}
	// Rewritten with values that pack, and none set: nothing left on the side.
	plain := devEntry{state: domain.DeviceState{Name: odd.state.Name, DN: "1000", Address: "10.0.0.2:5060"}, version: 2}
	c.put(plain)
	if got, _ := c.get(plain.state.Name); !cmp.Equal(plain, got, cmp.AllowUnexported(devEntry{})) {
		t.Fatalf("rewritten entry reads %+v", got)
	}
	if n := c.dns.Len() + c.addrs.Len() + c.descs.Len() + c.protocols.Len(); n != 1 { // e's description
		t.Fatalf("%d strings on the side, want 1", n)
	}
	if _, ok := c.rejected[c.names.Key(plain.state.Name)]; ok {
		t.Fatal("rejections kept for an entry put without any")
	}
	if _, ok := c.get("SEP0000000000FF"); ok {
		t.Fatal("found a device never put")
	}
	if _, ok := c.get("never-put"); ok {
		t.Fatal("found a device never put")
	}
	if got := c.getOrNew("SEP0000000000FF"); got.version != -1 || got.state.Name != "SEP0000000000FF" || got.state.Exists {
		t.Fatalf("getOrNew of an unknown device = %+v", got)
	}
	c.setReloaded(e.state.Name, 9)
	if got, _ := c.get(e.state.Name); got.reloaded != 9 {
		t.Fatalf("reloaded = %d after setReloaded(9)", got.reloaded)
	}
	c.put(odd)
	for _, name := range []string{e.state.Name, odd.state.Name} {
		c.delete(name)
		if _, ok := c.get(name); ok {
			t.Fatalf("found %s after delete", name)
		}
	}
	if n := c.dns.Len() + c.addrs.Len() + c.descs.Len() + len(c.rejected) + c.protocols.Len(); n != 0 {
		t.Fatalf("%d values left on the side after delete", n)
	}
	if n := c.slab.Len(); n != len(c.recs) || n != 1 {
		t.Fatalf("%d records in the slab, %d keys; want 1 (SEP00AABBCCDDEE)", n, len(c.recs))
	}
}

// TestDevRecSize keeps the per-device record within the size its comment
// promises: the registrar holds one per device.
func TestDevRecSize(t *testing.T) {
	if n := unsafe.Sizeof(devRec{}); n > 56 {
		t.Fatalf("devRec is %d bytes, want <= 56", n)
	}
}
