package projections

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/pack"
	"github.com/autoreg/autoreg/internal/strtab"
)

// Device is what the Devices read model knows of one device.
type Device struct {
	Name string
	// Exists: autoregistered or provisioned, and not deleted since.
	Exists  bool
	Deleted bool
	Model   string
	// Protocol is the protocol the device is configured for.
	Protocol    domain.Protocol
	DN          string
	Partition   string
	Pool        string
	CSS         string
	Description string
	Load        string // firmware load given at autoregistration
	Registered  bool
	Address     string // last known address
	// Node is the CallManager it is registered with now ("" when none).
	Node string
	// Autoregistered: the device got its DN from autoregistration, in
	// Window, at AutoregisteredAt.
	Autoregistered   bool
	Window           string
	AutoregisteredAt time.Time
	// ProvisionedBy names the administrator who added the device by hand.
	ProvisionedBy string
	// FirstSeen and LastSeen: the first and last time the device itself
	// reached the registrar (autoregistered, registered, moved, refused or
	// unregistered); zero if it never did.
	FirstSeen time.Time
	LastSeen  time.Time
	// Rejections counts the refusals recorded for the device; the last
	// one's reason and time follow.
	Rejections     int
	LastRejection  domain.RejectReason
	LastRejectedAt time.Time
	// CredentialSalt is the salt of the device's SIP digest credentials
	// (16 hex digits; "" when it has none).
	CredentialSalt string
	// Position is the global position of the device's last event.
	Position uint64
}

// Devices is the read model of every device ever seen: those that exist,
// those deleted, and rogue devices that were only ever refused.
//
// It is the registrar's largest read model (one record per device), so it
// keeps compact records rather than Devices, free of pointers (nothing for
// the garbage collector to scan) and held by value: the device's name as
// its MAC (see pack.Names), its DN and address packed in numbers (see
// pack.Field: a value that does not pack is kept on the side), the strings
// that repeat across devices (model, partition, pool, ...) as numbers in a
// string table, times as Unix nanoseconds. The fields seldom set (the
// description, the rejections) live in side maps. A record is 96 bytes (a
// Device is 370 bytes plus its strings), in a pack.Slab.
type Devices struct {
	mu      sync.RWMutex
	pos     uint64
	devices map[uint64]uint32 // key (see pack.Names) -> number in recs
	recs    pack.Slab[rec]
	names   pack.Names
	dns     pack.Field
	addrs   pack.Field
	descs   pack.Field           // the descriptions (fDescribed)
	refused map[uint64]rejection // the devices refused at least once
	// protocols codes the records' protocols (in their flags: fProtocols).
	protocols pack.Protocols
	// versions holds the stream versions too large for a rec.
	versions map[uint64]uint64
	strs     strtab.Table
	exist    int
	regd     int
}

// rec is one device as Devices keeps it; see Device for the fields. The
// device's name is its key in Devices.devices.
type rec struct {
	dn, address                                              uint64 // see Devices.dns, Devices.addrs
	autoregisteredAt, firstSeen, lastSeen                    int64  // see nanos
	position                                                 uint64
	salt                                                     uint64 // of the digest credentials; 0: none
	model, partition, pool, css, load, window, provisionedBy strtab.ID
	node                                                     strtab.ID // the CallManager it is registered with
	flags                                                    recFlags  // the protocol too: see protocolOf
	// The device stream's version plus one (0: no event yet) in 24 bits
	// (verHi, verLo); from versionSpilled on, it is in Devices.versions.
	verHi uint8
	verLo uint16
}

// versionSpilled in a rec's 24 version bits: the version is kept on the side.
const versionSpilled = 1<<24 - 1

// setVersion records the stream version of the record r keyed k.
func (d *Devices) setVersion(k uint64, r *rec, version uint64) {
	n := version + 1
	if n >= versionSpilled {
		if d.versions == nil {
			d.versions = make(map[uint64]uint64)
		}
		d.versions[k], n = version, versionSpilled
	} else if len(d.versions) > 0 {
		delete(d.versions, k)
	}
	r.verHi, r.verLo = uint8(n>>16), uint16(n)
}

// versionOf is the stream version of the record r keyed k (-1: none).
func (d *Devices) versionOf(k uint64, r *rec) int64 {
	n := uint64(r.verHi)<<16 | uint64(r.verLo)
	if n == versionSpilled {
		return int64(d.versions[k])
	}
	return int64(n) - 1
}

// rejection is the refusals of one device: how many, the last one's reason
// and time.
type rejection struct {
	count int32
	last  strtab.ID
	at    int64 // see nanos
}

type recFlags uint8

const (
	fExists recFlags = 1 << iota
	fDeleted
	fRegistered
	fAutoregistered
	fDescribed // the description is in Devices.descs
	// The protocol's code (pack.Protocols) in two bits.
	fProtocolShift = iota
	fProtocols     = pack.ProtocolMask << fProtocolShift
	// fBound: the address is the one the device registered from since it
	// was last provisioned or deleted (the domain's DeviceState.Address);
	// otherwise it is only the last address seen (of a refusal, say).
	fBound recFlags = 1 << (fProtocolShift + 2)
)

// setProtocol records the protocol of the record r keyed k.
func (d *Devices) setProtocol(k uint64, r *rec, p domain.Protocol) {
	r.flags = r.flags&^fProtocols | recFlags(d.protocols.Code(k, p))<<fProtocolShift
}

// protocolOf is the protocol of the record r keyed k.
func (d *Devices) protocolOf(k uint64, r *rec) domain.Protocol {
	return d.protocols.Protocol(k, uint8(r.flags>>fProtocolShift))
}

func (r *rec) is(f recFlags) bool { return r.flags&f != 0 }

func (r *rec) set(f recFlags, on bool) {
	if on {
		r.flags |= f
	} else {
		r.flags &^= f
	}
}

// saltValue packs a credential's salt (16 hex digits, as the domain
// requires) in a rec; saltText renders it back.
func saltValue(hex string) uint64 {
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || len(hex) != 16 {
		return 0
	}
	return v
}

func saltText(v uint64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%016x", v)
}

// noTime stands for the zero time.Time in a rec.
const noTime = math.MinInt64

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

func timeOf(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// device is the record r keyed k as a Device.
func (d *Devices) device(k uint64, r *rec) Device {
	out := Device{
		Name: d.names.Name(k), Exists: r.is(fExists), Deleted: r.is(fDeleted),
		Model: d.strs.String(r.model), Protocol: d.protocolOf(k, r),
		DN: d.dns.Get(k, r.dn), Partition: d.strs.String(r.partition), Pool: d.strs.String(r.pool), CSS: d.strs.String(r.css),
		Load:       d.strs.String(r.load),
		Registered: r.is(fRegistered), Address: d.addrs.Get(k, r.address),
		Autoregistered: r.is(fAutoregistered), Window: d.strs.String(r.window), AutoregisteredAt: timeOf(r.autoregisteredAt),
		ProvisionedBy: d.strs.String(r.provisionedBy), Node: d.strs.String(r.node),
		FirstSeen: timeOf(r.firstSeen), LastSeen: timeOf(r.lastSeen),
		Position: r.position, CredentialSalt: saltText(r.salt),
	}
	if r.is(fDescribed) {
		out.Description = d.descs.Get(k, pack.Spilled)
	}
	if rj, ok := d.refused[k]; ok {
		out.Rejections, out.LastRejection, out.LastRejectedAt = int(rj.count), domain.RejectReason(d.strs.String(rj.last)), timeOf(rj.at)
	}
	return out
}

// NewDevices returns an empty Devices.
func NewDevices() *Devices {
	d := &Devices{}
	d.reset()
	return d
}

func (d *Devices) reset() {
	d.pos, d.devices, d.recs, d.names, d.strs, d.exist, d.regd = 0, make(map[uint64]uint32), pack.Slab[rec]{}, pack.Names{}, strtab.Table{}, 0, 0
	d.dns, d.addrs, d.descs = pack.NewField(pack.DNs), pack.NewField(pack.Addrs), pack.NewField(pack.Rare)
	d.refused, d.protocols, d.versions = make(map[uint64]rejection), pack.Protocols{}, nil
}

// Reset implements Projection.
func (d *Devices) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reset()
}

// Checkpoint implements Projection.
func (d *Devices) Checkpoint() uint64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pos
}

// get returns name's key and record, a new one (never seen) if there is
// none.
func (d *Devices) get(name string) (uint64, *rec) {
	k := d.names.Key(name)
	if i, ok := d.devices[k]; ok {
		return k, d.recs.At(i)
	}
	i, v := d.recs.New()
	*v = rec{autoregisteredAt: noTime, firstSeen: noTime, lastSeen: noTime}
	d.devices[k] = i
	return k, v
}

// Wants implements Selective: the devices' events.
func (d *Devices) Wants(eventType string) bool {
	return len(eventType) > 7 && eventType[:7] == "device."
}

// Apply implements Projection.
func (d *Devices) Apply(e *Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pos = e.Position
	var (
		k uint64
		v *rec
	)
	seen := true
	id := d.strs.ID
	// fresh keeps of v only what outlives a new configuration: its name,
	// when it was seen and its rejections (kept in d.refused). Its address
	// is left to the caller, who keeps it or sets it.
	fresh := func(flags recFlags) {
		*v = rec{flags: flags, firstSeen: v.firstSeen, lastSeen: v.lastSeen, autoregisteredAt: noTime}
		d.dns.Drop(k)
		d.descs.Drop(k)
		d.protocols.Drop(k)
	}
	describe := func(s string) { v.set(fDescribed, d.descs.Set(k, s) == pack.Spilled) }
	switch p := e.Payload.(type) {
	case domain.DeviceAutoregistered:
		k, v = d.get(p.Device)
		d.count(v, -1)
		fresh(fExists | fRegistered | fAutoregistered | fBound)
		v.model, v.dn = id(p.Model), d.dns.Set(k, p.DN)
		d.setProtocol(k, v, p.Protocol)
		v.partition, v.pool, v.css, v.load, v.address = id(p.Partition), id(p.Pool), id(p.CSS), id(p.Load), d.addrs.Set(k, p.Address)
		v.window, v.autoregisteredAt = id(p.Window), nanos(utc(e.RecordedAt))
		v.node = id(p.Node)
		v.lastSeen = noTime // set below, as for every event of the device itself
	case domain.DeviceProvisioned:
		k, v = d.get(p.Device)
		d.count(v, -1)
		address := v.address
		fresh(fExists)
		v.model, v.dn = id(p.Model), d.dns.Set(k, p.DN)
		d.setProtocol(k, v, p.Protocol)
		v.partition, v.pool, v.css = id(p.Partition), id(p.Pool), id(p.CSS)
		describe(p.Description)
		v.provisionedBy, v.address = id(p.By), address
		seen = false
	case domain.DeviceRegistered:
		k, v = d.get(p.Device)
		d.count(v, -1)
		v.set(fRegistered|fBound, true)
		v.address = d.addrs.Set(k, p.Address)
		v.node = id(p.Node)
	case domain.DeviceMoved:
		k, v = d.get(p.Device)
		d.count(v, -1)
		v.set(fRegistered|fBound, true)
		v.address = d.addrs.Set(k, p.To)
		v.node = id(p.Node)
	case domain.DeviceUnregistered:
		k, v = d.get(p.Device)
		d.count(v, -1)
		v.set(fRegistered, false)
		v.node = 0
	case domain.RegistrationRejected:
		k, v = d.get(p.Device)
		d.count(v, -1)
		rj := d.refused[k]
		rj.count++
		rj.last, rj.at = id(string(p.Reason)), nanos(utc(e.RecordedAt))
		d.refused[k] = rj
		if !v.is(fExists) && p.Address != "" {
			v.address = d.addrs.Set(k, p.Address)
		}
		if !v.is(fExists) && p.Model != "" {
			v.model = id(p.Model)
		}
	case domain.DeviceReconfigured:
		k, v = d.get(p.Device)
		d.count(v, -1)
		if p.Pool != "" {
			v.pool, v.css = id(p.Pool), id(p.CSS)
		} else if p.CSS != "" {
			v.css = id(p.CSS)
		}
		if p.DN != "" {
			v.dn = d.dns.Set(k, p.DN)
		}
		if p.Partition != "" {
			v.partition = id(p.Partition)
		}
		if p.Description != "" {
			describe(p.Description)
		}
		seen = false
	case domain.DeviceCredentialsIssued:
		k, v = d.get(p.Device)
		d.count(v, -1)
		v.salt = saltValue(p.Salt)
		seen = false
	case domain.DeviceCredentialsDisabled:
		k, v = d.get(p.Device)
		d.count(v, -1)
		v.salt = 0
		seen = false
	case domain.DeviceResetRequested:
		// Nothing of the device changes but its stream's version.
		k, v = d.get(p.Device)
		d.count(v, -1)
		seen = false
	case domain.DeviceDeleted:
		k, v = d.get(p.Device)
		d.count(v, -1)
		model, address := v.model, v.address
		fresh(fDeleted)
		v.model, v.address = model, address
		seen = false
	default:
		return
	}
	if seen {
		at := nanos(utc(e.RecordedAt))
		if v.firstSeen == noTime {
			v.firstSeen = at
		}
		v.lastSeen = at
	}
	v.position = e.Position
	d.setVersion(k, v, e.Version)
	d.count(v, +1)
}

// DeviceState returns the device as the domain's Device aggregate holds it
// after the events applied (without LastRejected, which the read model
// does not keep per reason), and its stream's version (-1: no stream);
// found is false for a device never seen. It is what the command side
// reads of the devices it does not hold.
func (d *Devices) DeviceState(name string) (st domain.DeviceState, version int64, found bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k, ok := d.names.Lookup(name)
	if !ok {
		return domain.DeviceState{}, -1, false
	}
	i, ok := d.devices[k]
	if !ok {
		return domain.DeviceState{}, -1, false
	}
	v := d.recs.At(i)
	version = d.versionOf(k, v)
	if !v.is(fExists) {
		return domain.DeviceState{Name: name, Deleted: v.is(fDeleted)}, version, true
	}
	s := d.strs.String
	st = domain.DeviceState{
		Name: name, Exists: true, Model: s(v.model), Protocol: d.protocolOf(k, v),
		DN: d.dns.Get(k, v.dn), Partition: s(v.partition), Pool: s(v.pool), CSS: s(v.css),
		Autoregistered: v.is(fAutoregistered), Window: s(v.window), Registered: v.is(fRegistered),
		Node: s(v.node), Credentialed: v.salt != 0,
	}
	if v.is(fBound) {
		st.Address = d.addrs.Get(k, v.address)
	}
	if v.is(fDescribed) {
		st.Description = d.descs.Get(k, pack.Spilled)
	}
	return st, version, true
}

// auth is what SIP digest authentication reads of a device that exists:
// its credentials' salt ("" none), its pool and the address it was bound
// at; found is false for a device that does not exist. One lookup, no
// Device built: the SIP adapter asks it of every REGISTER.
func (d *Devices) auth(name string) (salt, pool, address string, found bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k, ok := d.names.Lookup(name)
	if !ok {
		return "", "", "", false
	}
	i, ok := d.devices[k]
	if !ok {
		return "", "", "", false
	}
	v := d.recs.At(i)
	if !v.is(fExists) {
		return "", "", "", false
	}
	if v.is(fBound) {
		address = d.addrs.Get(k, v.address)
	}
	return saltText(v.salt), d.strs.String(v.pool), address, true
}

// count adds v's contribution to the totals.
func (d *Devices) count(v *rec, sign int) {
	if v.is(fExists) {
		d.exist += sign
		if v.is(fRegistered) {
			d.regd += sign
		}
	}
}

// Get returns one device (found false if it was never seen).
func (d *Devices) Get(name string) (Device, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k, ok := d.names.Lookup(name)
	if !ok {
		return Device{}, false
	}
	i, ok := d.devices[k]
	if !ok {
		return Device{}, false
	}
	return d.device(k, d.recs.At(i)), true
}

// List returns the devices that exist, sorted by name.
func (d *Devices) List() []Device {
	return d.filter(func(v *rec) bool { return v.is(fExists) })
}

// All returns every device ever seen (deleted and refused ones too), sorted by name.
func (d *Devices) All() []Device {
	return d.filter(func(*rec) bool { return true })
}

func (d *Devices) filter(keep func(*rec) bool) []Device {
	d.mu.RLock()
	out := make([]Device, 0, d.exist)
	for k, i := range d.devices {
		if v := d.recs.At(i); keep(v) {
			out = append(out, d.device(k, v))
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Counts returns how many devices exist and how many of them are registered.
func (d *Devices) Counts() (exist, registered int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.exist, d.regd
}

// RegisteredByNode counts the devices registered now with each CallManager
// (those registered with none, "", are not counted).
func (d *Devices) RegisteredByNode() map[string]int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	byID := map[strtab.ID]int{}
	for _, i := range d.devices {
		if v := d.recs.At(i); v.is(fExists) && v.is(fRegistered) && v.node != 0 {
			byID[v.node]++
		}
	}
	out := make(map[string]int, len(byID))
	for id, n := range byID {
		out[d.strs.String(id)] = n
	}
	return out
}
