// Package command is the registrar's command side: it loads the aggregates
// (with a cache), asks the pure domain to decide, appends the events with the
// expected versions, and retries on conflict, within a bound.
package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
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

// Options tune the command.
type Options struct {
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
	// being served. It costs a SHA-256 of each event at start.
	VerifyChain bool
}

// Handler is the registrar's command side. It is safe for concurrent use.
type Handler struct {
	store    eventstore.Store
	onError  func(error)
	pipe     eventstore.Pipeliner // nil when the store cannot pipeline or the store is shared
	shared   bool
	verify   bool
	clock    func() time.Time
	mu       sync.Mutex
	cluster  domain.ClusterState
	cVersion int64
	rng      domain.DNRangeState
	rVersion int64
	devs     *devCache
	// gen counts the streams rebuilt from the store. A decision remembers
	// it; when its append fails, each stream it wrote is rebuilt unless that
	// stream was rebuilt since the decision (which dropped the decision's
	// events from the cache already): once per stream, not once per waiter,
	// and never skipping a stream nobody rebuilt.
	gen uint64
	// cReloaded and rReloaded are gen when the cluster and the range were
	// last rebuilt (devices keep theirs in devEntry).
	cReloaded, rReloaded uint64
	// head is the global position the cache has seen from the store.
	head uint64
}

// New loads the aggregates' state from the store and returns the command.
func New(ctx context.Context, store eventstore.Store, opt Options) (*Handler, error) {
	s := &Handler{store: store, clock: opt.Clock, onError: opt.OnError, shared: opt.Shared, verify: opt.VerifyChain}
	if s.clock == nil {
		s.clock = time.Now
	}
	if p, ok := store.(eventstore.Pipeliner); ok && !opt.Shared {
		s.pipe = p
	}
	if err := s.loadAll(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Handler) loadAll(ctx context.Context) error {
	s.cluster, s.cVersion = domain.NewCluster(), -1
	s.rng, s.rVersion = domain.NewDNRange(), -1
	s.devs = newDevCache()
	var prev []byte // the hash of the event before
	return s.store.ReadAll(ctx, 1, func(r eventstore.RecordedEvent) error {
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
		if err := s.applyRecorded(r); err != nil {
			return err
		}
		s.head = r.Position
		return nil
	})
}

// catchUp folds into the cache what other processes appended since head.
func (s *Handler) catchUp(ctx context.Context) error {
	return s.store.ReadAll(ctx, s.head+1, func(r eventstore.RecordedEvent) error {
		if err := s.applyRecorded(r); err != nil {
			return err
		}
		s.head = r.Position
		return nil
	})
}

// applyRecorded folds a stored event into the cache.
func (s *Handler) applyRecorded(r eventstore.RecordedEvent) error {
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
		name, ok := domain.DeviceFromStream(r.Stream)
		if !ok {
			return nil
		}
		d := s.devs.getOrNew(name)
		d.state = domain.EvolveDevice(d.state, e, r.RecordedAt)
		d.version = int64(r.Version)
		s.devs.put(d)
	}
	return nil
}

// reloadStream rebuilds one stream's cache from the store.
func (s *Handler) reloadStream(ctx context.Context, stream string) error {
	s.gen++
	switch stream {
	case domain.ClusterStream:
		s.cluster, s.cVersion, s.cReloaded = domain.NewCluster(), -1, s.gen
	case domain.RangeStream:
		s.rng, s.rVersion, s.rReloaded = domain.NewDNRange(), -1, s.gen
	default:
		name, ok := domain.DeviceFromStream(stream)
		if !ok {
			return nil
		}
		d := newEntry(name)
		d.reloaded = s.gen
		s.devs.put(d)
	}
	if err := s.store.ReadStream(ctx, stream, 0, s.applyRecorded); err != nil {
		// Half rebuilt: let the next failure rebuild it again.
		switch stream {
		case domain.ClusterStream:
			s.cReloaded = 0
		case domain.RangeStream:
			s.rReloaded = 0
		default:
			if name, ok := domain.DeviceFromStream(stream); ok {
				s.devs.setReloaded(name, 0)
			}
		}
		return err
	}
	return nil
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
// written.
func (s *Handler) Execute(ctx context.Context, cmd domain.Command, o Origin) (Outcome, error) {
	if o.CorrelationID == "" {
		o.CorrelationID = uuid.NewString()
	}
	var lastErr error
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		d := s.decide(ctx, cmd, o)
		out, decideErr, wait, gen, streams := d.out, d.err, d.wait, d.gen, d.streams
		if wait == nil {
			return out, decideErr
		}
		res, err := wait()
		if err == nil {
			out.Position = res.Position
			return out, decideErr
		}
		lastErr = err
		if s.shared {
			// Nothing was applied speculatively: the next attempt catches up.
			if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
				return Outcome{}, err
			}
			continue
		}
		// The append failed: the cache holds events that are not in the
		// store. Rebuild the streams it touched (once, whoever fails first).
		if rerr := s.invalidate(context.WithoutCancel(ctx), gen, streams); rerr != nil {
			return Outcome{}, fmt.Errorf("%w (and reloading the state failed: %v)", err, rerr)
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			return Outcome{}, err
		}
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
	}
	return Outcome{}, fmt.Errorf("gave up after %d conflicting attempts: %w", MaxAttempts, lastErr)
}

func (s *Handler) invalidate(ctx context.Context, gen uint64, streams []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range streams {
		if s.reloadedAt(st) > gen {
			continue // rebuilt since this decision: its events are gone already
		}
		if err := s.reloadStream(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// reloadedAt is gen when the stream's cache was last rebuilt from the store.
func (s *Handler) reloadedAt(stream string) uint64 {
	switch stream {
	case domain.ClusterStream:
		return s.cReloaded
	case domain.RangeStream:
		return s.rReloaded
	}
	if name, ok := domain.DeviceFromStream(stream); ok {
		if d, ok := s.devs.get(name); ok {
			return d.reloaded
		}
	}
	return 0
}

// decision is what decide hands back to Execute.
type decision struct {
	out  Outcome
	err  error                                   // the decision's own error (a rejection), or why it could not be made
	wait func() (eventstore.AppendResult, error) // nil when there is nothing to write
	gen  uint64                                  // the cache generation the decision was made on
	// streams lists the streams written, to rebuild if the append fails.
	streams []string
}

// decide runs under the lock: build the world, decide, apply the events to
// the cache, and queue the append. It returns wait == nil when there is
// nothing to write.
func (s *Handler) decide(ctx context.Context, cmd domain.Command, o Origin) decision {
	var (
		out       Outcome
		decideErr error
		wait      func() (eventstore.AppendResult, error)
		gen       uint64
		streams   []string
	)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared {
		// Other registrars write to the store too: decide on what it holds now.
		if err := s.catchUp(ctx); err != nil {
			return decision{err: err}
		}
	}
	now := s.clock().UTC()
	needs := cmd.Needs()
	w := domain.World{Cluster: s.cluster, Range: s.rng}
	var dev *devEntry // nil when the command needs no device
	if needs.Device != "" {
		d := s.devs.getOrNew(needs.Device)
		dev = &d
		w.Device = dev.state
	}
	events, err := domain.Decide(w, cmd, now)
	if len(events) == 0 {
		if dev != nil {
			out.Device = dev.state
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
		if dev != nil && stream == domain.DeviceStream(dev.state.Name) {
			return dev.version
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
		// and anyone else's) so the cache is exactly a fold of the store.
		res, err := s.store.Append(ctx, appends...)
		if err == nil {
			err = s.catchUp(ctx)
			if dev != nil {
				out.Device = s.devs.getOrNew(dev.state.Name).state
			}
		}
		return decision{out: out, err: decideErr, wait: func() (eventstore.AppendResult, error) { return res, err }}
	}

	// Apply to the cache now (speculatively): the next decision sees these
	// events even before they are durable. If the append fails, the streams
	// are rebuilt from the store.
	for _, e := range events {
		switch e.Stream() {
		case domain.ClusterStream:
			s.cluster = domain.EvolveCluster(s.cluster, e)
			s.cVersion++
		case domain.RangeStream:
			s.rng = domain.EvolveDNRange(s.rng, e)
			s.rVersion++
		default:
			if dev == nil || e.Stream() != domain.DeviceStream(dev.state.Name) {
				continue
			}
			dev.state = domain.EvolveDevice(dev.state, e, now)
			dev.version++
		}
	}
	if dev != nil {
		s.devs.put(*dev)
		out.Device = dev.state
	}
	gen = s.gen

	// The append must finish even if the caller goes away: the cache already holds it.
	bg := context.WithoutCancel(ctx)
	if s.pipe != nil {
		wait = s.pipe.Enqueue(bg, appends...)
	} else {
		res, err := s.store.Append(bg, appends...)
		wait = func() (eventstore.AppendResult, error) { return res, err }
	}
	return decision{out: out, err: decideErr, wait: wait, gen: gen, streams: streams}
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
	out, err := s.Execute(ctx, domain.Register{Device: r.Device, Model: r.Model, Protocol: r.Protocol, Address: r.Address},
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
	_, err := s.Execute(ctx, domain.Unregister{Device: u.Device, Reason: string(u.Reason)},
		Origin{Actor: actor, Peer: u.Peer, CorrelationID: u.CorrelationID})
	return err
}

var _ Registrar = (*Handler)(nil)

// ---- Reads -----------------------------------------------------------------

// Status is the autoregistration's state now.
type Status struct {
	Open          bool
	Window        *domain.Window
	Registrations int // autoregistered in the current window
	Protocol      domain.Protocol
	Security      domain.SecurityMode
	Range         domain.DNRange
	DNsLeft       int
	Devices       int
	Registered    int
	// Problem says why autoregistration could not be opened now ("" if it could).
	Problem string
}

// fresh, under the lock, folds in what other registrars wrote when the
// store is shared, so reads are as current as the store. A failure is
// reported to OnError and the read answers from the cache.
func (s *Handler) fresh() {
	if !s.shared {
		return
	}
	if err := s.catchUp(context.Background()); err != nil && s.onError != nil {
		s.onError(fmt.Errorf("reading what other registrars wrote: %w", err))
	}
}

// Status reads the current state from the cache.
func (s *Handler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh()
	st := Status{Protocol: s.cluster.Protocol, Security: s.cluster.Security, Range: s.rng.Range, DNsLeft: s.rng.Free()}
	if w := s.cluster.Window; w != nil {
		cp := *w
		st.Open, st.Window = true, &cp
		if !w.Until.IsZero() && !s.clock().Before(w.Until) {
			st.Open = false // its time is up; the timer closes it
		}
		st.Registrations = s.rng.WindowRegistrations(w.ID)
	}
	for _, i := range s.devs.recs {
		if r := s.devs.at(i); r.is(dExists) {
			st.Devices++
			if r.is(dRegistered) {
				st.Registered++
			}
		}
	}
	if st.Window == nil {
		if err := domain.CheckAutoregistration(domain.World{Cluster: s.cluster, Range: s.rng}); err != nil {
			st.Problem = err.Error()
		}
	}
	return st
}

// Devices lists the known devices, sorted by name.
func (s *Handler) Devices() []domain.DeviceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh()
	out := make([]domain.DeviceState, 0, len(s.devs.recs))
	for k, i := range s.devs.recs {
		if r := s.devs.at(i); r.is(dExists) {
			out = append(out, s.devs.entry(k, r).state.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Device returns one device's state.
func (s *Handler) Device(name string) (domain.DeviceState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh()
	d, ok := s.devs.get(name)
	if !ok || !d.state.Exists {
		return domain.DeviceState{}, false
	}
	return d.state.Clone(), true
}

// Cluster returns a copy of the cluster's state.
func (s *Handler) Cluster() domain.ClusterState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh()
	return s.cluster.Clone()
}

// Range returns a copy of the range's state.
func (s *Handler) Range() domain.DNRangeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh()
	return s.rng.Clone()
}

// MayDial answers "may device D dial N?".
func (s *Handler) MayDial(device, number string) (domain.DialResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh()
	d, ok := s.devs.get(device)
	if !ok {
		return domain.DialResult{}, fmt.Errorf("%w: no device %s", domain.ErrNotFound, device)
	}
	return domain.MayDial(s.cluster, s.rng, d.state, number)
}

// ---- Background work -------------------------------------------------------

// pruneStrangers forgets devices that never registered and whose last
// refusal is older than the rejection interval, so that a flood of made-up
// MACs does not grow the cache without bound. A forgotten device that comes
// back costs one conflict and a reload of its stream.
func (s *Handler) pruneStrangers(now time.Time) int {
	if s.shared {
		return 0 // the cache is a fold of the store there
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, i := range s.devs.recs {
		if r := s.devs.at(i); r.is(dExists) || r.is(dDeleted) {
			continue
		}
		recent := false
		for _, at := range s.devs.rejected[k] {
			if now.Sub(at) < domain.RejectionInterval {
				recent = true
			}
		}
		if !recent {
			s.devs.drop(k)
			n++
		}
	}
	return n
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
	lastPrune := s.clock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if now := s.clock(); now.Sub(lastPrune) >= domain.RejectionInterval {
			s.pruneStrangers(now)
			lastPrune = now
		}
		s.mu.Lock()
		s.fresh()
		w := s.cluster.Window
		due := w != nil && !w.Until.IsZero() && !s.clock().Before(w.Until)
		s.mu.Unlock()
		if due {
			// Errors are retried at the next tick.
			if _, err := s.Execute(ctx, domain.ExpireWindow{}, System); err != nil && s.onError != nil {
				s.onError(fmt.Errorf("closing the window whose time is up: %w", err))
			}
		}
	}
}
