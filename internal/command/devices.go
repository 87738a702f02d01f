package command

import (
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/pack"
	"github.com/autoreg/autoreg/internal/strtab"
)

// devEntry is one device as decisions use it: its state, the version of its
// stream, and when it was last rebuilt from the store.
type devEntry struct {
	state   domain.DeviceState
	version int64 // -1: no stream
	// reloaded is the value of Handler.gen when the entry was last
	// rebuilt from the store (0: never).
	reloaded uint64
}

func newEntry(name string) devEntry {
	return devEntry{state: domain.NewDevice(name), version: -1}
}

// devCache is the command side's cache of every device it knows. It holds
// one record per device for as long as the registrar runs, so a record is
// compact and free of pointers (56 bytes, in a pack.Slab, against some
// 240 for a devEntry): the device's name is its key (its MAC, see pack.Names),
// its DN and address are packed in numbers (see pack.Field: a value that
// does not pack is kept on the side), the strings that repeat across
// devices are numbers in a string table, and the fields seldom set (the
// description, the last rejections) live in side maps. It is guarded by
// the Handler's lock.
type devCache struct {
	recs     map[uint64]uint32 // key (see pack.Names) -> number in slab
	slab     pack.Slab[devRec]
	names    pack.Names
	dns      pack.Field
	addrs    pack.Field
	descs    pack.Field // the descriptions (dDescribed)
	rejected map[uint64]map[domain.RejectReason]time.Time
	// protocols codes the records' protocols (in their flags: dProtocols).
	protocols pack.Protocols
	strs      strtab.Table
}

// devRec is a devEntry in compact form; see domain.DeviceState. The
// device's name is its key in devCache.recs.
type devRec struct {
	dn, address                         uint64 // see devCache.dns, devCache.addrs
	version                             int64
	reloaded                            uint64
	model, partition, pool, css, window strtab.ID
	flags                               devFlags // the protocol too: see protocol
}

type devFlags uint8

const (
	dExists devFlags = 1 << iota
	dDeleted
	dAutoregistered
	dRegistered
	dDescribed // the description is in devCache.descs
	// The protocol's code (pack.Protocols) in two bits.
	dProtocolShift = iota
	dProtocols     = pack.ProtocolMask << dProtocolShift
)

// protocol is the protocol of the record r keyed k.
func (c *devCache) protocol(k uint64, r *devRec) domain.Protocol {
	return c.protocols.Protocol(k, uint8(r.flags>>dProtocolShift))
}

func (r *devRec) is(f devFlags) bool { return r.flags&f != 0 }

func newDevCache() *devCache {
	return &devCache{recs: make(map[uint64]uint32), dns: pack.NewField(pack.DNs), addrs: pack.NewField(pack.Addrs),
		descs: pack.NewField(pack.Rare), rejected: make(map[uint64]map[domain.RejectReason]time.Time)}
}

// get returns the device's entry; ok is false if the cache has none.
func (c *devCache) get(name string) (e devEntry, ok bool) {
	k, ok := c.names.Lookup(name)
	if !ok {
		return devEntry{}, false
	}
	i, ok := c.recs[k]
	if !ok {
		return devEntry{}, false
	}
	return c.entry(k, c.slab.At(i)), true
}

// getOrNew returns the device's entry, a never-seen device's if the cache
// has none.
func (c *devCache) getOrNew(name string) devEntry {
	if e, ok := c.get(name); ok {
		return e
	}
	return newEntry(name)
}

// at returns the record numbered i in recs.
func (c *devCache) at(i uint32) *devRec { return c.slab.At(i) }

// entry is the record r keyed k as a devEntry.
func (c *devCache) entry(k uint64, r *devRec) devEntry {
	s := c.strs.String
	e := devEntry{
		state: domain.DeviceState{
			Name: c.names.Name(k), Exists: r.is(dExists), Deleted: r.is(dDeleted),
			Model: s(r.model), Protocol: c.protocol(k, r), DN: c.dns.Get(k, r.dn),
			Partition: s(r.partition), Pool: s(r.pool), CSS: s(r.css),
			Autoregistered: r.is(dAutoregistered), Window: s(r.window),
			Registered: r.is(dRegistered), Address: c.addrs.Get(k, r.address), LastRejected: c.rejected[k],
		},
		version:  r.version,
		reloaded: r.reloaded,
	}
	if r.is(dDescribed) {
		e.state.Description = c.descs.Get(k, pack.Spilled)
	}
	return e
}

// put stores e as the device's entry.
func (c *devCache) put(e devEntry) {
	st := &e.state
	k := c.names.Key(st.Name)
	id := c.strs.ID
	var f devFlags
	for _, b := range []struct {
		on   bool
		flag devFlags
	}{{st.Exists, dExists}, {st.Deleted, dDeleted}, {st.Autoregistered, dAutoregistered}, {st.Registered, dRegistered}} {
		if b.on {
			f |= b.flag
		}
	}
	f |= devFlags(c.protocols.Code(k, st.Protocol)) << dProtocolShift
	if c.descs.Set(k, st.Description) == pack.Spilled {
		f |= dDescribed
	}
	if st.LastRejected != nil {
		c.rejected[k] = st.LastRejected
	} else if len(c.rejected) > 0 {
		delete(c.rejected, k)
	}
	i, ok := c.recs[k]
	if !ok {
		i, _ = c.slab.New()
		c.recs[k] = i
	}
	*c.slab.At(i) = devRec{
		dn: c.dns.Set(k, st.DN), address: c.addrs.Set(k, st.Address),
		model: id(st.Model), partition: id(st.Partition),
		pool: id(st.Pool), css: id(st.CSS), window: id(st.Window),
		flags: f, version: e.version, reloaded: e.reloaded,
	}
}

// setReloaded sets the device's reloaded mark, if the cache holds it.
func (c *devCache) setReloaded(name string, gen uint64) {
	k, ok := c.names.Lookup(name)
	if !ok {
		return
	}
	if i, ok := c.recs[k]; ok {
		c.slab.At(i).reloaded = gen
	}
}

func (c *devCache) delete(name string) {
	if k, ok := c.names.Lookup(name); ok {
		c.drop(k)
	}
}

// drop forgets the device keyed k.
func (c *devCache) drop(k uint64) {
	if i, ok := c.recs[k]; ok {
		c.slab.Free(i)
		delete(c.recs, k)
	}
	c.dns.Drop(k)
	c.addrs.Drop(k)
	c.descs.Drop(k)
	delete(c.rejected, k)
	c.protocols.Drop(k)
}
