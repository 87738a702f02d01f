package projections

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/pack"
	"github.com/autoreg/autoreg/internal/snapfile"
	"github.com/autoreg/autoreg/internal/strtab"
)

// The body of a snapshot (internal/snapfile holds the file around it): the
// registrar's read models (Cluster, Assignment, Devices) and the command
// side's state besides them (CommandState), each in a tagged section, all
// at one position. Its layout is part of snapfile.Version: change one,
// change the other.
const (
	sectionCluster byte = iota + 1
	sectionAssignment
	sectionDevices
	sectionCommand
)

// Snapshot encodes the read models and the command side's state as they
// are between two events, and returns the position of the last event they
// hold and the body of a snapshot (see internal/snapfile). Events wait
// while it encodes (tens of milliseconds for 100,000 devices); reads do
// not.
func (r *Reader) Snapshot() (pos uint64, body []byte, err error) {
	err = r.runner.Paused(func(p uint64) error {
		pos = p
		r.set.Devices.mu.RLock()
		n := len(r.set.Devices.devices)
		r.set.Devices.mu.RUnlock()
		e := snapfile.NewEncoder(4096 + 72*n)
		var err error
		e.Section(sectionCluster, func(e *snapfile.Encoder) { err = r.set.Cluster.encode(e) })
		if err != nil {
			return err
		}
		e.Section(sectionAssignment, r.set.Assignment.encode)
		e.Section(sectionDevices, r.set.Devices.encode)
		e.Section(sectionCommand, func(e *snapfile.Encoder) { err = r.cmd.encode(e) })
		body = e.Bytes()
		return err
	})
	return pos, body, err
}

// CommandState returns the command side's state as the events applied so
// far leave it (see CommandState), with a copy of the DNs in use. It is
// what a snapshot holds of the command side; tests compare it with the
// command side's own.
func (r *Reader) CommandState() (pos uint64, st CommandState) {
	_ = r.runner.Paused(func(p uint64) error {
		pos = p
		r.cmd.mu.RLock()
		defer r.cmd.mu.RUnlock()
		st = CommandState{Cluster: r.cmd.cluster.Clone(), ClusterVersion: r.cmd.cVersion,
			Range: r.cmd.rng, RangeVersion: r.cmd.rVersion, Refusals: cloneRefusals(r.cmd.refusals)}
		r.set.Assignment.mu.RLock()
		st.Range.InUse = r.set.Assignment.inUse.Clone()
		r.set.Assignment.mu.RUnlock()
		return nil
	})
	return pos, st
}

func cloneRefusals(m map[string]map[domain.RejectReason]time.Time) map[string]map[domain.RejectReason]time.Time {
	out := make(map[string]map[domain.RejectReason]time.Time, len(m))
	for d, rs := range m {
		c := make(map[domain.RejectReason]time.Time, len(rs))
		for k, v := range rs {
			c[k] = v
		}
		out[d] = c
	}
	return out
}

// RestoreReader returns the read side of a registrar over src starting
// from a snapshot's body (see Reader.Snapshot) taken at position pos: Run
// (or CatchUp) applies the events after pos. It also returns the command
// side's state the body holds, its DNs in use a copy of the Assignment's.
// A body that does not decode is an error wrapping snapfile.ErrCorrupt;
// nothing is half restored.
func RestoreReader(src LiveSource, clock func() time.Time, pos uint64, body []byte) (*Reader, CommandState, error) {
	if clock == nil {
		clock = time.Now
	}
	set := &Set{Cluster: NewCluster(), Assignment: NewAssignment(), Devices: NewDevices()}
	cmd := newCommandState()
	d := snapfile.NewDecoder(body)
	steps := []struct {
		tag  byte
		name string
		fn   func(*snapfile.Decoder) error
	}{
		{sectionCluster, "cluster", set.Cluster.decode},
		{sectionAssignment, "assignment", set.Assignment.decode},
		{sectionDevices, "devices", set.Devices.decode},
		{sectionCommand, "command side", cmd.decode},
	}
	for _, s := range steps {
		sd := d.Section(s.tag)
		if err := d.Sub(sd); err != nil {
			return nil, CommandState{}, fmt.Errorf("the %s section: %w", s.name, err)
		}
		if err := s.fn(sd); err != nil {
			return nil, CommandState{}, fmt.Errorf("the %s section: %w", s.name, err)
		}
		if err := sd.End(); err != nil {
			return nil, CommandState{}, fmt.Errorf("the %s section: %w", s.name, err)
		}
	}
	if err := d.End(); err != nil {
		return nil, CommandState{}, err
	}
	set.Cluster.pos, set.Assignment.pos, set.Devices.pos, cmd.pos = pos, pos, pos, pos
	st := CommandState{Cluster: cmd.cluster.Clone(), ClusterVersion: cmd.cVersion, Range: cmd.rng,
		RangeVersion: cmd.rVersion, Refusals: cloneRefusals(cmd.refusals)}
	st.Range.InUse = set.Assignment.inUse.Clone()
	r := &Reader{src: src, set: set, cmd: cmd, clock: clock,
		runner: NewRunner(src, set.Cluster, set.Assignment, set.Devices, cmd)}
	return r, st, nil
}

// ---- JSON for the aggregates' small states ---------------------------------

// The cluster's state and the range's (without its DNs) are small, and
// their fields are the domain's to add to: they are written as JSON, so
// that a field added to them is kept without a change here (a test checks
// that every field survives).

func encodeJSON(e *snapfile.Encoder, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.Blob(b)
	return nil
}

func decodeJSON(d *snapfile.Decoder, v any) {
	b := d.Blob()
	if d.Err() != nil {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		d.Fail("%v", err)
		return
	}
	fillMaps(reflect.ValueOf(v).Elem())
}

// fillMaps makes every nil map field of the struct v an empty map, as the
// domain's constructors do (Evolve writes to them).
func fillMaps(v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Map && f.IsNil() && f.CanSet() {
			f.Set(reflect.MakeMap(f.Type()))
		}
	}
}

func (c *Cluster) encode(e *snapfile.Encoder) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return encodeJSON(e, c.st)
}

func (c *Cluster) decode(d *snapfile.Decoder) error {
	st := domain.NewCluster()
	decodeJSON(d, &st)
	c.st = st
	return d.Err()
}

func (c *commandState) encode(e *snapfile.Encoder) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := encodeJSON(e, c.cluster); err != nil {
		return err
	}
	e.Varint(c.cVersion)
	rng := c.rng
	rng.InUse = nil
	if err := encodeJSON(e, rng); err != nil {
		return err
	}
	e.Varint(c.rVersion)
	e.Time(c.latest)
	e.Time(c.pruned)
	e.Uvarint(uint64(len(c.refusals)))
	for dev, m := range c.refusals {
		e.String(dev)
		e.Uvarint(uint64(len(m)))
		for reason, at := range m {
			e.String(string(reason))
			e.Time(at)
		}
	}
	return nil
}

func (c *commandState) decode(d *snapfile.Decoder) error {
	cluster := domain.NewCluster()
	decodeJSON(d, &cluster)
	cVersion := d.Varint()
	var rng domain.DNRangeState
	decodeJSON(d, &rng)
	rVersion := d.Varint()
	latest, pruned := d.Time(), d.Time()
	n := d.Count(3)
	refusals := make(map[string]map[domain.RejectReason]time.Time, n)
	for range n {
		dev := d.String()
		k := d.Count(2)
		m := make(map[domain.RejectReason]time.Time, k)
		for range k {
			reason := domain.RejectReason(d.String())
			m[reason] = d.Time()
		}
		if _, dup := refusals[dev]; dup {
			d.Fail("the refusals of %s twice", dev)
		}
		refusals[dev] = m
	}
	if cVersion < -1 || rVersion < -1 {
		d.Fail("stream versions %d and %d", cVersion, rVersion)
	}
	if d.Err() != nil {
		return d.Err()
	}
	rng.InUse = noDNs{}
	c.cluster, c.cVersion, c.rng, c.rVersion = cluster, cVersion, rng, rVersion
	c.refusals, c.latest, c.pruned = refusals, latest, pruned
	return nil
}

// ---- Assignment ------------------------------------------------------------

func (a *Assignment) encode(e *snapfile.Encoder) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e.String(a.window)
	e.Uvarint(uint64(a.windowCount))
	e.Varint(int64(a.current))
	e.Uvarint(uint64(len(a.ranges)))
	for _, r := range a.ranges {
		e.String(r.Start)
		e.String(r.End)
		e.String(r.Partition)
		e.String(r.Mask)
		e.Uvarint(r.position)
		e.Time(r.at)
		e.String(r.by)
	}
	e.Uvarint(uint64(len(a.history)))
	for _, h := range a.history {
		e.Uvarint(h.Position)
		e.Time(h.At)
		e.String(h.By)
		e.String(h.Start)
		e.String(h.End)
		e.String(h.Partition)
		e.String(h.Mask)
	}
	encodeDNs(e, a.inUse)
}

func (a *Assignment) decode(d *snapfile.Decoder) error {
	a.reset()
	a.window = d.String()
	a.windowCount = d.Int(1 << 62)
	current := d.Varint()
	nr := d.Count(9)
	a.ranges = make([]*rangeStats, 0, nr)
	for range nr {
		r := &rangeStats{}
		r.Start, r.End, r.Partition, r.Mask = d.String(), d.String(), d.String(), d.String()
		r.position, r.at, r.by = d.Uvarint(), d.Time(), d.String()
		a.ranges = append(a.ranges, r)
	}
	if current < -1 || current >= int64(len(a.ranges)) {
		d.Fail("range %d in force, of %d", current, len(a.ranges))
		return d.Err()
	}
	a.current = int(current)
	nh := d.Count(9)
	a.history = make([]RangeChange, 0, nh)
	for range nh {
		var h RangeChange
		h.Position, h.At, h.By = d.Uvarint(), d.Time(), d.String()
		h.Start, h.End, h.Partition, h.Mask = d.String(), d.String(), d.String(), d.String()
		a.history = append(a.history, h)
	}
	decodeDNs(d, a.inUse)
	if d.Err() != nil {
		return d.Err()
	}
	// The ranges' usage is the DNs in use they hold: measured again, as
	// configure measures a new range.
	for _, r := range a.ranges {
		r.init()
	}
	a.each(func(partition, dn, _ string) {
		for _, r := range a.ranges {
			if r.contains(partition, dn) {
				n, _ := parseDN(dn)
				r.mark(n, true)
				r.used++
			}
		}
	})
	for _, r := range a.ranges {
		if r.width > 0 {
			r.advance(a.isHeld)
		}
	}
	return nil
}

// DN set entries: a flags byte, the partition (a number, or a new one's
// name), the DN (packed or spelled) and the holder (its MAC or its name).
const (
	dnPacked    = 1 << iota // the DN is a pack.DN number
	dnMAC                   // the holder is a MAC
	dnPartition             // a new partition's name follows, numbered next
)

func encodeDNs(e *snapfile.Encoder, set *pack.DNSet) {
	e.Uvarint(uint64(set.Len()))
	parts := map[string]uint64{}
	for k, device := range set.All() {
		var flags byte
		dn, dnOK := pack.DN(k.DN)
		mac, macOK := pack.MAC(device)
		if dnOK {
			flags |= dnPacked
		}
		if macOK {
			flags |= dnMAC
		}
		id, known := parts[k.Partition]
		if !known {
			flags |= dnPartition
		}
		e.Byte(flags)
		if known {
			e.Uvarint(id)
		} else {
			parts[k.Partition] = uint64(len(parts))
			e.String(k.Partition)
		}
		if dnOK {
			e.Uvarint(dn)
		} else {
			e.String(k.DN)
		}
		if macOK {
			e.Uvarint(mac)
		} else {
			e.String(device)
		}
	}
}

func decodeDNs(d *snapfile.Decoder, set *pack.DNSet) {
	n := d.Count(4)
	var parts []string
	for range n {
		flags := d.Byte()
		if flags&^(dnPacked|dnMAC|dnPartition) != 0 {
			d.Fail("bad DN entry flags %#x", flags)
		}
		var partition string
		if flags&dnPartition != 0 {
			partition = d.String()
			parts = append(parts, partition)
		} else if i := d.Uvarint(); i < uint64(len(parts)) {
			partition = parts[i]
		} else {
			d.Fail("a DN in partition %d, of %d", i, len(parts))
		}
		var dn, device string
		if flags&dnPacked != 0 {
			dn = pack.DNString(d.Uvarint())
		} else {
			dn = d.String()
		}
		if flags&dnMAC != 0 {
			mac := d.Uvarint()
			if mac >= 1<<48 {
				d.Fail("MAC %#x", mac)
			}
			device = pack.DeviceName(mac)
		} else {
			device = d.String()
		}
		if d.Err() != nil {
			return
		}
		if set.Held(partition, dn) {
			d.Fail("DN %s in %q twice", dn, partition)
			return
		}
		set.Hold(partition, dn, device)
	}
}

// ---- Devices ---------------------------------------------------------------

// recMinSize is the fewest bytes a record takes (each of its 16 numbers
// in one byte).
const recMinSize = 16

func (d *Devices) encode(e *snapfile.Encoder) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	strs := d.strs.Strings()
	e.Uvarint(uint64(len(strs)))
	for _, s := range strs {
		e.String(s)
	}
	names := d.names.Spilled()
	e.Uvarint(uint64(len(names)))
	for _, s := range names {
		e.String(s)
	}
	for _, f := range []*pack.Field{&d.dns, &d.addrs, &d.descs} {
		e.Uvarint(uint64(f.Len()))
		for k, s := range f.Spill() {
			e.Uvarint(k)
			e.String(s)
		}
	}
	forms := d.addrs.Forms()
	e.Uvarint(uint64(len(forms)))
	for _, f := range forms {
		e.String(f.Pre)
		e.String(f.Suf)
		e.Byte(f.User)
	}
	e.Uvarint(uint64(d.protocols.Len()))
	for k, p := range d.protocols.Others() {
		e.Uvarint(k)
		e.String(string(p))
	}
	e.Uvarint(uint64(len(d.versions)))
	for k, v := range d.versions {
		e.Uvarint(k)
		e.Uvarint(v)
	}
	e.Uvarint(uint64(len(d.refused)))
	for k, rj := range d.refused {
		e.Uvarint(k)
		e.Uvarint(uint64(rj.count))
		e.Uvarint(uint64(rj.last))
		e.Nanos(rj.at)
	}
	e.Uvarint(uint64(len(d.devices)))
	for k, i := range d.devices {
		v := d.recs.At(i)
		e.Uvarint(k)
		e.Uvarint(v.dn)
		e.Uvarint(v.address)
		e.Nanos(v.autoregisteredAt)
		e.Nanos(v.firstSeen)
		e.Nanos(v.lastSeen)
		e.Uvarint(v.position)
		e.Uvarint(v.salt)
		for _, id := range [...]strtab.ID{v.model, v.partition, v.pool, v.css, v.load, v.window, v.provisionedBy, v.node} {
			e.Uvarint(uint64(id))
		}
		e.Byte(byte(v.flags))
		e.Uvarint(uint64(v.verHi)<<16 | uint64(v.verLo))
	}
}

func (d *Devices) decode(dec *snapfile.Decoder) error {
	d.reset()
	strs := make([]string, dec.Count(1))
	for i := range strs {
		strs[i] = dec.String()
	}
	names := make([]string, dec.Count(1))
	for i := range names {
		names[i] = dec.String()
	}
	if dec.Err() != nil {
		return dec.Err()
	}
	var err error
	if d.strs, err = strtab.FromStrings(strs); err != nil {
		dec.Fail("%v", err)
		return dec.Err()
	}
	if d.names, err = pack.NamesOf(names); err != nil {
		dec.Fail("%v", err)
		return dec.Err()
	}
	key := func() uint64 {
		k := dec.Uvarint()
		if k&pack.Spilled != 0 && k&^pack.Spilled >= uint64(len(names)) {
			dec.Fail("device key %#x: no such name", k)
		} else if k&pack.Spilled == 0 && k >= 1<<48 {
			dec.Fail("device key %#x", k)
		}
		return k
	}
	id := func() strtab.ID {
		v := dec.Uvarint()
		if v > uint64(len(strs)) {
			dec.Fail("string %d, of %d", v, len(strs))
			return 0
		}
		return strtab.ID(v)
	}
	var spills [3]map[uint64]string
	for i := range spills {
		n := dec.Count(2)
		spills[i] = make(map[uint64]string, n)
		for range n {
			k := key()
			spills[i][k] = dec.String()
		}
	}
	forms := make([]pack.AddrForm, dec.Count(3))
	for i := range forms {
		forms[i] = pack.AddrForm{Pre: dec.String(), Suf: dec.String(), User: dec.Byte()}
	}
	np := dec.Count(2)
	protocols := make(map[uint64]domain.Protocol, np)
	for range np {
		k := key()
		protocols[k] = domain.Protocol(dec.String())
	}
	nv := dec.Count(2)
	d.versions = make(map[uint64]uint64, nv)
	for range nv {
		k := key()
		d.versions[k] = dec.Uvarint()
	}
	nr := dec.Count(4)
	for range nr {
		k := key()
		count := dec.Int(1<<31 - 1)
		d.refused[k] = rejection{count: int32(count), last: id(), at: dec.Nanos()}
	}
	if dec.Err() != nil {
		return dec.Err()
	}
	if d.dns, err = pack.RestoreField(pack.DNs, spills[0], nil); err == nil {
		if d.addrs, err = pack.RestoreField(pack.Addrs, spills[1], forms); err == nil {
			d.descs, err = pack.RestoreField(pack.Rare, spills[2], nil)
		}
	}
	if err != nil {
		dec.Fail("%v", err)
		return dec.Err()
	}
	d.protocols = pack.ProtocolsOf(protocols)
	if len(d.versions) == 0 {
		d.versions = nil
	}
	n := dec.Count(recMinSize)
	d.devices = make(map[uint64]uint32, n)
	for range n {
		k := key()
		i, v := d.recs.New()
		v.dn, v.address = dec.Uvarint(), dec.Uvarint()
		v.autoregisteredAt, v.firstSeen, v.lastSeen = dec.Nanos(), dec.Nanos(), dec.Nanos()
		v.position = dec.Uvarint()
		v.salt = dec.Uvarint()
		v.model, v.partition, v.pool, v.css, v.load, v.window, v.provisionedBy, v.node = id(), id(), id(), id(), id(), id(), id(), id()
		v.flags = recFlags(dec.Byte())
		ver := dec.Uvarint()
		if ver > versionSpilled {
			dec.Fail("device version %d", ver)
		}
		v.verHi, v.verLo = uint8(ver>>16), uint16(ver)
		if dec.Err() != nil {
			return dec.Err()
		}
		if _, dup := d.devices[k]; dup {
			dec.Fail("device %s twice", d.names.Name(k))
			return dec.Err()
		}
		if ver == versionSpilled {
			if _, ok := d.versions[k]; !ok {
				dec.Fail("device %s: its version is on the side, which does not hold it", d.names.Name(k))
				return dec.Err()
			}
		}
		d.devices[k] = i
		d.count(v, +1)
	}
	return dec.Err()
}

// init sets the range's bounds from its ends, with no DN in use: the
// range holds nothing (width -1) when its ends are not two digit strings
// of one length in order, or it is disabled.
func (r *rangeStats) init() {
	lo, ok1 := parseDN(r.Start)
	hi, ok2 := parseDN(r.End)
	r.used, r.bitmap, r.mapped = 0, nil, false
	if ok1 && ok2 && !r.Disabled() && len(r.Start) == len(r.End) && lo <= hi {
		r.lo, r.hi, r.width, r.next = lo, hi, len(r.Start), lo
		r.mapped = hi-lo < maxBitmap // the bitmap is made at the first DN in use (mark)
		return
	}
	r.width = -1
}
