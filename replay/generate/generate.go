// Package generate writes a realistic autoregistration history: years of a
// cluster's life, made by running domain commands through domain.Decide on
// the current World and folding the events back with Evolve, exactly as the
// registrar does, so that the history is valid (replay verify passes on it).
//
// The history has the cluster's configuration, autoregistration windows
// opened and closed by several administrators (and some closed by the
// system: time up, registration limit, range exhausted, mixed-mode
// security), batches of SIP and SCCP phones (mostly fewer than 100 per
// window, sometimes more), protocol switches between and inside batches,
// phones refused for the wrong protocol or an unknown model, phones
// re-registering, moving to new addresses, reconfigured into their
// permanent device pools, deleted, rogue devices refused while
// autoregistration is closed, range extensions, and a mixed-mode episode.
//
// It is deterministic: the same Options give the same history (event ids
// included), whatever the Writer.
//
// It imports the domain and the store port only.
package generate

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// Options tune a history.
type Options struct {
	// Events is how many events to write: the history stops after the
	// command that reaches it (so it may hold a few more). Default 10,000.
	Events int
	// Seed selects the history (default 1).
	Seed uint64
	// Start is the simulated time of the first event (default
	// 2024-01-08T08:00:00Z, a Monday).
	Start time.Time
}

// Writer receives each command's events, in order: appends is what the
// registrar would append atomically for the command, at is the simulated
// time of the decision (the events' RecordedAt should be at, or as close as
// the store allows).
type Writer interface {
	Write(ctx context.Context, at time.Time, appends []eventstore.StreamAppend) error
}

// Stats sums up a generated history.
type Stats struct {
	Events         int
	Commands       int // commands that wrote events
	Windows        int
	Devices        int // devices that exist at the end
	Autoregistered int // autoregistrations
	Rejections     int // refusals recorded
	Start, End     time.Time
}

// Generate writes a history to w.
func Generate(ctx context.Context, w Writer, opt Options) (Stats, error) {
	if opt.Events <= 0 {
		opt.Events = 10_000
	}
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.Start.IsZero() {
		opt.Start = time.Date(2024, 1, 8, 8, 0, 0, 0, time.UTC)
	}
	s := &sim{
		ctx: ctx, w: w, target: opt.Events,
		rnd:     rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15)),
		now:     opt.Start.UTC(),
		cluster: domain.NewCluster(), cVer: -1,
		rng: domain.NewDNRange(), rVer: -1,
		devs: map[string]*device{},
	}
	s.stats.Start = s.now
	err := s.run()
	s.stats.End = s.now
	s.stats.Devices = len(s.live)
	if errors.Is(err, errDone) {
		err = nil
	}
	return s.stats, err
}

// errDone stops the simulation once the target is reached.
var errDone = errors.New("enough events")

type device struct {
	st      domain.DeviceState
	version int64 // -1: no stream
	live    int   // index in sim.live, -1 when the device does not exist
}

type sim struct {
	ctx    context.Context
	w      Writer
	target int
	rnd    *rand.Rand
	now    time.Time

	cluster domain.ClusterState
	cVer    int64
	rng     domain.DNRangeState
	rVer    int64
	// rangeUsed counts the DNs of the current range in use.
	rangeUsed int
	// hint mirrors the private next-free hint of domain.DNRangeState;
	// every DN of the range from start to frontier is in use but the
	// holes (see syncHint).
	hint, frontier int64
	start, end     int64
	width          int
	holes          dnHeap
	dnBuf          []byte
	devs           map[string]*device
	live           []string // devices that exist
	macs           uint64

	stats Stats
	// pending: phones refused for the wrong protocol, waiting for the
	// protocol they speak to be the autoregistration protocol.
	pending []phone
	// mixedDone counts the mixed-mode episodes run.
	mixedDone int
	exhausted bool // the range-exhaustion episode has happened
	cycle     int
	buf       []byte
}

// phone is a new phone about to register.
type phone struct {
	name     string
	model    string
	protocol domain.Protocol
	addr     string
	peer     string
}

var (
	admins = []string{"alice", "bob", "carol", "dave", "erin"}
	// models weighs the catalogue: the common desk phones come first.
	models = []string{"7961", "7961", "7961", "7941", "7941", "7942", "7962", "7965", "7945", "7970",
		"7971", "7975", "7911", "7911", "7906", "7940", "7960", "7912", "7905", "7902", "7910",
		"7920", "7935", "7936", "8961", "9951", "9971"}
	ouis = []uint64{0x001B54, 0x0023EB, 0x00259C, 0x64A0E7, 0x0021A0, 0x001E7A, 0xF0F755, 0x5475D0}
)

// ---- running commands ----------------------------------------------------

// origin is who gives a command.
type origin struct {
	actor string
	peer  string
}

func adminOf(name string) origin { return origin{actor: "admin:" + name} }

func (s *sim) admin() origin { return adminOf(admins[s.rnd.IntN(len(admins))]) }

// exec decides cmd on the current world, folds the events in and writes
// them. Refusals the domain returns with events (rejections) are not
// errors here; other refusals are returned.
func (s *sim) exec(cmd domain.Command, o origin) ([]domain.Event, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	needs := cmd.Needs()
	w := domain.World{Cluster: s.cluster, Range: s.rng}
	var dev *device
	if needs.Device != "" {
		dev = s.devs[needs.Device]
		if dev == nil {
			dev = &device{st: domain.NewDevice(needs.Device), version: -1, live: -1}
		}
		w.Device = dev.st
	}
	events, err := domain.Decide(w, cmd, s.now)
	var rej *domain.Rejection
	if err != nil && !errors.As(err, &rej) {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	if dev != nil {
		s.devs[needs.Device] = dev
	}

	appends := make([]eventstore.StreamAppend, 0, 3)
	index := func(stream string) int {
		for i := range appends {
			if appends[i].Stream == stream {
				return i
			}
		}
		var v int64 = -1
		switch stream {
		case domain.ClusterStream:
			v = s.cVer
		case domain.RangeStream:
			v = s.rVer
		default:
			v = dev.version
		}
		exp := eventstore.NoStream
		if v >= 0 {
			exp = eventstore.Exact(uint64(v))
		}
		appends = append(appends, eventstore.StreamAppend{Stream: stream, Expected: exp})
		return len(appends) - 1
	}
	name := commandName(cmd)
	corr := s.uuid()
	for _, e := range events {
		typ, data, err := encode(e)
		if err != nil {
			return nil, err
		}
		id := s.uuid()
		i := index(e.Stream())
		appends[i].Events = append(appends[i].Events, eventstore.EventData{
			ID: id, Type: typ, Data: data, Metadata: s.metadata(id, corr, o, name)})
		s.evolve(e, dev)
	}
	if err := s.w.Write(s.ctx, s.now, appends); err != nil {
		return nil, err
	}
	s.stats.Commands++
	s.stats.Events += len(events)
	if s.stats.Events >= s.target {
		return events, errDone
	}
	return events, nil
}

// evolve folds one event into the simulation's state.
func (s *sim) evolve(e domain.Event, dev *device) {
	switch e.Stream() {
	case domain.ClusterStream:
		s.cluster = domain.EvolveCluster(s.cluster, e)
		s.cVer++
		if _, ok := e.(domain.WindowOpened); ok {
			s.stats.Windows++
		}
	case domain.RangeStream:
		r := s.rng.Range
		switch e := e.(type) {
		case domain.DNAssigned:
			if held := s.rng.InUse.Held(e.Partition, e.DN); !held && e.Partition == r.Partition && r.Contains(e.DN) {
				s.rangeUsed++
			}
		case domain.DNClaimed:
			if held := s.rng.InUse.Held(e.Partition, e.DN); !held && e.Partition == r.Partition && r.Contains(e.DN) {
				s.rangeUsed++
			}
		case domain.DNReleased:
			if h, held := s.rng.Holder(e.Partition, e.DN); held && h == e.Device && e.Partition == r.Partition && r.Contains(e.DN) {
				s.rangeUsed--
			}
		}
		s.rng = domain.EvolveDNRange(s.rng, e)
		s.rVer++
		s.track(e)
	default:
		dev.st = domain.EvolveDevice(dev.st, e, s.now)
		dev.version++
		switch e.(type) {
		case domain.DeviceAutoregistered:
			s.stats.Autoregistered++
		case domain.RegistrationRejected:
			s.stats.Rejections++
		}
		switch {
		case dev.st.Exists && dev.live < 0:
			dev.live = len(s.live)
			s.live = append(s.live, dev.st.Name)
		case !dev.st.Exists && dev.live >= 0:
			last := len(s.live) - 1
			moved := s.live[last]
			s.live[dev.live] = moved
			s.devs[moved].live = dev.live
			s.live = s.live[:last]
			dev.live = -1
		}
	}
}

// track follows the range's hints after a range event (see syncHint).
func (s *sim) track(e domain.Event) {
	r := s.rng.Range
	in := func(partition, dn string) (int64, bool) {
		if partition != r.Partition || !r.Contains(dn) {
			return 0, false
		}
		n, err := strconv.ParseInt(dn, 10, 64)
		return n, err == nil
	}
	switch e := e.(type) {
	case domain.RangeConfigured:
		s.rangeUsed = r.Size() - s.rng.Free()
		s.start, _ = strconv.ParseInt(r.Start, 10, 64)
		s.end, _ = strconv.ParseInt(r.End, 10, 64)
		s.width = len(r.Start)
		s.hint, s.frontier, s.holes = 0, s.start, s.holes[:0]
		s.advanceFrontier()
	case domain.DNAssigned:
		s.held(in(e.Partition, e.DN))
	case domain.DNClaimed:
		s.held(in(e.Partition, e.DN))
	case domain.DNReleased:
		if n, ok := in(e.Partition, e.DN); ok {
			s.hint = min(s.hint, n)
			if held := s.rng.InUse.Held(e.Partition, e.DN); !held && n < s.frontier {
				heap.Push(&s.holes, n)
			}
		}
	}
}

// held mirrors the domain's hint after an assignment or a claim of DN n.
func (s *sim) held(n int64, inRange bool) {
	if !inRange {
		return
	}
	if max(s.start, s.hint) == n {
		s.hint = n + 1
	}
	if n == s.frontier {
		s.advanceFrontier()
	}
}

func (s *sim) dn(n int64) string {
	b := strconv.AppendInt(s.dnBuf[:0], n, 10)
	if pad := s.width - len(b); pad > 0 {
		b = append(b[:0], zeros(pad)...)
		b = strconv.AppendInt(b, n, 10)
	}
	s.dnBuf = b
	return string(b)
}

func (s *sim) used(n int64) bool {
	ok := s.rng.InUse.Held(s.rng.Range.Partition, s.dn(n))
	return ok
}

// advanceFrontier moves the frontier past the DNs in use.
func (s *sim) advanceFrontier() {
	for s.frontier <= s.end && s.used(s.frontier) {
		s.frontier++
	}
}

// lowestFree is the lowest free DN of the range (> end when none is).
func (s *sim) lowestFree() int64 {
	for len(s.holes) > 0 {
		if n := s.holes[0]; !s.used(n) {
			return n
		}
		heap.Pop(&s.holes)
	}
	return s.frontier
}

// dnHeap is a min-heap of DNs freed below the frontier.
type dnHeap []int64

func (h dnHeap) Len() int           { return len(h) }
func (h dnHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h dnHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dnHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *dnHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// syncHint moves the domain's next-free hint to the lowest free DN before
// an autoregistration.
//
// domain.DNRangeState keeps a private hint below which no DN is free, but
// moves it forward only when the DN at the hint itself is assigned: after
// the range is reconfigured, or a DN below used ones is released, it stays
// behind and every NextFree scans (and formats) all the used DNs from it.
// On a large history that made generation quadratic. The hint is moved
// with range events the registrar itself could fold (a release of a free
// DN by nobody, which changes nothing but the hint; assignments of used
// DNs to the devices already holding them, the window's count restored),
// which are never written: the state the decisions read is unchanged,
// only faster.
func (s *sim) syncHint() {
	r := s.rng.Range
	if r.Disabled() {
		return
	}
	free := s.lowestFree()
	if free > s.end {
		return
	}
	if s.hint > free {
		s.rng = domain.EvolveDNRange(s.rng, domain.DNReleased{DN: s.dn(free), Partition: r.Partition})
		s.hint = free
	}
	win, count := s.rng.Window, s.rng.WindowCount
	for d := max(s.start, s.hint); d < free; d = max(s.start, s.hint) {
		dn := s.dn(d)
		holder, _ := s.rng.Holder(r.Partition, dn)
		s.rng = domain.EvolveDNRange(s.rng, domain.DNAssigned{DN: dn, Partition: r.Partition, Device: holder, Window: win})
		s.hint = d + 1
	}
	s.rng.Window, s.rng.WindowCount = win, count
}

func commandName(cmd domain.Command) string {
	switch cmd.(type) {
	case domain.Register:
		return "Register"
	case domain.Unregister:
		return "Unregister"
	}
	n := fmt.Sprintf("%T", cmd)
	for i := len(n) - 1; i >= 0; i-- {
		if n[i] == '.' {
			return n[i+1:]
		}
	}
	return n
}

// uuid makes a version 7 UUID from the simulated time and the seeded
// generator, so that histories are reproducible.
func (s *sim) uuid() string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[0:8], uint64(s.now.UnixMilli())<<16|s.rnd.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], s.rnd.Uint64())
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u.String()
}

// metadata writes what the registrar writes beside every event (the JSON
// of service.Metadata), without reflection.
func (s *sim) metadata(id, corr string, o origin, command string) []byte {
	b := s.buf[:0]
	b = append(b, `{"event_id":`...)
	b = appendString(b, id)
	b = append(b, `,"correlation_id":`...)
	b = appendString(b, corr)
	b = append(b, `,"actor":`...)
	b = appendString(b, o.actor)
	if o.peer != "" {
		b = append(b, `,"peer":`...)
		b = appendString(b, o.peer)
	}
	b = append(b, `,"command":`...)
	b = appendString(b, command)
	b = append(b, `,"decided_at":"`...)
	b = s.now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	s.buf = b
	return append([]byte(nil), b...)
}

// appendString appends v as a JSON string.
func appendString(b []byte, v string) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// ---- the story -----------------------------------------------------------

// tick advances the simulated clock by a random duration in [lo, hi).
func (s *sim) tick(lo, hi time.Duration) {
	s.now = s.now.Add(lo + time.Duration(s.rnd.Int64N(int64(hi-lo))))
}

func (s *sim) run() error {
	if err := s.setup(); err != nil {
		return err
	}
	for {
		s.cycle++
		if err := s.day(); err != nil {
			return err
		}
	}
}

// must runs an administrative command that the story expects to succeed.
func (s *sim) must(cmd domain.Command, o origin) error {
	_, err := s.exec(cmd, o)
	if err != nil && !errors.Is(err, errDone) {
		return fmt.Errorf("generate: %T: %w", cmd, err)
	}
	return err
}

// setup configures the cluster as the sample configuration does, then
// lets the administrators adjust it.
func (s *sim) setup() error {
	cfg := origin{actor: "config"}
	cmds := []domain.Command{
		domain.ConfigureCallManager{Name: "CM1", Description: "autoregistration CallManager", AutoregEnabled: true, By: "config"},
		domain.ConfigureCallManager{Name: "CM2", Description: "subscriber", By: "config"},
		domain.ConfigureCallManager{Name: "CM3", Description: "subscriber, branch", By: "config"},
		domain.ConfigureGroup{Name: "Default", CallManagers: []string{"CM1", "CM2"}, By: "config"},
		domain.ConfigureGroup{Name: "Branch", CallManagers: []string{"CM3", "CM2"}, By: "config"},
		domain.SetAutoregGroup{Group: "Default", By: "config"},
		domain.AddPartition{Name: "Internal", Description: "internal directory numbers", By: "config"},
		domain.AddPartition{Name: "Emergency", Description: "emergency and operator", By: "config"},
		domain.AddPartition{Name: "PSTN", Description: "outside lines", By: "config"},
		domain.AddRoutePattern{Pattern: "911", Partition: "Emergency", Description: "emergency", By: "config"},
		domain.AddRoutePattern{Pattern: "0", Partition: "Emergency", Description: "operator", By: "config"},
		domain.AddRoutePattern{Pattern: "9.[2-9]XXXXXX", Partition: "PSTN", Description: "local calls", By: "config"},
		domain.ConfigureCSS{Name: "Autoreg", Partitions: []string{"Internal", "Emergency"}, By: "config"},
		domain.ConfigureCSS{Name: "Rogue", Partitions: []string{"Emergency"}, By: "config"},
		domain.ConfigureCSS{Name: "Staff", Partitions: []string{"Internal", "PSTN", "Emergency"}, By: "config"},
		domain.ConfigurePool{Name: "Default", Group: "Default", CSS: "Autoreg", By: "config"},
		domain.ConfigurePool{Name: "Rogue", Group: "Default", CSS: "Rogue", By: "config"},
		domain.ConfigurePool{Name: "Staff", Group: "Default", CSS: "Staff", By: "config"},
		domain.ConfigurePool{Name: "Branch", Group: "Branch", CSS: "Staff", By: "config"},
		domain.SetDefaultPool{Pool: "Default", By: "config"},
		domain.SetAutoregCSS{CSS: "Autoreg", By: "config"},
		domain.ConfigureRange{Start: "1000", End: "1999", Partition: "Internal", Mask: "40855510XX", By: "config"},
		domain.SetDeviceDefaults{Model: "7902", LoadSCCP: "CP7902080002SCCP060817A", By: "config"},
		domain.SetDeviceDefaults{Model: "7940", LoadSCCP: "P00308010200", LoadSIP: "P0S3-08-12-00", By: "config"},
		domain.SetDeviceDefaults{Model: "7960", LoadSCCP: "P00308010200", LoadSIP: "P0S3-08-12-00", By: "config"},
		domain.SetDeviceDefaults{Model: "7941", LoadSCCP: "SCCP41.9-4-2SR3-1S", LoadSIP: "SIP41.9-4-2SR3-1S", By: "config"},
		domain.SetDeviceDefaults{Model: "7961", LoadSCCP: "SCCP41.9-4-2SR3-1S", LoadSIP: "SIP41.9-4-2SR3-1S", By: "config"},
		domain.SetDeviceDefaults{Model: "7970", LoadSCCP: "SCCP70.9-4-2SR3-1S", LoadSIP: "SIP70.9-4-2SR3-1S", By: "config"},
	}
	for _, c := range cmds {
		s.tick(50*time.Millisecond, time.Second)
		if err := s.must(c, cfg); err != nil {
			return err
		}
	}
	s.tick(time.Hour, 3*time.Hour)
	alice := adminOf("alice")
	if err := s.must(domain.SetDeviceDefaults{Model: "7911", LoadSCCP: "SCCP11.8-5-4S", LoadSIP: "SIP11.8-5-4S", Pool: "Default", By: "admin:alice"}, alice); err != nil {
		return err
	}
	s.tick(time.Minute, 10*time.Minute)
	return s.must(domain.ConfigureCallManager{Name: "CM2", Description: "subscriber (publisher backup)", By: "admin:alice"}, alice)
}

// day is a working day: maybe a configuration change, a batch of new
// phones in a window, the rogue devices, the moves and reconfigurations
// that follow, and the phones' comings and goings.
func (s *sim) day() error {
	// The next working morning, between 08:00 and 11:00 (weekends are
	// mostly quiet).
	day := s.now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	for (day.Weekday() == time.Saturday || day.Weekday() == time.Sunday) && s.rnd.IntN(5) > 0 {
		day = day.Add(24 * time.Hour)
	}
	s.now = day.Add(8*time.Hour + time.Duration(s.rnd.Int64N(int64(3*time.Hour))))

	if s.rnd.IntN(12) == 0 {
		if err := s.configChange(); err != nil {
			return err
		}
	}
	progress := float64(s.stats.Events) / float64(s.target)
	if (s.mixedDone == 0 && progress > 0.45) || (s.mixedDone == 1 && progress > 0.8) {
		s.mixedDone++
		return s.mixedEpisode()
	}
	if err := s.batch(); err != nil {
		return err
	}
	if err := s.rogues(s.rnd.IntN(4)); err != nil {
		return err
	}
	if err := s.aftercare(); err != nil {
		return err
	}
	return s.churn()
}

// configChange is an administrator adjusting the topology.
func (s *sim) configChange() error {
	s.tick(time.Minute, time.Hour)
	a := s.admin()
	by := a.actor
	var cmd domain.Command
	switch s.rnd.IntN(5) {
	case 0:
		m := models[s.rnd.IntN(len(models))]
		pool := []string{"", "Default", "Staff"}[s.rnd.IntN(3)]
		cmd = domain.SetDeviceDefaults{Model: m, LoadSCCP: "SCCP" + m + ".9-" + strconv.Itoa(s.rnd.IntN(9)), LoadSIP: "SIP" + m + ".9-" + strconv.Itoa(s.rnd.IntN(9)), Pool: pool, By: by}
	case 1:
		cmd = domain.ConfigureCallManager{Name: "CM3", Description: "subscriber, branch " + strconv.Itoa(s.cycle), By: by}
	case 2:
		p := "Lobby" + strconv.Itoa(s.rnd.IntN(3))
		if _, err := s.exec(domain.AddPartition{Name: p, Description: "lobby phones", By: by}, a); err != nil {
			return err
		}
		cmd = domain.ConfigureCSS{Name: "Staff", Partitions: []string{"Internal", "PSTN", "Emergency", p}, By: by}
	case 3:
		cmd = domain.ConfigureCSS{Name: "Staff", Partitions: []string{"Internal", "PSTN", "Emergency"}, By: by}
	default:
		cmd = domain.ConfigurePool{Name: "Branch", Group: []string{"Branch", "Default"}[s.rnd.IntN(2)], CSS: "Staff", By: by}
	}
	_, err := s.exec(cmd, a)
	if err != nil && !errors.Is(err, errDone) {
		return nil // a change the domain refuses is simply not made
	}
	return err
}

// newPhone makes a phone never seen before.
func (s *sim) newPhone(proto domain.Protocol) phone {
	s.macs++
	oui := ouis[s.macs%uint64(len(ouis))]
	nic := (s.macs * 0x9E3779B1) & 0xFFFFFF
	mac := oui<<24 | nic
	name := fmt.Sprintf("SEP%012X", mac)
	m, _ := domain.LookupModel(models[s.rnd.IntN(len(models))])
	p := phone{name: name, model: m.Name, protocol: proto}
	if !m.Supports(proto) {
		p.protocol = m.Protocols[0]
	}
	p.addr, p.peer = s.address(p.name, p.protocol)
	return p
}

// address is where a phone registers from.
func (s *sim) address(name string, proto domain.Protocol) (addr, peer string) {
	ip := fmt.Sprintf("10.%d.%d.%d", 1+s.rnd.IntN(40), s.rnd.IntN(256), 2+s.rnd.IntN(250))
	if proto == domain.SIP {
		port := 5060
		return fmt.Sprintf("sip:%s@%s:%d", name, ip, port), fmt.Sprintf("%s:%d", ip, port)
	}
	peer = fmt.Sprintf("%s:%d", ip, 49152+s.rnd.IntN(16000))
	return peer, peer
}

func (s *sim) register(p phone) ([]domain.Event, error) {
	if d := s.devs[p.name]; (d == nil || !d.st.Exists) && s.cluster.Window != nil {
		s.syncHint()
	}
	actor := "sccp"
	if p.protocol == domain.SIP {
		actor = "sip"
	}
	// A new phone reaches the autoregistration CallManager; a SIP one is
	// issued digest credentials if it autoregisters.
	reg := domain.Register{Device: p.name, Model: p.model, Protocol: p.protocol, Address: p.addr, Node: "CM1"}
	if p.protocol == domain.SIP {
		reg.Credential = credentialOf(p.name)
	}
	return s.exec(reg, origin{actor: actor, peer: p.peer})
}

// credentialOf makes up the digest credential a phone is issued, from its
// name, so that the history's randomness is the same as without them.
func credentialOf(name string) domain.Credential {
	sum := sha256.Sum256([]byte(name))
	return domain.Credential{Salt: fmt.Sprintf("%016x", binary.BigEndian.Uint64(sum[:8])|1), Verifier: hex.EncodeToString(sum[8:])}
}

// nodeOf is the CallManager a known phone registers with: mostly the
// first of its pool's group, one phone in eight its second (it failed
// over), chosen from its name so that the history's randomness is the
// same as without nodes.
func (s *sim) nodeOf(name, pool string) string {
	group := s.cluster.Groups[s.cluster.Pools[pool].Group]
	if len(group) == 0 {
		return ""
	}
	if len(group) > 1 && name[len(name)-1]%8 == 0 {
		return group[1]
	}
	return group[0]
}

// batch: set the protocol, open a window, let a batch of phones
// autoregister, close it.
func (s *sim) batch() error {
	a := s.admin()
	proto := domain.SCCP
	if s.rnd.IntN(5) < 2 {
		proto = domain.SIP
	}
	n := 5 + s.rnd.IntN(55)
	switch r := s.rnd.IntN(20); {
	case r == 0:
		n = 100 + s.rnd.IntN(150) // a big roll-out, against the guide's advice
	case r < 6:
		n = 60 + s.rnd.IntN(40)
	}
	// Room for the batch: widen the range when it runs low, except once,
	// when the administrator does not notice and the range runs out.
	free := s.rng.Range.Size() - s.rangeUsed
	if free < n+20 {
		if !s.exhausted && s.stats.Events > s.target/4 {
			s.exhausted = true
			n = free + 5
		} else if err := s.widen(a); err != nil {
			return err
		}
	}
	if s.cluster.Protocol != proto {
		s.tick(time.Minute, 5*time.Minute)
		if err := s.must(domain.SetProtocol{Protocol: proto, By: a.actor}, a); err != nil {
			return err
		}
	}
	s.tick(time.Minute, 10*time.Minute)
	open := domain.OpenWindow{Reason: fmt.Sprintf("bulk add, ticket %d", 1000+s.cycle), By: a.actor}
	if s.rnd.IntN(3) > 0 {
		open.For = time.Duration(30+s.rnd.IntN(4)*30) * time.Minute
	}
	if s.rnd.IntN(6) == 0 {
		open.Max = max(1, n-s.rnd.IntN(10))
	}
	if _, err := s.exec(open, a); err != nil {
		if errors.Is(err, errDone) {
			return err
		}
		return fmt.Errorf("generate: open a window: %w", err)
	}

	// Phones that were refused for their protocol earlier may come now.
	var later []phone
	for _, p := range s.pending {
		if p.protocol == s.cluster.Protocol {
			s.tick(2*time.Second, 20*time.Second)
			if _, err := s.register(p); err != nil {
				return err
			}
			continue
		}
		later = append(later, p)
	}
	s.pending = later

	switchAt := -1
	if s.rnd.IntN(4) == 0 {
		switchAt = n / 2 // the second half speaks the other protocol
	}
	for i := 0; i < n; i++ {
		if i == switchAt && s.cluster.Window != nil {
			s.tick(time.Minute, 3*time.Minute)
			if err := s.must(domain.SetProtocol{Protocol: other(proto), By: a.actor}, a); err != nil {
				return err
			}
			proto = other(proto)
		}
		s.tick(2*time.Second, 40*time.Second)
		p := s.newPhone(proto)
		switch r := s.rnd.IntN(100); {
		case r < 6: // a dual-protocol phone with the other firmware
			if m, _ := domain.LookupModel(p.model); m.DualProtocol() {
				p.protocol = other(proto)
				p.addr, p.peer = s.address(p.name, p.protocol)
				s.pending = append(s.pending, p)
			}
		case r < 8: // a phone that does not say its model
			p.model = ""
		}
		if _, err := s.register(p); err != nil {
			return err
		}
		if p.model == "" && s.rnd.IntN(2) == 0 {
			s.tick(30*time.Second, 90*time.Second)
			if _, err := s.register(p); err != nil { // tries again, refused again (maybe not recorded)
				return err
			}
		}
	}
	if s.exhausted && s.rng.Range.Size()-s.rangeUsed <= 0 {
		// The administrator notices and widens the range.
		s.tick(10*time.Minute, time.Hour)
		if err := s.widen(a); err != nil {
			return err
		}
	}
	if w := s.cluster.Window; w != nil {
		if !w.Until.IsZero() && s.rnd.IntN(3) == 0 {
			// Left to expire: the registrar's timer closes it.
			if s.now.Before(w.Until) {
				s.now = w.Until.Add(time.Duration(s.rnd.IntN(1000)) * time.Millisecond)
			}
			if _, err := s.exec(domain.ExpireWindow{}, origin{actor: domain.SystemActor}); err != nil {
				return err
			}
		} else {
			s.tick(time.Minute, 15*time.Minute)
			reasons := []string{"batch done", "roll-out finished", "all phones registered", "end of maintenance window"}
			closeBy := s.admin()
			if s.rnd.IntN(2) == 0 {
				closeBy = a
			}
			if _, err := s.exec(domain.CloseWindow{Reason: reasons[s.rnd.IntN(len(reasons))], By: closeBy.actor}, closeBy); err != nil {
				return err
			}
		}
	}
	return nil
}

func other(p domain.Protocol) domain.Protocol {
	if p == domain.SIP {
		return domain.SCCP
	}
	return domain.SIP
}

// widen reconfigures the range: the same digits to the end of their
// width, then a range one digit longer.
func (s *sim) widen(a origin) error {
	r := s.rng.Range
	var start, end string
	switch {
	case r.End[0] != '9':
		start, end = r.Start, "9"+r.End[1:]
		for i := 1; i < len(end); i++ {
			end = end[:i] + "9" + end[i+1:]
		}
	default:
		w := len(r.Start) + 1
		start = "1" + zeros(w-1)
		end = "9" + nines(w-1)
	}
	s.tick(time.Minute, 10*time.Minute)
	return s.must(domain.ConfigureRange{Start: start, End: end, Partition: r.Partition, Mask: r.Mask, By: a.actor}, a)
}

func zeros(n int) string { return fmt.Sprintf("%0*d", n, 0) }

func nines(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '9'
	}
	return string(b)
}

// rogues: unknown devices try to register while autoregistration is
// closed, a few times each (a rejection is recorded at most once a minute).
func (s *sim) rogues(n int) error {
	for range n {
		s.tick(time.Minute, 3*time.Hour)
		p := s.newPhone(domain.SCCP)
		for range 1 + s.rnd.IntN(4) {
			if _, err := s.register(p); err != nil {
				return err
			}
			s.tick(20*time.Second, 2*time.Minute)
		}
	}
	return nil
}

// pick returns a random existing device.
func (s *sim) pick() (*device, bool) {
	if len(s.live) == 0 {
		return nil, false
	}
	return s.devs[s.live[s.rnd.IntN(len(s.live))]], true
}

// aftercare: the administrators move new phones to their permanent pools,
// give some a DN of their own, delete old ones, provision a few by hand.
func (s *sim) aftercare() error {
	a := s.admin()
	for range s.rnd.IntN(25) {
		d, ok := s.pick()
		if !ok || d.st.Pool == "Staff" || d.st.Pool == "Branch" {
			continue
		}
		s.tick(20*time.Second, 5*time.Minute)
		rc := domain.ReconfigureDevice{Device: d.st.Name, Pool: []string{"Staff", "Staff", "Branch"}[s.rnd.IntN(3)],
			Description: "desk " + strconv.Itoa(s.rnd.IntN(900)+100), By: a.actor}
		if s.rnd.IntN(10) == 0 {
			rc.DN = strconv.Itoa(50000 + s.rnd.IntN(40000))
			if held := s.rng.InUse.Held("Internal", rc.DN); held {
				rc.DN = ""
			}
		}
		if _, err := s.exec(rc, a); err != nil && !errors.Is(err, domain.ErrDNInUse) {
			return err
		}
	}
	// Deletions: mostly phones of the last batch that should not have
	// been there, sometimes an old phone decommissioned.
	for range s.rnd.IntN(3) {
		var d *device
		if n := len(s.live); n > 0 && s.rnd.IntN(6) > 0 {
			d = s.devs[s.live[n-1-s.rnd.IntN(min(n, 20))]]
		} else if d, _ = s.pick(); d == nil {
			break
		}
		s.tick(time.Minute, 30*time.Minute)
		if _, err := s.exec(domain.DeleteDevice{Device: d.st.Name, By: a.actor}, a); err != nil {
			return err
		}
	}
	if s.rnd.IntN(8) == 0 {
		s.tick(time.Minute, 30*time.Minute)
		p := s.newPhone(domain.SCCP)
		dn := strconv.Itoa(90000 + s.rnd.IntN(9999))
		if held := s.rng.InUse.Held("Internal", dn); !held {
			if _, err := s.exec(domain.ProvisionDevice{Device: p.name, Model: p.model, DN: dn, Pool: "Staff",
				Description: "lobby phone", By: a.actor}, a); err != nil {
				return err
			}
			s.tick(time.Minute, 10*time.Minute)
			p.protocol = s.devs[p.name].st.Protocol
			p.addr, p.peer = s.address(p.name, p.protocol)
			if _, err := s.register(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// churn: phones reboot, lose keepalives, get unplugged and come back,
// sometimes from another address.
func (s *sim) churn() error {
	k := len(s.live) / 10
	k = min(max(k, 10), 1500) + s.rnd.IntN(50)
	gap := 8 * time.Hour / time.Duration(k) // the day's comings and goings
	for range k {
		d, ok := s.pick()
		if !ok {
			return nil
		}
		st := d.st
		proto := st.Protocol
		actor := "sccp"
		if proto == domain.SIP {
			actor = "sip"
		}
		s.tick(gap/2, gap*3/2)
		addr, peer := st.Address, st.Address
		if proto == domain.SIP {
			peer = ""
		}
		if st.Registered && s.rnd.IntN(8) == 0 {
			// Plugged in elsewhere without unregistering: a move.
			addr, peer = s.address(st.Name, proto)
		} else if st.Registered {
			reason := "keepalive"
			if proto == domain.SIP {
				reason = "expired"
			}
			if s.rnd.IntN(3) == 0 {
				reason = "requested"
			}
			if _, err := s.exec(domain.Unregister{Device: st.Name, Reason: reason}, origin{actor: actor, peer: peer}); err != nil {
				return err
			}
			s.tick(time.Second, min(gap, 5*time.Minute))
		} else if st.Address == "" {
			addr, peer = s.address(st.Name, proto)
		}
		if _, err := s.exec(domain.Register{Device: st.Name, Model: st.Model, Protocol: proto, Address: addr, Node: s.nodeOf(st.Name, st.Pool)},
			origin{actor: actor, peer: peer}); err != nil {
			return err
		}
	}
	return nil
}

// mixedEpisode: the security team sets the cluster to mixed mode while a
// window is open, which closes it; phones are refused; an administrator
// tries to open autoregistration and is refused; later the cluster goes
// back to nonsecure.
func (s *sim) mixedEpisode() error {
	a := s.admin()
	if s.rng.Range.Size()-s.rangeUsed < 40 {
		if err := s.widen(a); err != nil {
			return err
		}
	}
	s.tick(time.Minute, 10*time.Minute)
	if _, err := s.exec(domain.OpenWindow{Reason: fmt.Sprintf("bulk add, ticket %d", 1000+s.cycle), For: time.Hour, By: a.actor}, a); err != nil {
		if errors.Is(err, errDone) {
			return err
		}
		return fmt.Errorf("generate: open a window: %w", err)
	}
	proto := s.cluster.Protocol
	for range 3 + s.rnd.IntN(10) {
		s.tick(2*time.Second, 30*time.Second)
		if _, err := s.register(s.newPhone(proto)); err != nil {
			return err
		}
	}
	sec := adminOf("security")
	s.tick(time.Minute, 5*time.Minute)
	if err := s.must(domain.SetSecurityMode{Mode: domain.Mixed, By: sec.actor}, sec); err != nil {
		return err
	}
	for range 5 + s.rnd.IntN(10) {
		s.tick(5*time.Second, 2*time.Minute)
		if _, err := s.register(s.newPhone(proto)); err != nil {
			return err
		}
	}
	// Opening is refused while security is mixed: no event.
	if _, err := s.exec(domain.OpenWindow{Reason: "retry the batch", By: a.actor}, a); err == nil {
		return errors.New("generate: a window opened while security is mixed")
	}
	if err := s.churn(); err != nil {
		return err
	}
	s.tick(2*time.Hour, 30*time.Hour)
	return s.must(domain.SetSecurityMode{Mode: domain.Nonsecure, By: sec.actor}, sec)
}
