package pack

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/autoreg/autoreg/domain"
)

// TestDNSetMatchAMap holds, replaces and releases DNs that pack and
// DNs, devices and partitions that do not, and checks every read against
// a plain map of the same holdings.
func TestDNSetMatchAMap(t *testing.T) {
	var h DNSet // the zero value is ready to use
	ref := map[domain.DNKey]string{}
	hold := func(p, dn, d string) { h.Hold(p, dn, d); ref[domain.DNKey{Partition: p, DN: dn}] = d }
	release := func(p, dn string) { h.Release(p, dn); delete(ref, domain.DNKey{Partition: p, DN: dn}) }
	check := func(step string) {
		t.Helper()
		if h.Len() != len(ref) {
			t.Fatalf("%s: Len = %d, want %d", step, h.Len(), len(ref))
		}
		got := maps.Collect(h.All())
		if !maps.Equal(got, ref) {
			t.Fatalf("%s: All = %v, want %v", step, got, ref)
		}
		for _, r := range []domain.DNRange{{Start: "1000", End: "1999", Partition: "Internal"}, {Start: "0000", End: "9999", Partition: "Other"},
			{Start: "0", End: "9", Partition: ""}, {Start: "1000", End: "1002", Partition: "Internal"}, {Start: "10", End: "99", Partition: "Internal"},
			{Start: strings.Repeat("0", 16), End: strings.Repeat("9", 16), Partition: "Internal"}, {Start: "1000", End: "1999", Partition: "Nowhere"}} {
			want := 0
			for k := range ref {
				if k.Partition == r.Partition && r.Contains(k.DN) {
					want++
				}
			}
			if got := h.HeldIn(r); got != want {
				t.Fatalf("%s: HeldIn(%+v) = %d, want %d", step, r, got, want)
			}
		}
		for k, d := range ref {
			if got, ok := h.Holder(k.Partition, k.DN); !ok || got != d || !h.Held(k.Partition, k.DN) {
				t.Fatalf("%s: Holder(%q, %q) = %q, %v; want %q", step, k.Partition, k.DN, got, ok, d)
			}
		}
	}
	hold("Internal", "1000", "SEP001122AABBCC")
	hold("Internal", "0001", "SEP000000000001")
	hold("Other", "1000", "SEP000000000002")
	hold("", "7", "SEP000000000003")
	hold("Internal", "1001", "rogue")                            // a name that does not pack
	hold("Internal", "1002", "SEP001122aabbcc")                  // lower case
	hold("Internal", "10a", "SEP000000000004")                   // not digits
	hold("Internal", strings.Repeat("9", 16), "SEP000000000005") // too long
	hold("Internal", strings.Repeat("0", 15), "SEP000000000006") // as long as packs
	hold("Internal", "", "SEP000000000007")                      // empty DN
	hold("Internal", "1003", "")                                 // empty holder
	check("held")
	hold("Internal", "1000", "someone-else")    // packed -> other
	hold("Internal", "1001", "SEP000000000008") // other -> packed
	hold("Other", "1000", "SEP000000000009")    // packed -> packed
	check("replaced")
	release("Internal", "1000")
	release("Internal", "1001")
	release("Internal", "10a")
	release("Nowhere", "1000") // never held
	check("released")
	for _, k := range []domain.DNKey{{Partition: "Internal", DN: "1000"}, {Partition: "Internal", DN: "10a"}, {Partition: "Nowhere", DN: "1000"}, {Partition: "Internal", DN: "9999"}} {
		if d, ok := h.Holder(k.Partition, k.DN); ok || h.Held(k.Partition, k.DN) {
			t.Fatalf("Holder(%q, %q) = %q, want none", k.Partition, k.DN, d)
		}
	}
	c := h.Clone()
	hold("Internal", "2000", "SEP00000000000A")
	if c.Len() == h.Len() || c.Held("Internal", "2000") {
		t.Fatal("a clone shares its entries")
	}
	cp := h // a copy shares them, as a map would
	cp.Hold("Internal", "2001", "SEP00000000000B")
	ref[domain.DNKey{Partition: "Internal", DN: "2001"}] = "SEP00000000000B"
	check("held through a copy")
}

// TestDNSetManyPartitions: past the partitions a key can number, DNs
// are kept as strings, and read back the same.
func TestDNSetManyPartitions(t *testing.T) {
	h := NewDNSet()
	n := maxPartitions + 10
	for i := range n {
		h.Hold(fmt.Sprintf("P%d", i), "1000", "SEP000000000001")
	}
	if h.Len() != n || len(h.other) != 10 {
		t.Fatalf("Len %d (want %d), %d as strings (want 10)", h.Len(), n, len(h.other))
	}
	for i := range n {
		if d, ok := h.Holder(fmt.Sprintf("P%d", i), "1000"); !ok || d != "SEP000000000001" {
			t.Fatalf("partition %d: %q %v", i, d, ok)
		}
	}
}
