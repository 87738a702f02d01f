package kurrentdb

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// maxLogAttempts bounds how often one Append goes back to the server
// because other processes appended in between.
const maxLogAttempts = 32

// Append implements eventstore.Store.
//
// Every append takes the next positions of the store's position log: it
// is one MultiStreamAppend of the events, each stream expected at the
// revision the store knows, and of one event to the log, expected at the
// log's last revision. Appends of other processes (other registrars on the
// same server) thus fail on the log, and the store reads what they wrote
// from the log and tries again. The port's expected versions (Any,
// NoStream, Exact) are checked by the store against the versions it knows
// as of the log's last revision, which the server confirms at commit; an
// entry with no events is checked the same way (the server takes no entry
// without events). A retried append (same event IDs) is recognised among
// the latest events and answered with the original result.
//
// If ctx ends or the server fails while the append is on its way, the
// outcome is unknown: the error says so (the context's error, or one
// wrapping eventstore.ErrUnavailable), and retrying with the same event
// IDs is safe.
func (s *Store) Append(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	if err := s.check(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.readOnly {
		return eventstore.AppendResult{}, fmt.Errorf("kurrentdb %s: %w", s.location, ErrReadOnly)
	}
	if err := eventstore.ValidateAppends(appends); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.checkNames(appends); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.append(ctx, appends)
	return res, s.opErr(err)
}

// append runs under mu.
func (s *Store) append(ctx context.Context, appends []eventstore.StreamAppend) (eventstore.AppendResult, error) {
	for attempt := range maxLogAttempts {
		if attempt >= 2 {
			// Processes appending in step keep beating each other to the
			// log: a random pause, growing with the attempts, lets one
			// through at a time.
			t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt) * int64(250*time.Microsecond))))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if err := ctx.Err(); err != nil {
			return eventstore.AppendResult{}, err
		}
		fresh := false
		if !s.loaded || s.stale {
			if err := s.refresh(ctx); err != nil {
				return eventstore.AppendResult{}, err
			}
			fresh = true
		}
		cur := make([]int64, len(appends))
		for i, a := range appends {
			v, err := s.version(ctx, a.Stream)
			if err != nil {
				return eventstore.AppendResult{}, err
			}
			cur[i] = v
		}
		conflict := checkExpected(appends, cur)
		known := s.knowsAny(appends)
		if conflict != nil || known {
			if !fresh {
				// Judge on what the log says now, not on what it said.
				s.stale = true
				continue
			}
			res, stored, err := eventstore.MatchStored(appends, s.lookup(ctx), func(stream string) (int64, error) {
				return s.version(ctx, stream)
			})
			switch {
			case err != nil:
				return eventstore.AppendResult{}, err
			case stored:
				return res, nil
			case conflict != nil:
				return eventstore.AppendResult{}, conflict
			}
		}
		if eventstore.CountEvents(appends) == 0 {
			// Only checks: they held as of the log's last revision, if
			// the log has not moved since.
			h, _, err := s.lastLog(ctx)
			if err != nil {
				return eventstore.AppendResult{}, err
			}
			if h.rev != s.head.rev {
				s.stale = true
				continue
			}
			return eventstore.AppendResult{Versions: cur}, nil
		}
		p, err := s.plan(appends, cur)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		err = s.b.multiAppend(ctx, p.reqs)
		if err == nil {
			s.head = head{rev: s.head.rev + 1, pos: p.entry.Last, hash: p.hash}
			s.remember(p.entry)
			return p.res, nil
		}
		var rc *revisionConflict
		if !errors.As(err, &rc) {
			// The outcome is unknown: the server may have written it.
			s.stale = true
			return eventstore.AppendResult{}, err
		}
		// Another process appended since head: read what it did, and try
		// again. A conflict on one of our streams says where it is now.
		if rc.Stream != s.log {
			for _, a := range appends {
				delete(s.versions, a.Stream)
			}
			if rc.Known && rc.Stream != "" {
				s.versions[s.portName(rc.Stream)] = rc.Actual
			}
		}
		s.stale = true
	}
	return eventstore.AppendResult{}, fmt.Errorf("%w: kurrentdb %s: other processes appended at each of %d attempts", eventstore.ErrUnavailable, s.location, maxLogAttempts)
}

// checkExpected checks each entry's expected version against its stream's
// version (cur, -1: no stream) and returns the first that does not hold.
func checkExpected(appends []eventstore.StreamAppend, cur []int64) *eventstore.ConflictError {
	for i, a := range appends {
		if !a.Expected.Allows(cur[i]) {
			return conflictError(a.Stream, a.Expected, cur[i])
		}
	}
	return nil
}

// knowsAny reports whether an event ID of appends is among the latest
// events.
func (s *Store) knowsAny(appends []eventstore.StreamAppend) bool {
	for _, a := range appends {
		for _, e := range a.Events {
			if _, ok := s.ids[e.ID]; ok {
				return true
			}
		}
	}
	return false
}

// appendPlan is what one attempt sends, and what it gives if it commits.
type appendPlan struct {
	reqs  []kdb.AppendStreamRequest
	entry logEntry
	hash  []byte // the last event's hash
	res   eventstore.AppendResult
}

// plan stamps the events of appends after the head (positions, time, hash
// chain) and makes the requests: one per stream with events, expected at
// its version in cur, then the log's, expected at the log's revision.
func (s *Store) plan(appends []eventstore.StreamAppend, cur []int64) (appendPlan, error) {
	now := s.clock().UTC().Round(0)
	pos, hash := s.head.pos, s.head.hash
	p := appendPlan{
		entry: logEntry{First: pos + 1},
		res:   eventstore.AppendResult{Versions: slices.Clone(cur)},
	}
	for i, a := range appends {
		if len(a.Events) == 0 {
			continue
		}
		v := cur[i]
		ls := logStream{Stream: a.Stream}
		evs := make([]kdb.EventData, 0, len(a.Events))
		for _, e := range a.Events {
			pos++
			v++
			rec := eventstore.RecordedEvent{Position: pos, Stream: a.Stream, Version: uint64(v), ID: e.ID,
				Type: e.Type, Data: e.Data, Metadata: e.Metadata, RecordedAt: now}
			hash = eventstore.ChainHash(hash, rec)
			ke, err := encodeEvent(e, stamp{Position: pos, RecordedAt: now, Hash: hash})
			if err != nil {
				return appendPlan{}, err
			}
			evs = append(evs, ke)
			ls.IDs = append(ls.IDs, e.ID)
		}
		ls.Version = v
		p.res.Versions[i] = v
		p.entry.Streams = append(p.entry.Streams, ls)
		p.reqs = append(p.reqs, kdb.AppendStreamRequest{
			StreamName:          s.serverName(a.Stream),
			Events:              slices.Values(evs),
			ExpectedStreamState: exactState(cur[i]),
		})
	}
	p.entry.Last, p.entry.Hash, p.hash = pos, hex.EncodeToString(hash), hash
	p.res.Position = pos
	le, err := encodeLog(p.entry)
	if err != nil {
		return appendPlan{}, err
	}
	p.reqs = append(p.reqs, kdb.AppendStreamRequest{
		StreamName:          s.log,
		Events:              slices.Values([]kdb.EventData{le}),
		ExpectedStreamState: exactState(s.head.rev),
	})
	return p, nil
}
