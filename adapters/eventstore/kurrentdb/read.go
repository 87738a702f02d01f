package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, fn func(eventstore.RecordedEvent) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var fnErr error
	err := s.b.readStream(ctx, s.serverName(stream), from, false, readAllEvents, true, func(r rawEvent) error {
		e, err := decodeEvent(r, stream)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case errors.Is(err, errNotFound):
		return nil
	}
	return s.opErr(err)
}

// ReadAll implements eventstore.Store: it reads up to the head as it is
// when ReadAll starts. It finds where position from is in $all through the
// position log (a binary search, from its end), then follows $all from
// there, filtered on the store's prefix, putting back in order the events
// of one append that the server may have laid out in another order.
func (s *Store) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	from = max(from, 1)
	after, end, err := s.seek(ctx, from)
	if err != nil {
		return s.opErr(err)
	}
	if from > end {
		return nil
	}
	return s.follow(ctx, after, from, end, fn)
}

// Subscribe implements eventstore.Store. It follows $all as ReadAll does,
// without end; it resubscribes after the server drops the subscription
// (a leader change, a restart) and gives up, with an error wrapping
// eventstore.ErrUnavailable, when it cannot for about a minute. It ends
// with eventstore.ErrClosed when the store is closed.
func (s *Store) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	from = max(from, 1)
	after, _, err := s.seek(ctx, from)
	if err != nil {
		return s.opErr(err)
	}
	return s.follow(ctx, after, from, 0, fn)
}

// maxPending bounds the events held back until the ones before them come:
// one append's events at most, unless positions are missing.
const maxPending = 1 << 16

// errReachedEnd stops a bounded follow.
var errReachedEnd = errors.New("reached the end")

// Resubscription backoff.
const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
	maxFailures = 16 // consecutive failed subscriptions before giving up
)

// follow delivers the store's events from position from, in order, reading
// $all after the position after (nil: from the start), up to position end
// (0: without end, live).
func (s *Store) follow(ctx context.Context, after *kdb.Position, from, end uint64, fn func(eventstore.RecordedEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Close ends the subscription
	defer stop()

	r := reorder{next: from, pending: make(map[uint64]eventstore.RecordedEvent)}
	var fnErr error
	failures := 0
	backoff := minBackoff
	for {
		progressed := false
		// A bounded read asks the leader, which holds everything up to
		// end: caught up before end means events are missing.
		err := s.b.subscribeAll(ctx, after, s.prefix, end > 0, func(raw rawEvent) error {
			pos := raw.Pos
			after = &pos
			progressed = true
			if raw.Stream == s.log {
				return nil
			}
			e, err := decodeEvent(raw, s.portName(raw.Stream))
			if err != nil {
				return err
			}
			return r.add(e, func(e eventstore.RecordedEvent) error {
				if err := fn(e); err != nil {
					fnErr = err
					return err
				}
				if end > 0 && e.Position >= end {
					return errReachedEnd
				}
				return nil
			})
		}, func() error {
			if end > 0 && r.next <= end {
				return fmt.Errorf("%w: $all holds no event at position %d (the head is at %d): an event was deleted or written outside the store", eventstore.ErrCorrupt, r.next, end)
			}
			return nil
		})
		switch {
		case errors.Is(err, errReachedEnd):
			return nil
		case fnErr != nil:
			return fnErr
		case s.isClosed():
			return eventstore.ErrClosed
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !errors.Is(err, eventstore.ErrUnavailable) && !errors.Is(err, errDropped):
			return err
		}
		if progressed {
			failures, backoff = 0, minBackoff
		}
		if failures++; failures > maxFailures {
			return fmt.Errorf("kurrentdb %s: subscription: %w", s.location, err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			if s.isClosed() {
				return eventstore.ErrClosed
			}
			return ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (s *Store) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// reorder puts events back in position order. The events of one append
// are adjacent in $all but the server may lay them out in another order
// than their positions; appends follow each other in position order.
type reorder struct {
	next    uint64 // the position to deliver next
	pending map[uint64]eventstore.RecordedEvent
}

// add takes an event and delivers what it can, in order.
func (r *reorder) add(e eventstore.RecordedEvent, deliver func(eventstore.RecordedEvent) error) error {
	if e.Position < r.next {
		return nil // before from, or seen again after a resubscription
	}
	r.pending[e.Position] = e
	for {
		e, ok := r.pending[r.next]
		if !ok {
			break
		}
		delete(r.pending, r.next)
		r.next++
		if err := deliver(e); err != nil {
			return err
		}
	}
	if len(r.pending) > maxPending {
		return fmt.Errorf("%w: %d events came after position %d, which never did", eventstore.ErrCorrupt, len(r.pending), r.next)
	}
	return nil
}

// seekPage is how many log entries seek reads from the end of the log
// before it searches the rest: readers that keep up ask for recent
// positions.
const seekPage = 32

// seek finds where to follow $all from to read position from: after the
// $all position of the log entry of the append before the one holding from
// (nil: from the start of $all). end is the head.
func (s *Store) seek(ctx context.Context, from uint64) (after *kdb.Position, end uint64, err error) {
	type entry struct {
		rev uint64
		log logEntry
		at  kdb.Position
	}
	var page []entry // newest first
	err = s.b.readStream(ctx, s.log, 0, true, seekPage, true, func(r rawEvent) error {
		l, err := decodeLog(r)
		if err != nil {
			return err
		}
		page = append(page, entry{rev: r.Revision, log: l, at: r.Pos})
		return nil
	})
	if errors.Is(err, errNotFound) || (err == nil && len(page) == 0) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	last := page[0]
	end = last.log.Last
	if from > end {
		at := last.at
		return &at, end, nil
	}
	if from <= 1 {
		return nil, end, nil
	}
	for i, e := range page {
		if e.log.First > from {
			continue
		}
		// e holds from: follow after the entry before it.
		switch {
		case e.rev == 0:
			return nil, end, nil
		case i+1 < len(page):
			at := page[i+1].at
			return &at, end, nil
		}
		_, at, err := s.logAt(ctx, e.rev-1)
		return &at, end, err
	}
	// Binary search below the page: the first entry whose last position
	// is at or after from.
	lo, hi := uint64(0), page[len(page)-1].rev-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		l, _, err := s.logAt(ctx, mid)
		if err != nil {
			return nil, 0, err
		}
		if l.Last < from {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return nil, end, nil
	}
	_, at, err := s.logAt(ctx, lo-1)
	return &at, end, err
}

// logAt reads the log entry at revision rev and its $all position.
func (s *Store) logAt(ctx context.Context, rev uint64) (logEntry, kdb.Position, error) {
	var l logEntry
	var at kdb.Position
	found := false
	err := s.b.readStream(ctx, s.log, rev, false, 1, true, func(r rawEvent) error {
		var err error
		l, err = decodeLog(r)
		at, found = r.Pos, r.Revision == rev
		return err
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: position log has no event %d", eventstore.ErrCorrupt, rev)
	}
	return l, at, err
}
