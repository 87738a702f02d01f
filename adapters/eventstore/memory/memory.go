// Package memory is an in-memory event store for tests. It has the same
// semantics as the SQLite store, hash chain included, and passes the
// conformance suite in package storetest.
//
// It implements the port internal/eventstore and imports nothing else of the
// project.
package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// Option configures a Store.
type Option func(*config)

type config struct {
	clock func() time.Time
}

// WithClock sets the clock that stamps RecordedAt (default time.Now). The
// time is stored in UTC, without its monotonic reading.
func WithClock(clock func() time.Time) Option {
	return func(c *config) { c.clock = clock }
}

// log is the data a Store keeps; Reopen hands it to a new Store.
type log struct {
	mu      sync.RWMutex
	clock   func() time.Time
	events  []eventstore.RecordedEvent // events[i].Position == i+1
	streams map[string][]uint64        // stream -> positions, by version
	ids     map[string]uint64          // event ID -> position
	// changed is closed (and replaced) whenever events are appended.
	changed chan struct{}
}

// Store is an in-memory eventstore.Store. The zero value is not usable: call New.
type Store struct {
	log *log

	closeOnce sync.Once
	closed    chan struct{}
}

var _ eventstore.Store = (*Store)(nil)

// New returns an empty store.
func New(opts ...Option) *Store {
	cfg := config{clock: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	return &Store{
		log: &log{
			clock:   cfg.clock,
			streams: make(map[string][]uint64),
			ids:     make(map[string]uint64),
			changed: make(chan struct{}),
		},
		closed: make(chan struct{}),
	}
}

// Reopen returns a new Store over the same events, as reopening a
// persistent store would: it lets tests of restarts run in memory. s is left
// as it is (close it first to mimic a restart faithfully).
func (s *Store) Reopen() *Store {
	return &Store{log: s.log, closed: make(chan struct{})}
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	if s.isClosed() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateAppends(appends); err != nil {
		return eventstore.AppendResult{}, err
	}
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()

	versions := make([]int64, len(appends))
	var conflict error
	taken := false
	for i, a := range appends {
		cur := int64(len(l.streams[a.Stream])) - 1
		if !a.Expected.Allows(cur) {
			conflict = &eventstore.ConflictError{Stream: a.Stream, Expected: a.Expected, Actual: cur}
			break
		}
		versions[i] = cur + int64(len(a.Events))
		for _, e := range a.Events {
			if _, ok := l.ids[e.ID]; ok {
				taken = true
			}
		}
	}
	if conflict != nil || taken {
		res, stored, err := eventstore.MatchStored(appends, l.lookup, l.version)
		switch {
		case err != nil:
			return eventstore.AppendResult{}, err
		case stored:
			return res, nil
		case conflict != nil:
			return eventstore.AppendResult{}, conflict
		}
	}

	n := eventstore.CountEvents(appends)
	if n == 0 {
		return eventstore.AppendResult{Versions: versions}, nil
	}
	now := l.clock().UTC().Round(0)
	var prev []byte
	if len(l.events) > 0 {
		prev = l.events[len(l.events)-1].Hash
	}
	l.events = slices.Grow(l.events, n)
	for _, a := range appends {
		for _, e := range a.Events {
			pos := uint64(len(l.events)) + 1
			rec := eventstore.RecordedEvent{
				Position:   pos,
				Stream:     a.Stream,
				Version:    uint64(len(l.streams[a.Stream])),
				ID:         e.ID,
				Type:       e.Type,
				Data:       clone(e.Data),
				Metadata:   clone(e.Metadata),
				RecordedAt: now,
			}
			rec.Hash = eventstore.ChainHash(prev, rec)
			prev = rec.Hash
			l.events = append(l.events, rec)
			l.streams[a.Stream] = append(l.streams[a.Stream], pos)
			l.ids[e.ID] = pos
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return eventstore.AppendResult{Position: uint64(len(l.events)), Versions: versions}, nil
}

// lookup and version serve eventstore.MatchStored; l.mu is held.
func (l *log) lookup(id string) (eventstore.RecordedEvent, bool, error) {
	pos, ok := l.ids[id]
	if !ok {
		return eventstore.RecordedEvent{}, false, nil
	}
	return l.events[pos-1], true, nil
}

func (l *log) version(stream string) (int64, error) {
	return int64(len(l.streams[stream])) - 1, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, fn func(eventstore.RecordedEvent) error) error {
	for v := from; ; v++ {
		if err := s.check(ctx); err != nil {
			return err
		}
		l := s.log
		l.mu.RLock()
		positions := l.streams[stream]
		if v >= uint64(len(positions)) {
			l.mu.RUnlock()
			return nil
		}
		e := l.events[positions[v]-1]
		l.mu.RUnlock()
		if err := fn(copyEvent(e)); err != nil {
			return err
		}
	}
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	_, err := s.readFrom(ctx, max(from, 1), fn)
	return err
}

// readFrom delivers the events from position `from` that are stored now and
// returns the position after the last one delivered.
func (s *Store) readFrom(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) (uint64, error) {
	for next := from; ; next++ {
		if err := s.check(ctx); err != nil {
			return next, err
		}
		l := s.log
		l.mu.RLock()
		if next > uint64(len(l.events)) {
			l.mu.RUnlock()
			return next, nil
		}
		e := l.events[next-1]
		l.mu.RUnlock()
		if err := fn(copyEvent(e)); err != nil {
			return next, err
		}
	}
}

// Subscribe implements eventstore.Store.
func (s *Store) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	next := max(from, 1)
	for {
		s.log.mu.RLock()
		changed := s.log.changed
		s.log.mu.RUnlock()
		var err error
		if next, err = s.readFrom(ctx, next, fn); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return eventstore.ErrClosed
		}
	}
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	s.log.mu.RLock()
	defer s.log.mu.RUnlock()
	return uint64(len(s.log.events)), nil
}

// Close implements eventstore.Store. Closing twice is not an error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func (s *Store) check(ctx context.Context) error {
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	return ctx.Err()
}

// copyEvent gives readers their own byte slices, as a store reading from
// disk would.
func copyEvent(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	e.Data = clone(e.Data)
	e.Metadata = clone(e.Metadata)
	e.Hash = clone(e.Hash)
	return e
}

// clone copies b; empty (or nil) gives nil, as the SQLite store reads back.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}
