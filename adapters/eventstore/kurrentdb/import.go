package kurrentdb

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// ErrImport: events given to Import do not continue the store's history.
var ErrImport = errors.New("imported events do not continue the store")

// Bounds of one MultiStreamAppend of Import: events, and bytes (the
// server's default largest append is 1 MiB).
const (
	maxImportAppend      = 512
	maxImportAppendBytes = 512 << 10
)

// Import writes events recorded by another store as they are (positions,
// stream versions, IDs, metadata, times, hashes), for copying a history
// (replay copy). They must continue this store exactly: the first at the
// position after the head, each stream's versions on from its last, each
// hash the chain of the one before; otherwise the error wraps ErrImport.
//
// The events go in appends of consecutive events in which each stream's
// events are adjacent (what one MultiStreamAppend and one log entry can
// say), each committed atomically with its log entry. If Import fails on
// the way, the events before the failing append are stored: the store's
// head says where to go on from.
func (s *Store) Import(ctx context.Context, events []eventstore.RecordedEvent) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("kurrentdb %s: %w", s.location, ErrReadOnly)
	}
	for _, e := range events {
		if e.Stream == "" {
			return fmt.Errorf("%w: position %d: empty stream name", ErrImport, e.Position)
		}
	}
	if err := s.checkNames(importAppends(events)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(ctx); err != nil {
		return s.opErr(err)
	}
	for len(events) > 0 {
		n := importChunk(events)
		if err := s.importAppend(ctx, events[:n]); err != nil {
			s.stale = true
			return s.opErr(err)
		}
		events = events[n:]
	}
	return nil
}

// importAppends lists the streams of events, for checkNames.
func importAppends(events []eventstore.RecordedEvent) []eventstore.StreamAppend {
	var as []eventstore.StreamAppend
	seen := map[string]bool{}
	for _, e := range events {
		if !seen[e.Stream] {
			seen[e.Stream] = true
			as = append(as, eventstore.StreamAppend{Stream: e.Stream})
		}
	}
	return as
}

// importChunk is how many of the first events one append can take: up to
// maxImportAppend events and about maxImportAppendBytes, as long as no
// stream comes back after another.
func importChunk(events []eventstore.RecordedEvent) int {
	seen := map[string]bool{}
	size := 0
	for i, e := range events {
		size += len(e.Data) + 2*len(e.Metadata) + 256 // the metadata goes in escaped, beside the store's
		if i == maxImportAppend || (i > 0 && size > maxImportAppendBytes) {
			return i
		}
		if seen[e.Stream] && events[i-1].Stream != e.Stream {
			return i
		}
		seen[e.Stream] = true
	}
	return len(events)
}

// importAppend writes one chunk (see importChunk) after checking that it
// continues the store.
func (s *Store) importAppend(ctx context.Context, events []eventstore.RecordedEvent) error {
	entry := logEntry{First: events[0].Position, Last: events[len(events)-1].Position}
	prev := s.head.hash
	var reqs []kdb.AppendStreamRequest
	for i := 0; i < len(events); {
		stream := events[i].Stream
		cur, err := s.version(ctx, stream)
		if err != nil {
			return err
		}
		ls := logStream{Stream: stream, Version: cur}
		var evs []kdb.EventData
		for ; i < len(events) && events[i].Stream == stream; i++ {
			e := events[i]
			switch {
			case e.Position != s.head.pos+1+uint64(i):
				return fmt.Errorf("%w: event %s is at position %d, the store's next is %d", ErrImport, e.ID, e.Position, s.head.pos+1+uint64(i))
			case int64(e.Version) != ls.Version+1:
				return fmt.Errorf("%w: position %d: stream %q version %d, the stream's next is %d", ErrImport, e.Position, stream, e.Version, ls.Version+1)
			case !bytes.Equal(eventstore.ChainHash(prev, e), e.Hash):
				return fmt.Errorf("%w: position %d (stream %q version %d): the hash does not chain to the event before", ErrImport, e.Position, stream, e.Version)
			}
			ke, err := encodeEvent(eventstore.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata},
				stamp{Position: e.Position, RecordedAt: e.RecordedAt, Hash: e.Hash})
			if err != nil {
				return err
			}
			evs = append(evs, ke)
			ls.IDs = append(ls.IDs, e.ID)
			ls.Version++
			prev = e.Hash
		}
		entry.Streams = append(entry.Streams, ls)
		reqs = append(reqs, kdb.AppendStreamRequest{StreamName: s.serverName(stream), Events: slices.Values(evs), ExpectedStreamState: exactState(cur)})
	}
	entry.Hash = hex.EncodeToString(prev)
	le, err := encodeLog(entry)
	if err != nil {
		return err
	}
	reqs = append(reqs, kdb.AppendStreamRequest{StreamName: s.log, Events: slices.Values([]kdb.EventData{le}), ExpectedStreamState: exactState(s.head.rev)})
	if err := s.b.multiAppend(ctx, reqs); err != nil {
		var rc *revisionConflict
		if errors.As(err, &rc) {
			return fmt.Errorf("%w: another process appended to the store during the import", ErrImport)
		}
		return err
	}
	s.head = head{rev: s.head.rev + 1, pos: entry.Last, hash: prev}
	s.remember(entry)
	return nil
}
