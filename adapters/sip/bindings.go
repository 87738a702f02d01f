package sip

import (
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/pack"
)

// A binding is one contact address of a device (RFC 3261 10.3), kept as
// small as the registrar's job allows: 48 bytes plus one string, the
// Call-ID behind the contact URI when that does not pack. A refresh reuses
// the string it already holds.
type binding struct {
	// The canonical contact URI, the address the phone is reached at:
	// packed by the table's forms (see table.contact), else text[:uriLen].
	// Bindings handed out of the table (table.resolve) have it in text.
	contact uint64
	// text is the URI when it does not pack, then the Call-ID of the
	// REGISTER that last wrote the binding.
	text     string
	instance uint64 // hash of the contact's +sip.instance; 0 without one
	expires  uint32 // server clock, in whole seconds (rounded up), when the binding ends
	cseq     uint32 // CSeq of the REGISTER that last wrote the binding
	uriLen   uint32
}

// makeBinding is a binding of the contact URI packed as contact, or odd
// when it does not pack, written by a REGISTER with Call-ID callID. Its
// text is a string of its own.
func makeBinding(contact uint64, odd, callID string) binding {
	return binding{contact: contact, text: odd + callID, uriLen: uint32(len(odd))}
}

// uri is the binding's contact URI when it is not packed (contact 0).
func (b *binding) uri() string { return b.text[:b.uriLen] }

// callID is the Call-ID of the REGISTER that last wrote the binding.
func (b *binding) callID() string { return b.text[b.uriLen:] }

// deadline is the server clock (ns) at which a binding granted expires from
// now ends, rounded up to the second.
func deadline(now int64, expires time.Duration) uint32 {
	return uint32((now + int64(expires) + int64(time.Second) - 1) / int64(time.Second))
}

// ends is when the binding ends, on the server clock (ns).
func (b binding) ends() int64 { return int64(b.expires) * int64(time.Second) }

// A device is an address-of-record: the bindings of one phone (SEP<MAC>),
// 64 bytes, plus its map entry and its bindings. What few devices need
// lives in maps of their shard (see devFlags).
type device struct {
	// dn is the directory number from the last successful Register,
	// packed as pack.DN packs it (0: none); one that does not pack is in
	// the shard's dns (fDN).
	dn       uint64
	bindings []binding

	// Requests for one device are processed one at a time, in the order
	// they arrived, so that the registrar sees them in order: pending lists
	// the requests waiting (linked by register.next), and running is set
	// while a goroutine (or the sweeper) works on the device. No goroutine
	// waits on a device.
	pending *register
	// peer is the transport peer of the last REGISTER that wrote a
	// binding, an IPv4 address and port as pack.AddrPort packs it (0: none); any
	// other is in the shard's peers (fPeer).
	peer  uint64
	flags devFlags
}

type devFlags uint8

const (
	fRunning devFlags = 1 << iota
	// fExpiring is set when the device's bindings all expired but
	// Registrar.Unregister failed: the sweeper tries again, with the
	// correlation ID in the shard's expiring (the Call-ID of the expired
	// binding).
	fExpiring
	fPeer // the peer is in the shard's peers
	fDN   // the directory number is in the shard's dns
)

func (d *device) is(f devFlags) bool { return d.flags&f != 0 }

func (d *device) set(f devFlags, on bool) {
	if on {
		d.flags |= f
	} else {
		d.flags &^= f
	}
}

// peerOf is d's peer, the zero AddrPort if none.
func (sh *shard) peerOf(mac uint64, d *device) netip.AddrPort {
	if d.is(fPeer) {
		return sh.peers[mac]
	}
	return pack.AddrPortOf(d.peer)
}

// setPeer sets d's peer.
func (sh *shard) setPeer(mac uint64, d *device, p netip.AddrPort) {
	if v, ok := pack.AddrPort(p); ok {
		d.peer = v
		if d.is(fPeer) {
			delete(sh.peers, mac)
			d.set(fPeer, false)
		}
		return
	}
	if sh.peers == nil {
		sh.peers = make(map[uint64]netip.AddrPort)
	}
	d.peer = 0
	sh.peers[mac] = p
	d.set(fPeer, true)
}

// dnOf is d's directory number; the caller holds the shard's lock.
func (sh *shard) dnOf(mac uint64, d *device) string {
	if d.is(fDN) {
		return sh.dns[mac]
	}
	return pack.DNString(d.dn)
}

// setDN sets d's directory number; the caller holds the shard's lock.
func (sh *shard) setDN(mac uint64, d *device, dn string) {
	if v, ok := pack.DN(dn); ok {
		d.dn = v
		if d.is(fDN) {
			delete(sh.dns, mac)
			d.set(fDN, false)
		}
		return
	}
	if sh.dns == nil {
		sh.dns = make(map[uint64]string)
	}
	d.dn = 0
	sh.dns[mac] = dn
	d.set(fDN, true)
}

// dn is the directory number of device mac's record d.
func (t *table) dn(mac uint64, d *device) string {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.dnOf(mac, d)
}

// setExpiring sets or clears d's expiring mark and its correlation ID.
func (sh *shard) setExpiring(mac uint64, d *device, on bool, callID string) {
	switch {
	case on:
		if sh.expiring == nil {
			sh.expiring = make(map[uint64]string)
		}
		sh.expiring[mac] = callID
	case d.is(fExpiring):
		delete(sh.expiring, mac)
	}
	d.set(fExpiring, on)
}

// drop forgets what the shard's maps hold for the device, which the
// caller removes.
func (sh *shard) drop(mac uint64, d *device) {
	if d.is(fPeer) {
		delete(sh.peers, mac)
	}
	if d.is(fExpiring) {
		delete(sh.expiring, mac)
	}
	if d.is(fDN) {
		delete(sh.dns, mac)
	}
}

const shardCount = 256

// shard is one lock's worth of devices.
type shard struct {
	mu      sync.Mutex
	devices map[uint64]*device // key: the MAC as a 48-bit number
	// peers, expiring and dns hold, for the few devices that need them, a
	// peer other than an IPv4 address (fPeer), the correlation ID of an
	// expiry to retry (fExpiring) and a directory number that does not
	// pack (fDN).
	peers    map[uint64]netip.AddrPort
	expiring map[uint64]string
	dns      map[uint64]string
	// next is the earliest instant (server clock) at which the sweeper has
	// something to do in this shard: no scan before it.
	next int64
	_    [16]byte // keep shards on separate cache lines (64 bytes each)
}

// table holds every device with bindings, sharded by MAC.
type table struct {
	shards [shardCount]shard
	count  atomic.Int64
	max    int
	// forms packs the contact URIs of the bindings: most phones register
	// one form of contact, such as sip:<MAC>@<IPv4>:<port>;transport=udp.
	forms pack.Forms
}

// contact is the packed form of a contact URI of the device mac, or (0,
// uri) when uri does not pack.
func (t *table) contact(mac uint64, uri string) (uint64, string) {
	if v, ok := t.forms.Pack(mac, uri); ok {
		return v, ""
	}
	return 0, uri
}

// resolve spells out, in bindings copied out of the table for device mac,
// the contact URIs kept packed.
func (t *table) resolve(mac uint64, bindings []binding) []binding {
	for i := range bindings {
		if b := &bindings[i]; b.contact != 0 {
			uri := t.forms.String(mac, b.contact)
			b.text, b.uriLen, b.contact = uri+b.callID(), uint32(len(uri)), 0
		}
	}
	return bindings
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
	if d.is(fRunning) {
		return nil, nil
	}
	d.set(fRunning, true)
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
	d.set(fRunning, false)
	if len(d.bindings) == 0 && !d.is(fExpiring) && sh.devices[mac] == d {
		sh.drop(mac, d)
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
		sh.setExpiring(mac, d, false, "")
	}
	if dn != sh.dnOf(mac, d) {
		sh.setDN(mac, d, dn)
	}
	if peer.IsValid() {
		sh.setPeer(mac, d, peer)
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
		return sh.dnOf(mac, d), t.resolve(mac, append([]binding(nil), d.bindings...))
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
			if d.is(fRunning) {
				// The request (or expiry) running it will publish its state;
				// look again soon.
				later(now + 1)
				continue
			}
			callID := ""
			if d.is(fExpiring) {
				callID = sh.expiring[mac]
			}
			kept := d.bindings[:0]
			for _, b := range d.bindings {
				if b.ends() > now {
					kept = append(kept, b)
					later(b.ends())
				} else {
					callID = b.callID()
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
			d.set(fRunning, true)
			out = append(out, expiredDevice{mac: mac, dev: d, peer: sh.peerOf(mac, d), callID: callID})
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
	sh.setExpiring(e.mac, e.dev, !ok && len(e.dev.bindings) == 0, e.callID)
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
	return d != nil && len(d.bindings) > 0 && sh.peerOf(mac, d).Addr() == addr
}

// peer is the address the device's bindings were last written from.
func (t *table) peer(mac uint64, d *device) netip.AddrPort {
	sh := t.shard(mac)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.peerOf(mac, d)
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
func deviceName(mac uint64) string { return domain.DeviceNameOfMAC(mac) }
