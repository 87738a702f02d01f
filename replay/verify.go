package replay

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/anchor"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// VerifyError is the first thing found wrong with a store: the position of
// the first bad event (0 when the store as a whole is refused) and what is
// wrong with it.
type VerifyError struct {
	Position uint64
	Stream   string // "" when unknown (a missing event)
	// Where, when not "", names what failed instead of a position: the
	// checkpoint log (a line whose signature does not verify).
	Where    string
	Problems []string
}

func (e *VerifyError) Error() string {
	where := "the store"
	if e.Where != "" {
		where = e.Where
	} else if e.Position > 0 {
		where = fmt.Sprintf("position %d", e.Position)
	}
	if e.Stream != "" {
		where += fmt.Sprintf(" (stream %s)", e.Stream)
	}
	return where + ": " + strings.Join(e.Problems, "; ")
}

// VerifySummary describes a store that passed verification.
type VerifySummary struct {
	Events            uint64 `json:"events"`
	Streams           int    `json:"streams"`
	Windows           int    `json:"windows"`
	Devices           int    `json:"devices"` // devices that exist at the end
	Autoregistrations int    `json:"autoregistrations"`
	First             Time   `json:"first"` // when the first event was recorded
	Last              Time   `json:"last"`  // when the last event was recorded
	Head              string `json:"head"`  // the last event's hash, hex
	// Anchor says what signed checkpoints covered (null: none were given,
	// and the chain proves integrity only, not authenticity).
	Anchor  *AnchorSummary `json:"anchor"`
	Elapsed time.Duration  `json:"-"`
}

// AnchorSummary is what the checkpoints of a log covered of a store that
// agrees with all of them.
type AnchorSummary struct {
	Log          string   `json:"log"`
	Checkpoints  int      `json:"checkpoints"`
	LastPosition uint64   `json:"last_position"` // the last checkpoint's
	LastTime     Time     `json:"last_time"`
	LastNode     string   `json:"last_node"`
	Keys         []string `json:"keys"` // ids of the keys that signed them
	// EventsAfter are the events after the last checkpoint: covered by
	// the hash chain's integrity only.
	EventsAfter uint64 `json:"events_after"`
}

// NewAnchorSummary turns a coverage into its summary.
func NewAnchorSummary(log string, c anchor.Coverage) *AnchorSummary {
	return &AnchorSummary{Log: log, Checkpoints: c.Checkpoints, LastPosition: c.LastPosition, LastTime: Time(c.LastTime),
		LastNode: c.LastNode, Keys: c.Keys, EventsAfter: c.After}
}

// Sentence says what the checkpoints covered, for people.
func (a *AnchorSummary) Sentence() string {
	return fmt.Sprintf("chain anchored by %d checkpoint(s) of %s, the last at position %s (%s), signed by key %s; events after %s (%s of them) are covered by integrity only",
		a.Checkpoints, a.Log, group(a.LastPosition), a.LastTime, strings.Join(a.Keys, ", "), group(a.LastPosition), group(a.EventsAfter))
}

// NotAnchored says what the hash chain alone proves.
const NotAnchored = "no checkpoints: the hash chain proves integrity, not authenticity: whoever can write the store can edit an event and recompute every hash after it, or cut the last events (verify with --checkpoints LOG --public-key KEY.pub)"

// Verify reads the whole store in order and checks that
//
//   - positions run from 1 without gaps and each stream's versions from 0;
//   - each event's hash is eventstore.ChainHash of the previous event's
//     hash and the event (an event edited, deleted, inserted or moved
//     breaks the chain there);
//   - every event of the project's streams decodes, in the stream its type
//     belongs to;
//   - folded through the aggregates (domain.EvolveCluster, EvolveDNRange,
//     EvolveDevice), the history keeps the registrar's rules: no DN held by
//     two devices; no autoregistration (dnrange.dn_assigned,
//     device.autoregistered) while no window is open, after the window's
//     time was up, beyond its limit, while security is mixed, or outside
//     the range; no window opened while another is open or while security
//     is mixed; no device autoregistered twice.
//
// It stops at the first bad event and returns a *VerifyError naming it.
// Other errors (reading the store, ctx) are returned as they are.
func Verify(ctx context.Context, env Env, r eventstore.AllReader) (VerifySummary, error) {
	return VerifyAnchored(ctx, env, r, nil)
}

// VerifyAnchored is Verify that also checks the store against signed
// checkpoints (verified beforehand: anchor.VerifyLogFile): the store's
// chain hash at each checkpoint's position must be the signed head (else
// the history up to it was rewritten), and the store must reach the last
// checkpoint (else its tail was cut). A disagreement is a *VerifyError
// naming the position and the checkpoint's line. anchors nil: Verify.
func VerifyAnchored(ctx context.Context, env Env, r eventstore.AllReader, anchors *anchor.Anchors) (VerifySummary, error) {
	started := time.Now()
	v := newVerifier()
	if anchors != nil {
		anchors.Reset()
		v.anchors = anchors
	}
	bar := env.progress(ctx, "verify")
	defer bar.Done()
	err := r.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error {
		bar.Update(e.Position)
		return v.check(e)
	})
	var verr *VerifyError
	switch {
	case errors.As(err, &verr):
		return VerifySummary{}, err
	case errors.Is(err, eventstore.ErrCorrupt):
		// The store itself refused to go on (a gap it saw): the problem is
		// at the next position.
		return VerifySummary{}, &VerifyError{Position: v.next, Problems: []string{err.Error()}}
	case err != nil:
		return VerifySummary{}, err
	}
	s := v.summary()
	if anchors != nil {
		if err := anchors.End(s.Events); err != nil {
			return VerifySummary{}, &VerifyError{Where: fmt.Sprintf("the store's end (position %d)", s.Events), Problems: []string{err.Error()}}
		}
		s.Anchor = NewAnchorSummary(anchors.File, anchors.Coverage(s.Events))
	}
	s.Elapsed = time.Since(started)
	return s, nil
}

type verifier struct {
	next     uint64
	prev     []byte
	versions map[string]uint64
	dec      *projections.Decoder
	cluster  domain.ClusterState
	rng      domain.DNRangeState
	devices  map[string]*domain.DeviceState
	autoregs int
	first    time.Time
	last     time.Time
	anchors  *anchor.Anchors // nil: no checkpoints
}

func newVerifier() *verifier {
	return &verifier{next: 1, versions: map[string]uint64{}, dec: projections.NewDecoder(),
		cluster: domain.NewCluster(), rng: domain.NewDNRange(), devices: map[string]*domain.DeviceState{}}
}

func (v *verifier) summary() VerifySummary {
	s := VerifySummary{Events: v.next - 1, Streams: len(v.versions), Windows: v.cluster.WindowsOpened,
		Autoregistrations: v.autoregs, First: Time(v.first), Last: Time(v.last), Head: hex.EncodeToString(v.prev)}
	for _, d := range v.devices {
		if d.Exists {
			s.Devices++
		}
	}
	return s
}

// check verifies one event and folds it in.
func (v *verifier) check(e eventstore.RecordedEvent) error {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	if e.Position != v.next {
		at := v.next
		if e.Position > v.next {
			return &VerifyError{Position: at, Problems: []string{fmt.Sprintf(
				"missing: expected position %d, found position %d (an event was deleted, or events were reordered)", at, e.Position)}}
		}
		return &VerifyError{Position: at, Stream: e.Stream, Problems: []string{fmt.Sprintf(
			"expected position %d, found position %d again (events out of order or duplicated)", at, e.Position)}}
	}
	if want := v.versions[e.Stream]; e.Version != want {
		bad("stream %s is at version %d, but this event says version %d (an event of the stream was deleted, inserted or moved)", e.Stream, want, e.Version)
	}
	if len(e.Hash) == 0 {
		bad("the event has no hash")
	} else if want := eventstore.ChainHash(v.prev, e); !bytes.Equal(want, e.Hash) {
		bad("its hash does not chain to the previous event (the event was edited, or an event was inserted, deleted or moved here)")
	}

	var payload domain.Event
	if strings.HasPrefix(e.Stream, domain.StreamPrefix) {
		p, err := v.dec.Decode(e.Type, e.Data)
		switch {
		case err != nil:
			bad("%v", err)
		case p.Stream() != e.Stream:
			bad("a %s event belongs to stream %s", e.Type, p.Stream())
		default:
			payload = p
			problems = append(problems, v.rules(e, p)...)
		}
	}
	if len(problems) == 0 && v.anchors != nil {
		if err := v.anchors.Check(e.Position, e.Hash); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return &VerifyError{Position: e.Position, Stream: e.Stream, Problems: problems}
	}

	// Fold it in.
	v.versions[e.Stream] = e.Version + 1
	v.prev = append(v.prev[:0], e.Hash...)
	v.next++
	if v.first.IsZero() {
		v.first = e.RecordedAt
	}
	v.last = e.RecordedAt
	if payload == nil {
		return nil
	}
	switch e.Stream {
	case domain.ClusterStream:
		v.cluster = domain.EvolveCluster(v.cluster, payload)
	case domain.RangeStream:
		v.rng = domain.EvolveDNRange(v.rng, payload)
	default:
		name, ok := domain.DeviceFromStream(e.Stream)
		if !ok {
			return nil // the registrar's own records (domain.RegistrarStream): no aggregate
		}
		d := v.devices[name]
		if d == nil {
			nd := domain.NewDevice(name)
			d = &nd
			v.devices[name] = d
		}
		*d = domain.EvolveDevice(*d, payload, e.RecordedAt)
		if _, ok := payload.(domain.DeviceAutoregistered); ok {
			v.autoregs++
		}
	}
	return nil
}

// rules checks the registrar's invariants for one event, against the
// state before it.
func (v *verifier) rules(e eventstore.RecordedEvent, p domain.Event) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	c := v.cluster
	// autoreg checks what an autoregistration needs: an open window (the
	// one named), still in its time, security not mixed, a DN of the range.
	autoreg := func(what, window, partition, dn string, counting bool) {
		w := c.Window
		switch {
		case w == nil:
			bad("%s while autoregistration was closed (no window open)", what)
		case w.ID != window:
			bad("%s in window %s, but the open window is %s", what, orDash(window), w.ID)
		default:
			if !w.Until.IsZero() {
				at := decidedAt(e.Metadata)
				if at.IsZero() {
					at = e.RecordedAt
				}
				if !at.Before(w.Until) {
					bad("%s at %s, after window %s's time was up (%s)", what, ts(at), w.ID, ts(w.Until))
				}
			}
			if counting && w.MaxRegistrations > 0 && v.rng.WindowRegistrations(w.ID) >= w.MaxRegistrations {
				bad("%s beyond window %s's limit of %d registrations", what, w.ID, w.MaxRegistrations)
			}
		}
		if c.Security == domain.Mixed {
			bad("%s while cluster security was mixed", what)
		}
		r := v.rng.Range
		if partition != r.Partition || !r.Contains(dn) {
			bad("%s: DN %s (partition %s) is outside the autoregistration range %s-%s (partition %s)",
				what, dn, orDash(partition), orDash(r.Start), orDash(r.End), orDash(r.Partition))
		}
	}
	heldByOther := func(partition, dn, device string) {
		if holder, ok := v.rng.Holder(partition, dn); ok && holder != device {
			bad("DN %s (partition %s) given to %s while %s holds it", dn, orDash(partition), device, holder)
		}
	}
	switch p := p.(type) {
	case domain.DNAssigned:
		autoreg("DN "+p.DN+" assigned to "+p.Device, p.Window, p.Partition, p.DN, true)
		heldByOther(p.Partition, p.DN, p.Device)
	case domain.DNClaimed:
		heldByOther(p.Partition, p.DN, p.Device)
	case domain.DeviceAutoregistered:
		autoreg(p.Device+" autoregistered", p.Window, p.Partition, p.DN, false)
		if d := v.devices[p.Device]; d != nil && d.Exists {
			bad("%s autoregistered, but it exists already (DN %s)", p.Device, d.DN)
		}
		if holder, _ := v.rng.Holder(p.Partition, p.DN); holder != p.Device {
			bad("%s autoregistered with DN %s, but the range gives that DN to %q", p.Device, p.DN, holder)
		}
	case domain.WindowOpened:
		if w := c.Window; w != nil {
			bad("window %s opened while window %s is open", p.Window, w.ID)
		}
		if c.Security == domain.Mixed {
			bad("window %s opened while cluster security is mixed", p.Window)
		}
	}
	return problems
}

// WriteVerify writes the summary of a store that passed.
func WriteVerify(w io.Writer, f Format, s VerifySummary) error {
	if f == JSON {
		return writeJSON(w, s)
	}
	t := newTable(w)
	ok := "hash chain intact, positions and versions gap-free, every event decodes, the rules hold"
	if s.Anchor != nil {
		ok += ", the chain agrees with every signed checkpoint"
	}
	t.row("OK", ok)
	t.row("events", group(s.Events))
	t.row("streams", itoa(s.Streams))
	t.row("windows", itoa(s.Windows))
	t.row("devices", fmt.Sprintf("%d (%d autoregistrations)", s.Devices, s.Autoregistrations))
	t.row("recorded", fmt.Sprintf("%s to %s", s.First, s.Last))
	t.row("head hash", orDash(s.Head))
	if s.Anchor != nil {
		t.row("anchored", s.Anchor.Sentence())
	} else {
		t.row("anchored", NotAnchored)
	}
	t.row("time", s.Elapsed.Round(time.Millisecond).String())
	return t.flush()
}
