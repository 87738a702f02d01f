package domain

import (
	"fmt"
	"iter"
	"maps"
	"strings"
)

// DNRange is the autoregistration range of directory numbers.
type DNRange struct {
	Start     string
	End       string
	Partition string
	Mask      string // external phone number mask
}

// Configured reports whether a range was ever set.
func (r DNRange) Configured() bool { return r.Start != "" }

// Disabled reports whether the range disables autoregistration: unset, or
// start equal to end, as on the CallManager page.
func (r DNRange) Disabled() bool { return r.Start == "" || r.Start == r.End }

// Size is how many DNs the range holds (0 when disabled).
func (r DNRange) Size() int {
	if r.Disabled() {
		return 0
	}
	s, _ := atoi(r.Start)
	e, _ := atoi(r.End)
	return e - s + 1
}

// Contains reports whether dn lies in the range.
func (r DNRange) Contains(dn string) bool {
	if r.Disabled() || len(dn) != len(r.Start) {
		return false
	}
	return dn >= r.Start && dn <= r.End // same length digit strings compare as numbers
}

// ExternalNumber applies the external phone number mask to dn: the mask's X's
// take the DN's trailing digits ("40855501XX" and 1023 give 4085550123).
// Without a mask it returns "".
func (r DNRange) ExternalNumber(dn string) string { return ApplyMask(r.Mask, dn) }

// ApplyMask fills the X's of mask with the trailing digits of dn, left to right.
func ApplyMask(mask, dn string) string {
	if mask == "" {
		return ""
	}
	n := strings.Count(strings.ToUpper(mask), "X")
	if n == 0 {
		return mask
	}
	digits := dn
	if len(digits) > n {
		digits = digits[len(digits)-n:]
	}
	// Fewer DN digits than X's: pad on the left with the mask's X's kept.
	pad := n - len(digits)
	var b strings.Builder
	i := 0
	for _, c := range mask {
		if c == 'X' || c == 'x' {
			if i < pad {
				b.WriteRune(c)
			} else {
				b.WriteByte(digits[i-pad])
			}
			i++
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ValidateRange checks a range as the CallManager page would.
func ValidateRange(start, end string) error {
	if start == "" || end == "" {
		return fmt.Errorf("the range needs a starting and an ending directory number")
	}
	if !isDigits(start) || !isDigits(end) {
		return fmt.Errorf("directory numbers are digit strings: got %q and %q", start, end)
	}
	if len(start) != len(end) {
		return fmt.Errorf("starting DN %q and ending DN %q must have the same number of digits", start, end)
	}
	if start > end {
		return fmt.Errorf("starting DN %q is after ending DN %q", start, end)
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) (int, bool) {
	if !isDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func formatDN(n, width int) string { return fmt.Sprintf("%0*d", width, n) }

// DNKey names a DN within its partition.
type DNKey struct {
	Partition string
	DN        string
}

// DNSet is the set of DNs in use, in any partition, each with the device
// holding it, as the range's decisions read it. EvolveDNRange changes it
// (Hold, Release); nothing else in the domain does.
//
// DNMap is the plain implementation; the registrar's processes use a
// compact one (internal/pack.DNSet) since they hold one entry per DN in use
// for as long as they run.
type DNSet interface {
	// Holder returns the device holding dn in partition, if any.
	Holder(partition, dn string) (string, bool)
	// Held reports whether a device holds dn in partition.
	Held(partition, dn string) bool
	// HeldIn counts the DNs of range r held in its partition.
	HeldIn(r DNRange) int
	// Len is the number of DNs held.
	Len() int
	// All yields every DN held and its holder, in no order.
	All() iter.Seq2[DNKey, string]
	// Hold records that device holds dn in partition, in place of any
	// holder before it.
	Hold(partition, dn, device string)
	// Release frees dn in partition.
	Release(partition, dn string)
	// Clone returns a copy that shares nothing with the set.
	Clone() DNSet
}

// DNMap is a DNSet in a plain map: DN -> device.
type DNMap map[DNKey]string

var _ DNSet = DNMap{}

func (m DNMap) Holder(partition, dn string) (string, bool) {
	d, ok := m[DNKey{partition, dn}]
	return d, ok
}
func (m DNMap) Held(partition, dn string) bool { _, ok := m[DNKey{partition, dn}]; return ok }
func (m DNMap) HeldIn(r DNRange) int {
	n := 0
	for k := range m {
		if k.Partition == r.Partition && r.Contains(k.DN) {
			n++
		}
	}
	return n
}
func (m DNMap) Len() int                          { return len(m) }
func (m DNMap) All() iter.Seq2[DNKey, string]     { return maps.All(m) }
func (m DNMap) Hold(partition, dn, device string) { m[DNKey{partition, dn}] = device }
func (m DNMap) Release(partition, dn string)      { delete(m, DNKey{partition, dn}) }
func (m DNMap) Clone() DNSet                      { return maps.Clone(m) }

// DNRangeState is the DNRange aggregate's state: the range and every DN in
// use in any partition (assigned by autoregistration or claimed by an
// administrator), so that no DN is ever held by two devices.
//
// Evolve changes the set of DNs in use in place; use Clone to keep an old
// state.
type DNRangeState struct {
	Range DNRange
	InUse DNSet // DN -> device
	// Window counts, per window id, the DNs autoregistration assigned in it.
	Window      string
	WindowCount int
	// next is a hint: no DN of the range below it is free (kept by Evolve).
	next int
}

// NewDNRange is the state before any event: no range, nothing in use, the
// DNs in use kept in a DNMap.
func NewDNRange() DNRangeState { return NewDNRangeIn(DNMap{}) }

// NewDNRangeIn is the state before any event, keeping the DNs in use in
// set, which must be empty.
func NewDNRangeIn(set DNSet) DNRangeState { return DNRangeState{InUse: set} }

// Clone returns a deep copy.
func (s DNRangeState) Clone() DNRangeState {
	c := s
	c.InUse = s.InUse.Clone()
	return c
}

// Holder returns the device holding dn in partition, if any.
func (s DNRangeState) Holder(partition, dn string) (string, bool) {
	return s.InUse.Holder(partition, dn)
}

// NextFree returns the lowest free DN of the range, skipping DNs in use in
// the range's partition, or false when none is left.
func (s DNRangeState) NextFree() (string, bool) {
	r := s.Range
	if r.Disabled() {
		return "", false
	}
	start, _ := atoi(r.Start)
	end, _ := atoi(r.End)
	from := max(start, s.next)
	for n := from; n <= end; n++ {
		dn := formatDN(n, len(r.Start))
		if !s.InUse.Held(r.Partition, dn) {
			return dn, true
		}
	}
	return "", false
}

// FreeAfter reports whether a DN of the range above dn (the lowest free
// one, about to be assigned) is free: it scans up from dn, so it costs
// little while the range is far from full.
func (s DNRangeState) FreeAfter(dn string) bool {
	r := s.Range
	if r.Disabled() || !r.Contains(dn) {
		return false
	}
	n, _ := atoi(dn)
	end, _ := atoi(r.End)
	for n++; n <= end; n++ {
		if !s.InUse.Held(r.Partition, formatDN(n, len(r.Start))) {
			return true
		}
	}
	return false
}

// Free counts the DNs of the range not in use.
func (s DNRangeState) Free() int {
	r := s.Range
	if r.Disabled() {
		return 0
	}
	return r.Size() - s.InUse.HeldIn(r)
}

// EvolveDNRange applies one range event.
func EvolveDNRange(s DNRangeState, e Event) DNRangeState {
	switch e := e.(type) {
	case RangeConfigured:
		s.Range = DNRange{Start: e.Start, End: e.End, Partition: e.Partition, Mask: e.Mask}
		s.next = 0
		s.skipUsed()
	case DNAssigned:
		s.InUse.Hold(e.Partition, e.DN, e.Device)
		if e.Window != s.Window {
			s.Window, s.WindowCount = e.Window, 0
		}
		s.WindowCount++
		s.advance(e.Partition, e.DN)
	case DNClaimed:
		s.InUse.Hold(e.Partition, e.DN, e.Device)
		s.advance(e.Partition, e.DN)
	case DNReleased:
		if d, _ := s.InUse.Holder(e.Partition, e.DN); d == e.Device {
			s.InUse.Release(e.Partition, e.DN)
		}
		if e.Partition == s.Range.Partition && s.Range.Contains(e.DN) {
			if n, _ := atoi(e.DN); n < s.next {
				s.next = n
			}
		}
	}
	return s
}

// advance keeps the next-free hint exact: when dn was the lowest free DN,
// the hint moves past it and past every DN in use after it, so NextFree
// starts at a free DN (amortised constant time per assignment).
func (s *DNRangeState) advance(partition, dn string) {
	if partition != s.Range.Partition || !s.Range.Contains(dn) {
		return
	}
	n, _ := atoi(dn)
	start, _ := atoi(s.Range.Start)
	if max(start, s.next) != n {
		return
	}
	s.next = n + 1
	s.skipUsed()
}

// skipUsed moves the hint past DNs in use.
func (s *DNRangeState) skipUsed() {
	if s.Range.Disabled() {
		return
	}
	start, _ := atoi(s.Range.Start)
	end, _ := atoi(s.Range.End)
	s.next = max(s.next, start)
	for s.next <= end {
		if !s.InUse.Held(s.Range.Partition, formatDN(s.next, len(s.Range.Start))) {
			return
		}
		s.next++
	}
}

// WindowRegistrations is how many DNs autoregistration assigned in window w.
func (s DNRangeState) WindowRegistrations(w string) int {
	if w == "" || w != s.Window {
		return 0
	}
	return s.WindowCount
}
