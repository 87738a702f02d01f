package projections

import (
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/pack"
)

// Assignment is the read model of directory numbers: which device holds
// each DN (in any partition), and for every autoregistration range ever
// configured its size, how many of its DNs are in use, how many are free
// and the next one autoregistration would hand out.
//
// It holds one entry per DN in use, kept compact (see pack.DNSet).
type Assignment struct {
	mu    sync.RWMutex
	pos   uint64
	inUse *pack.DNSet
	// window is the last window a DN was assigned in, windowCount how many
	// were assigned in it (the registrations of the window open now).
	window      string
	windowCount int
	ranges      []*rangeStats // in the order they were first configured
	current     int           // index in ranges of the range in force, -1 when none
	history     []RangeChange
}

// holder returns the device holding dn in partition.
func (a *Assignment) holder(partition, dn string) (string, bool) {
	return a.inUse.Holder(partition, dn)
}

// heldBy reports whether device holds dn in partition.
func (a *Assignment) heldBy(partition, dn, device string) bool {
	d, held := a.inUse.Holder(partition, dn)
	return held && d == device
}

// isHeld reports whether a device holds dn in partition.
func (a *Assignment) isHeld(partition, dn string) bool { return a.inUse.Held(partition, dn) }

// each calls f for every DN in use, in no order.
func (a *Assignment) each(f func(partition, dn, device string)) {
	for k, d := range a.inUse.All() {
		f(k.Partition, k.DN, d)
	}
}

// rangeStats is one range and its usage, kept as events arrive.
type rangeStats struct {
	domain.DNRange
	lo, hi int64
	width  int
	used   int
	next   int64 // no DN of the range below it is free
	// mapped: the range is small enough for a bitmap.
	mapped bool
	// bitmap marks the DNs in use, by offset from lo (nil for ranges larger
	// than maxBitmap, whose DNs are looked up in the Assignment's map).
	bitmap   []uint64
	position uint64
	at       time.Time
	by       string
}

// RangeChange is one configuration of the autoregistration range.
type RangeChange struct {
	Position  uint64
	At        time.Time
	By        string
	Start     string
	End       string
	Partition string
	Mask      string
}

// Range is one autoregistration range and its usage.
type Range struct {
	Start     string
	End       string
	Partition string
	Mask      string
	// Current: this is the range in force (the last one configured).
	Current bool
	// Disabled: the range's start equals its end, which disables autoregistration.
	Disabled bool
	Size     int // how many DNs the range holds
	Used     int // DNs of the range (in its partition) held by a device
	Free     int // Size - Used
	// Next is the DN autoregistration hands out next: the lowest free one
	// ("" when none is free).
	Next string
	// ConfiguredAt/By: the range's last configuration.
	ConfiguredAt time.Time
	ConfiguredBy string
	Position     uint64
}

// Holding is a DN held by a device.
type Holding struct {
	Partition string
	DN        string
	Device    string
}

// NewAssignment returns an empty Assignment.
func NewAssignment() *Assignment {
	a := &Assignment{}
	a.reset()
	return a
}

func (a *Assignment) reset() {
	a.pos, a.ranges, a.current, a.history = 0, nil, -1, nil
	a.inUse = pack.NewDNSet()
	a.window, a.windowCount = "", 0
}

// Reset implements Projection.
func (a *Assignment) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reset()
}

// Checkpoint implements Projection.
func (a *Assignment) Checkpoint() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.pos
}

// Wants implements Selective: the range's events.
func (a *Assignment) Wants(eventType string) bool {
	switch eventType {
	case domain.TypeRangeConfigured, domain.TypeDNAssigned, domain.TypeDNClaimed, domain.TypeDNReleased:
		return true
	}
	return false
}

// Apply implements Projection.
func (a *Assignment) Apply(e *Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pos = e.Position
	switch p := e.Payload.(type) {
	case domain.RangeConfigured:
		a.configure(e, p)
	case domain.DNAssigned:
		a.hold(p.Partition, p.DN, p.Device)
		if p.Window != a.window {
			a.window, a.windowCount = p.Window, 0
		}
		a.windowCount++
	case domain.DNClaimed:
		a.hold(p.Partition, p.DN, p.Device)
	case domain.DNReleased:
		if a.heldBy(p.Partition, p.DN, p.Device) {
			a.inUse.Release(p.Partition, p.DN)
			a.count(p.Partition, p.DN, -1)
		}
	}
}

func (a *Assignment) configure(e *Event, p domain.RangeConfigured) {
	a.history = append(a.history, RangeChange{Position: e.Position, At: utc(e.RecordedAt), By: p.By,
		Start: p.Start, End: p.End, Partition: p.Partition, Mask: p.Mask})
	for i, r := range a.ranges {
		if r.Start == p.Start && r.End == p.End && r.Partition == p.Partition {
			r.Mask, r.position, r.at, r.by = p.Mask, e.Position, utc(e.RecordedAt), p.By
			a.current = i
			return
		}
	}
	r := &rangeStats{DNRange: domain.DNRange{Start: p.Start, End: p.End, Partition: p.Partition, Mask: p.Mask},
		position: e.Position, at: utc(e.RecordedAt), by: p.By}
	r.init()
	if r.width > 0 {
		a.each(func(partition, dn, _ string) {
			if r.contains(partition, dn) {
				n, _ := parseDN(dn)
				r.mark(n, true)
				r.used++
			}
		})
		r.advance(a.isHeld)
	}
	a.ranges = append(a.ranges, r)
	a.current = len(a.ranges) - 1
}

// hold records that device holds dn in partition.
func (a *Assignment) hold(partition, dn, device string) {
	if !a.isHeld(partition, dn) {
		a.count(partition, dn, +1)
	}
	a.inUse.Hold(partition, dn, device)
}

// count adds delta to the usage of every range holding dn.
func (a *Assignment) count(partition, dn string, delta int) {
	for _, r := range a.ranges {
		if !r.contains(partition, dn) {
			continue
		}
		r.used += delta
		n, _ := parseDN(dn)
		r.mark(n, delta > 0)
		switch {
		case delta > 0 && n == r.next:
			r.next++
			r.advance(a.isHeld)
		case delta < 0 && n < r.next:
			r.next = n
		}
	}
}

// maxBitmap is the size of the largest range whose usage is kept in a
// bitmap (2 MiB).
const maxBitmap = 1 << 24

// mark sets or clears n's bit.
func (r *rangeStats) mark(n int64, used bool) {
	if !r.mapped {
		return
	}
	if r.bitmap == nil { // made at the first DN in use: a range never used costs nothing
		if !used {
			return
		}
		r.bitmap = make([]uint64, (r.hi-r.lo)/64+1)
	}
	i := n - r.lo
	if used {
		r.bitmap[i/64] |= 1 << (i % 64)
	} else {
		r.bitmap[i/64] &^= 1 << (i % 64)
	}
}

func (r *rangeStats) contains(partition, dn string) bool {
	if r.width <= 0 || len(dn) != r.width || partition != r.Partition {
		return false
	}
	n, ok := parseDN(dn)
	return ok && n >= r.lo && n <= r.hi
}

// advance moves the next-free hint past the DNs in use.
func (r *rangeStats) advance(isHeld func(partition, dn string) bool) {
	if r.used >= int(r.hi-r.lo+1) {
		r.next = r.hi + 1
		return
	}
	if r.mapped {
		if r.bitmap == nil {
			return // no DN in use: next is free
		}
		for r.next <= r.hi {
			i := r.next - r.lo
			left := 64 - i%64 // bits of the word from i on
			run := int64(bits.TrailingZeros64(^(r.bitmap[i/64] >> (i % 64))))
			if run < left {
				r.next += run // the first free DN
				return
			}
			r.next += left
		}
		r.next = min(r.next, r.hi+1)
		return
	}
	for r.next <= r.hi {
		if !isHeld(r.Partition, formatDN(r.next, r.width)) {
			return
		}
		r.next++
	}
}

func (r *rangeStats) view(current bool) Range {
	out := Range{Start: r.Start, End: r.End, Partition: r.Partition, Mask: r.Mask, Current: current,
		Disabled: r.Disabled(), ConfiguredAt: r.at, ConfiguredBy: r.by, Position: r.position}
	if r.width > 0 {
		out.Size = int(r.hi - r.lo + 1)
		out.Used = r.used
		out.Free = out.Size - r.used
		if r.next <= r.hi {
			out.Next = formatDN(r.next, r.width)
		}
	}
	return out
}

// Current returns the range in force and its usage (false when no range
// was ever configured).
func (a *Assignment) Current() (Range, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.current < 0 {
		return Range{}, false
	}
	return a.ranges[a.current].view(true), true
}

// Ranges lists every range ever configured, in the order each was first
// configured, with its usage now.
func (a *Assignment) Ranges() []Range {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]Range, len(a.ranges))
	for i, r := range a.ranges {
		out[i] = r.view(i == a.current)
	}
	return out
}

// WindowRegistrations is how many DNs autoregistration assigned in window w.
func (a *Assignment) WindowRegistrations(w string) int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if w == "" || w != a.window {
		return 0
	}
	return a.windowCount
}

// History lists every configuration of the range, in order.
func (a *Assignment) History() []RangeChange {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return slices.Clone(a.history)
}

// Holder returns the device holding dn in partition.
func (a *Assignment) Holder(partition, dn string) (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.holder(partition, dn)
}

// InRange returns, for the DNs of range r (as returned by Ranges) held by a
// device, DN -> device.
func (a *Assignment) InRange(r Range) map[string]string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make(map[string]string)
	for _, s := range a.ranges {
		if s.Start != r.Start || s.End != r.End || s.Partition != r.Partition {
			continue
		}
		a.each(func(partition, dn, device string) {
			if s.contains(partition, dn) {
				out[dn] = device
			}
		})
	}
	return out
}

// Holdings lists every DN held by a device, sorted by partition then DN.
func (a *Assignment) Holdings() []Holding {
	a.mu.RLock()
	out := make([]Holding, 0, a.inUse.Len())
	a.each(func(partition, dn, device string) {
		out = append(out, Holding{Partition: partition, DN: dn, Device: device})
	})
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y Holding) int {
		if c := strings.Compare(x.Partition, y.Partition); c != 0 {
			return c
		}
		if c := len(x.DN) - len(y.DN); c != 0 {
			return c
		}
		return strings.Compare(x.DN, y.DN)
	})
	return out
}

// parseDN reads a digit string of at most 18 digits.
func parseDN(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// formatDN writes n with width digits, zero-padded.
func formatDN(n int64, width int) string {
	var b [20]byte
	i := len(b)
	for n > 0 || len(b)-i < width {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
