package command

// Bounds on what floods of registrations write.
//
// The domain already records a device's refusals at most once per reason
// a minute (domain.RejectionInterval), and the adapters' per-source limits
// keep unknown devices from reaching the registrar at more than a rate per
// source address. Two floods got through those bounds, and this file closes
// them on the command side, where the decision and the time of a device's
// last change meet:
//
//   - Changes of a known device's registration: a move (domain.DeviceMoved:
//     a registration from a new address) and a registration anew
//     (domain.DeviceRegistered: after an unregistration, or with another
//     CallManager). The adapters exempt known devices from their per-source
//     limits (a site's SBC carries many phones from one address), so a flood
//     of REGISTERs naming a known MAC from made-up contacts, or an SCCP
//     connect-register-close loop on a known name, wrote an event per
//     request (8,666 device.moved in 5 s). Such a change now takes a token
//     from its device's bucket (MoveBurst at once, then one every
//     MoveEvery: 3, then one per 20 s by default) and from its source
//     address's bucket (SourceMoveBurst, then one every SourceMoveEvery:
//     100, then 10 a second); when either is empty the registration is
//     refused with a *BusyError (errors.Is ErrBusy and ErrUnavailable),
//     nothing is written, and the phone is told to come back (SIP 503 with
//     Retry-After, SCCP RegisterReject "Registrar busy, try again"). A
//     refresh (same address, writes nothing) and an autoregistration take
//     no token.
//
//     Coalescing: the bucket is the coalescing. A device flapping between
//     two addresses writes at most MoveBurst changes, then one per
//     MoveEvery; the flaps in between were refused, never acknowledged, so
//     the store and what the phones were told agree (the device stays where
//     the last recorded change put it). No acknowledged state is summed up
//     into a count that replay could not show move by move.
//
//   - Refusals from many devices and sources: the domain's bound is per
//     device and reason, and 20 forged UDP sources give 20 times the
//     events. At most MaxRejectionEvents domain.RegistrationRejected events
//     are written per minute of the clock (aligned on the minute), in all;
//     beyond, the refusal is still answered as the domain decided (403,
//     RegisterReject), its event is left out and counted, and one
//     domain.RejectionsSuppressed {from, to, count, reasons, devices,
//     sources} is written when the minute is over (Run's tick, within a
//     second of it; FlushSuppressed does it on demand).
//
// The state is bounded: a bucket that has refilled is forgotten (forget,
// every tick), and at most maxMoveBuckets devices and maxMoveSources
// sources are remembered (beyond, an arbitrary one is forgotten, which
// gives it a full bucket again); the distinct devices and sources a
// minute's summary counts are bounded by maxSuppressedDistinct.
//
// Each registrar process bounds its own writes: with a shared store
// (Options.Shared) the bounds are per process.

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// Defaults of FloodLimits' zero fields.
const (
	DefaultMoveBurst          = 3
	DefaultMoveEvery          = 20 * time.Second
	DefaultSourceMoveBurst    = 100
	DefaultSourceMoveEvery    = 100 * time.Millisecond
	DefaultMaxRejectionEvents = 600
)

const (
	maxMoveBuckets        = 1 << 16
	maxMoveSources        = 1 << 12
	maxSuppressedDistinct = 10000
	maxPendingSummaries   = 60
)

// FloodLimits bound what floods of registrations write (see floods.go).
type FloodLimits struct {
	// MoveBurst and MoveEvery: the changes of one known device's
	// registration (moves, registrations anew) recorded at once, and then
	// one every MoveEvery. Defaults 3 and 20 s; a negative MoveBurst turns
	// the per-device bound off.
	MoveBurst int
	MoveEvery time.Duration
	// SourceMoveBurst and SourceMoveEvery: the same, per source IP address
	// (the Registration's Peer), whatever the device. Defaults 100 and
	// 100 ms (10 a second); a negative SourceMoveBurst turns it off.
	SourceMoveBurst int
	SourceMoveEvery time.Duration
	// TrustedSources are source addresses the per-source bound does not
	// apply to (an SBC carrying thousands of phones).
	TrustedSources []netip.Prefix
	// MaxRejectionEvents: at most this many registration_rejected events a
	// minute, in all; the rest are counted in one rejections_suppressed
	// event a minute. Default 600; negative: no bound.
	MaxRejectionEvents int
}

func (l FloodLimits) withDefaults() FloodLimits {
	if l.MoveBurst == 0 {
		l.MoveBurst = DefaultMoveBurst
	}
	if l.MoveEvery <= 0 {
		l.MoveEvery = DefaultMoveEvery
	}
	if l.SourceMoveBurst == 0 {
		l.SourceMoveBurst = DefaultSourceMoveBurst
	}
	if l.SourceMoveEvery <= 0 {
		l.SourceMoveEvery = DefaultSourceMoveEvery
	}
	if l.MaxRejectionEvents == 0 {
		l.MaxRejectionEvents = DefaultMaxRejectionEvents
	}
	return l
}

// BusyError is the error of a registration refused because its device, or
// its source address, changed registrations too often. Nothing was
// written. It matches ErrBusy and ErrUnavailable (errors.Is): an adapter
// tells the phone to come back, as when the store cannot take a write.
type BusyError struct {
	Device string
	Source string // the source address, when it is the source's bound
	// RetryAfter is when the bucket holds a token again.
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("%v: registrations from %s changed too often; %s may try again in %s",
			ErrBusy, e.Source, e.Device, e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("%v: %s moved or registered anew too often; it may try again in %s",
		ErrBusy, e.Device, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrBusy) and errors.Is(err, ErrUnavailable) hold.
func (e *BusyError) Is(target error) bool { return target == ErrBusy || target == ErrUnavailable }

// tokens is a token bucket: burst at once, then one every every.
type tokens struct {
	n    float64
	last time.Time
}

// refill adds the tokens earned since the last update.
func (b *tokens) refill(now time.Time, burst int, every time.Duration) {
	if el := now.Sub(b.last); el > 0 {
		b.n = min(float64(burst), b.n+float64(el)/float64(every))
		b.last = now
	}
}

// wait is how long until the bucket holds a token.
func (b *tokens) wait(every time.Duration) time.Duration {
	return time.Duration((1 - b.n) * float64(every))
}

// floods is the command side's flood state, guarded by Handler.mu.
type floods struct {
	lim     FloodLimits
	devices map[string]*tokens
	sources map[string]*tokens

	// The minute whose rejections are being counted.
	minute     time.Time
	recorded   int // RegistrationRejected written in it
	suppressed suppressedCount
	// due are the summaries of minutes over, not written yet.
	due []domain.RejectionsSuppressed
}

type suppressedCount struct {
	count   int
	reasons map[domain.RejectReason]int
	devices map[string]struct{}
	sources map[string]struct{}
}

func newFloods(l FloodLimits) *floods {
	return &floods{lim: l.withDefaults(), devices: map[string]*tokens{}, sources: map[string]*tokens{}}
}

// sourceOf is the IP address of a peer ip:port ("" when there is none).
func sourceOf(peer string) (string, netip.Addr) {
	if peer == "" {
		return "", netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		return ap.Addr().Unmap().String(), ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(peer); err == nil {
		return a.Unmap().String(), a.Unmap()
	}
	return peer, netip.Addr{}
}

// bound applies the bounds to a decision, under Handler.mu: it returns the
// events to write and the decision's error, or no event and a *BusyError.
func (f *floods) bound(cmd domain.Command, o Origin, events []domain.Event, err error, now time.Time, rejected func(device string, reason domain.RejectReason, at time.Time)) ([]domain.Event, error) {
	if len(events) == 0 {
		return events, err
	}
	reg, ok := cmd.(domain.Register)
	if !ok {
		return events, err
	}
	change := false
	rejections := 0
	for _, e := range events {
		switch e.(type) {
		case domain.DeviceMoved, domain.DeviceRegistered:
			change = true
		case domain.RegistrationRejected:
			rejections++
		}
	}
	if change {
		if busy := f.takeMove(reg.Device, o.Peer, now); busy != nil {
			return nil, busy
		}
	}
	if rejections > 0 && f.lim.MaxRejectionEvents >= 0 {
		f.roll(now)
		kept := events[:0:0]
		for _, e := range events {
			rej, ok := e.(domain.RegistrationRejected)
			if !ok || f.recorded < f.lim.MaxRejectionEvents {
				if ok {
					f.recorded++
				}
				kept = append(kept, e)
				continue
			}
			f.suppress(rej, o.Peer)
			// As if recorded: the domain proposes no other one for the
			// device and reason in the interval, so the count is of the
			// events the bound left out.
			rejected(rej.Device, rej.Reason, now)
		}
		events = kept
	}
	return events, err
}

// takeMove takes a token from the device's and the source's buckets, or
// neither; it returns the refusal when one is empty.
func (f *floods) takeMove(device, peer string, now time.Time) *BusyError {
	var dev, src *tokens
	if f.lim.MoveBurst > 0 {
		dev = bucketOf(f.devices, device, maxMoveBuckets, f.lim.MoveBurst, now)
		dev.refill(now, f.lim.MoveBurst, f.lim.MoveEvery)
		if dev.n < 1 {
			return &BusyError{Device: device, RetryAfter: dev.wait(f.lim.MoveEvery)}
		}
	}
	key, addr := sourceOf(peer)
	if f.lim.SourceMoveBurst > 0 && key != "" && !(addr.IsValid() && trusted(f.lim.TrustedSources, addr)) {
		src = bucketOf(f.sources, key, maxMoveSources, f.lim.SourceMoveBurst, now)
		src.refill(now, f.lim.SourceMoveBurst, f.lim.SourceMoveEvery)
		if src.n < 1 {
			return &BusyError{Device: device, Source: key, RetryAfter: src.wait(f.lim.SourceMoveEvery)}
		}
	}
	if dev != nil {
		dev.n--
	}
	if src != nil {
		src.n--
	}
	return nil
}

func trusted(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// bucketOf is key's bucket, made full if there is none; the map holds at
// most limit buckets (beyond, an arbitrary one is forgotten).
func bucketOf(m map[string]*tokens, key string, limit, burst int, now time.Time) *tokens {
	b := m[key]
	if b == nil {
		if len(m) >= limit {
			for k := range m { // map order is random
				delete(m, k)
				break
			}
		}
		b = &tokens{n: float64(burst), last: now}
		m[key] = b
	}
	return b
}

// roll starts the minute of now, keeping the summary of the one over.
func (f *floods) roll(now time.Time) {
	m := now.Truncate(time.Minute)
	if m.Equal(f.minute) {
		return
	}
	if f.suppressed.count > 0 {
		sum := domain.RejectionsSuppressed{From: f.minute, To: f.minute.Add(time.Minute), Count: f.suppressed.count,
			Reasons: f.suppressed.reasons, Devices: len(f.suppressed.devices), Sources: len(f.suppressed.sources),
			Limit: f.lim.MaxRejectionEvents}
		if len(f.due) >= maxPendingSummaries { // the store has been failing for an hour
			f.due = f.due[1:]
		}
		f.due = append(f.due, sum)
	}
	f.minute, f.recorded, f.suppressed = m, 0, suppressedCount{}
}

func (f *floods) suppress(rej domain.RegistrationRejected, peer string) {
	c := &f.suppressed
	if c.reasons == nil {
		c.reasons = map[domain.RejectReason]int{}
		c.devices = map[string]struct{}{}
		c.sources = map[string]struct{}{}
	}
	c.count++
	c.reasons[rej.Reason]++
	if len(c.devices) < maxSuppressedDistinct {
		c.devices[rej.Device] = struct{}{}
	}
	if src, _ := sourceOf(peer); src != "" && len(c.sources) < maxSuppressedDistinct {
		c.sources[src] = struct{}{}
	}
}

// forget drops the buckets that have refilled: a new one would be the same.
func (f *floods) forget(now time.Time) {
	full := func(m map[string]*tokens, burst int, every time.Duration) {
		for k, b := range m {
			if b.n+float64(now.Sub(b.last))/float64(every) >= float64(burst) {
				delete(m, k)
			}
		}
	}
	full(f.devices, f.lim.MoveBurst, f.lim.MoveEvery)
	full(f.sources, f.lim.SourceMoveBurst, f.lim.SourceMoveEvery)
}

// FlushSuppressed writes the summaries of the minutes over whose
// refusals were only counted (domain.RejectionsSuppressed), and returns
// how many it wrote. Run calls it every tick; a summary the store could not
// take is tried again at the next call.
func (s *Handler) FlushSuppressed(ctx context.Context) (int, error) {
	s.mu.Lock()
	now := s.clock().UTC()
	if s.floods.suppressed.count > 0 {
		s.floods.roll(now)
	}
	due := s.floods.due
	s.floods.due = nil
	s.mu.Unlock()
	for i, sum := range due {
		if err := s.writeSummary(ctx, sum, now); err != nil {
			s.mu.Lock()
			s.floods.due = append(due[i:], s.floods.due...)
			s.mu.Unlock()
			return i, wrapStoreError(err)
		}
	}
	return len(due), nil
}

// writeSummary appends one summary to the registrar's stream. It is no
// aggregate's: appended whatever the stream's version.
func (s *Handler) writeSummary(ctx context.Context, sum domain.RejectionsSuppressed, now time.Time) error {
	typ, data, err := domain.Encode(sum)
	if err != nil {
		return err
	}
	id := uuid.Must(uuid.NewV7()).String()
	meta, err := encodeMetadata(Metadata{EventID: id, CorrelationID: id, Actor: domain.SystemActor,
		Command: "BoundRejections", DecidedAt: now})
	if err != nil {
		return fmt.Errorf("encode the metadata of %s: %w", typ, err)
	}
	_, err = s.store.Append(ctx, eventstore.StreamAppend{Stream: domain.RegistrarStream, Expected: eventstore.Any,
		Events: []eventstore.EventData{{ID: id, Type: typ, Data: data, Metadata: meta}}})
	if err != nil {
		return fmt.Errorf("writing the summary of %d refusals not recorded: %w", sum.Count, err)
	}
	return nil
}
