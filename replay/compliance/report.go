package compliance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/anchor"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
	"github.com/autoreg/autoreg/replay"
)

// SchemaVersion is the version of the JSON report's schema
// (docs/compliance.md). Fields may be added within a version; none is
// removed or changes meaning.
const SchemaVersion = 1

// Report is a compliance report: the JSON schema of `compliance report
// --format json` (docs/compliance.md).
type Report struct {
	SchemaVersion int         `json:"schema_version"`
	GeneratedAt   replay.Time `json:"generated_at"`
	Period        Period      `json:"period"`
	// Store is the store's location as given.
	Store string `json:"store"`
	// Policy is the policy file, or "defaults".
	Policy string `json:"policy"`
	// LastPosition is the global position of the last event read (the
	// report covers events 1 to LastPosition).
	LastPosition uint64 `json:"last_position"`
	// Anchor is what the signed checkpoints given (--checkpoints,
	// --public-key) covered of the store, which agrees with all of them;
	// null when none were given or the store disagrees (see the finding
	// history-not-anchored).
	Anchor  *replay.AnchorSummary `json:"anchor"`
	Summary Summary               `json:"summary"`
	// Findings are sorted by severity (critical first), then check (in the
	// order of Checks), then time.
	Findings []Finding `json:"findings"`
	// Windows are the windows open at some instant of the period, in the
	// order they were opened.
	Windows []Window `json:"windows"`

	// For the HTML timeline: each window's registrations.
	regs map[string][]projections.Registration
	pol  *Policy
}

// Period is the interval the report covers (bounds included).
type Period struct {
	// Since is --since, else the time of the store's first event (null
	// for an empty store).
	Since replay.Time `json:"since"`
	// Until is --until, else when the report was made.
	Until replay.Time `json:"until"`
}

// Summary counts the findings by severity.
type Summary struct {
	Critical int `json:"critical"`
	Warning  int `json:"warning"`
	Info     int `json:"info"`
}

// Finding is one breach of the policy.
type Finding struct {
	Check    CheckID  `json:"check"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Message says what was found, for people, with the totals.
	Message  string   `json:"message"`
	Evidence Evidence `json:"evidence"`
}

// Evidence points at what a finding is about. Each list holds at most the
// policy's evidence_limit items; none is ever null.
type Evidence struct {
	// Positions are global positions of the events that show it.
	Positions []uint64 `json:"positions"`
	Devices   []string `json:"devices"`
	Windows   []string `json:"windows"`
	// Times are the instants that matter (see each check), RFC 3339 UTC.
	Times []replay.Time `json:"times"`
}

// Window is one window of the period, as the checks saw it.
type Window struct {
	ID               string      `json:"id"`
	OpenedAt         replay.Time `json:"opened_at"`
	OpenedBy         string      `json:"opened_by"`
	OpenReason       string      `json:"open_reason"`
	OpenPosition     uint64      `json:"open_position"`
	Until            replay.Time `json:"until"`             // the end of its maximum duration; null: none
	MaxRegistrations int         `json:"max_registrations"` // 0: no limit
	// ClosedAt is null when no close was recorded by the end of the period.
	ClosedAt      replay.Time `json:"closed_at"`
	ClosedBy      string      `json:"closed_by"`
	CloseCause    string      `json:"close_cause"`
	ClosePosition uint64      `json:"close_position"`
	// End is when the window stopped accepting phones, as far as the
	// period goes: its close, else the end of its maximum duration if that
	// came first, else the end of the period.
	End             replay.Time `json:"end"`
	OpenAtEnd       bool        `json:"open_at_end"`
	DurationSeconds int64       `json:"duration_seconds"`
	// Protocol is the Auto Registration Phone Protocol when it opened.
	Protocol        domain.Protocol               `json:"protocol"`
	ProtocolChanges []replay.ProtocolChangeReport `json:"protocol_changes"`
	Registrations   int                           `json:"registrations"`
	// RegistrationsByProtocol counts the autoregistrations by protocol.
	RegistrationsByProtocol map[domain.Protocol]int `json:"registrations_by_protocol"`
	Rejected                int                     `json:"rejected"`
	// AutoregCSS is the autoregistration calling search space when it opened.
	AutoregCSS string `json:"autoreg_css"`
	// Checks are the checks with a finding whose evidence names the window.
	Checks []CheckID `json:"checks"`
}

// Options say what to report on.
type Options struct {
	// Since and Until bound the period (zero: no bound; Until then is Now).
	Since, Until time.Time
	// Now is when the report is made (default time.Now).
	Now func() time.Time
	// Policy (nil: the defaults).
	Policy *Policy
	// Store is the store's location, for the report.
	Store string
	// Anchor is what the signed checkpoints say of the store (nil: the
	// report says nothing of them).
	Anchor *Anchor
}

// Anchor is the outcome of checking the store against signed checkpoints
// (CheckAnchor).
type Anchor struct {
	// Verified is what they covered, when the store agrees with all of them.
	Verified *replay.AnchorSummary
	// Failure says how the store or the log disagrees ("": it does not).
	Failure string
	// Position is where the store disagrees (0: unknown).
	Position uint64
}

var errFirst = errors.New("first event read")

// Build reads the store (read-only, once, up to Until) and runs the checks.
func Build(ctx context.Context, env replay.Env, opt Options) (*Report, error) {
	pol := opt.Policy
	if pol == nil {
		pol = DefaultPolicy()
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	generated := now().UTC().Round(0)
	end := opt.Until
	if end.IsZero() {
		end = generated
	}
	since := opt.Since
	if since.IsZero() {
		err := env.Store.ReadAll(ctx, 1, func(rec eventstore.RecordedEvent) error {
			since = rec.RecordedAt.UTC()
			return errFirst
		})
		if err != nil && !errors.Is(err, errFirst) {
			return nil, fmt.Errorf("reading the store: %w", err)
		}
	}

	ws := projections.NewWindows()
	a := newAuditor(pol, opt.Since)
	ps := []projections.Projection{ws, a}
	var devs *projections.Devices
	if pol.Enabled(NotReconfigured) || pol.Enabled(SIPUnauthenticated) {
		devs = projections.NewDevices()
		ps = append(ps, poolDevices{devs})
	}
	// Without --until the period ends now: events recorded later (a clock
	// ahead, a generated history) are not part of it.
	last, err := env.Fold(ctx, end, ps...)
	if err != nil {
		return nil, fmt.Errorf("reading the store: %w", err)
	}

	policyName := pol.Source
	if policyName == "" {
		policyName = "defaults"
	}
	r := &Report{SchemaVersion: SchemaVersion, GeneratedAt: replay.Time(generated),
		Period: Period{Since: replay.Time(since), Until: replay.Time(end)},
		Store:  opt.Store, Policy: policyName, LastPosition: last,
		Findings: []Finding{}, Windows: []Window{},
		regs: map[string][]projections.Registration{}, pol: pol}
	c := &checker{pol: pol, a: a, since: opt.Since, end: end, r: r}
	all := ws.List()
	for _, w := range ws.Between(opt.Since, end) {
		c.window(w)
	}
	c.windows = all
	c.period()
	c.outsideGroup()
	c.anchor(opt.Anchor)
	if devs != nil {
		c.notReconfigured(devs)
		c.sipUnauthenticated(devs)
	}
	c.finish()
	return r, nil
}

// anchor states whether the history is anchored: nothing when the report
// was not asked, a finding when no checkpoints were given, a critical one
// when the store disagrees with them.
func (c *checker) anchor(a *Anchor) {
	switch {
	case a == nil:
	case a.Failure != "":
		ev := Evidence{Positions: []uint64{}, Devices: []string{}, Windows: []string{}, Times: []replay.Time{}}
		if a.Position > 0 {
			ev.Positions = append(ev.Positions, a.Position)
		}
		c.add(HistoryNotAnchored, Critical, "the store disagrees with its signed checkpoints: "+a.Failure, ev)
	case a.Verified == nil && c.r.LastPosition == 0:
		// An empty history: nothing to anchor.
	case a.Verified == nil:
		c.add(HistoryNotAnchored, "", "no checkpoints: history is not anchored: the hash chain proves integrity, not authenticity (whoever can write the store can edit an event and recompute the chain, or cut the last events); sign checkpoints with registrar serve --signing-key --checkpoints and give them to the report with --checkpoints and --public-key",
			Evidence{Positions: []uint64{}, Devices: []string{}, Windows: []string{}, Times: []replay.Time{}})
	default:
		c.r.Anchor = a.Verified
	}
}

// CheckAnchor checks the store against the checkpoints of logFile, signed
// by one of keyFiles (the whole hash chain, then each checkpoint). A key
// that cannot be read, or a log that cannot, is an error; a log that does
// not verify, or a store that disagrees with it, is an Anchor with a
// Failure.
func CheckAnchor(ctx context.Context, env replay.Env, logFile string, keyFiles []string) (*Anchor, error) {
	anchors, err := replay.LoadAnchors(logFile, keyFiles)
	var verr *replay.VerifyError
	if errors.As(err, &verr) {
		return &Anchor{Failure: strings.Join(verr.Problems, "; ")}, nil
	}
	if err != nil {
		return nil, err
	}
	_, cov, err := anchor.CheckStore(ctx, env.Store, anchors)
	switch {
	case errors.Is(err, anchor.ErrMismatch), errors.Is(err, eventstore.ErrCorrupt):
		return &Anchor{Failure: err.Error()}, nil
	case err != nil:
		return nil, fmt.Errorf("checking the checkpoints: %w", err)
	}
	return &Anchor{Verified: replay.NewAnchorSummary(logFile, cov)}, nil
}

// checker turns the read models into findings.
type checker struct {
	pol     *Policy
	a       *auditor
	since   time.Time
	end     time.Time
	r       *Report
	windows []projections.Window // every window, for the episodes
}

func (c *checker) limit() int { return c.pol.EvidenceLimit }

// add records a finding if its check is enabled, at the check's severity
// (or sev when not empty).
func (c *checker) add(id CheckID, sev Severity, msg string, ev Evidence) {
	if !c.pol.Enabled(id) {
		return
	}
	if sev == "" {
		sev = c.pol.Severity(id)
	}
	chk, _ := CheckByID(id)
	n := c.limit()
	ev.Positions = capList(ev.Positions, n)
	ev.Devices = capList(ev.Devices, n)
	ev.Windows = capList(ev.Windows, n)
	ev.Times = capList(ev.Times, n)
	c.r.Findings = append(c.r.Findings, Finding{Check: id, Severity: sev, Title: chk.Title, Message: msg, Evidence: ev})
}

func capList[T any](s []T, n int) []T {
	if s == nil {
		return []T{}
	}
	if n > 0 && len(s) > n {
		return s[:n:n]
	}
	return s
}

// windowEnd is when w stopped accepting phones within the period, and
// whether it was still open at the end.
func (c *checker) windowEnd(w projections.Window) (time.Time, bool) {
	if !w.Open {
		return w.ClosedAt, false
	}
	if !w.Until.IsZero() && !w.Until.After(c.end) {
		return w.Until, false // its time was up; the registrar's timer records the close
	}
	return c.end, true
}

// window runs the checks about one window of the period.
func (c *checker) window(w projections.Window) {
	end, openAtEnd := c.windowEnd(w)
	dur := max(end.Sub(w.OpenedAt), 0)
	facts := c.a.wins[w.ID]
	rep := Window{ID: w.ID, OpenedAt: replay.Time(w.OpenedAt), OpenedBy: w.OpenedBy, OpenReason: w.OpenReason,
		OpenPosition: w.OpenPosition, Until: replay.Time(w.Until), MaxRegistrations: w.MaxRegistrations,
		End: replay.Time(end), OpenAtEnd: openAtEnd, DurationSeconds: int64(dur / time.Second),
		Protocol: w.Protocol, ProtocolChanges: []replay.ProtocolChangeReport{}, Registrations: len(w.Registrations),
		RegistrationsByProtocol: map[domain.Protocol]int{}, Rejected: w.Rejected, Checks: []CheckID{}}
	if !w.Open {
		rep.ClosedAt, rep.ClosedBy, rep.CloseCause, rep.ClosePosition = replay.Time(w.ClosedAt), w.ClosedBy, string(w.CloseCause), w.ClosePosition
	}
	if facts != nil {
		rep.AutoregCSS = facts.css
	}
	for _, pc := range protocolChanges(w) {
		rep.ProtocolChanges = append(rep.ProtocolChanges, replay.ProtocolChangeReport{At: replay.Time(pc.At), Protocol: pc.Protocol, By: pc.By})
	}
	for _, g := range w.Registrations {
		rep.RegistrationsByProtocol[g.Protocol]++
	}
	c.r.Windows = append(c.r.Windows, rep)
	c.r.regs[w.ID] = w.Registrations

	positions := func(extra ...uint64) []uint64 {
		out := []uint64{w.OpenPosition}
		if !w.Open {
			out = append(out, w.ClosePosition)
		}
		return append(out, extra...)
	}
	ids := []string{w.ID}
	opened := fmt.Sprintf("window %s, opened %s by %s (%q)", w.ID, when(w.OpenedAt), w.OpenedBy, w.OpenReason)

	// window-too-long
	if maxDur := c.pol.Checks.WindowTooLong.MaxDuration; dur > maxDur {
		how := "closed " + when(end)
		switch {
		case openAtEnd:
			how = "still open at the end of the period"
		case w.Open:
			how = "its maximum duration ended " + when(end)
		}
		c.add(WindowTooLong, "", fmt.Sprintf("%s was open %s (%s), more than the policy's %s",
			capital(opened), span(dur), how, span(maxDur)),
			Evidence{Positions: positions(), Windows: ids, Times: []replay.Time{replay.Time(w.OpenedAt), replay.Time(end)}})
	}

	// too-many-phones, per window
	if lim := c.pol.Checks.TooManyPhones.PerWindow; lim > 0 && len(w.Registrations) >= lim {
		var ev Evidence
		ev.Windows = ids
		for _, g := range w.Registrations {
			ev.Devices = append(ev.Devices, g.Device)
			ev.Positions = append(ev.Positions, g.Position)
		}
		ev.Times = []replay.Time{replay.Time(w.Registrations[0].At), replay.Time(w.Registrations[len(w.Registrations)-1].At)}
		c.add(TooManyPhones, "", fmt.Sprintf("%d phones autoregistered in %s: the policy allows fewer than %d a window (Cisco recommends fewer than 100)",
			len(w.Registrations), opened, lim), ev)
	}

	// no-autoreg-css
	if facts != nil && len(facts.noCSS) > 0 {
		ev := Evidence{Windows: ids}
		for _, s := range facts.noCSS {
			ev.Positions = append(ev.Positions, s.Pos)
			ev.Times = append(ev.Times, replay.Time(s.At))
		}
		what := "was opened while no autoregistration calling search space was set"
		if facts.css != "" {
			what = "lost its autoregistration calling search space while open"
		}
		c.add(NoAutoregCSS, "", fmt.Sprintf("%s %s: its phones got the calling search space of their device pool",
			capital(opened), what), ev)
	}

	// autoreg-css-reaches-external
	if facts != nil && len(facts.reaches) > 0 {
		ev := Evidence{Windows: ids}
		var parts []string
		// Numbers that matched the same pattern at the same time are told together.
		for i := 0; i < len(facts.reaches); {
			rc := facts.reaches[i]
			ev.Positions = append(ev.Positions, rc.Pos)
			ev.Times = append(ev.Times, replay.Time(rc.At))
			nums := []string{rc.Number}
			j := i + 1
			for ; j < len(facts.reaches); j++ {
				n := facts.reaches[j]
				if n.Pos != rc.Pos || n.CSS != rc.CSS || n.Pool != rc.Pool || n.Pattern != rc.Pattern || n.Partition != rc.Partition {
					break
				}
				nums = append(nums, n.Number)
			}
			i = j
			from := "calling search space " + rc.CSS
			if rc.Pool != "" {
				from += " (of device pool " + rc.Pool + ")"
			}
			verb := "matches"
			if len(nums) > 1 {
				verb = "match"
			}
			parts = append(parts, fmt.Sprintf("%s %s %s in partition %s of %s (%s)", andList(nums), verb, rc.Pattern, rc.Partition, from, when(rc.At)))
		}
		if n := len(ev.Positions); n > 1 {
			// the same event may have opened several matches
			ev.Positions, ev.Times = dedupe(ev.Positions, ev.Times)
		}
		c.add(AutoregCSSReachesExternal, "", fmt.Sprintf("Phones autoregistered in %s could dial external numbers: %s",
			opened, strings.Join(parts, "; ")), ev)
	}

	// business-hours
	if c.pol.inBusinessHours(w.OpenedAt) {
		bh := c.pol.Checks.BusinessHours
		lt := w.OpenedAt.In(c.pol.Location())
		c.add(BusinessHours, "", fmt.Sprintf("%s was opened %s %s, inside business hours (%s %s-%s %s)",
			capital("window "+w.ID), lt.Weekday(), lt.Format("2006-01-02 15:04 MST"),
			strings.Join(bh.Days, " "), bh.Start, bh.End, c.pol.Location()),
			Evidence{Positions: []uint64{w.OpenPosition}, Windows: ids, Times: []replay.Time{replay.Time(w.OpenedAt)}})
	}

	c.mixedBatch(w, opened)

	// left-open
	if openAtEnd {
		msg := fmt.Sprintf("%s is still open at the end of the period (%s)", capital(opened), when(c.end))
		if !w.Until.IsZero() {
			msg += fmt.Sprintf("; its maximum duration ends %s", when(w.Until))
		} else {
			msg += "; it has no maximum duration"
		}
		c.add(LeftOpen, "", msg, Evidence{Positions: []uint64{w.OpenPosition}, Windows: ids,
			Times: []replay.Time{replay.Time(w.OpenedAt), replay.Time(c.end)}})
	}
}

// mixedBatch: in one window, dual-protocol phones autoregistered over both
// protocols, or the protocol parameter changed while the window was open.
func (c *checker) mixedBatch(w projections.Window, opened string) {
	var dual [2][]projections.Registration // 0: SCCP, 1: SIP
	for _, g := range w.Registrations {
		m, ok := domain.LookupModel(g.Model)
		if !ok || !m.DualProtocol() {
			continue
		}
		i := 0
		if g.Protocol == domain.SIP {
			i = 1
		}
		dual[i] = append(dual[i], g)
	}
	mixed := len(dual[0]) > 0 && len(dual[1]) > 0
	changes := protocolChanges(w)
	if !mixed && len(changes) == 0 {
		return
	}
	var parts []string
	var stamps []stamp
	var devices []string
	if len(changes) > 0 {
		var sw []string
		for _, pc := range changes {
			sw = append(sw, fmt.Sprintf("to %s by %s %s", pc.Protocol, pc.By, when(pc.At)))
			stamps = append(stamps, stamp{Pos: pc.Position, At: pc.At})
		}
		parts = append(parts, "the Auto Registration Phone Protocol was changed while it was open ("+strings.Join(sw, ", ")+")")
	}
	if mixed {
		// The batch's protocol is the one most dual-protocol phones used
		// (the window's opening protocol on a tie); the others are the
		// phones of the other batch.
		batch := 0
		if len(dual[1]) > len(dual[0]) || (len(dual[1]) == len(dual[0]) && w.Protocol == domain.SIP) {
			batch = 1
		}
		names := [2]domain.Protocol{domain.SCCP, domain.SIP}
		other := dual[1-batch]
		for _, g := range other {
			devices = append(devices, g.Device)
			stamps = append(stamps, stamp{Pos: g.Position, At: g.At})
		}
		parts = append(parts, fmt.Sprintf("dual-protocol phones autoregistered over both protocols, %d over %s and %d over %s: those over %s should have been a batch of their own, with the parameter at %s",
			len(dual[batch]), names[batch], len(other), names[1-batch], names[1-batch], names[1-batch]))
	}
	slices.SortFunc(stamps, func(x, y stamp) int { return cmp.Compare(x.Pos, y.Pos) })
	ev := Evidence{Windows: []string{w.ID}, Devices: devices}
	for _, s := range stamps {
		ev.Positions = append(ev.Positions, s.Pos)
		ev.Times = append(ev.Times, replay.Time(s.At))
	}
	c.add(ProtocolMixedBatch, "", fmt.Sprintf("In %s (protocol %s when opened): %s", opened, w.Protocol, strings.Join(parts, "; ")), ev)
}

// protocolChanges are the changes of the protocol parameter made while w
// was open: those recorded after its time was up (its close not recorded
// yet) were not.
func protocolChanges(w projections.Window) []projections.ProtocolChange {
	return slices.DeleteFunc(slices.Clone(w.ProtocolChanges), func(pc projections.ProtocolChange) bool {
		return !w.Until.IsZero() && !pc.At.Before(w.Until)
	})
}

// windowsBetween lists the windows open at some instant of [from, to]
// (to zero: still going).
func (c *checker) windowsBetween(from, to time.Time) []string {
	var out []string
	for _, w := range c.windows {
		end, _ := c.windowEnd(w)
		if (to.IsZero() || !w.OpenedAt.After(to)) && !end.Before(from) {
			out = append(out, w.ID)
		}
	}
	return out
}

// period runs the checks about the whole period.
func (c *checker) period() {
	a := c.a
	// too-many-phones over the period
	if lim := c.pol.Checks.TooManyPhones.PerPeriod; lim > 0 && a.regs >= lim {
		c.add(TooManyPhones, "", fmt.Sprintf("%d phones autoregistered in the period, in %d windows: the policy allows fewer than %d a period (Cisco recommends fewer than 100)",
			a.regs, len(a.regWindows), lim),
			Evidence{Positions: []uint64{a.regFirst.Pos, a.regLast.Pos}, Windows: a.regWindows,
				Times: []replay.Time{replay.Time(a.regFirst.At), replay.Time(a.regLast.At)}})
	}

	// configuration episodes
	for _, t := range []struct {
		id CheckID
		tr *tracker
		fn func(episode) string
	}{
		{MultipleAutoregCallManagers, &a.multi, func(e episode) string {
			return "autoregistration was enabled on " + e.Desc + " at the same time"
		}},
		{AutoregGroupMismatch, &a.mismatch, func(e episode) string { return e.Desc }},
	} {
		for _, e := range t.tr.episodes() {
			if !e.End.At.IsZero() && e.End.At.Before(c.since) {
				continue
			}
			ev := Evidence{Positions: []uint64{e.Start.Pos}, Times: []replay.Time{replay.Time(e.Start.At)}}
			until := "until the end of the period"
			if !e.End.At.IsZero() {
				ev.Positions = append(ev.Positions, e.End.Pos)
				ev.Times = append(ev.Times, replay.Time(e.End.At))
				until = "until " + when(e.End.At)
			}
			ev.Windows = c.windowsBetween(e.Start.At, e.End.At)
			msg := capital(t.fn(e)) + ", from " + when(e.Start.At) + " " + until
			if n := len(ev.Windows); n > 0 {
				msg += fmt.Sprintf(" (%d windows open meanwhile)", n)
			}
			c.add(t.id, "", msg, ev)
		}
	}

	// missing-device-default-load
	keys := make([]loadKey, 0, len(a.loads))
	for k := range a.loads {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y loadKey) int {
		return cmp.Or(cmp.Compare(x.Model, y.Model), cmp.Compare(x.Protocol, y.Protocol))
	})
	for _, k := range keys {
		m := a.loads[k]
		ev := Evidence{Devices: m.devices.items, Windows: m.windows}
		for _, s := range m.stamps.items {
			ev.Positions = append(ev.Positions, s.Pos)
			ev.Times = append(ev.Times, replay.Time(s.At))
		}
		c.add(MissingDeviceDefaultLoad, "", fmt.Sprintf("%d %s phones autoregistered over %s while Device Defaults named no %s firmware load for model %s",
			m.devices.n, k.Model, k.Protocol, k.Protocol, k.Model), ev)
	}

	// rogue-attempts
	rp := c.pol.Checks.RogueAttempts
	rogues := make([]*rogueDevice, 0, len(a.rogues))
	for _, r := range a.rogues {
		rogues = append(rogues, r)
	}
	slices.SortFunc(rogues, func(x, y *rogueDevice) int {
		return cmp.Or(cmp.Compare(y.count, x.count), cmp.Compare(x.name, y.name))
	})
	var few []*rogueDevice
	for _, r := range rogues {
		if r.count <= rp.Threshold {
			few = append(few, r)
			continue
		}
		sev := rp.EscalatedSeverity
		if sev.Rank() < c.pol.Severity(RogueAttempts).Rank() {
			sev = c.pol.Severity(RogueAttempts)
		}
		what := ""
		if r.model != "" {
			what = " (model " + r.model + ")"
		}
		if r.address != "" {
			what += " from " + r.address
		}
		c.add(RogueAttempts, sev, fmt.Sprintf("Unknown device %s%s was refused %d times (%s) from %s to %s, more than the policy's %d",
			r.name, what, r.count, reasons(r.reasons), when(r.first.At), when(r.last.At), rp.Threshold),
			Evidence{Positions: r.positions.items, Devices: []string{r.name},
				Times: []replay.Time{replay.Time(r.first.At), replay.Time(r.last.At)}})
	}
	if len(few) > 0 {
		var ev Evidence
		total := 0
		first, last := few[0].first, few[0].last
		for _, r := range few {
			total += r.count
			ev.Devices = append(ev.Devices, r.name)
			ev.Positions = append(ev.Positions, r.first.Pos)
			if r.first.At.Before(first.At) {
				first = r.first
			}
			if r.last.At.After(last.At) {
				last = r.last
			}
		}
		slices.Sort(ev.Positions)
		ev.Times = []replay.Time{replay.Time(first.At), replay.Time(last.At)}
		c.add(RogueAttempts, "", fmt.Sprintf("%d unknown devices were refused %d times in all (%d at most each; reasons: %s) from %s to %s",
			len(few), total, rp.Threshold, strings.Join(rp.Reasons, ", "), when(first.At), when(last.At)), ev)
	}
}

// outsideGroup: the phones registered in the period with a CallManager
// outside their device pool's group, one finding each.
func (c *checker) outsideGroup() {
	outs := make([]*outsideDevice, 0, len(c.a.outside))
	for _, o := range c.a.outside {
		outs = append(outs, o)
	}
	slices.SortFunc(outs, func(x, y *outsideDevice) int { return cmp.Compare(x.name, y.name) })
	for _, o := range outs {
		c.add(OutsideGroup, "", fmt.Sprintf("%s (device pool %s, group %s) registered %d times with CallManager %s, outside its group, from %s to %s",
			o.name, o.pool, o.group, o.count, strings.Join(o.nodes, ", "), when(o.first.At), when(o.last.At)),
			Evidence{Positions: o.positions.items, Devices: []string{o.name},
				Times: []replay.Time{replay.Time(o.first.At), replay.Time(o.last.At)}})
	}
}

// notReconfigured: autoregistered devices that exist at the end of the
// period in a holding pool, autoregistered more than the policy's days
// before it (checklist step 8).
func (c *checker) notReconfigured(devs *projections.Devices) {
	np := c.pol.Checks.NotReconfigured
	holding := func(pool string) (bool, string) {
		if len(np.Pools) > 0 {
			return slices.Contains(np.Pools, pool), "a holding pool of the policy"
		}
		if pool != "" && pool == c.a.cl.DefaultPool {
			return true, "the cluster default pool"
		}
		if strings.EqualFold(pool, "rogue") {
			return true, "the rogue pool"
		}
		return false, ""
	}
	age := time.Duration(np.Days) * 24 * time.Hour
	type group struct {
		pool, why string
		devs      []projections.Device
	}
	byPool := map[string]*group{}
	for _, d := range devs.List() {
		if !d.Autoregistered {
			continue
		}
		ok, why := holding(d.Pool)
		if !ok || c.end.Sub(d.AutoregisteredAt) <= age {
			continue
		}
		g := byPool[d.Pool]
		if g == nil {
			g = &group{pool: d.Pool, why: why}
			byPool[d.Pool] = g
		}
		g.devs = append(g.devs, d)
	}
	pools := make([]string, 0, len(byPool))
	for p := range byPool {
		pools = append(pools, p)
	}
	slices.Sort(pools)
	for _, p := range pools {
		g := byPool[p]
		slices.SortFunc(g.devs, func(x, y projections.Device) int {
			return cmp.Or(x.AutoregisteredAt.Compare(y.AutoregisteredAt), cmp.Compare(x.Name, y.Name))
		})
		var ev Evidence
		for _, d := range g.devs {
			ev.Devices = append(ev.Devices, d.Name)
			ev.Positions = append(ev.Positions, d.Position)
			ev.Times = append(ev.Times, replay.Time(d.AutoregisteredAt))
			if d.Window != "" && !slices.Contains(ev.Windows, d.Window) {
				ev.Windows = append(ev.Windows, d.Window)
			}
		}
		c.add(NotReconfigured, "", fmt.Sprintf("%d autoregistered devices are still in device pool %s (%s) at the end of the period, more than %d days after they autoregistered (the oldest %s)",
			len(g.devs), p, g.why, np.Days, when(g.devs[0].AutoregisteredAt)), ev)
	}
}

// sipUnauthenticated: the SIP devices that exist at the end of the period
// and register without digest authentication, one finding per device pool
// and cause (no credentials; the pool's profile is none).
func (c *checker) sipUnauthenticated(devs *projections.Devices) {
	type group struct {
		pool, why string
		devs      []projections.Device
	}
	var groups []*group
	find := func(pool, why string) *group {
		for _, g := range groups {
			if g.pool == pool && g.why == why {
				return g
			}
		}
		g := &group{pool: pool, why: why}
		groups = append(groups, g)
		return g
	}
	for _, d := range devs.List() { // sorted by name
		if d.Protocol != domain.SIP {
			continue
		}
		switch {
		case c.a.cl.Pools[d.Pool].SIPAuth == domain.AuthNone:
			g := find(d.Pool, "their device pool's SIP authentication profile is none")
			g.devs = append(g.devs, d)
		case d.CredentialSalt == "":
			g := find(d.Pool, "they hold no digest credentials")
			g.devs = append(g.devs, d)
		}
	}
	slices.SortFunc(groups, func(x, y *group) int { return cmp.Or(cmp.Compare(x.pool, y.pool), cmp.Compare(x.why, y.why)) })
	for _, g := range groups {
		var ev Evidence
		for _, d := range g.devs {
			ev.Devices = append(ev.Devices, d.Name)
			ev.Positions = append(ev.Positions, d.Position)
		}
		c.add(SIPUnauthenticated, "", fmt.Sprintf("%d SIP devices of device pool %s register without digest authentication at the end of the period: %s (anyone who knows their MAC may move or unregister them)",
			len(g.devs), g.pool, g.why), ev)
	}
}

// finish sorts the findings, counts them and marks the windows.
func (c *checker) finish() {
	r := c.r
	slices.SortStableFunc(r.Findings, func(x, y Finding) int {
		return cmp.Or(cmp.Compare(y.Severity.Rank(), x.Severity.Rank()),
			cmp.Compare(checkOrder(x.Check), checkOrder(y.Check)),
			compareTimes(x.Evidence.Times, y.Evidence.Times))
	})
	r.Summary = Summary{}
	idx := map[string]int{}
	for i, w := range r.Windows {
		idx[w.ID] = i
	}
	for _, f := range r.Findings {
		switch f.Severity {
		case Critical:
			r.Summary.Critical++
		case Warning:
			r.Summary.Warning++
		case Info:
			r.Summary.Info++
		}
		for _, id := range f.Evidence.Windows {
			if i, ok := idx[id]; ok && !slices.Contains(r.Windows[i].Checks, f.Check) {
				r.Windows[i].Checks = append(r.Windows[i].Checks, f.Check)
			}
		}
	}
}

func compareTimes(a, b []replay.Time) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	return time.Time(a[0]).Compare(time.Time(b[0]))
}

// Reached counts the findings at or above a severity.
func (r *Report) Reached(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity.Rank() >= s.Rank() {
			n++
		}
	}
	return n
}

// ---- wording ---------------------------------------------------------------

// when formats an instant for messages.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// span formats a duration for people: 3d4h, 2h5m, 45m, 30s.
func span(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	s := (d - m*time.Minute) / time.Second
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 && days == 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func reasons(m map[domain.RejectReason]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[domain.RejectReason(k)])
	}
	return strings.Join(parts, ", ")
}

// poolDevices is the Devices read model fed only the events that create,
// reconfigure or delete a device: enough for what not-reconfigured reads
// (existence, pool, autoregistration time and window) and sip-unauthenticated
// (protocol, credentials), without decoding
// the registrations and unregistrations that make most of a log. The
// devices' registration status and addresses are left stale.
type poolDevices struct{ *projections.Devices }

// Wants implements projections.Selective.
func (poolDevices) Wants(t string) bool {
	switch t {
	case domain.TypeDeviceAutoregistered, domain.TypeDeviceProvisioned, domain.TypeDeviceReconfigured, domain.TypeDeviceDeleted,
		domain.TypeDeviceCredentialsIssued, domain.TypeDeviceCredentialsDisabled:
		return true
	}
	return false
}

// andList joins words as people do: "a", "a and b", "a, b and c".
func andList(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// dedupe drops the repeated positions (and their times) of a sorted list.
func dedupe(ps []uint64, ts []replay.Time) ([]uint64, []replay.Time) {
	var op []uint64
	var ot []replay.Time
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		op, ot = append(op, p), append(ot, ts[i])
	}
	return op, ot
}
