package generate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// Clock is a clock a test or a tool can set, for stores that take one
// (memory.WithClock, sqlite.WithClock): it gives generated events their
// simulated time.
//
// Times pushed with Push are handed out once each, in order (a store
// writing queued appends asks the clock once per append, in the order they
// were queued); when none is left, Now returns the last time set or handed out.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	fifo []time.Time
	head int
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock function to give the store.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.head < len(c.fifo) {
		c.t = c.fifo[c.head]
		c.head++
		if c.head == len(c.fifo) {
			c.fifo, c.head = c.fifo[:0], 0
		}
	}
	return c.t
}

// Set sets the time Now returns (and forgets the times pushed).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.fifo, c.head = t, c.fifo[:0], 0
}

// Push queues a time for one call of Now.
func (c *Clock) Push(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fifo = append(c.fifo, t)
}

// StoreWriter writes a history into an event store, keeping the
// registrar's atomic appends and their global order.
//
// With a store that queues appends in order (eventstore.Pipeliner), every
// command is its own append, queued without waiting, and the store commits
// many in one transaction. Otherwise consecutive commands are merged into
// one Append as long as that changes nothing of the order: each stream of
// the next command must be new to the Append, or the stream of its last
// events (a StreamAppend writes its events contiguously, and a stream
// appears once per Append). The events of a merged Append share one
// RecordedAt.
type StoreWriter struct {
	store eventstore.Store
	clock *Clock
	pipe  eventstore.Pipeliner

	// MaxEvents bounds a merged Append (default 4096).
	MaxEvents int
	// Window bounds the queued appends not yet waited for (default 4096).
	Window int

	pending []eventstore.StreamAppend
	streams map[string]struct{} // the streams of pending
	nEvents int
	at      time.Time
	waits   []func() (eventstore.AppendResult, error)
}

// NewStoreWriter returns a StoreWriter over store, whose clock must be
// clock.Now.
func NewStoreWriter(store eventstore.Store, clock *Clock) *StoreWriter {
	w := &StoreWriter{store: store, clock: clock, MaxEvents: 4096, Window: 4096, streams: map[string]struct{}{}}
	if p, ok := store.(eventstore.Pipeliner); ok {
		w.pipe = p
	}
	return w
}

// Write implements Writer.
func (w *StoreWriter) Write(ctx context.Context, at time.Time, appends []eventstore.StreamAppend) error {
	if w.pipe != nil {
		w.clock.Push(at)
		w.waits = append(w.waits, w.pipe.Enqueue(ctx, appends...))
		if len(w.waits) >= w.Window {
			return w.wait(len(w.waits) / 2)
		}
		return nil
	}
	if !w.mergeable(appends) || w.nEvents >= w.MaxEvents {
		if err := w.Flush(ctx); err != nil {
			return err
		}
	}
	if len(w.pending) == 0 {
		w.at = at
	}
	for _, a := range appends {
		if len(a.Events) == 0 {
			continue
		}
		n := len(w.pending)
		if n > 0 && w.pending[n-1].Stream == a.Stream {
			w.pending[n-1].Events = append(w.pending[n-1].Events, a.Events...)
		} else {
			a.Events = append([]eventstore.EventData(nil), a.Events...)
			w.pending = append(w.pending, a)
			w.streams[a.Stream] = struct{}{}
		}
		w.nEvents += len(a.Events)
	}
	return nil
}

// mergeable reports whether appends can join the pending Append without
// changing the global order of the events.
func (w *StoreWriter) mergeable(appends []eventstore.StreamAppend) bool {
	last := ""
	if n := len(w.pending); n > 0 {
		last = w.pending[n-1].Stream
	}
	var mine []string // streams this command starts
	for _, a := range appends {
		if len(a.Events) == 0 || a.Stream == last {
			continue
		}
		if _, taken := w.streams[a.Stream]; taken {
			return false
		}
		for _, s := range mine {
			if s == a.Stream {
				return false
			}
		}
		mine = append(mine, a.Stream)
		last = a.Stream
	}
	return true
}

// wait waits for the n oldest queued appends.
func (w *StoreWriter) wait(n int) error {
	for i := 0; i < n; i++ {
		if _, err := w.waits[i](); err != nil {
			return fmt.Errorf("generate: append: %w", err)
		}
	}
	w.waits = append(w.waits[:0], w.waits[n:]...)
	return nil
}

// Flush writes what is pending and waits for every queued append.
func (w *StoreWriter) Flush(ctx context.Context) error {
	if w.pipe != nil {
		return w.wait(len(w.waits))
	}
	if len(w.pending) == 0 {
		return nil
	}
	// The expected versions of merged appends: the first command's
	// expectation for each stream holds for the whole run.
	w.clock.Set(w.at)
	_, err := w.store.Append(ctx, w.pending...)
	clear(w.pending)
	clear(w.streams)
	w.pending, w.nEvents = w.pending[:0], 0
	if err != nil {
		return fmt.Errorf("generate: append: %w", err)
	}
	return nil
}
