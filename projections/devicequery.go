package projections

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/pack"
	"github.com/autoreg/autoreg/internal/strtab"
)

// DeviceStatus selects devices by registration.
type DeviceStatus string

// The statuses DeviceQuery.Status takes.
const (
	AnyStatus    DeviceStatus = ""
	Registered   DeviceStatus = "registered"
	Unregistered DeviceStatus = "unregistered"
)

// DeviceSort is what a device listing is sorted by.
type DeviceSort string

// The sorts DeviceQuery.Sort takes; every one breaks ties by name.
const (
	SortName     DeviceSort = "name"
	SortDN       DeviceSort = "dn"       // numerically (shorter first)
	SortModel    DeviceSort = "model"    // as strings
	SortProtocol DeviceSort = "protocol" // SCCP before SIP
	SortPool     DeviceSort = "pool"
	SortStatus   DeviceSort = "status"    // registered first
	SortLastSeen DeviceSort = "last_seen" // oldest first; never seen first
	SortAddress  DeviceSort = "address"
)

// DeviceSorts lists the sorts, for messages.
var DeviceSorts = []DeviceSort{SortName, SortDN, SortModel, SortProtocol, SortPool, SortStatus, SortLastSeen, SortAddress}

// DeviceQuery selects, sorts and pages the devices that exist. Zero fields
// select everything; the zero DeviceQuery lists every device by name, as
// List does.
type DeviceQuery struct {
	Status   DeviceStatus
	Pool     string          // exactly this device pool
	Model    string          // exactly this model
	Protocol domain.Protocol // SIP or SCCP
	Window   string          // autoregistered in this window
	Node     string          // registered now with this CallManager
	// Since: last seen (the device itself reached the registrar) at or
	// after it.
	Since time.Time
	// Text: a substring, in any case, of the name, the DN or the address.
	Text string
	Sort DeviceSort // SortName when empty
	Desc bool       // the sort reversed (ties still by name, ascending)
	// Offset skips the first devices of the sorted selection; Limit bounds
	// how many are returned after them (0: all).
	Offset, Limit int
}

// DevicePage is a page of a DeviceQuery.
type DevicePage struct {
	Devices []Device
	// Total is how many devices the query selects, over every page.
	Total int
}

// Validate refuses a query's unknown status, sort or negative paging.
func (q DeviceQuery) Validate() error {
	switch q.Status {
	case AnyStatus, Registered, Unregistered:
	default:
		return fmt.Errorf("%w: status %q: use registered or unregistered", domain.ErrInvalid, q.Status)
	}
	if q.Sort != "" && !slices.Contains(DeviceSorts, q.Sort) {
		return fmt.Errorf("%w: sort %q: use one of %v (a leading - reverses it)", domain.ErrInvalid, q.Sort, DeviceSorts)
	}
	if q.Offset < 0 || q.Limit < 0 {
		return fmt.Errorf("%w: offset and limit must not be negative", domain.ErrInvalid)
	}
	return nil
}

// hit is a device a query selected: its key and record number, and what
// it sorts by.
type hit struct {
	k uint64
	i uint32
	n int64
	s string
}

// Query answers q: the page of the devices that exist, selected, sorted
// and cut as q says, and how many it selects. It does not build a Device
// for each device it looks at: the records are matched as they are packed,
// under the read lock; only the selection's keys and sort values are
// copied and sorted (outside the lock), and only the page's devices are
// built.
func (d *Devices) Query(q DeviceQuery) DevicePage {
	hits, ok := d.match(q)
	if !ok {
		return DevicePage{Devices: []Device{}}
	}
	less := func(a, b hit) int {
		c := cmp.Compare(a.n, b.n)
		if c == 0 {
			c = strings.Compare(a.s, b.s)
		}
		if q.Desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.k, b.k) // names in canonical form sort as their MACs
		}
		return c
	}
	if q.Sort == SortName || q.Sort == "" {
		less = func(a, b hit) int {
			c := cmp.Compare(a.n, b.n)
			if c == 0 {
				c = strings.Compare(a.s, b.s)
			}
			if q.Desc {
				c = -c
			}
			return c
		}
	}
	page := DevicePage{Total: len(hits)}
	lo := min(q.Offset, len(hits))
	hi := len(hits)
	if q.Limit > 0 {
		hi = min(lo+q.Limit, hi)
	}
	switch {
	case lo >= hi:
		hits = nil
	case hi < len(hits)/4:
		// An early page: select its devices without sorting them all.
		hits = smallest(hits, hi, less)[lo:hi]
	default:
		slices.SortFunc(hits, less)
		hits = hits[lo:hi]
	}

	page.Devices = make([]Device, 0, len(hits))
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, h := range hits {
		if i, ok := d.devices[h.k]; ok {
			page.Devices = append(page.Devices, d.device(h.k, d.recs.At(i)))
		}
	}
	return page
}

// smallest returns the n smallest hits in order (n <= len(hits)), by a
// bounded max-heap: O(len(hits) log n).
func smallest(hits []hit, n int, less func(a, b hit) int) []hit {
	heap := make([]hit, 0, n)
	down := func(i int) {
		for {
			l, big := 2*i+1, i
			if l < len(heap) && less(heap[l], heap[big]) > 0 {
				big = l
			}
			if r := l + 1; r < len(heap) && less(heap[r], heap[big]) > 0 {
				big = r
			}
			if big == i {
				return
			}
			heap[i], heap[big] = heap[big], heap[i]
			i = big
		}
	}
	for _, h := range hits {
		switch {
		case len(heap) < n:
			heap = append(heap, h)
			for i := len(heap) - 1; i > 0; {
				p := (i - 1) / 2
				if less(heap[i], heap[p]) <= 0 {
					break
				}
				heap[i], heap[p] = heap[p], heap[i]
				i = p
			}
		case less(h, heap[0]) < 0:
			heap[0] = h
			down(0)
		}
	}
	slices.SortFunc(heap, less)
	return heap
}

// match collects, under the read lock, the devices q selects with what
// they sort by. ok is false when a value q names is unknown to the read
// model (no device can match it).
func (d *Devices) match(q DeviceQuery) (hits []hit, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	id := func(s string) (strtab.ID, bool) {
		if s == "" {
			return 0, true
		}
		return d.strs.Lookup(s)
	}
	pool, okPool := id(q.Pool)
	model, okModel := id(q.Model)
	window, okWindow := id(q.Window)
	node, okNode := id(q.Node)
	if !okPool || !okModel || !okWindow || !okNode {
		return nil, false
	}
	since := int64(math.MinInt64)
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	text := strings.ToUpper(strings.TrimSpace(q.Text))
	hits = make([]hit, 0, min(d.exist, 1024))
	for k, i := range d.devices {
		v := d.recs.At(i)
		switch {
		case !v.is(fExists),
			q.Status == Registered && !v.is(fRegistered),
			q.Status == Unregistered && v.is(fRegistered),
			q.Pool != "" && v.pool != pool,
			q.Model != "" && v.model != model,
			q.Window != "" && v.window != window,
			q.Node != "" && (v.node != node || !v.is(fRegistered)),
			q.Protocol != "" && d.protocolOf(k, v) != q.Protocol,
			!q.Since.IsZero() && (v.lastSeen == noTime || v.lastSeen < since):
			continue
		}
		if text != "" && !strings.Contains(d.names.Name(k), text) && !strings.Contains(d.dns.Get(k, v.dn), text) &&
			!strings.Contains(strings.ToUpper(d.addrs.Get(k, v.address)), text) {
			continue
		}
		h := hit{k: k, i: i}
		switch q.Sort {
		case SortName, "":
			if k&pack.Spilled == 0 {
				h.n = int64(k)
			} else {
				h.n, h.s = math.MaxInt64, d.names.Name(k)
			}
		case SortDN:
			h.s = d.dns.Get(k, v.dn)
			h.n = int64(len(h.s))
		case SortModel:
			h.s = d.strs.String(v.model)
		case SortProtocol:
			h.s = string(d.protocolOf(k, v))
		case SortPool:
			h.s = d.strs.String(v.pool)
		case SortStatus:
			if !v.is(fRegistered) {
				h.n = 1
			}
		case SortLastSeen:
			h.n = v.lastSeen
		case SortAddress:
			h.s = d.addrs.Get(k, v.address)
		}
		hits = append(hits, h)
	}
	return hits, true
}

// QueryDevices answers q from the devices read model (see Devices.Query),
// once it holds what the store held when asked.
func (r *Reader) QueryDevices(ctx context.Context, q DeviceQuery) (DevicePage, error) {
	if err := q.Validate(); err != nil {
		return DevicePage{}, err
	}
	if err := r.Fresh(ctx); err != nil {
		return DevicePage{}, err
	}
	return r.set.Devices.Query(q), nil
}

// RegisteredByProtocol counts the devices registered now, by protocol (for
// the metrics: SCCP phones registered are SCCP connections open, SIP ones
// SIP bindings). It scans the records without building devices.
func (r *Reader) RegisteredByProtocol() map[domain.Protocol]int {
	d := r.set.Devices
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := map[domain.Protocol]int{domain.SIP: 0, domain.SCCP: 0}
	for k, i := range d.devices {
		if v := d.recs.At(i); v.is(fExists) && v.is(fRegistered) {
			out[d.protocolOf(k, v)]++
		}
	}
	return out
}
