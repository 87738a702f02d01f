package service

import (
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/strtab"
)

// devEntry is one device as decisions use it: its state, the version of its
// stream, and when it was last rebuilt from the store.
type devEntry struct {
	state   domain.DeviceState
	version int64 // -1: no stream
	// reloaded is the value of Service.gen when the entry was last
	// rebuilt from the store (0: never).
	reloaded uint64
}

func newEntry(name string) devEntry {
	return devEntry{state: domain.NewDevice(name), version: -1}
}

// devCache is the command side's cache of every device it knows. It holds
// one record per device for as long as the registrar runs, so a record is
// compact (104 bytes plus the device's DN and address, against some 240
// for a devEntry): the strings that repeat across devices are numbers in a
// string table. It is guarded by the Service's lock.
type devCache struct {
	recs map[string]*devRec
	strs strtab.Table
}

// devRec is a devEntry in compact form; see domain.DeviceState. The
// device's name is its key in devCache.recs.
type devRec struct {
	dn, address, description                      string
	model, protocol, partition, pool, css, window strtab.ID
	flags                                         devFlags
	version                                       int64
	reloaded                                      uint64
	lastRejected                                  map[domain.RejectReason]time.Time
}

type devFlags uint8

const (
	dExists devFlags = 1 << iota
	dDeleted
	dAutoregistered
	dRegistered
)

func (r *devRec) is(f devFlags) bool { return r.flags&f != 0 }

func newDevCache() *devCache { return &devCache{recs: make(map[string]*devRec)} }

// get returns the device's entry; ok is false if the cache has none.
func (c *devCache) get(name string) (e devEntry, ok bool) {
	r, ok := c.recs[name]
	if !ok {
		return devEntry{}, false
	}
	return c.entry(name, r), true
}

// getOrNew returns the device's entry, a never-seen device's if the cache
// has none.
func (c *devCache) getOrNew(name string) devEntry {
	if e, ok := c.get(name); ok {
		return e
	}
	return newEntry(name)
}

func (c *devCache) entry(name string, r *devRec) devEntry {
	s := c.strs.String
	return devEntry{
		state: domain.DeviceState{
			Name: name, Exists: r.is(dExists), Deleted: r.is(dDeleted),
			Model: s(r.model), Protocol: domain.Protocol(s(r.protocol)), DN: r.dn,
			Partition: s(r.partition), Pool: s(r.pool), CSS: s(r.css), Description: r.description,
			Autoregistered: r.is(dAutoregistered), Window: s(r.window),
			Registered: r.is(dRegistered), Address: r.address, LastRejected: r.lastRejected,
		},
		version:  r.version,
		reloaded: r.reloaded,
	}
}

// put stores e as the device's entry.
func (c *devCache) put(e devEntry) {
	st := &e.state
	r, ok := c.recs[st.Name]
	if !ok {
		r = new(devRec)
		c.recs[st.Name] = r
	}
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
	*r = devRec{
		dn: st.DN, address: st.Address, description: st.Description,
		model: id(st.Model), protocol: id(string(st.Protocol)), partition: id(st.Partition),
		pool: id(st.Pool), css: id(st.CSS), window: id(st.Window),
		flags: f, version: e.version, reloaded: e.reloaded, lastRejected: st.LastRejected,
	}
}

// setReloaded sets the device's reloaded mark, if the cache holds it.
func (c *devCache) setReloaded(name string, gen uint64) {
	if r, ok := c.recs[name]; ok {
		r.reloaded = gen
	}
}

func (c *devCache) delete(name string) { delete(c.recs, name) }
