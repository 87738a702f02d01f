package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// given folds events into a world, as the store would replay them.
func given(device string, events ...domain.Event) domain.World {
	w := domain.NewWorld(device)
	for _, e := range events {
		w = w.Evolve(e, t0)
	}
	return w
}

// configured is a cluster ready to autoregister: CM1 first in the flagged
// group with autoregistration enabled, range 1000-1002 in Internal.
func configured() []domain.Event {
	return []domain.Event{
		domain.CallManagerConfigured{Name: "CM1", AutoregDisabled: false, By: "alice"},
		domain.CallManagerConfigured{Name: "CM2", AutoregDisabled: true, By: "alice"},
		domain.GroupConfigured{Name: "Default", CallManagers: []string{"CM1", "CM2"}, By: "alice"},
		domain.AutoregGroupSet{Group: "Default", By: "alice"},
		domain.PartitionAdded{Name: "Internal", By: "alice"},
		domain.DevicePoolConfigured{Name: "Default", Group: "Default", By: "alice"},
		domain.DefaultPoolSet{Pool: "Default", By: "alice"},
		domain.RangeConfigured{Start: "1000", End: "1002", Partition: "Internal", Mask: "40855501XX", By: "alice"},
	}
}

func open(extra ...domain.Event) []domain.Event {
	ev := append(configured(), extra...)
	return append(ev, domain.WindowOpened{Window: "W1", Reason: "bulk add", By: "alice", At: t0, Protocol: domain.SCCP})
}

func TestAutoregistrationGivesTheLowestFreeDN(t *testing.T) {
	w := given("SEP001122334455", open(
		domain.DeviceProvisioned{DeviceEvent: domain.DeviceEvent{Device: "SEP000000000001"}, Model: "7960", Protocol: domain.SCCP, DN: "1000", Partition: "Internal", Pool: "Default", By: "alice"},
		domain.DNClaimed{DN: "1000", Partition: "Internal", Device: "SEP000000000001", By: "alice"},
	)...)
	got, err := domain.Decide(w, domain.Register{Device: "SEP001122334455", Model: "7961", Protocol: domain.SCCP, Address: "10.0.0.5:51000"}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{
		domain.DNAssigned{DN: "1001", Partition: "Internal", Device: "SEP001122334455", Window: "W1"},
		domain.DeviceAutoregistered{DeviceEvent: domain.DeviceEvent{Device: "SEP001122334455"}, Model: "7961", Protocol: domain.SCCP,
			DN: "1001", Partition: "Internal", ExternalNumber: "4085550101", Pool: "Default", Address: "10.0.0.5:51000", Window: "W1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestClosedWindowRefusesAndRecordsOncePerMinute(t *testing.T) {
	w := given("SEP001122334455", configured()...)
	cmd := domain.Register{Device: "SEP001122334455", Model: "7961", Protocol: domain.SCCP, Address: "10.0.0.5:1"}
	ev, err := domain.Decide(w, cmd, t0)
	var rej *domain.Rejection
	if !errors.As(err, &rej) || rej.Reason != domain.RejectWindowClosed {
		t.Fatalf("want a window_closed rejection, got %v", err)
	}
	if len(ev) != 1 || ev[0].EventType() != domain.TypeRegistrationRejected {
		t.Fatalf("want one rejection event, got %v", ev)
	}
	w = w.Evolve(ev[0], t0)
	if ev, _ := domain.Decide(w, cmd, t0.Add(59*time.Second)); len(ev) != 0 {
		t.Errorf("second refusal within a minute wrote %v", ev)
	}
	if ev, _ := domain.Decide(w, cmd, t0.Add(61*time.Second)); len(ev) != 1 {
		t.Errorf("refusal after a minute: want one event, got %v", ev)
	}
}

func TestOpeningNamesTheCallManagerAtFault(t *testing.T) {
	w := given("", append(configured(), domain.CallManagerConfigured{Name: "CM2", AutoregDisabled: false, By: "bob"})...) // CM2 enabled too
	_, err := domain.Decide(w, domain.OpenWindow{Reason: "bulk", By: "alice"}, t0)
	if !errors.Is(err, domain.ErrMisconfigured) || !strings.Contains(err.Error(), "CM2") {
		t.Fatalf("want ErrMisconfigured naming CM2, got %v", err)
	}
}

func TestLastDNThenExhaustion(t *testing.T) {
	w := given("", open()...)
	var last string
	for i, mac := range []string{"SEP000000000001", "SEP000000000002", "SEP000000000003", "SEP000000000004"} {
		w.Device = domain.NewDevice(mac)
		ev, err := domain.Decide(w, domain.Register{Device: mac, Model: "7902", Protocol: domain.SCCP, Address: "a"}, t0)
		for _, e := range ev {
			w = w.Evolve(e, t0)
			if a, ok := e.(domain.DNAssigned); ok {
				last = a.DN
			}
		}
		if i < 3 && err != nil {
			t.Fatalf("phone %d: %v", i+1, err)
		}
		if i == 2 {
			// The last DN went: the window closes with it (range exhausted).
			types := []string{}
			for _, e := range ev {
				types = append(types, e.EventType())
				if c, ok := e.(domain.WindowClosed); ok && (c.Cause != domain.CloseRangeExhausted || c.Registrations != 3) {
					t.Errorf("close: cause %s after %d registrations, want range_exhausted after 3", c.Cause, c.Registrations)
				}
			}
			want := []string{domain.TypeDNAssigned, domain.TypeDeviceAutoregistered, domain.TypeWindowClosed}
			if diff := cmp.Diff(want, types); diff != "" {
				t.Errorf("last DN events (-want +got):\n%s", diff)
			}
		}
		if i == 3 {
			var rej *domain.Rejection
			if !errors.As(err, &rej) || rej.Reason != domain.RejectWindowClosed {
				t.Fatalf("fourth phone: want window_closed, got %v", err)
			}
		}
	}
	if last != "1002" {
		t.Errorf("last DN given: %s, want 1002", last)
	}
}

func TestPatterns(t *testing.T) {
	cases := []struct {
		pattern, number string
		match           bool
	}{
		{"911", "911", true}, {"911", "9111", false}, {"0", "0", true},
		{"1XXX", "1234", true}, {"1XXX", "123", false}, {"[2-9]XX", "212", true}, {"[2-9]XX", "112", false},
		{"[^0-1]X", "21", true}, {"[^0-1]X", "11", false}, {"9.!", "9555", true}, {"9.!", "9", false},
		{"9.[2-9]XXXXXX", "95551234", true}, {"1X?", "1", true}, {"1X+", "1", false}, {"*8", "*8", true},
	}
	for _, c := range cases {
		p, err := domain.CompilePattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.Match(c.number); got != c.match {
			t.Errorf("%s matches %s: got %v, want %v", c.pattern, c.number, got, c.match)
		}
	}
	for _, bad := range []string{"", "[", "[]", "9[a]", "?1", "1A", "X??"} {
		if _, err := domain.CompilePattern(bad); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("pattern %q: want ErrInvalid, got %v", bad, err)
		}
	}
}

func TestEventsRoundTripThroughTheirStableNames(t *testing.T) {
	for _, e := range open() {
		typ, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := domain.Decode(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", typ, diff)
		}
	}
	var unknown *domain.UnknownEventError
	if _, err := domain.Decode("cluster.renamed_thing", []byte(`{}`)); !errors.As(err, &unknown) {
		t.Errorf("unknown name: want UnknownEventError, got %v", err)
	}
	if _, err := domain.Decode(domain.TypeWindowOpened, []byte(`{"schema_version":1,"data":{"window":5}}`)); err == nil {
		t.Error("a malformed payload decoded")
	}
}

func TestExternalMask(t *testing.T) {
	for _, c := range []struct{ mask, dn, want string }{
		{"40855501XX", "1023", "4085550123"}, {"4085551XXX", "1023", "4085551023"}, {"", "1000", ""}, {"4085550000", "1000", "4085550000"},
	} {
		if got := domain.ApplyMask(c.mask, c.dn); got != c.want {
			t.Errorf("mask %q dn %s: got %q want %q", c.mask, c.dn, got, c.want)
		}
	}
}

// The next-free hint stays exact after releases and reconfigurations: the
// lowest free DN is always the one given.
func TestNextFreeAfterReleaseAndReconfiguration(t *testing.T) {
	w := given("", configured()...)
	w = w.Evolve(domain.RangeConfigured{Start: "1000", End: "1009", Partition: "Internal", By: "a"}, t0)
	claim := func(dn, dev string) {
		w = w.Evolve(domain.DNClaimed{DN: dn, Partition: "Internal", Device: dev, By: "a"}, t0)
	}
	for i, dn := range []string{"1000", "1001", "1002", "1005"} {
		claim(dn, fmt.Sprintf("SEP00000000000%d", i))
	}
	next := func() string { dn, _ := w.Range.NextFree(); return dn }
	if got := next(); got != "1003" {
		t.Fatalf("next free %s, want 1003", got)
	}
	w = w.Evolve(domain.DNReleased{DN: "1001", Partition: "Internal", Device: "SEP000000000001", By: "a"}, t0)
	if got := next(); got != "1001" {
		t.Fatalf("after release: %s, want 1001", got)
	}
	claim("1001", "SEP00000000000A")
	claim("1003", "SEP00000000000B")
	claim("1004", "SEP00000000000C")
	if got := next(); got != "1006" {
		t.Fatalf("after filling the gap: %s, want 1006", got)
	}
	w = w.Evolve(domain.RangeConfigured{Start: "1000", End: "1019", Partition: "Internal", By: "a"}, t0)
	if got := next(); got != "1006" {
		t.Fatalf("after widening: %s, want 1006", got)
	}
}
