package sip

import (
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A binding is one contact address of a device (RFC 3261 10.3), kept as
// small as the registrar's job allows: 48 bytes plus the two strings. A
// refresh reuses the strings it already holds.
type binding struct {
	uri      string // canonical contact URI: the address the phone is reached at
	callID   string // Call-ID of the REGISTER that last wrote the binding
	instance uint64 // hash of the contact's +sip.instance; 0 without one
	expires  uint32 // server clock, in whole seconds (rounded up), when the binding ends
	cseq     uint32 // CSeq of the REGISTER that last wrote the binding
}

// deadline is the server clock (ns) at which a binding granted expires from
// now ends, rounded up to the second.
func deadline(now int64, expires time.Duration) uint32 {
	return uint32((now + int64(expires) + int64(time.Second) - 1) / int64(time.Second))
}

// ends is when the binding ends, on the server clock (ns).
func (b binding) ends() int64 { return int64(b.expires) * int64(time.Second) }

// A device is an address-of-record: the bindings of one phone (SEP<MAC>),
// about 100 bytes with its map entry, plus its bindings.
type device struct {
	dn       string         // directory number from the last successful Register
	peer     netip.AddrPort // transport peer of the last REGISTER that wrote a binding
	bindings []binding

	// Requests for one device are processed one at a time, in the order
	// they arrived, so that the registrar sees them in order: pending lists
	// the requests waiting (linked by register.next), and running is set
	// while a goroutine (or the sweeper) works on the device. No goroutine
	// waits on a device.
	pending *register
	running bool
	// expiring is set when the device's bindings all expired but
	// Registrar.Unregister failed: the sweeper tries again, with this
	// correlation ID (the Call-ID of the expired binding).
	expiring *string
}

const shardCount = 256

// shard is one lock's worth of devices.
type shard struct {
	mu      sync.Mutex
	devices map[uint64]*device // key: the MAC as a 48-bit number
	// next is the earliest instant (server clock) at which the sweeper has
	// something to do in this shard: no scan before it.
	next int64
	_    [40]byte // keep shards on separate cache lines
}

// table holds every device with bindings, sharded by MAC.
type table struct {
	shards [shardCount]shard
	count  atomic.Int64
	max    int
}

var (
	errTableFull = errors.New("device table full")
	errQueueFull = errors.New("too many requests queued for the device")
)

// maxQueued bounds the requests waiting for one device.
const maxQueued = 8

func newTable(max int) *table {
	t := &table{max: max}
	for i := range t.shards {
		t.shards[i].devices = make(map[uint64]*device)
	}
	return t
}

func (t *table) shard(mac uint64) *shard {
	// Fibonacci hashing: sequential MACs spread over the shards.
	return &t.shards[(mac*0x9E3779B97F4A7C15)>>56]
}

// enqueue queues r for its device, making the device if there is none.
// When the device was idle it returns the device, now running, and the
// caller must run it (see next); otherwise the goroutine running the
// device will get to r.
func (t *table) enqueue(r *register) (*device, error) {
	sh := t.shard(r.mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d := sh.devices[r.mac]
	if d == nil {
		if t.count.Load() >= int64(t.max) {
			return nil, errTableFull
		}
		d = &device{}
		sh.devices[r.mac] = d
		t.count.Add(1)
	}
	tail, n := &d.pending, 0
	for *tail != nil {
		tail, n = &(*tail).next, n+1
	}
	if n >= maxQueued {
		return nil, errQueueFull
	}
	*tail = r
	if d.running {
		return nil, nil
	}
	d.running = true
	return d, nil
}

// next pops the device's next request for the goroutine running it. When
// there is none the run ends: nil, and a device left without bindings is
// dropped.
func (t *table) next(mac uint64, d *device) *register {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := d.pending; r != nil {
		d.pending, r.next = r.next, nil
		return r
	}
	d.running = false
	if len(d.bindings) == 0 && d.expiring == nil && sh.devices[mac] == d {
		delete(sh.devices, mac)
		t.count.Add(-1)
	}
	return nil
}

// commit publishes the new state of a device the caller runs.
func (t *table) commit(mac uint64, d *device, bindings []binding, dn string, peer netip.AddrPort) {
	sh := t.shard(mac)
	sh.mu.Lock()
	d.bindings = bindings
	if len(bindings) > 0 {
		d.expiring = nil
	}
	if dn != d.dn {
		d.dn = dn
	}
	if peer.IsValid() {
		d.peer = peer
	}
	for _, b := range bindings {
		if sh.next == 0 || b.ends() < sh.next {
			sh.next = b.ends()
		}
	}
	sh.mu.Unlock()
}

// snapshot copies the device's directory number and bindings.
func (t *table) snapshot(mac uint64) (dn string, bindings []binding) {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if d := sh.devices[mac]; d != nil {
		return d.dn, append([]binding(nil), d.bindings...)
	}
	return "", nil
}

// expiredDevice is a device whose last binding expired, run by the sweeper
// until Registrar.Unregister returns.
type expiredDevice struct {
	mac    uint64
	dev    *device
	peer   netip.AddrPort
	callID string
}

// sweep drops the bindings that ended before now and claims the devices left
// with none. retry is when a failed expiry is tried again.
func (t *table) sweep(now, retry int64) []expiredDevice {
	var out []expiredDevice
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		if sh.next == 0 || sh.next > now {
			sh.mu.Unlock()
			continue
		}
		next := int64(0)
		later := func(at int64) {
			if next == 0 || at < next {
				next = at
			}
		}
		for mac, d := range sh.devices {
			if d.running {
				// The request (or expiry) running it will publish its state;
				// look again soon.
				later(now + 1)
				continue
			}
			callID := ""
			if d.expiring != nil {
				callID = *d.expiring
			}
			kept := d.bindings[:0]
			for _, b := range d.bindings {
				if b.ends() > now {
					kept = append(kept, b)
					later(b.ends())
				} else {
					callID = b.callID
				}
			}
			clear(d.bindings[len(kept):]) // let the dropped strings go
			d.bindings = kept
			if len(kept) > 0 {
				continue
			}
			if callID == "" {
				continue
			}
			d.bindings = nil
			d.running = true
			out = append(out, expiredDevice{mac: mac, dev: d, peer: d.peer, callID: callID})
			later(retry)
		}
		sh.next = next
		sh.mu.Unlock()
	}
	return out
}

// expired ends the sweeper's run of a device: ok says whether the
// registrar took the unregistration. Like next, it returns a request that
// queued meanwhile, which the caller must run.
func (t *table) expired(e expiredDevice, ok bool) *register {
	sh := t.shard(e.mac)
	sh.mu.Lock()
	if !ok && len(e.dev.bindings) == 0 {
		e.dev.expiring = &e.callID
	} else {
		e.dev.expiring = nil
	}
	sh.mu.Unlock()
	return t.next(e.mac, e.dev)
}

// len reports the number of devices held.
// boundFrom reports whether the device holds a binding written from addr.
func (t *table) boundFrom(mac uint64, addr netip.Addr) bool {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d := sh.devices[mac]
	return d != nil && len(d.bindings) > 0 && d.peer.Addr() == addr
}

func (t *table) len() int { return int(t.count.Load()) }

// macKey parses the 12 hex digits of a MAC (any case) into a table key.
func macKey(hex12 string) (uint64, bool) {
	if len(hex12) != 12 {
		return 0, false
	}
	v, err := strconv.ParseUint(hex12, 16, 64)
	return v, err == nil
}

// deviceName turns a table key back into SEP + 12 upper-case hex digits.
func deviceName(mac uint64) string {
	const digits = "0123456789ABCDEF"
	var b [15]byte
	copy(b[:], "SEP")
	for i := 14; i >= 3; i-- {
		b[i] = digits[mac&0xF]
		mac >>= 4
	}
	return string(b[:])
}
