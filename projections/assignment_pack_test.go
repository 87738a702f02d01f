package projections

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// TestAssignmentCompactHoldings holds, moves and releases DNs that pack
// and DNs that do not (kept on the side), in several partitions, by
// devices whose names pack and do not, and checks every read against a
// plain map of the same holdings.
func TestAssignmentCompactHoldings(t *testing.T) {
	a := NewAssignment()
	ref := map[domain.DNKey]string{}
	pos := uint64(0)
	apply := func(p domain.Event) {
		pos++
		a.Apply(&Event{RecordedEvent: eventstore.RecordedEvent{Position: pos}, Payload: p})
	}
	apply(domain.RangeConfigured{Start: "1000", End: "1009", Partition: "Internal", By: "x"})
	hold := func(partition, dn, device string) {
		apply(domain.DNClaimed{Partition: partition, DN: dn, Device: device, By: "x"})
		ref[domain.DNKey{Partition: partition, DN: dn}] = device
	}
	release := func(partition, dn, device string) {
		apply(domain.DNReleased{Partition: partition, DN: dn, Device: device, By: "x"})
		if k := (domain.DNKey{Partition: partition, DN: dn}); ref[k] == device {
			delete(ref, k)
		}
	}
	hold("Internal", "1000", "SEP000000000001")
	hold("Internal", "1001", "rogue-device")
	hold("Internal", "1002", "SEP000000000003")
	hold("Other", "1000", "SEP000000000004")
	hold("", "0042", "SEP000000000005")
	hold("Internal", "10a", "SEP000000000006")
	hold("Internal", "1234567890123456789", "odd-device")
	hold("Internal", "1001", "SEP000000000007")    // taken over
	release("Internal", "1002", "SEP000000000009") // not the holder: kept
	release("Internal", "10a", "SEP000000000006")
	release("Internal", "1234567890123456789", "SEP000000000009") // not the holder: kept
	release("Internal", "1000", "SEP000000000001")
	release("Nowhere", "1000", "SEP000000000001")
	hold("Internal", "1003", "SEP00000000000A")
	apply(domain.RangeConfigured{Start: "1000", End: "1005", Partition: "Internal", By: "x"}) // counts what is held

	var want []Holding
	for k, d := range ref {
		want = append(want, Holding{Partition: k.Partition, DN: k.DN, Device: d})
		if got, ok := a.Holder(k.Partition, k.DN); !ok || got != d {
			t.Errorf("Holder(%q, %q) = %q, %v; want %q", k.Partition, k.DN, got, ok, d)
		}
	}
	sort.Slice(want, func(i, j int) bool {
		x, y := want[i], want[j]
		if x.Partition != y.Partition {
			return x.Partition < y.Partition
		}
		if len(x.DN) != len(y.DN) {
			return len(x.DN) < len(y.DN)
		}
		return x.DN < y.DN
	})
	if diff := cmp.Diff(want, a.Holdings()); diff != "" {
		t.Errorf("Holdings (-want +got):\n%s", diff)
	}
	for _, k := range []struct{ Partition, DN string }{{"Internal", "1000"}, {"Internal", "10a"}, {"Nowhere", "1000"}, {"Internal", "1009"}, {"Internal", "x"}} {
		if d, ok := a.Holder(k.Partition, k.DN); ok {
			t.Errorf("Holder(%q, %q) = %q, want none", k.Partition, k.DN, d)
		}
	}
	cur, _ := a.Current()
	if cur.Used != 3 || cur.Next != "1000" {
		t.Errorf("current range: used %d, next %q; want 3 and 1000", cur.Used, cur.Next)
	}
	wantIn := map[string]string{"1001": "SEP000000000007", "1002": "SEP000000000003", "1003": "SEP00000000000A"}
	if diff := cmp.Diff(wantIn, a.InRange(cur)); diff != "" {
		t.Errorf("InRange (-want +got):\n%s", diff)
	}
}
