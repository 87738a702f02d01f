package compliance

import (
	"slices"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

// stamp is where and when something was seen in the log.
type stamp struct {
	Pos uint64
	At  time.Time
}

// episode is a stretch of time during which a configuration problem held.
type episode struct {
	Desc  string
	Start stamp
	End   stamp // zero while it still holds
}

// tracker follows one condition over the cluster's configuration and
// records the episodes during which it held (a change of description ends
// one episode and starts another).
type tracker struct {
	cur  *episode
	done []episode
}

func (t *tracker) observe(active bool, desc string, s stamp) {
	if t.cur != nil && (!active || t.cur.Desc != desc) {
		t.cur.End = s
		t.done = append(t.done, *t.cur)
		t.cur = nil
	}
	if active && t.cur == nil {
		t.cur = &episode{Desc: desc, Start: s}
	}
}

// episodes returns every episode, the ongoing one last.
func (t *tracker) episodes() []episode {
	out := slices.Clone(t.done)
	if t.cur != nil {
		out = append(out, *t.cur)
	}
	return out
}

// reach is a number the autoregistration calling search space let phones dial.
type reach struct {
	stamp
	CSS       string // the calling search space consulted
	Pool      string // when the CSS came from the default pool (no autoregistration CSS): the pool
	Number    string
	Pattern   string
	Partition string
}

// windowFacts is what the auditor learned about one window from the
// cluster's configuration while it was open.
type windowFacts struct {
	id    string
	until time.Time // the end of its maximum duration (zero: none)
	// css is the autoregistration calling search space when it opened.
	css string
	// noCSS: when the window was open with no autoregistration calling
	// search space (its opening, or the CSS cleared while open).
	noCSS []stamp
	// reaches: external numbers its phones could dial, each (CSS, number,
	// pattern, partition) once, at the first time seen.
	reaches   []reach
	reachSeen map[string]bool
}

// capped keeps the first limit items of a list and counts them all.
type capped[T any] struct {
	items []T
	n     int
}

func (c *capped[T]) add(limit int, v T) {
	c.n++
	if limit == 0 || len(c.items) < limit {
		c.items = append(c.items, v)
	}
}

// loadKey is a model and the protocol it autoregistered with.
type loadKey struct {
	Model    string
	Protocol domain.Protocol
}

// loadMiss gathers the autoregistrations of one model and protocol made
// while Device Defaults named no firmware load for them.
type loadMiss struct {
	key     loadKey
	devices capped[string]
	stamps  capped[stamp]
	windows []string
}

// rogueDevice counts one unknown device's refusals in the period.
type rogueDevice struct {
	name        string
	count       int
	first, last stamp
	positions   capped[uint64]
	reasons     map[domain.RejectReason]int
	address     string
	model       string
}

// auditor is the compliance read model. It folds the cluster's events into
// the cluster's configuration (domain.EvolveCluster) and, after each one,
// checks the conditions that depend on the configuration at that instant
// (several CallManagers with autoregistration enabled, the autoregistration
// group, the calling search space of autoregistered phones while a window
// is open); it also gathers, for the events recorded in the period, the
// autoregistrations (totals, missing firmware loads) and the refusals of
// unknown devices. Its memory is bounded by the number of windows,
// configuration episodes, models and refused devices, not by the number of
// events.
type auditor struct {
	pol   *Policy
	limit int
	since time.Time // zero: from the start
	pos   uint64
	cl    domain.ClusterState
	noDNs domain.DNRangeState

	wins map[string]*windowFacts
	open *windowFacts

	multi, mismatch tracker

	// In the period:
	regs        int
	regFirst    stamp
	regLast     stamp
	regWindows  []string
	loads       map[loadKey]*loadMiss
	rogues      map[string]*rogueDevice
	rogueReason map[domain.RejectReason]bool
	// pools is each device's device pool (one entry per device: the only
	// part of the auditor that grows with the devices); outside, the
	// devices registered in the period with a CallManager outside their
	// pool's group.
	pools   map[string]string
	outside map[string]*outsideDevice
}

// outsideDevice is a device registered with CallManagers outside its
// pool's group.
type outsideDevice struct {
	name        string
	nodes       []string // the CallManagers, in the order first seen
	pool, group string
	count       int
	first, last stamp
	positions   capped[uint64]
}

func newAuditor(pol *Policy, since time.Time) *auditor {
	a := &auditor{pol: pol, limit: pol.EvidenceLimit, since: since}
	a.Reset()
	return a
}

// Reset implements projections.Projection.
func (a *auditor) Reset() {
	a.pos, a.cl, a.noDNs = 0, domain.NewCluster(), domain.NewDNRange()
	a.wins, a.open = map[string]*windowFacts{}, nil
	a.multi, a.mismatch = tracker{}, tracker{}
	a.regs, a.regFirst, a.regLast, a.regWindows = 0, stamp{}, stamp{}, nil
	a.loads, a.rogues = map[loadKey]*loadMiss{}, map[string]*rogueDevice{}
	a.rogueReason = map[domain.RejectReason]bool{}
	a.pools, a.outside = map[string]string{}, map[string]*outsideDevice{}
	for _, r := range a.pol.Checks.RogueAttempts.Reasons {
		a.rogueReason[domain.RejectReason(r)] = true
	}
}

// Checkpoint implements projections.Projection.
func (a *auditor) Checkpoint() uint64 { return a.pos }

// Wants implements projections.Selective: the cluster's events, the
// autoregistrations and the refusals.
func (a *auditor) Wants(t string) bool {
	return strings.HasPrefix(t, "cluster.") || strings.HasPrefix(t, "autoregistration.") ||
		t == domain.TypeDeviceAutoregistered || t == domain.TypeRegistrationRejected ||
		t == domain.TypeDeviceRegistered || t == domain.TypeDeviceMoved || t == domain.TypeDeviceProvisioned ||
		t == domain.TypeDeviceReconfigured || t == domain.TypeDeviceDeleted
}

// Apply implements projections.Projection.
func (a *auditor) Apply(e *projections.Event) {
	a.pos = e.Position
	at := e.RecordedAt.UTC().Round(0)
	inPeriod := a.since.IsZero() || !at.Before(a.since)
	s := stamp{Pos: e.Position, At: at}
	switch p := e.Payload.(type) {
	case domain.DeviceAutoregistered:
		a.pools[p.Device] = p.Pool
		if inPeriod {
			a.autoregistered(p, s)
			a.registeredWith(p.Device, p.Node, s)
		}
		return
	case domain.DeviceProvisioned:
		a.pools[p.Device] = p.Pool
		return
	case domain.DeviceReconfigured:
		if p.Pool != "" {
			a.pools[p.Device] = p.Pool
		}
		return
	case domain.DeviceDeleted:
		delete(a.pools, p.Device)
		return
	case domain.DeviceRegistered:
		if inPeriod {
			a.registeredWith(p.Device, p.Node, s)
		}
		return
	case domain.DeviceMoved:
		if inPeriod {
			a.registeredWith(p.Device, p.Node, s)
		}
		return
	case domain.RegistrationRejected:
		if inPeriod {
			a.rejected(p, s)
		}
		return
	}
	if e.Stream != domain.ClusterStream {
		return
	}
	a.cl = domain.EvolveCluster(a.cl, e.Payload)
	switch p := e.Payload.(type) {
	case domain.WindowOpened:
		s.At = p.At.UTC().Round(0)
		w := &windowFacts{id: p.Window, until: p.Until.UTC().Round(0), css: a.cl.AutoregCSS, reachSeen: map[string]bool{}}
		if p.Until.IsZero() {
			w.until = time.Time{}
		}
		a.wins[p.Window] = w
		a.open = w
	case domain.WindowClosed:
		s.At = p.At.UTC().Round(0)
		if a.open != nil && a.open.id == p.Window {
			a.open = nil
		}
	}
	a.observe(e.Type, s)
}

// registeredWith notes a registration of device with CallManager node
// when node is not in the device pool's group.
func (a *auditor) registeredWith(device, node string, s stamp) {
	pool := a.pools[device]
	if node == "" || pool == "" || a.cl.InGroupOf(pool, node) {
		return
	}
	o := a.outside[device]
	if o == nil {
		o = &outsideDevice{name: device, pool: pool, group: a.cl.Pools[pool].Group, first: s}
		a.outside[device] = o
	}
	if !slices.Contains(o.nodes, node) {
		o.nodes = append(o.nodes, node)
	}
	o.count++
	o.last = s
	o.positions.add(a.limit, s.Pos)
}

// openWindow returns the window open at s (nil when none): one was opened
// and not closed, and its maximum duration has not elapsed.
func (a *auditor) openWindow(s stamp) *windowFacts {
	w := a.open
	if w == nil || (!w.until.IsZero() && !s.At.Before(w.until)) {
		return nil
	}
	return w
}

// observe checks the configuration after a cluster event.
func (a *auditor) observe(eventType string, s stamp) {
	enabled := a.cl.AutoregEnabledCallManagers()
	a.multi.observe(len(enabled) > 1, strings.Join(enabled, ", "), s)
	w := a.openWindow(s)
	desc := a.groupMismatch(enabled, w)
	a.mismatch.observe(desc != "", desc, s)
	if w == nil {
		return
	}
	switch eventType {
	case domain.TypeWindowOpened, domain.TypeAutoregCSSSet:
		if a.cl.AutoregCSS == "" {
			w.noCSS = append(w.noCSS, s)
		}
	}
	switch eventType {
	case domain.TypeWindowOpened, domain.TypeAutoregCSSSet, domain.TypeRoutePatternAdded, domain.TypeRoutePatternRemoved,
		domain.TypeCSSConfigured, domain.TypeCSSRemoved, domain.TypePartitionAdded, domain.TypePartitionRemoved,
		domain.TypeDevicePoolConfigured, domain.TypeDevicePoolRemoved, domain.TypeDefaultPoolSet:
		a.dial(w, s)
	}
}

// groupMismatch describes what is wrong with the autoregistration group,
// or returns "": the first CallManager of the group must be the one with
// autoregistration enabled, and while a window is open a group must be
// flagged and its first CallManager must accept autoregistration.
func (a *auditor) groupMismatch(enabled []string, w *windowFacts) string {
	g := a.cl.AutoregGroup
	if g == "" {
		if w != nil {
			return "no CallManager group is flagged as the Auto-registration CallManager Group while window " + w.id + " is open"
		}
		return ""
	}
	members := a.cl.Groups[g]
	if len(members) == 0 {
		if w != nil || len(enabled) > 0 {
			return "the autoregistration group " + g + " has no CallManager"
		}
		return ""
	}
	first := members[0]
	if slices.Contains(enabled, first) {
		return "" // others enabled too: multiple-autoreg-callmanagers says so
	}
	if len(enabled) == 0 {
		if w != nil {
			return "CallManager " + first + ", first in the autoregistration group " + g +
				", has autoregistration disabled while window " + w.id + " is open"
		}
		return "" // autoregistration turned off on its CallManager: as the guide says
	}
	return "autoregistration is enabled on " + strings.Join(enabled, ", ") + " but " + first +
		" is first in the autoregistration group " + g
}

// dial tests the policy's external numbers from the calling search space
// autoregistered phones get (the autoregistration CSS, else their device
// pool's), with the registrar's own dial rule (domain.MayDial: the closest
// match among the route patterns of the space's partitions; a blocking
// pattern refuses). Directory numbers are internal by definition and are
// left out.
func (a *auditor) dial(w *windowFacts, s stamp) {
	cp := a.pol.Checks.AutoregCSSReachesExternal
	if !cp.Enabled {
		return
	}
	dev := domain.DeviceState{Name: "an autoregistered phone", Exists: true, CSS: a.cl.AutoregCSS, Pool: a.cl.DefaultPool}
	pool := ""
	if a.cl.AutoregCSS == "" {
		pool = a.cl.DefaultPool
	}
	for _, num := range cp.ExternalNumbers {
		if slices.Contains(cp.EmergencyNumbers, num) {
			continue
		}
		res, err := domain.MayDial(a.cl, a.noDNs, dev, num)
		if err != nil || !res.Allowed {
			continue
		}
		key := res.CSS + "\x00" + num + "\x00" + res.Match + "\x00" + res.Partition
		if w.reachSeen[key] {
			continue
		}
		w.reachSeen[key] = true
		w.reaches = append(w.reaches, reach{stamp: s, CSS: res.CSS, Pool: pool, Number: num, Pattern: res.Match, Partition: res.Partition})
	}
}

func (a *auditor) autoregistered(p domain.DeviceAutoregistered, s stamp) {
	a.regs++
	if a.regFirst.Pos == 0 {
		a.regFirst = s
	}
	a.regLast = s
	if n := len(a.regWindows); n == 0 || a.regWindows[n-1] != p.Window {
		if !slices.Contains(a.regWindows, p.Window) {
			a.regWindows = append(a.regWindows, p.Window)
		}
	}
	if p.Load != "" {
		return
	}
	k := loadKey{Model: p.Model, Protocol: p.Protocol}
	m := a.loads[k]
	if m == nil {
		m = &loadMiss{key: k}
		a.loads[k] = m
	}
	m.devices.add(a.limit, p.Device)
	m.stamps.add(a.limit, s)
	if n := len(m.windows); n == 0 || m.windows[n-1] != p.Window {
		if !slices.Contains(m.windows, p.Window) {
			m.windows = append(m.windows, p.Window)
		}
	}
}

func (a *auditor) rejected(p domain.RegistrationRejected, s stamp) {
	if !a.rogueReason[p.Reason] {
		return
	}
	r := a.rogues[p.Device]
	if r == nil {
		r = &rogueDevice{name: p.Device, first: s, reasons: map[domain.RejectReason]int{}}
		a.rogues[p.Device] = r
	}
	r.count++
	r.last = s
	r.positions.add(a.limit, s.Pos)
	r.reasons[p.Reason]++
	if p.Address != "" {
		r.address = p.Address
	}
	if p.Model != "" {
		r.model = p.Model
	}
}
