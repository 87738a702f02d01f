package kurrentdb

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
)

// fakeServer is an in-memory stand-in for a KurrentDB node, as far as the
// store uses one: streams with revisions, $all with positions, atomic
// multi-stream appends with expected revisions, reads, and filtered
// catch-up subscriptions. With reverse set it lays out the events of one
// multi-stream append in $all in reverse order, which the server is free
// to do and the store must undo.
type fakeServer struct {
	mu       sync.Mutex
	streams  map[string][]rawEvent
	all      []rawEvent
	changed  chan struct{} // closed and replaced at each append
	reverse  bool
	version  kdb.ServerVersion
	appends  int   // multi-stream appends committed
	failNext error // returned (once) by the next multiAppend, after committing it if commitFail
	// commitFail makes failNext an unknown outcome: the append is
	// committed, and the client is told it failed.
	commitFail bool
}

func newFakeServer() *fakeServer {
	return &fakeServer{streams: map[string][]rawEvent{}, changed: make(chan struct{}), version: kdb.ServerVersion{Major: 25, Minor: 1}}
}

// fakeBackend is one client's connection to a fakeServer.
type fakeBackend struct{ srv *fakeServer }

func (f fakeBackend) version(context.Context) (kdb.ServerVersion, error) { return f.srv.version, nil }

func (f fakeBackend) close() error { return nil }

func (f fakeBackend) multiAppend(ctx context.Context, reqs []kdb.AppendStreamRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := f.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failNext; err != nil && !s.commitFail {
		s.failNext = nil
		return err
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		if seen[r.StreamName] {
			return fmt.Errorf("stream %s twice in one append session", r.StreamName)
		}
		seen[r.StreamName] = true
		cur := int64(len(s.streams[r.StreamName])) - 1
		ok := true
		switch st := r.ExpectedStreamState.(type) {
		case kdb.NoStream:
			ok = cur < 0
		case kdb.StreamRevision:
			ok = cur == int64(st.Value)
		case kdb.StreamExists:
			ok = cur >= 0
		case kdb.Any:
		default:
			return fmt.Errorf("unknown stream state %T", st)
		}
		if !ok {
			return &revisionConflict{Stream: r.StreamName, Actual: cur, Known: true}
		}
	}
	var tx []rawEvent
	for _, r := range reqs {
		n := 0
		for e := range r.Events {
			n++
			// The client checks this; the server adds the schema properties.
			props := map[string]string{}
			if len(e.Metadata) > 0 {
				if err := json.Unmarshal(e.Metadata, &props); err != nil {
					return fmt.Errorf("event metadata must be a valid JSON map[string]string: %w", err)
				}
			}
			props["$schema.name"] = e.EventType
			props["$schema.format"] = map[kdb.ContentType]string{kdb.ContentTypeJson: "Json", kdb.ContentTypeBinary: "Bytes"}[e.ContentType]
			meta, _ := json.Marshal(props)
			ev := rawEvent{Stream: r.StreamName, Revision: uint64(len(s.streams[r.StreamName])), ID: e.EventID,
				Type: e.EventType, Data: slices.Clone(e.Data), Metadata: meta}
			s.streams[r.StreamName] = append(s.streams[r.StreamName], ev)
			tx = append(tx, ev)
		}
		if n == 0 {
			return fmt.Errorf("stream append request must contain at least one record")
		}
	}
	if s.reverse {
		slices.Reverse(tx)
	}
	for _, ev := range tx {
		p := uint64(len(s.all)+1) * 100
		ev.Pos = kdb.Position{Commit: p, Prepare: p}
		s.all = append(s.all, ev)
		st := s.streams[ev.Stream]
		st[ev.Revision].Pos = ev.Pos
	}
	s.appends++
	close(s.changed)
	s.changed = make(chan struct{})
	if err := s.failNext; err != nil {
		s.failNext, s.commitFail = nil, false
		return err
	}
	return nil
}

func (f fakeBackend) readStream(ctx context.Context, stream string, from uint64, backwards bool, count uint64, _ bool, fn func(rawEvent) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.srv.mu.Lock()
	evs := slices.Clone(f.srv.streams[stream])
	f.srv.mu.Unlock()
	if len(evs) == 0 {
		return errNotFound
	}
	if backwards {
		slices.Reverse(evs)
	} else {
		evs = evs[min(from, uint64(len(evs))):]
	}
	for i, e := range evs {
		if uint64(i) >= count {
			break
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (f fakeBackend) subscribeAll(ctx context.Context, after *kdb.Position, prefix string, _ bool, fn func(rawEvent) error, caughtUp func() error) error {
	i := 0
	f.srv.mu.Lock()
	if after != nil {
		for i < len(f.srv.all) && f.srv.all[i].Pos.Commit <= after.Commit {
			i++
		}
	}
	f.srv.mu.Unlock()
	reported := false
	for {
		f.srv.mu.Lock()
		evs := slices.Clone(f.srv.all[i:])
		changed := f.srv.changed
		f.srv.mu.Unlock()
		i += len(evs)
		for _, e := range evs {
			if !strings.HasPrefix(e.Stream, prefix) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(evs) == 0 && !reported {
			reported = true
			if err := caughtUp(); err != nil {
				return err
			}
		}
		if len(evs) == 0 {
			select {
			case <-changed:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
