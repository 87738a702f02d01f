package features

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore"
)

// memStore is a small, private, in-memory eventstore.Store for the features.
// It favours obvious correctness over speed: one mutex, a slice of events,
// atomic multi-stream appends with expected-version checks, idempotent
// retries by event id, a hash chain, and live subscriptions.
//
// RecordedAt comes from the scenario's fake clock, so that what the store
// records agrees with the time the registrar decided at.
type memStore struct {
	mu       sync.Mutex
	clock    func() time.Time
	events   []eventstore.RecordedEvent
	versions map[string]uint64 // stream -> last version (absent: no stream)
	ids      map[string]int    // event id -> index in events
	closed   bool
	changed  chan struct{} // closed and replaced on every append
}

var _ eventstore.Store = (*memStore)(nil)

func newMemStore(clock func() time.Time) *memStore {
	if clock == nil {
		clock = time.Now
	}
	return &memStore{clock: clock, versions: map[string]uint64{}, ids: map[string]int{}, changed: make(chan struct{})}
}

func (s *memStore) Append(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	// A retried append (every id already stored) is a successful no-op.
	total, known := 0, 0
	last := uint64(0)
	for _, a := range appends {
		for _, e := range a.Events {
			total++
			if i, ok := s.ids[e.ID]; ok {
				known++
				last = max(last, s.events[i].Position)
			}
		}
	}
	if total > 0 && known == total {
		return eventstore.AppendResult{Position: last, Versions: s.versionsOf(appends)}, nil
	}
	if known > 0 {
		return eventstore.AppendResult{}, fmt.Errorf("memstore: %d of %d event ids already stored", known, total)
	}
	// Check every expectation before writing anything.
	seen := map[string]bool{}
	for _, a := range appends {
		if a.Stream == "" {
			return eventstore.AppendResult{}, fmt.Errorf("memstore: empty stream name")
		}
		if seen[a.Stream] && len(a.Events) > 0 {
			return eventstore.AppendResult{}, fmt.Errorf("memstore: stream %q appears twice in one append", a.Stream)
		}
		seen[a.Stream] = true
		v, exists := s.versions[a.Stream]
		actual := int64(-1)
		if exists {
			actual = int64(v)
		}
		switch a.Expected {
		case eventstore.Any:
		case eventstore.NoStream:
			if exists {
				return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: a.Stream, Expected: a.Expected, Actual: actual}
			}
		default:
			if !exists || int64(a.Expected) != actual {
				return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: a.Stream, Expected: a.Expected, Actual: actual}
			}
		}
	}
	at := s.clock().UTC()
	var pos uint64
	for _, a := range appends {
		for _, e := range a.Events {
			v, exists := s.versions[a.Stream]
			next := uint64(0)
			if exists {
				next = v + 1
			}
			var prev []byte
			if n := len(s.events); n > 0 {
				prev = s.events[n-1].Hash
			}
			rec := eventstore.RecordedEvent{
				Position: uint64(len(s.events)) + 1, Stream: a.Stream, Version: next, ID: e.ID, Type: e.Type,
				Data: clone(e.Data), Metadata: clone(e.Metadata), RecordedAt: at,
			}
			rec.Hash = eventstore.ChainHash(prev, rec)
			s.versions[a.Stream] = next
			s.ids[e.ID] = len(s.events)
			s.events = append(s.events, rec)
			pos = rec.Position
		}
	}
	if pos > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return eventstore.AppendResult{Position: pos, Versions: s.versionsOf(appends)}, nil
}

func (s *memStore) versionsOf(appends []eventstore.StreamAppend) []int64 {
	out := make([]int64, len(appends))
	for i, a := range appends {
		if v, ok := s.versions[a.Stream]; ok {
			out[i] = int64(v)
		} else {
			out[i] = -1
		}
	}
	return out
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// snapshot copies the events from global position from (1-based) on.
func (s *memStore) snapshot(from uint64) ([]eventstore.RecordedEvent, chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, eventstore.ErrClosed
	}
	if from < 1 {
		from = 1
	}
	var out []eventstore.RecordedEvent
	if from <= uint64(len(s.events)) {
		out = append(out, s.events[from-1:]...)
	}
	return out, s.changed, nil
}

func (s *memStore) ReadStream(ctx context.Context, stream string, from uint64, fn func(eventstore.RecordedEvent) error) error {
	all, _, err := s.snapshot(1)
	if err != nil {
		return err
	}
	for _, e := range all {
		if e.Stream != stream || e.Version < from {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	evs, _, err := s.snapshot(from)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	next := max(from, 1)
	for {
		evs, changed, err := s.snapshot(next)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return err
			}
			next = e.Position + 1
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func (s *memStore) Head(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, eventstore.ErrClosed
	}
	return uint64(len(s.events)), nil
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return nil
}
