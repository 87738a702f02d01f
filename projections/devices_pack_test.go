package projections

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// TestDevicesCompactRoundTrip takes devices through every event that
// changes them, one whose name, DNs and addresses pack and one whose
// values all fall back to strings kept on the side, interleaved, and reads
// every field back after each event: a field of Device forgotten in rec,
// or a fallback read under the wrong key, fails here.
func TestDevicesCompactRoundTrip(t *testing.T) {
	type values struct {
		name, dn1, dn2, dn3, addr0, addr1, addr2 string
		proto                                    domain.Protocol
	}
	variants := []values{
		{"SEP001122AABBCC", "1000", "02000", "300000", "10.0.0.9:5060", "10.0.0.1:5060", "192.168.1.2:5061", domain.SIP},
		{"rogue-device", "10a", "*55", "1234567890123456789", "[::1]:5060", "host.example:5060", "[2001:db8::1]:5061", "H323"},
		{"SEP00BE00000001", "+1000", "2000", "", "10.0.0.3:1", "010.0.0.1:5060", "10.0.0.4:2000", ""},
	}
	at := func(step int) time.Time { return time.Date(2026, 1, 2, 3, 4, step, 5, time.UTC) }
	d := NewDevices()
	pos := uint64(0)
	apply := func(step int, p domain.Event) {
		pos++
		d.Apply(&Event{RecordedEvent: eventstore.RecordedEvent{Position: pos, RecordedAt: at(step)}, Payload: p})
	}
	want := make([]Device, len(variants))
	covered := map[string]bool{}
	check := func(step string) {
		t.Helper()
		for i, v := range variants {
			got, ok := d.Get(v.name)
			if !ok {
				t.Fatalf("%s: %s not found", step, v.name)
			}
			if diff := cmp.Diff(want[i], got); diff != "" {
				t.Fatalf("%s: %s (-want +got):\n%s", step, v.name, diff)
			}
			rv := reflect.ValueOf(got)
			for f := range rv.NumField() {
				if !rv.Field(f).IsZero() {
					covered[rv.Type().Field(f).Name] = true
				}
			}
		}
	}
	ev := func(name string) domain.DeviceEvent { return domain.DeviceEvent{Device: name} }
	steps := []struct {
		name  string
		event func(v values) domain.Event
		want  func(w *Device, v values, step int, pos uint64)
	}{
		{"refused", func(v values) domain.Event {
			return domain.RegistrationRejected{DeviceEvent: ev(v.name), Reason: domain.RejectWindowClosed, Model: "7961", Address: v.addr0}
		}, func(w *Device, v values, step int, pos uint64) {
			*w = Device{Name: v.name, Model: "7961", Address: v.addr0, FirstSeen: at(step), LastSeen: at(step),
				Rejections: 1, LastRejection: domain.RejectWindowClosed, LastRejectedAt: at(step), Position: pos}
		}},
		{"autoregistered", func(v values) domain.Event {
			return domain.DeviceAutoregistered{DeviceEvent: ev(v.name), Model: "7970", Protocol: v.proto, DN: v.dn1, Partition: "Internal",
				Pool: "Default", CSS: "AutoCSS", Load: "SIP70.9-4", Address: v.addr1, Window: "W1"}
		}, func(w *Device, v values, step int, pos uint64) {
			w.Exists, w.Registered, w.Autoregistered, w.Model, w.Protocol, w.DN = true, true, true, "7970", v.proto, v.dn1
			w.Partition, w.Pool, w.CSS, w.Load, w.Address, w.Window = "Internal", "Default", "AutoCSS", "SIP70.9-4", v.addr1, "W1"
			w.AutoregisteredAt, w.LastSeen, w.Position = at(step), at(step), pos
		}},
		{"reconfigured", func(v values) domain.Event {
			return domain.DeviceReconfigured{DeviceEvent: ev(v.name), Pool: "Staff", CSS: "StaffCSS", DN: v.dn2, Partition: "Other", Description: "lobby " + v.name, By: "bob"}
		}, func(w *Device, v values, step int, pos uint64) {
			w.Pool, w.CSS, w.DN, w.Partition, w.Description, w.Position = "Staff", "StaffCSS", v.dn2, "Other", "lobby "+v.name, pos
		}},
		{"moved", func(v values) domain.Event {
			return domain.DeviceMoved{DeviceEvent: ev(v.name), From: v.addr1, To: v.addr2, Node: "CM2"}
		}, func(w *Device, v values, step int, pos uint64) {
			w.Address, w.LastSeen, w.Position, w.Node = v.addr2, at(step), pos, "CM2"
		}},
		{"refused again", func(v values) domain.Event {
			return domain.RegistrationRejected{DeviceEvent: ev(v.name), Reason: domain.RejectMixedMode, Model: "7902", Address: v.addr0}
		}, func(w *Device, v values, step int, pos uint64) {
			w.Rejections, w.LastRejection, w.LastRejectedAt, w.LastSeen, w.Position = 2, domain.RejectMixedMode, at(step), at(step), pos
		}},
		{"unregistered", func(v values) domain.Event {
			return domain.DeviceUnregistered{DeviceEvent: ev(v.name), Reason: "expired"}
		}, func(w *Device, v values, step int, pos uint64) {
			w.Registered, w.LastSeen, w.Position, w.Node = false, at(step), pos, ""
		}},
		{"credentials issued", func(v values) domain.Event {
			return domain.DeviceCredentialsIssued{DeviceEvent: ev(v.name), User: v.name, Salt: "00c0ffee12345678", Verifier: "ab", By: "system"}
		}, func(w *Device, v values, step int, pos uint64) {
			w.CredentialSalt, w.Position = "00c0ffee12345678", pos
		}},
		{"registered", func(v values) domain.Event {
			return domain.DeviceRegistered{DeviceEvent: ev(v.name), Address: v.addr1}
		}, func(w *Device, v values, step int, pos uint64) {
			w.Registered, w.Address, w.LastSeen, w.Position = true, v.addr1, at(step), pos
		}},
		{"credentials disabled", func(v values) domain.Event {
			return domain.DeviceCredentialsDisabled{DeviceEvent: ev(v.name), By: "alice"}
		}, func(w *Device, v values, step int, pos uint64) {
			w.CredentialSalt, w.Position = "", pos
		}},
		{"credentials issued again", func(v values) domain.Event {
			return domain.DeviceCredentialsIssued{DeviceEvent: ev(v.name), User: v.name, Salt: "ffffffffffffffff", Verifier: "cd", By: "alice"}
		}, func(w *Device, v values, step int, pos uint64) {
			w.CredentialSalt, w.Position = "ffffffffffffffff", pos
		}},
		{"provisioned", func(v values) domain.Event {
			return domain.DeviceProvisioned{DeviceEvent: ev(v.name), Model: "7961", Protocol: domain.SCCP, DN: v.dn3, Partition: "Internal",
				Pool: "Default", CSS: "X", Description: "desk", By: "alice"}
		}, func(w *Device, v values, step int, pos uint64) {
			*w = Device{Name: v.name, Exists: true, Model: "7961", Protocol: domain.SCCP, DN: v.dn3, Partition: "Internal", Pool: "Default",
				CSS: "X", Description: "desk", Address: w.Address, ProvisionedBy: "alice", FirstSeen: w.FirstSeen, LastSeen: w.LastSeen,
				Rejections: w.Rejections, LastRejection: w.LastRejection, LastRejectedAt: w.LastRejectedAt, Position: pos}
		}},
		{"deleted", func(v values) domain.Event {
			return domain.DeviceDeleted{DeviceEvent: ev(v.name), By: "alice"}
		}, func(w *Device, v values, step int, pos uint64) {
			*w = Device{Name: v.name, Deleted: true, Model: w.Model, Address: w.Address, FirstSeen: w.FirstSeen, LastSeen: w.LastSeen,
				Rejections: w.Rejections, LastRejection: w.LastRejection, LastRejectedAt: w.LastRejectedAt, Position: pos}
		}},
		{"autoregistered again", func(v values) domain.Event {
			return domain.DeviceAutoregistered{DeviceEvent: ev(v.name), Model: "7970", Protocol: v.proto, DN: v.dn1, Partition: "Internal",
				Pool: "Default", Address: v.addr2, Window: "W2"}
		}, func(w *Device, v values, step int, pos uint64) {
			*w = Device{Name: v.name, Exists: true, Registered: true, Autoregistered: true, Model: "7970", Protocol: v.proto, DN: v.dn1,
				Partition: "Internal", Pool: "Default", Address: v.addr2, Window: "W2", AutoregisteredAt: at(step),
				FirstSeen: w.FirstSeen, LastSeen: at(step), Rejections: w.Rejections, LastRejection: w.LastRejection,
				LastRejectedAt: w.LastRejectedAt, Position: pos}
		}},
	}
	step := 0
	for _, s := range steps {
		for i, v := range variants { // interleaved: each step for every device
			step++
			apply(step, s.event(v))
			s.want(&want[i], v, step, pos)
		}
		check(s.name)
	}
	dv := reflect.ValueOf(Device{})
	for f := range dv.NumField() {
		if name := dv.Type().Field(f).Name; !covered[name] {
			t.Errorf("no step sets Device.%s: extend the test so the round trip covers it", name)
		}
	}
	if all := d.All(); len(all) != len(variants) {
		t.Fatalf("All: %d devices, want %d", len(all), len(variants))
	}
	if exist, regd := d.Counts(); exist != len(variants) || regd != len(variants) {
		t.Fatalf("Counts = %d, %d", exist, regd)
	}
	if _, ok := d.Get("SEP0000000000FF"); ok {
		t.Fatal("found a device never seen")
	}
	if _, ok := d.Get("never-seen"); ok {
		t.Fatal("found a device never seen")
	}
	// Packed values replaced the spilled ones: nothing is left on the side
	// but the current values that do not pack.
	if n := d.dns.Len() + d.addrs.Len() + d.descs.Len(); n != 3 {
		t.Fatalf("%d strings on the side, want 3 (a DN and two addresses)", n)
	}
	if d.protocols.Len() != 1 {
		t.Fatalf("%d protocols on the side, want 1 (H323)", d.protocols.Len())
	}
}
