package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// Source is the part of an event store a Runner reads.
type Source interface {
	ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error
	Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error
}

// ErrStopped is returned by WaitFor once the Runner's Run has returned.
var ErrStopped = errors.New("projections runner stopped")

// Runner feeds projections from an event store: it decodes each event once
// and applies it, in global order, to every projection that has not seen it
// yet (whose checkpoint is below the event's position).
//
// CatchUp reads what is stored; Run then follows the store live. WaitFor
// lets a caller that just wrote at some position wait until the read models
// include it (read your own writes).
type Runner struct {
	src   Source
	projs []Projection
	skip  []uint64    // per projection: events at or below are already in it
	sel   []Selective // per projection: nil when it wants every event
	dec   *Decoder
	ev    Event // reused for every event

	pos atomic.Uint64 // the last position applied (or skipped)
	// applying is held while events are applied and pos moves (an event
	// in Apply, a batch in CatchUp), so that Paused sees the projections
	// between two events.
	applying sync.Mutex

	mu      sync.Mutex
	waiters []waiter
	nwait   atomic.Int32
	stopped chan struct{} // closed when Run returns
	stopErr error
	running atomic.Bool
}

type waiter struct {
	pos uint64
	ch  chan struct{}
}

// NewRunner returns a Runner over src for the projections. It starts after
// the lowest checkpoint among them, so projections restored at some
// position, or fresh ones, can be mixed.
func NewRunner(src Source, ps ...Projection) *Runner {
	if len(ps) > 64 {
		panic("projections: a Runner takes at most 64 projections")
	}
	r := &Runner{src: src, projs: ps, dec: NewDecoder(), stopped: make(chan struct{})}
	r.skip = make([]uint64, len(ps))
	r.sel = make([]Selective, len(ps))
	low := uint64(0)
	for i, p := range ps {
		r.sel[i], _ = p.(Selective)
		r.skip[i] = p.Checkpoint()
		if i == 0 || r.skip[i] < low {
			low = r.skip[i]
		}
	}
	r.pos.Store(low)
	return r
}

// Position is the global position of the last event the Runner applied.
func (r *Runner) Position() uint64 { return r.pos.Load() }

// Apply decodes one stored event and applies it to the projections. Events
// must come in global order; one at or below Position is ignored. Events of
// streams that are not the project's are skipped. It is what Run calls for
// each live event; tools that read the store themselves (to stop at an
// instant, say) call it directly. It must not be called concurrently with
// itself, CatchUp or Run.
func (r *Runner) Apply(rec eventstore.RecordedEvent) error {
	if rec.Position <= r.pos.Load() {
		return nil
	}
	mask, err := r.decode(&rec, &r.ev)
	if err != nil {
		return err
	}
	r.applying.Lock()
	if mask != 0 {
		r.apply(&r.ev, mask)
		r.ev = Event{} // hold on to nothing of the caller's
	}
	r.advance(rec.Position)
	r.applying.Unlock()
	return nil
}

// Paused calls fn while no event is being applied, with the position of
// the last one applied: the projections hold exactly the events up to it
// for as long as fn runs (a snapshot of them is consistent). Events wait
// meanwhile; fn must not wait for them.
func (r *Runner) Paused(fn func(pos uint64) error) error {
	r.applying.Lock()
	defer r.applying.Unlock()
	return fn(r.pos.Load())
}

// decode decodes rec into ev if a projection wants it, and returns which
// projections do (bit i for projection i; 0: none).
func (r *Runner) decode(rec *eventstore.RecordedEvent, ev *Event) (uint64, error) {
	if !strings.HasPrefix(rec.Stream, domain.StreamPrefix) {
		return 0, nil
	}
	var mask uint64
	for i, s := range r.sel {
		if rec.Position > r.skip[i] && (s == nil || s.Wants(rec.Type)) {
			mask |= 1 << i
		}
	}
	if mask == 0 {
		return 0, nil
	}
	payload, err := r.dec.Decode(rec.Type, rec.Data)
	if err != nil {
		return 0, fmt.Errorf("projections: event at position %d (stream %s, version %d): %w", rec.Position, rec.Stream, rec.Version, err)
	}
	*ev = Event{RecordedEvent: *rec, Payload: payload}
	return mask, nil
}

// apply applies a decoded event to the projections in mask.
func (r *Runner) apply(ev *Event, mask uint64) {
	for i, p := range r.projs {
		if mask&(1<<i) != 0 {
			p.Apply(ev)
		}
	}
}

// advance publishes pos and wakes the waiters it satisfies.
func (r *Runner) advance(pos uint64) {
	r.pos.Store(pos)
	if r.nwait.Load() == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.waiters[:0]
	for _, w := range r.waiters {
		if w.pos <= pos {
			close(w.ch)
			r.nwait.Add(-1)
			continue
		}
		kept = append(kept, w)
	}
	clear(r.waiters[len(kept):])
	r.waiters = kept
}

// CatchUp applies every stored event after Position and returns the new
// Position. It decodes in the goroutine that reads the store and applies in
// another, so that a long catch-up uses two cores.
func (r *Runner) CatchUp(ctx context.Context) (uint64, error) {
	type item struct {
		ev   Event
		mask uint64
	}
	const batchSize, inFlight = 256, 4
	full := make(chan []item, inFlight)
	free := make(chan []item, inFlight+2)
	for range inFlight + 2 {
		free <- make([]item, 0, batchSize)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			r.applying.Lock()
			for i := range b {
				if b[i].mask != 0 {
					r.apply(&b[i].ev, b[i].mask)
				}
				r.advance(b[i].ev.Position)
			}
			r.applying.Unlock()
			clear(b)
			free <- b[:0]
		}
	}()
	cur := <-free
	last := r.pos.Load()
	send := func() {
		if len(cur) > 0 {
			full <- cur
			cur = <-free
		}
	}
	err := r.src.ReadAll(ctx, last+1, func(rec eventstore.RecordedEvent) error {
		if rec.Position <= last {
			return nil
		}
		cur = append(cur, item{})
		it := &cur[len(cur)-1]
		mask, err := r.decode(&rec, &it.ev)
		if err != nil {
			cur = cur[:len(cur)-1]
			return err
		}
		if mask == 0 {
			it.ev.Position = rec.Position // only the position moves
		}
		it.mask = mask
		last = rec.Position
		if len(cur) == batchSize {
			send()
		}
		return nil
	})
	send()
	close(full)
	<-done
	return r.pos.Load(), err
}

// Run catches up (CatchUp), then applies every new event as it is
// stored, until ctx ends (it returns nil then) or an event cannot be
// applied or read (it returns the error). After Run returns, WaitFor
// returns ErrStopped for positions not reached. Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("projections: Run called twice")
	}
	_, err := r.CatchUp(ctx)
	if err == nil {
		err = r.src.Subscribe(ctx, r.pos.Load()+1, r.Apply)
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil
	}
	r.mu.Lock()
	r.stopErr = err
	close(r.stopped)
	r.mu.Unlock()
	return err
}

// WaitFor blocks until the projections include the event at position pos,
// ctx ends, or Run stops first (the error then wraps ErrStopped and says
// why Run stopped).
func (r *Runner) WaitFor(ctx context.Context, pos uint64) error {
	if r.pos.Load() >= pos {
		return nil
	}
	ch := make(chan struct{})
	r.mu.Lock()
	select {
	case <-r.stopped:
		err := r.stopErr
		r.mu.Unlock()
		if r.pos.Load() >= pos {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w at position %d: %w", ErrStopped, r.pos.Load(), err)
		}
		return fmt.Errorf("%w at position %d", ErrStopped, r.pos.Load())
	default:
	}
	r.waiters = append(r.waiters, waiter{pos: pos, ch: ch})
	r.nwait.Add(1)
	r.mu.Unlock()
	if r.pos.Load() >= pos { // advanced before the waiter was registered
		r.drop(ch)
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		r.drop(ch)
		if r.pos.Load() >= pos {
			return nil
		}
		return ctx.Err()
	case <-r.stopped:
		r.drop(ch)
		return r.WaitFor(ctx, pos)
	}
}

// drop removes a waiter that no longer waits.
func (r *Runner) drop(ch chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range r.waiters {
		if w.ch == ch {
			r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
			r.nwait.Add(-1)
			return
		}
	}
}

// Rebuild empties every projection and applies the whole store again from
// position 1. It must not run while Run does.
func (r *Runner) Rebuild(ctx context.Context) (uint64, error) {
	if r.running.Load() {
		return r.pos.Load(), errors.New("projections: cannot rebuild while running")
	}
	for i, p := range r.projs {
		p.Reset()
		r.skip[i] = 0
	}
	r.pos.Store(0)
	r.dec = NewDecoder()
	return r.CatchUp(ctx)
}
