// Package command is the registrar's command side: it loads what decisions
// need, asks the pure domain to decide, appends the events with the expected
// versions, and retries on conflict, within a bound. It is also the port the
// protocol adapters and the admin API call to change anything (Registrar,
// Execute), with its own errors (ErrUnavailable, ErrConflict), so that no
// adapter needs the event store; and it applies the configured topology
// (Apply).
//
// What it holds: the Cluster and DNRange aggregates' state (small, and read
// by every decision), the DNs in use (compact, see internal/pack.DNSet), and
// the devices whose latest events the read side may not include yet. Every
// other device it reads from the read model of the devices (the Devices
// port, which projections implements): the process holds each device once,
// not once per side.
//
// It imports the domain, the event store port (internal/eventstore) and the
// packing of the domain's values (internal/pack); never an adapter, never
// the read side.
package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/pack"
)

// MaxAttempts bounds the retries of a command whose append conflicted.
const MaxAttempts = 8

// Origin says who or what gave a command. It becomes the events' metadata.
type Origin struct {
	// Actor is who: "admin:alice", "sip", "sccp" or "system".
	Actor string
	// Peer is the network address the command came from, if any.
	Peer string
	// CorrelationID ties the events to a request (a SIP Call-ID, an SCCP
	// connection, an HTTP request id); one is made up when empty.
	CorrelationID string
	// CausationID is the id of the event or message that caused the command.
	CausationID string
}

// Admin is the origin of an administrator's change.
func Admin(user, peer string) Origin { return Origin{Actor: "admin:" + user, Peer: peer} }

// System is the origin of changes the registrar makes by itself.
var System = Origin{Actor: domain.SystemActor}

// Metadata rides beside every event's payload.
type Metadata struct {
	EventID       string    `json:"event_id"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	Actor         string    `json:"actor"`
	Peer          string    `json:"peer,omitempty"`
	Command       string    `json:"command"`
	DecidedAt     time.Time `json:"decided_at"`
}

// DecodeMetadata reads an event's metadata.
func DecodeMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("malformed event metadata: %w", err)
	}
	return m, nil
}

// Devices is what the command side reads of the devices it does not hold:
// the read model of every device ever seen, which the read side keeps from
// the store. The command side owns this port; projections.Reader
// implements it.
type Devices interface {
	// DeviceState is the device as the events applied so far left it, in
	// the domain's terms (LastRejected aside, which the command side
	// keeps), and its stream's version (-1: no stream); found is false for
	// a device never seen.
	DeviceState(name string) (state domain.DeviceState, version int64, found bool)
	// Position is the global position of the last event applied.
	Position() uint64
	// WaitFor blocks until the events up to position pos are applied.
	WaitFor(ctx context.Context, pos uint64) error
}

// Options tune the handler.
type Options struct {
	// Devices is the read model of the devices (required): decisions read
	// from it every device the handler does not hold.
	Devices Devices
	// Node is the CallManager of the cluster this process is (`registrar
	// serve --node`): the phones' registrations and unregistrations made
	// through Register and Unregister record it, and only the
	// autoregistration CallManager takes unknown phones. "" plays no
	// particular one (tests, tools).
	Node string
	// Clock gives the time decisions are made at (default time.Now).
	Clock func() time.Time
	// Shared: other processes write to the same store. Appends are then
	// made one at a time per decision, never pipelined on speculative state.
	Shared bool
	// OnError hears about failures of background work (closing a window
	// whose time is up); they are retried.
	OnError func(error)
	// VerifyChain checks, while New loads the state, that positions run
	// from 1 without a gap and that every event chains to the one before
	// it (eventstore.ChainHash): an event altered on disk, which the store
	// itself may read without complaint, then fails New with an error
	// wrapping eventstore.ErrCorrupt that names its position, rather than
	// being served. It costs a SHA-256 of each event at start. With Start,
	// the chain is checked from the snapshot's event (its anchor) on.
	VerifyChain bool
	// Start, if not nil, is the state at a position to start from: New
	// folds only the events after it (see Snapshot). A snapshot that does
	// not fit the store fails New with an error wrapping ErrSnapshot.
	Start *Snapshot
	// Credentials, if not nil, issues the digest credentials of the SIP
	// devices that autoregister and of those an administrator rotates
	// (sipauth.Secret). Without it SIP devices autoregister without
	// credentials, and rotating refuses.
	Credentials Issuer
	// Floods bound what floods of registrations write (floods.go).
	Floods FloodLimits
}

// Issuer makes new digest credentials for a device.
type Issuer interface {
	Issue(device string) domain.Credential
}

// Handler is the registrar's command side. It is safe for concurrent use.
type Handler struct {
	store    eventstore.Store
	devices  Devices
	onError  func(error)
	pipe     eventstore.Pipeliner // nil when the store cannot pipeline or the store is shared
	shared   bool
	verify   bool
	clock    func() time.Time
	node     string
	issuer   Issuer
	mu       sync.Mutex
	cluster  domain.ClusterState
	cVersion int64
	rng      domain.DNRangeState
	rVersion int64
	// pending holds the devices whose latest events the read model may not
	// include yet: decided (maybe not yet durable), or durable at a
	// position the read model has not reached. Decisions read a device
	// here first, then from the read model; an entry goes once the read
	// model has applied its last event and nothing is in flight for it.
	pending map[string]*pendingDevice
	// rejected remembers, per device and reason, when a refusal was last
	// recorded, for domain.RejectionInterval (the domain records a refusal
	// at most once per reason in it; the read model keeps only the last).
	rejected map[string]map[domain.RejectReason]time.Time
	// gen counts the invalidations after failed appends. A decision
	// remembers it; when its append fails, the state it touched is
	// rebuilt unless it was rebuilt since the decision: once, not once per
	// waiter, and never skipping what nobody rebuilt.
	gen uint64
	// cReloaded and rReloaded are gen when the cluster and the range were
	// last rebuilt (pending devices keep theirs).
	cReloaded, rReloaded uint64
	// head is the global position the handler has folded from the store.
	head uint64
	// floods bounds what floods write (floods.go), under mu.
	floods *floods
}

// pendingDevice is a device whose latest events the read model may not
// include yet.
type pendingDevice struct {
	state   domain.DeviceState
	version int64  // its stream's version after the events decided
	pos     uint64 // the global position of its last durable event (0: none yet)
	flying  int    // decisions whose appends have not returned
	gen     uint64 // Handler.gen when the entry was made
}

// New loads the aggregates' state from the store and returns the handler.
// The read model behind opt.Devices must be following the same store: New
// waits until it has applied everything New loaded.
func New(ctx context.Context, store eventstore.Store, opt Options) (*Handler, error) {
	if opt.Devices == nil {
		return nil, errors.New("command: Options.Devices is required: the read model of the devices (projections.Reader)")
	}
	s := &Handler{store: store, devices: opt.Devices, clock: opt.Clock, onError: opt.OnError, shared: opt.Shared, verify: opt.VerifyChain, node: opt.Node, issuer: opt.Credentials,
		floods: newFloods(opt.Floods)}
	if s.clock == nil {
		s.clock = time.Now
	}
	if p, ok := store.(eventstore.Pipeliner); ok && !opt.Shared {
		s.pipe = p
	}
	if err := s.loadAll(ctx, opt.Start); err != nil {
		return nil, err
	}
	if err := s.devices.WaitFor(ctx, s.head); err != nil {
		return nil, fmt.Errorf("waiting for the read model of the devices to reach position %d: %w", s.head, err)
	}
	return s, nil
}

// loadAll folds the store into the handler's state: every event, or with a
// snapshot the events after it.
func (s *Handler) loadAll(ctx context.Context, snap *Snapshot) error {
	s.cluster, s.cVersion = domain.NewCluster(), -1
	s.rng, s.rVersion = domain.NewDNRangeIn(pack.NewDNSet()), -1
	s.pending = make(map[string]*pendingDevice)
	s.rejected = make(map[string]map[domain.RejectReason]time.Time)
	s.head = 0
	var prev []byte // the hash of the event before
	from := uint64(1)
	if snap != nil {
		if snap.Position == 0 {
			return fmt.Errorf("%w: it is at position 0", ErrSnapshot)
		}
		s.restore(snap)
		prev, from = bytes.Clone(snap.Hash), snap.Position // read the anchor too
	}
	anchored := snap == nil
	cluster, rng := s.cVersion, s.rVersion // the versions the events must follow
	err := s.store.ReadAll(ctx, from, func(r eventstore.RecordedEvent) error {
		if !anchored {
			// The snapshot's event: the store must hold it as it was.
			if r.Position != snap.Position || !bytes.Equal(r.Hash, snap.Hash) {
				return fmt.Errorf("%w: the store's event at position %d has hash %x, the snapshot's %x",
					ErrSnapshot, r.Position, r.Hash, snap.Hash)
			}
			anchored = true
			return nil
		}
		if s.verify {
			if r.Position != s.head+1 {
				return fmt.Errorf("%w: expected the event at position %d, found position %d (stream %s, type %s)",
					eventstore.ErrCorrupt, s.head+1, r.Position, r.Stream, r.Type)
			}
			if !bytes.Equal(r.Hash, eventstore.ChainHash(prev, r)) {
				return fmt.Errorf("%w: event at position %d (stream %s, version %d, type %s): its hash does not chain to the event before it: it, or the one before it, was altered",
					eventstore.ErrCorrupt, r.Position, r.Stream, r.Version, r.Type)
			}
			prev = append(prev[:0], r.Hash...)
		}
		if snap != nil {
			// The aggregates' streams go on from the snapshot's versions.
			switch r.Stream {
			case domain.ClusterStream:
				if int64(r.Version) != cluster+1 {
					return fmt.Errorf("%w: the cluster's stream is at version %d in the snapshot, and its next event (position %d) has version %d",
						ErrSnapshot, cluster, r.Position, r.Version)
				}
				cluster++
			case domain.RangeStream:
				if int64(r.Version) != rng+1 {
					return fmt.Errorf("%w: the range's stream is at version %d in the snapshot, and its next event (position %d) has version %d",
						ErrSnapshot, rng, r.Position, r.Version)
				}
				rng++
			}
		}
		if err := s.fold(r); err != nil {
			return err
		}
		s.head = r.Position
		return nil
	})
	if err == nil && !anchored {
		err = fmt.Errorf("%w: it is at position %d, past the store's last event", ErrSnapshot, snap.Position)
	}
	s.forgetRejections(s.clock())
	return err
}

// catchUp folds in what other processes appended since head.
func (s *Handler) catchUp(ctx context.Context) error {
	return s.store.ReadAll(ctx, s.head+1, func(r eventstore.RecordedEvent) error {
		if err := s.fold(r); err != nil {
			return err
		}
		s.head = r.Position
		return nil
	})
}

// fold folds a stored event into what the handler holds: the cluster and
// the range, and the refusals recorded (the devices themselves are the read
// model's).
func (s *Handler) fold(r eventstore.RecordedEvent) error {
	if len(r.Stream) < len(domain.StreamPrefix) || r.Stream[:len(domain.StreamPrefix)] != domain.StreamPrefix {
		return nil // not ours
	}
	e, err := domain.Decode(r.Type, r.Data)
	if err != nil {
		return fmt.Errorf("event at position %d (stream %s, version %d): %w", r.Position, r.Stream, r.Version, err)
	}
	switch r.Stream {
	case domain.ClusterStream:
		s.cluster = domain.EvolveCluster(s.cluster, e)
		s.cVersion = int64(r.Version)
	case domain.RangeStream:
		s.rng = domain.EvolveDNRange(s.rng, e)
		s.rVersion = int64(r.Version)
	default:
		if rej, ok := e.(domain.RegistrationRejected); ok {
			at := rej.At
			if at.IsZero() {
				at = r.RecordedAt
			}
			s.rejectedAt(rej.Device, rej.Reason, at)
		}
	}
	return nil
}

// rejectedAt records that a refusal of device for reason was recorded at;
// one older than domain.RejectionInterval is of no use to decisions, and is
// not kept (a start folds years of refusals).
func (s *Handler) rejectedAt(device string, reason domain.RejectReason, at time.Time) {
	if s.clock().Sub(at) >= domain.RejectionInterval {
		return
	}
	m := s.rejected[device]
	if m == nil {
		m = make(map[domain.RejectReason]time.Time, 1)
		s.rejected[device] = m
	}
	if at.After(m[reason]) {
		m[reason] = at
	}
}

// forgetRejections drops the refusals recorded longer than
// domain.RejectionInterval before now: the domain no longer reads them.
func (s *Handler) forgetRejections(now time.Time) int {
	n := 0
	for d, m := range s.rejected {
		for r, at := range m {
			if now.Sub(at) >= domain.RejectionInterval {
				delete(m, r)
			}
		}
		if len(m) == 0 {
			delete(s.rejected, d)
			n++
		}
	}
	return n
}

// device is the device as decisions see it, and its stream's version: the
// pending entry, else the read model's, with the refusals recorded.
func (s *Handler) device(name string) (domain.DeviceState, int64) {
	if p, ok := s.pending[name]; ok {
		if !s.settled(p) {
			return p.state, p.version
		}
		delete(s.pending, name)
	}
	st, v, found := s.devices.DeviceState(name)
	if !found {
		st, v = domain.NewDevice(name), -1
	}
	if m := s.rejected[name]; len(m) > 0 {
		st.LastRejected = maps.Clone(m)
	}
	return st, v
}

// settled reports whether the read model holds everything of p.
func (s *Handler) settled(p *pendingDevice) bool {
	return p.flying == 0 && p.pos <= s.devices.Position()
}

// reloadStream rebuilds the cluster's or the range's state from the store.
func (s *Handler) reloadStream(ctx context.Context, stream string) error {
	s.gen++
	switch stream {
	case domain.ClusterStream:
		s.cluster, s.cVersion, s.cReloaded = domain.NewCluster(), -1, s.gen
	case domain.RangeStream:
		s.rng, s.rVersion, s.rReloaded = domain.NewDNRangeIn(pack.NewDNSet()), -1, s.gen
	default:
		return nil
	}
	err := s.store.ReadStream(ctx, stream, 0, func(r eventstore.RecordedEvent) error {
		if r.Stream != stream { // fold only this stream's state
			return nil
		}
		return s.fold(r)
	})
	if err != nil {
		// Half rebuilt: let the next failure rebuild it again.
		if stream == domain.ClusterStream {
			s.cReloaded = 0
		} else {
			s.rReloaded = 0
		}
	}
	return err
}

// Outcome is what a command did.
type Outcome struct {
	Events   []domain.Event
	Position uint64 // global position of the last event written
	// Device is the device's state right after the command (device commands).
	Device domain.DeviceState
}

// Execute decides cmd and makes its events durable. A *domain.Rejection is
// returned together with an Outcome whose events (the recorded refusal) were
// written. An error the store gave for being unable to write now wraps
// ErrUnavailable; conflicts that outlast MaxAttempts wrap ErrConflict.
func (s *Handler) Execute(ctx context.Context, cmd domain.Command, o Origin) (Outcome, error) {
	if o.CorrelationID == "" {
		o.CorrelationID = uuid.NewString()
	}
	var lastErr error
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		d := s.decide(ctx, cmd, o)
		if d.wait == nil {
			return d.out, wrapStoreError(d.err)
		}
		res, err := d.wait()
		s.settle(d, res, err)
		if err == nil {
			d.out.Position = res.Position
			return d.out, d.err
		}
		lastErr = err
		if s.shared {
			// Nothing was applied speculatively: the next attempt catches up.
			if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
				return Outcome{}, wrapStoreError(err)
			}
			continue
		}
		// The append failed: what the handler holds has events that are not
		// in the store. Rebuild what it touched (once, whoever fails first).
		if rerr := s.invalidate(context.WithoutCancel(ctx), d.gen, d.streams); rerr != nil {
			return Outcome{}, fmt.Errorf("%w (and reloading the state failed: %v)", wrapStoreError(err), rerr)
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			return Outcome{}, wrapStoreError(err)
		}
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
	}
	return Outcome{}, fmt.Errorf("%w: gave up after %d conflicting attempts: %w", ErrConflict, MaxAttempts, lastErr)
}

// settle records what an append that returned did to the device it wrote.
func (s *Handler) settle(d decision, res eventstore.AppendResult, err error) {
	if d.dev == nil && len(d.out.Events) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.dev != nil && s.pending[d.name] == d.dev {
		d.dev.flying--
		if err == nil {
			d.dev.pos = max(d.dev.pos, res.Position)
		}
	}
	if err != nil {
		return
	}
	for _, e := range d.out.Events {
		if rej, ok := e.(domain.RegistrationRejected); ok {
			s.rejectedAt(rej.Device, rej.Reason, rej.At)
		}
	}
}

func (s *Handler) invalidate(ctx context.Context, gen uint64, streams []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var devices []string
	for _, st := range streams {
		if st == domain.ClusterStream || st == domain.RangeStream {
			if s.reloadedAt(st) > gen {
				continue // rebuilt since this decision: its events are gone already
			}
			if err := s.reloadStream(ctx, st); err != nil {
				return err
			}
			continue
		}
		if name, ok := domain.DeviceFromStream(st); ok {
			if p, ok := s.pending[name]; ok && p.gen <= gen {
				devices = append(devices, name)
			}
		}
	}
	if len(devices) == 0 {
		return nil
	}
	// The read model holds what the store holds: once it has applied
	// everything durable, the devices' failed events are dropped with their
	// entries. Others' appends still in flight for them fail (their
	// expected versions never came) and are decided again.
	head, err := s.store.Head(ctx)
	if err != nil {
		return err
	}
	if err := s.devices.WaitFor(ctx, head); err != nil {
		return err
	}
	s.gen++
	for _, name := range devices {
		delete(s.pending, name)
	}
	return nil
}

// reloadedAt is gen when the stream's state was last rebuilt from the store.
func (s *Handler) reloadedAt(stream string) uint64 {
	switch stream {
	case domain.ClusterStream:
		return s.cReloaded
	case domain.RangeStream:
		return s.rReloaded
	}
	return 0
}

// decision is what decide hands back to Execute.
type decision struct {
	out  Outcome
	err  error                                   // the decision's own error (a rejection), or why it could not be made
	wait func() (eventstore.AppendResult, error) // nil when there is nothing to write
	gen  uint64                                  // the generation the decision was made on
	// streams lists the streams written, to rebuild if the append fails.
	streams []string
	// dev is the pending entry of the device written (nil if none), name
	// its name.
	dev  *pendingDevice
	name string
}

// decide runs under the lock: build the world, decide, apply the events to
// what the handler holds, and queue the append. It returns wait == nil when
// there is nothing to write.
func (s *Handler) decide(ctx context.Context, cmd domain.Command, o Origin) decision {
	var (
		out       Outcome
		decideErr error
		wait      func() (eventstore.AppendResult, error)
		streams   []string
	)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared {
		// Other registrars write to the store too: decide on what it holds
		// now, and on a read model that holds as much.
		if err := s.catchUp(ctx); err != nil {
			return decision{err: err}
		}
		if err := s.devices.WaitFor(ctx, s.head); err != nil {
			return decision{err: err}
		}
	}
	now := s.clock().UTC()
	needs := cmd.Needs()
	w := domain.World{Cluster: s.cluster, Range: s.rng}
	devVersion := int64(-1)
	if needs.Device != "" {
		w.Device, devVersion = s.device(needs.Device)
	}
	cmd = s.withCredential(cmd, w.Device)
	events, err := domain.Decide(w, cmd, now)
	events, err = s.floods.bound(cmd, o, events, err, now, s.rejectedAt)
	if len(events) == 0 {
		if needs.Device != "" {
			out.Device = w.Device
		}
		return decision{out: out, err: err}
	}
	decideErr = err
	out.Events = events

	// Group the events by stream, in first-appearance order, each with the
	// version the decision saw.
	idx := map[string]int{}
	var appends []eventstore.StreamAppend
	version := func(stream string) int64 {
		switch stream {
		case domain.ClusterStream:
			return s.cVersion
		case domain.RangeStream:
			return s.rVersion
		}
		if needs.Device != "" && stream == domain.DeviceStream(needs.Device) {
			return devVersion
		}
		return -1
	}
	expect := func(v int64) eventstore.ExpectedVersion {
		if v < 0 {
			return eventstore.NoStream
		}
		return eventstore.Exact(uint64(v))
	}
	cmdName := commandName(cmd)
	autoreg := false
	for _, e := range events {
		if _, ok := e.(domain.DNAssigned); ok {
			autoreg = true
		}
		st := e.Stream()
		i, ok := idx[st]
		if !ok {
			i = len(appends)
			idx[st] = i
			appends = append(appends, eventstore.StreamAppend{Stream: st, Expected: expect(version(st))})
		}
		typ, data, encErr := domain.Encode(e)
		if encErr != nil {
			return decision{err: encErr}
		}
		id := uuid.Must(uuid.NewV7()).String()
		meta, err := encodeMetadata(Metadata{EventID: id, CorrelationID: o.CorrelationID, CausationID: o.CausationID,
			Actor: o.Actor, Peer: o.Peer, Command: cmdName, DecidedAt: now})
		if err != nil {
			return decision{err: fmt.Errorf("encode the metadata of %s: %w", typ, err)}
		}
		appends[i].Events = append(appends[i].Events, eventstore.EventData{ID: id, Type: typ, Data: data, Metadata: meta})
	}
	// The decision read streams it does not write: make the append fail if
	// they moved. Registrations of known devices read only their device;
	// an autoregistration read the window too.
	_, isReg := cmd.(domain.Register)
	if !isReg || autoreg {
		if needs.Cluster {
			if _, ok := idx[domain.ClusterStream]; !ok {
				appends = append(appends, eventstore.StreamAppend{Stream: domain.ClusterStream, Expected: expect(s.cVersion)})
			}
		}
		if needs.Range && !isReg {
			if _, ok := idx[domain.RangeStream]; !ok {
				appends = append(appends, eventstore.StreamAppend{Stream: domain.RangeStream, Expected: expect(s.rVersion)})
			}
		}
	}
	for _, a := range appends {
		if len(a.Events) > 0 {
			streams = append(streams, a.Stream)
		}
	}

	if s.shared {
		// Append while holding the lock, then read back what landed (ours
		// and anyone else's), so that the state is exactly a fold of the
		// store and the read model holds as much.
		res, err := s.store.Append(ctx, appends...)
		if err == nil {
			err = s.catchUp(ctx)
		}
		if err == nil {
			err = s.devices.WaitFor(ctx, s.head)
		}
		if err == nil && needs.Device != "" {
			out.Device, _ = s.device(needs.Device)
		}
		return decision{out: out, err: decideErr, wait: func() (eventstore.AppendResult, error) { return res, err }}
	}

	// Apply to what the handler holds now (speculatively): the next
	// decision sees these events even before they are durable. If the
	// append fails, what it touched is rebuilt (invalidate).
	var dev *pendingDevice
	for _, e := range events {
		switch e.Stream() {
		case domain.ClusterStream:
			s.cluster = domain.EvolveCluster(s.cluster, e)
			s.cVersion++
		case domain.RangeStream:
			s.rng = domain.EvolveDNRange(s.rng, e)
			s.rVersion++
		default:
			if needs.Device == "" || e.Stream() != domain.DeviceStream(needs.Device) {
				continue
			}
			if dev == nil {
				dev = s.pending[needs.Device]
				if dev == nil {
					dev = &pendingDevice{state: w.Device, version: devVersion, gen: s.gen}
					s.pending[needs.Device] = dev
				}
				dev.flying++
			}
			dev.state = domain.EvolveDevice(dev.state, e, now)
			dev.version++
		}
	}
	if needs.Device != "" {
		out.Device = w.Device
		if dev != nil {
			out.Device = dev.state
		}
	}

	// The append must finish even if the caller goes away: the state
	// already holds it.
	bg := context.WithoutCancel(ctx)
	if s.pipe != nil {
		wait = s.pipe.Enqueue(bg, appends...)
	} else {
		res, err := s.store.Append(bg, appends...)
		wait = func() (eventstore.AppendResult, error) { return res, err }
	}
	return decision{out: out, err: decideErr, wait: wait, gen: s.gen, streams: streams, dev: dev, name: needs.Device}
}

// withCredential gives the commands that may issue digest credentials
// fresh ones: a SIP registration of a device unknown yet (it may
// autoregister), a rotation that names none.
func (s *Handler) withCredential(cmd domain.Command, d domain.DeviceState) domain.Command {
	if s.issuer == nil {
		return cmd
	}
	switch c := cmd.(type) {
	case domain.Register:
		if c.Protocol == domain.SIP && !d.Exists {
			c.Credential = s.issuer.Issue(c.Device)
			return c
		}
	case domain.RotateCredentials:
		if c.Credential == (domain.Credential{}) {
			c.Credential = s.issuer.Issue(c.Device)
			return c
		}
	}
	return cmd
}

// commandName is the command's type name without its package: "Register".
func commandName(cmd domain.Command) string {
	if t := reflect.TypeOf(cmd); t.Name() != "" {
		return t.Name()
	}
	name := fmt.Sprintf("%T", cmd) // a pointer or an unnamed type
	if i := lastDot(name); i >= 0 {
		name = name[i+1:]
	}
	return name
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// ---- The adapters' side ----------------------------------------------------

// Register implements Registrar.
func (s *Handler) Register(ctx context.Context, r Registration) (Registered, error) {
	actor := r.Adapter
	if actor == "" {
		actor = "adapter"
	}
	out, err := s.Execute(ctx, domain.Register{Device: r.Device, Model: r.Model, Protocol: r.Protocol, Address: r.Address, Node: s.node},
		Origin{Actor: actor, Peer: r.Peer, CorrelationID: r.CorrelationID})
	if err != nil {
		return Registered{}, err
	}
	d := out.Device
	reg := Registered{Device: d.Name, Model: d.Model, Protocol: d.Protocol, DN: d.DN, Partition: d.Partition,
		Pool: d.Pool, Changed: len(out.Events) > 0}
	for _, e := range out.Events {
		switch e := e.(type) {
		case domain.DeviceAutoregistered:
			reg.Autoregistered = true
			reg.ExternalNumber = e.ExternalNumber
		case domain.DeviceMoved:
			reg.Moved = true
		}
	}
	if reg.ExternalNumber == "" {
		s.mu.Lock()
		if d.Partition == s.rng.Range.Partition {
			reg.ExternalNumber = s.rng.Range.ExternalNumber(d.DN)
		}
		s.mu.Unlock()
	}
	return reg, nil
}

// Unregister implements Registrar.
func (s *Handler) Unregister(ctx context.Context, u Unregistration) error {
	actor := u.Adapter
	if actor == "" {
		actor = "adapter"
	}
	_, err := s.Execute(ctx, domain.Unregister{Device: u.Device, Reason: string(u.Reason), Node: s.node},
		Origin{Actor: actor, Peer: u.Peer, CorrelationID: u.CorrelationID})
	return err
}

var _ Registrar = (*Handler)(nil)

// Node is the CallManager this handler registers phones with ("" for none).
func (s *Handler) Node() string { return s.node }

// ---- Background work -------------------------------------------------------

// forget drops what decisions no longer need: the devices the read model
// has caught up with, and the refusals older than the rejection interval
// (so that a flood of made-up MACs does not grow the handler).
// It returns how many devices' refusals it forgot.
func (s *Handler) forget(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.pending {
		if s.settled(p) {
			delete(s.pending, name)
		}
	}
	s.floods.forget(now)
	return s.forgetRejections(now)
}

// windowDue reports whether the open window's time is up.
func (s *Handler) windowDue(ctx context.Context) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared {
		if err := s.catchUp(ctx); err != nil && s.onError != nil {
			s.onError(fmt.Errorf("reading what other registrars wrote: %w", err))
		}
	}
	w := s.cluster.Window
	return w != nil && !w.Until.IsZero() && !s.clock().Before(w.Until)
}

// Run closes windows whose time is up, until ctx ends. The check runs every
// tick (a second by default); the close event carries the window's deadline
// as its time, whenever the tick notices it.
func (s *Handler) Run(ctx context.Context, tick time.Duration) error {
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.forget(s.clock())
		if _, err := s.FlushSuppressed(ctx); err != nil && s.onError != nil {
			s.onError(err)
		}
		if s.windowDue(ctx) {
			// Errors are retried at the next tick.
			if _, err := s.Execute(ctx, domain.ExpireWindow{}, System); err != nil && s.onError != nil {
				s.onError(fmt.Errorf("closing the window whose time is up: %w", err))
			}
		}
	}
}
