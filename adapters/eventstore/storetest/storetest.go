// Package storetest is the conformance suite of the event store port: every
// implementation of eventstore.Store runs it from a test file.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Factory{New: func(t *testing.T) storetest.Opener {
//			path := filepath.Join(t.TempDir(), "events.db")
//			return func(t *testing.T) eventstore.Store {
//				s, err := sqlite.Open(t.Context(), path)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//		}})
//	}
//
// The suite only uses the port, so it holds any store to the same contract:
// the semantics the registrar relies on (expected versions, atomic
// multi-stream appends, idempotent retries, gap-free global order, catch-up
// then live subscriptions, durability across a reopen, the hash chain).
//
// It imports the port internal/eventstore only.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// Opener opens a store. Calling it again after the previous Store was closed
// must open the same store, with everything that was appended to it.
type Opener func(t *testing.T) eventstore.Store

// Factory makes the stores the suite tests.
type Factory struct {
	// New prepares a new, empty store for one test and returns its Opener.
	// It fails t if it cannot; it may register cleanups with t. The suite
	// closes every Store it opens.
	New func(t *testing.T) Opener

	// NoHashChain is set for a store that does not keep the hash chain
	// (RecordedEvent.Hash is nil): the suite then skips the hash checks.
	NoHashChain bool
}

// Timeout bounds every wait of the suite (for a subscription to deliver, for
// Subscribe to return after its context ends).
const Timeout = 10 * time.Second

// Run runs the conformance suite against the stores f makes.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"Empty", testEmpty},
		{"AppendAndRead", testAppendAndRead},
		{"EmptyPayloads", testEmptyPayloads},
		{"ExpectedVersion", testExpectedVersion},
		{"CheckOnly", testCheckOnly},
		{"MultiStreamAtomic", testMultiStreamAtomic},
		{"IdempotentRetry", testIdempotentRetry},
		{"DuplicateID", testDuplicateID},
		{"Invalid", testInvalid},
		{"GlobalOrder", testGlobalOrder},
		{"ReadAllFrom", testReadAllFrom},
		{"ReadStreamFrom", testReadStreamFrom},
		{"CallbackError", testCallbackError},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeFromFuture", testSubscribeFromFuture},
		{"SubscribeDuringAppends", testSubscribeDuringAppends},
		{"SubscribeCancel", testSubscribeCancel},
		{"ConcurrentAppenders", testConcurrentAppenders},
		{"RacingNoStream", testRacingNoStream},
		{"ContendedExactVersions", testContendedExactVersions},
		{"Reopen", testReopen},
		{"HashChain", testHashChain},
		{"Closed", testClosed},
		{"CanceledContext", testCanceledContext},
		{"Pipeline", testPipeline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, f) })
	}
}

// open makes a fresh store, opens it and closes it when the test ends.
func open(t *testing.T, f Factory) (eventstore.Store, Opener) {
	t.Helper()
	opener := f.New(t)
	s := opener(t)
	t.Cleanup(func() { s.Close() })
	return s, opener
}

// reopen opens the store again (after the caller closed it) and closes it
// when the test ends.
func reopen(t *testing.T, o Opener) eventstore.Store {
	t.Helper()
	s := o(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// ignoreStamps compares events without what the store stamps on them.
var ignoreStamps = cmpopts.IgnoreFields(eventstore.RecordedEvent{}, "RecordedAt", "Hash")

// equateEmpty lets a store read back an empty payload as nil or empty.
var equateEmpty = cmpopts.EquateEmpty()

// newEvent is an event with a fresh ID.
func newEvent(typ string, n int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.NewString(),
		Type:     typ,
		Data:     fmt.Appendf(nil, `{"n":%d,"mac":"SEP0011223344%02X"}`, n, n%256),
		Metadata: fmt.Appendf(nil, `{"actor":"storetest","n":%d}`, n),
	}
}

func newEvents(typ string, n int) []eventstore.EventData {
	es := make([]eventstore.EventData, n)
	for i := range es {
		es[i] = newEvent(typ, i)
	}
	return es
}

// streamName is a stream name unique to this run, so that stores on a
// shared server do not see each other's streams.
func streamName(prefix string) string {
	return prefix + "-" + uuid.NewString()[:8]
}

// recorded is what an event appended at pos and version should read back as
// (stamps aside).
func recorded(pos uint64, stream string, version uint64, e eventstore.EventData) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		Position: pos,
		Stream:   stream,
		Version:  version,
		ID:       e.ID,
		Type:     e.Type,
		Data:     e.Data,
		Metadata: e.Metadata,
	}
}

func mustAppend(t *testing.T, s eventstore.Store, appends ...eventstore.StreamAppend) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(t.Context(), appends...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

func readAll(t *testing.T, s eventstore.Store, from uint64) []eventstore.RecordedEvent {
	t.Helper()
	var got []eventstore.RecordedEvent
	if err := s.ReadAll(t.Context(), from, func(e eventstore.RecordedEvent) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("ReadAll(%d): %v", from, err)
	}
	return got
}

func readStream(t *testing.T, s eventstore.Store, stream string, from uint64) []eventstore.RecordedEvent {
	t.Helper()
	var got []eventstore.RecordedEvent
	if err := s.ReadStream(t.Context(), stream, from, func(e eventstore.RecordedEvent) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("ReadStream(%q, %d): %v", stream, from, err)
	}
	return got
}

func head(t *testing.T, s eventstore.Store) uint64 {
	t.Helper()
	h, err := s.Head(t.Context())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

func wantHead(t *testing.T, s eventstore.Store, want uint64) {
	t.Helper()
	if got := head(t, s); got != want {
		t.Fatalf("Head = %d, want %d", got, want)
	}
}

func wantResult(t *testing.T, got, want eventstore.AppendResult) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("AppendResult mismatch (-want +got):\n%s", diff)
	}
}

func wantEvents(t *testing.T, what string, got, want []eventstore.RecordedEvent) {
	t.Helper()
	if diff := cmp.Diff(want, got, ignoreStamps, equateEmpty); diff != "" {
		t.Fatalf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

// wantConflict checks that err is a wrong-expected-version error with
// exactly the given details.
func wantConflict(t *testing.T, err error, want eventstore.ConflictError) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("error = %v, want one wrapping ErrWrongExpectedVersion", err)
	}
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v does not wrap a *ConflictError", err)
	}
	if diff := cmp.Diff(want, *ce); diff != "" {
		t.Fatalf("ConflictError mismatch (-want +got):\n%s", diff)
	}
}

func testEmpty(t *testing.T, f Factory) {
	s, _ := open(t, f)
	wantHead(t, s, 0)
	wantEvents(t, "ReadAll", readAll(t, s, 1), nil)
	wantEvents(t, "ReadStream", readStream(t, s, streamName("none"), 0), nil)
}

func testAppendAndRead(t *testing.T, f Factory) {
	s, _ := open(t, f)
	stream := streamName("device")
	evs := newEvents("autoregistration.device_registered", 3)

	res := mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: evs})
	wantResult(t, res, eventstore.AppendResult{Position: 3, Versions: []int64{2}})

	want := []eventstore.RecordedEvent{
		recorded(1, stream, 0, evs[0]),
		recorded(2, stream, 1, evs[1]),
		recorded(3, stream, 2, evs[2]),
	}
	all := readAll(t, s, 1)
	wantEvents(t, "ReadAll", all, want)
	byStream := readStream(t, s, stream, 0)
	wantEvents(t, "ReadStream", byStream, want)
	wantHead(t, s, 3)

	// What the store stamps is set, in UTC, and the same whichever way
	// the event is read.
	for _, e := range all {
		if e.RecordedAt.IsZero() || e.RecordedAt.Location() != time.UTC {
			t.Errorf("position %d: RecordedAt = %v, want a UTC time", e.Position, e.RecordedAt)
		}
		if !f.NoHashChain && len(e.Hash) == 0 {
			t.Errorf("position %d: no hash", e.Position)
		}
	}
	if diff := cmp.Diff(all, byStream); diff != "" {
		t.Errorf("ReadAll and ReadStream disagree (-ReadAll +ReadStream):\n%s", diff)
	}
	// ReadAll from 0 starts at the beginning.
	if diff := cmp.Diff(all, readAll(t, s, 0)); diff != "" {
		t.Errorf("ReadAll(0) differs from ReadAll(1) (-from 1 +from 0):\n%s", diff)
	}
}

func testEmptyPayloads(t *testing.T, f Factory) {
	s, _ := open(t, f)
	stream := streamName("empty")
	e := eventstore.EventData{ID: uuid.NewString(), Type: "test.empty"}
	mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.Any, Events: []eventstore.EventData{e}})
	wantEvents(t, "ReadAll", readAll(t, s, 1), []eventstore.RecordedEvent{recorded(1, stream, 0, e)})
	// A retry of the same empty event is recognised.
	res := mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: []eventstore.EventData{e}})
	wantResult(t, res, eventstore.AppendResult{Position: 1, Versions: []int64{0}})
}

func testExpectedVersion(t *testing.T, f Factory) {
	type step struct {
		expected eventstore.ExpectedVersion
		events   int
		// conflict, if not nil, is the Actual the conflict must report.
		conflict *int64
		version  int64 // stream version after a successful step
	}
	ptr := func(v int64) *int64 { return &v }
	tests := []struct {
		name  string
		steps []step
	}{
		{"NoStream on a new stream", []step{{eventstore.NoStream, 1, nil, 0}}},
		{"NoStream on an existing stream", []step{{eventstore.NoStream, 2, nil, 1}, {eventstore.NoStream, 1, ptr(1), 0}}},
		{"Any on a new stream", []step{{eventstore.Any, 2, nil, 1}}},
		{"Any on an existing stream", []step{{eventstore.Any, 1, nil, 0}, {eventstore.Any, 2, nil, 2}}},
		{"Exact on the current version", []step{{eventstore.NoStream, 1, nil, 0}, {eventstore.Exact(0), 1, nil, 1}, {eventstore.Exact(1), 3, nil, 4}}},
		{"Exact behind the stream", []step{{eventstore.NoStream, 3, nil, 2}, {eventstore.Exact(1), 1, ptr(2), 0}}},
		{"Exact ahead of the stream", []step{{eventstore.NoStream, 1, nil, 0}, {eventstore.Exact(5), 1, ptr(0), 0}}},
		{"Exact on a new stream", []step{{eventstore.Exact(0), 1, ptr(-1), 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t, f)
			stream := streamName("ev")
			var want []eventstore.RecordedEvent
			for i, st := range tt.steps {
				evs := newEvents("test.step", st.events)
				res, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: st.expected, Events: evs})
				if st.conflict != nil {
					if err == nil {
						t.Fatalf("step %d: Append with %v succeeded (%+v), want a conflict", i, st.expected, res)
					}
					wantConflict(t, err, eventstore.ConflictError{Stream: stream, Expected: st.expected, Actual: *st.conflict})
					continue
				}
				if err != nil {
					t.Fatalf("step %d: Append with %v: %v", i, st.expected, err)
				}
				for _, e := range evs {
					want = append(want, recorded(uint64(len(want))+1, stream, uint64(len(want)), e))
				}
				wantResult(t, res, eventstore.AppendResult{Position: uint64(len(want)), Versions: []int64{st.version}})
			}
			// Failed steps wrote nothing.
			wantEvents(t, "ReadAll", readAll(t, s, 1), want)
			wantHead(t, s, uint64(len(want)))
		})
	}
}

func testCheckOnly(t *testing.T, f Factory) {
	s, _ := open(t, f)
	checked, written := streamName("checked"), streamName("written")
	base := newEvents("test.base", 2)
	mustAppend(t, s, eventstore.StreamAppend{Stream: checked, Expected: eventstore.NoStream, Events: base})

	// A check that holds lets the other entry through and writes nothing
	// to the checked stream.
	e1 := newEvent("test.written", 1)
	res := mustAppend(t, s,
		eventstore.StreamAppend{Stream: checked, Expected: eventstore.Exact(1)},
		eventstore.StreamAppend{Stream: written, Expected: eventstore.NoStream, Events: []eventstore.EventData{e1}},
	)
	wantResult(t, res, eventstore.AppendResult{Position: 3, Versions: []int64{1, 0}})

	// A check that fails stops the whole append.
	e2 := newEvent("test.written", 2)
	_, err := s.Append(t.Context(),
		eventstore.StreamAppend{Stream: checked, Expected: eventstore.Exact(0)},
		eventstore.StreamAppend{Stream: written, Expected: eventstore.Any, Events: []eventstore.EventData{e2}},
	)
	wantConflict(t, err, eventstore.ConflictError{Stream: checked, Expected: eventstore.Exact(0), Actual: 1})

	// Checks alone: a missing stream checked with NoStream is -1; nothing
	// is written and the position is zero.
	missing := streamName("missing")
	res = mustAppend(t, s,
		eventstore.StreamAppend{Stream: missing, Expected: eventstore.NoStream},
		eventstore.StreamAppend{Stream: checked, Expected: eventstore.Any},
	)
	wantResult(t, res, eventstore.AppendResult{Position: 0, Versions: []int64{-1, 1}})
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: missing, Expected: eventstore.Exact(0)})
	wantConflict(t, err, eventstore.ConflictError{Stream: missing, Expected: eventstore.Exact(0), Actual: -1})

	wantEvents(t, "ReadAll", readAll(t, s, 1), []eventstore.RecordedEvent{
		recorded(1, checked, 0, base[0]),
		recorded(2, checked, 1, base[1]),
		recorded(3, written, 0, e1),
	})
	wantEvents(t, "ReadStream(missing)", readStream(t, s, missing, 0), nil)
}

func testMultiStreamAtomic(t *testing.T, f Factory) {
	s, _ := open(t, f)
	a, b, c := streamName("a"), streamName("b"), streamName("c")
	b0 := newEvent("test.b", 0)
	mustAppend(t, s, eventstore.StreamAppend{Stream: b, Expected: eventstore.NoStream, Events: []eventstore.EventData{b0}})

	// The last of three entries conflicts: none is written.
	evA, evB, evC := newEvents("test.a", 2), newEvents("test.b", 1), newEvents("test.c", 1)
	_, err := s.Append(t.Context(),
		eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: evA},
		eventstore.StreamAppend{Stream: c, Expected: eventstore.Any, Events: evC},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.NoStream, Events: evB},
	)
	wantConflict(t, err, eventstore.ConflictError{Stream: b, Expected: eventstore.NoStream, Actual: 0})
	wantHead(t, s, 1)
	wantEvents(t, "ReadStream(a)", readStream(t, s, a, 0), nil)
	wantEvents(t, "ReadStream(c)", readStream(t, s, c, 0), nil)

	// The same events with the right version go in together, in order.
	res := mustAppend(t, s,
		eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: evA},
		eventstore.StreamAppend{Stream: c, Expected: eventstore.Any, Events: evC},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.Exact(0), Events: evB},
	)
	wantResult(t, res, eventstore.AppendResult{Position: 5, Versions: []int64{1, 0, 1}})
	wantEvents(t, "ReadAll", readAll(t, s, 1), []eventstore.RecordedEvent{
		recorded(1, b, 0, b0),
		recorded(2, a, 0, evA[0]),
		recorded(3, a, 1, evA[1]),
		recorded(4, c, 0, evC[0]),
		recorded(5, b, 1, evB[0]),
	})
}

func testIdempotentRetry(t *testing.T, f Factory) {
	s, _ := open(t, f)
	a, b := streamName("a"), streamName("b")
	first := newEvents("test.first", 1)
	mustAppend(t, s, eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: first})

	evA, evB := newEvents("test.a", 2), newEvents("test.b", 1)
	appends := []eventstore.StreamAppend{
		{Stream: a, Expected: eventstore.Exact(0), Events: evA},
		{Stream: b, Expected: eventstore.NoStream, Events: evB},
	}
	want := eventstore.AppendResult{Position: 4, Versions: []int64{2, 0}}
	wantResult(t, mustAppend(t, s, appends...), want)
	all := readAll(t, s, 1)

	// The same append again, although its expected versions no longer
	// hold: the original result, nothing written.
	wantResult(t, mustAppend(t, s, appends...), want)
	// The same events with Any.
	wantResult(t, mustAppend(t, s,
		eventstore.StreamAppend{Stream: a, Expected: eventstore.Any, Events: evA},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.Any, Events: evB},
	), want)
	// A retry of the first append alone.
	wantResult(t, mustAppend(t, s, eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: first}),
		eventstore.AppendResult{Position: 1, Versions: []int64{0}})

	wantHead(t, s, 4)
	if diff := cmp.Diff(all, readAll(t, s, 1)); diff != "" {
		t.Fatalf("retries changed the store (-before +after):\n%s", diff)
	}

	// Later appends carry on from there.
	next := newEvent("test.next", 9)
	wantResult(t, mustAppend(t, s, eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(2), Events: []eventstore.EventData{next}}),
		eventstore.AppendResult{Position: 5, Versions: []int64{3}})
}

func testDuplicateID(t *testing.T, f Factory) {
	s, _ := open(t, f)
	a, b := streamName("a"), streamName("b")
	evs := newEvents("test.a", 2)
	mustAppend(t, s, eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: evs})
	before := readAll(t, s, 1)

	otherData := evs[0]
	otherData.Data = []byte(`{"other":true}`)
	otherType := evs[0]
	otherType.Type = "test.other"
	tests := []struct {
		name    string
		appends []eventstore.StreamAppend
	}{
		{"partial overlap", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{evs[1], newEvent("test.a", 3)}}}},
		{"new event first", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{newEvent("test.a", 3), evs[0]}}}},
		{"other data", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{otherData}}}},
		{"other type", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{otherType}}}},
		{"other stream", []eventstore.StreamAppend{{Stream: b, Expected: eventstore.Any, Events: []eventstore.EventData{evs[0]}}}},
		{"other order", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{evs[1], evs[0]}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Append(t.Context(), tt.appends...)
			if !errors.Is(err, eventstore.ErrDuplicateEvent) {
				t.Fatalf("Append = %+v, %v; want an error wrapping ErrDuplicateEvent", res, err)
			}
			if diff := cmp.Diff(before, readAll(t, s, 1)); diff != "" {
				t.Fatalf("failed append changed the store (-before +after):\n%s", diff)
			}
		})
	}
}

func testInvalid(t *testing.T, f Factory) {
	s, _ := open(t, f)
	a := streamName("a")
	e := newEvent("test.a", 0)
	tests := []struct {
		name    string
		appends []eventstore.StreamAppend
	}{
		{"empty stream", []eventstore.StreamAppend{{Stream: "", Expected: eventstore.Any, Events: []eventstore.EventData{e}}}},
		{"empty ID", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{{Type: "test.a"}}}}},
		{"empty type", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{{ID: uuid.NewString()}}}}},
		{"ID twice", []eventstore.StreamAppend{{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{e, e}}}},
		{"stream twice", []eventstore.StreamAppend{
			{Stream: a, Expected: eventstore.Any, Events: []eventstore.EventData{e}},
			{Stream: a, Expected: eventstore.Any},
		}},
		{"bad expected version", []eventstore.StreamAppend{{Stream: a, Expected: -3, Events: []eventstore.EventData{e}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res, err := s.Append(t.Context(), tt.appends...); !errors.Is(err, eventstore.ErrInvalidAppend) {
				t.Fatalf("Append = %+v, %v; want an error wrapping ErrInvalidAppend", res, err)
			}
		})
	}
	wantHead(t, s, 0)
}

func testGlobalOrder(t *testing.T, f Factory) {
	s, _ := open(t, f)
	streams := []string{streamName("a"), streamName("b"), streamName("c")}
	var want []eventstore.RecordedEvent
	versions := map[string]uint64{}
	for i := range 30 {
		stream := streams[(i*7)%len(streams)]
		evs := newEvents("test.order", 1+i%3)
		res := mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.Any, Events: evs})
		for _, e := range evs {
			want = append(want, recorded(uint64(len(want))+1, stream, versions[stream], e))
			versions[stream]++
		}
		wantResult(t, res, eventstore.AppendResult{Position: uint64(len(want)), Versions: []int64{int64(versions[stream]) - 1}})
	}
	wantEvents(t, "ReadAll", readAll(t, s, 1), want)
	for _, stream := range streams {
		var ws []eventstore.RecordedEvent
		for _, e := range want {
			if e.Stream == stream {
				ws = append(ws, e)
			}
		}
		wantEvents(t, "ReadStream("+stream+")", readStream(t, s, stream, 0), ws)
	}
	wantHead(t, s, uint64(len(want)))
}

func testReadAllFrom(t *testing.T, f Factory) {
	s, _ := open(t, f)
	stream := streamName("a")
	evs := newEvents("test.a", 10)
	mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: evs})
	all := readAll(t, s, 1)
	for _, from := range []uint64{1, 2, 6, 10, 11, 100} {
		want := all[min(from-1, uint64(len(all))):]
		wantEvents(t, fmt.Sprintf("ReadAll(%d)", from), readAll(t, s, from), want)
	}
}

func testReadStreamFrom(t *testing.T, f Factory) {
	s, _ := open(t, f)
	a, b := streamName("a"), streamName("b")
	for i := range 6 {
		mustAppend(t, s,
			eventstore.StreamAppend{Stream: a, Expected: eventstore.Any, Events: newEvents("test.a", 1)},
			eventstore.StreamAppend{Stream: b, Expected: eventstore.Any, Events: newEvents("test.b", 1+i%2)},
		)
	}
	var streamA []eventstore.RecordedEvent
	for _, e := range readAll(t, s, 1) {
		if e.Stream == a {
			streamA = append(streamA, e)
		}
	}
	if len(streamA) != 6 {
		t.Fatalf("stream a has %d events, want 6", len(streamA))
	}
	for _, from := range []uint64{0, 1, 3, 5, 6, 50} {
		want := streamA[min(from, uint64(len(streamA))):]
		wantEvents(t, fmt.Sprintf("ReadStream(a, %d)", from), readStream(t, s, a, from), want)
	}
}

var errStop = errors.New("storetest: stop")

func testCallbackError(t *testing.T, f Factory) {
	s, _ := open(t, f)
	stream := streamName("a")
	mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: newEvents("test.a", 5)})
	stopAt := func(calls *int, n int) func(eventstore.RecordedEvent) error {
		return func(eventstore.RecordedEvent) error {
			*calls++
			if *calls == n {
				return errStop
			}
			return nil
		}
	}
	var calls int
	if err := s.ReadAll(t.Context(), 1, stopAt(&calls, 2)); !errors.Is(err, errStop) || calls != 2 {
		t.Errorf("ReadAll = %v after %d calls, want errStop after 2", err, calls)
	}
	calls = 0
	if err := s.ReadStream(t.Context(), stream, 0, stopAt(&calls, 3)); !errors.Is(err, errStop) || calls != 3 {
		t.Errorf("ReadStream = %v after %d calls, want errStop after 3", err, calls)
	}
	calls = 0
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := s.Subscribe(ctx, 1, stopAt(&calls, 4)); !errors.Is(err, errStop) || calls != 4 {
		t.Errorf("Subscribe = %v after %d calls, want errStop after 4", err, calls)
	}
}

// subscription runs Subscribe in the background.
type subscription struct {
	events chan eventstore.RecordedEvent
	cancel context.CancelFunc
	done   chan error
}

func subscribe(t *testing.T, s eventstore.Store, from uint64) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	sub := &subscription{
		events: make(chan eventstore.RecordedEvent, 1024),
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() {
		sub.done <- s.Subscribe(ctx, from, func(e eventstore.RecordedEvent) error {
			select {
			case sub.events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() { sub.stop(t) })
	return sub
}

// next waits for the next n events.
func (sub *subscription) next(t *testing.T, n int) []eventstore.RecordedEvent {
	t.Helper()
	timeout := time.After(Timeout)
	var got []eventstore.RecordedEvent
	for len(got) < n {
		select {
		case e := <-sub.events:
			got = append(got, e)
		case err := <-sub.done:
			sub.done <- err
			t.Fatalf("Subscribe returned %v after %d of %d events", err, len(got), n)
		case <-timeout:
			t.Fatalf("subscription delivered %d of %d events in %v", len(got), n, Timeout)
		}
	}
	return got
}

// stop cancels the subscription and returns what Subscribe returned.
func (sub *subscription) stop(t *testing.T) error {
	t.Helper()
	sub.cancel()
	select {
	case err := <-sub.done:
		sub.done <- err
		return err
	case <-time.After(Timeout):
		t.Fatalf("Subscribe did not return %v after its context was canceled", Timeout)
		return nil
	}
}

func testSubscribeCatchUpThenLive(t *testing.T, f Factory) {
	s, _ := open(t, f)
	a, b := streamName("a"), streamName("b")
	mustAppend(t, s, eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: newEvents("test.a", 5)})
	all := readAll(t, s, 1)

	sub := subscribe(t, s, 3)
	if diff := cmp.Diff(all[2:], sub.next(t, 3)); diff != "" {
		t.Fatalf("catch-up mismatch (-want +got):\n%s", diff)
	}

	// Live: an append of several streams, then a single event.
	evA, evB := newEvents("test.a", 1), newEvents("test.b", 2)
	mustAppend(t, s,
		eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(4), Events: evA},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.NoStream, Events: evB},
	)
	live := sub.next(t, 3)
	wantEvents(t, "live events", live, []eventstore.RecordedEvent{
		recorded(6, a, 5, evA[0]),
		recorded(7, b, 0, evB[0]),
		recorded(8, b, 1, evB[1]),
	})
	// The next event delivered is the next one appended: nothing was
	// delivered twice.
	last := newEvent("test.b", 9)
	mustAppend(t, s, eventstore.StreamAppend{Stream: b, Expected: eventstore.Exact(1), Events: []eventstore.EventData{last}})
	live = append(live, sub.next(t, 1)...)
	// Live events carry the same stamps as the stored ones.
	if diff := cmp.Diff(readAll(t, s, 6), live); diff != "" {
		t.Fatalf("live events differ from the stored ones (-ReadAll +Subscribe):\n%s", diff)
	}
	if err := sub.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v after cancel, want context.Canceled", err)
	}
}

func testSubscribeFromFuture(t *testing.T, f Factory) {
	s, _ := open(t, f)
	stream := streamName("a")
	sub := subscribe(t, s, 4)
	evs := newEvents("test.a", 5)
	mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: evs})
	wantEvents(t, "events from 4", sub.next(t, 2), []eventstore.RecordedEvent{
		recorded(4, stream, 3, evs[3]),
		recorded(5, stream, 4, evs[4]),
	})
}

// testSubscribeDuringAppends starts a subscription while appends go on, so
// that its catch-up ends in the middle of them: every event must arrive once,
// in order.
func testSubscribeDuringAppends(t *testing.T, f Factory) {
	s, _ := open(t, f)
	const total = 300
	streams := []string{streamName("a"), streamName("b")}
	appended := make(chan error, 1)
	go func() {
		for i := range total {
			stream := streams[i%2]
			if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: eventstore.Any, Events: newEvents("test.live", 1)}); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	// Start once some events are in.
	deadline := time.Now().Add(Timeout)
	for head(t, s) < total/4 {
		if time.Now().After(deadline) {
			t.Fatal("appends did not progress")
		}
		time.Sleep(time.Millisecond)
	}
	sub := subscribe(t, s, 1)
	got := sub.next(t, total)
	if err := <-appended; err != nil {
		t.Fatalf("Append: %v", err)
	}
	for i, e := range got {
		if e.Position != uint64(i)+1 {
			t.Fatalf("event %d delivered has position %d, want %d", i, e.Position, i+1)
		}
	}
	if diff := cmp.Diff(readAll(t, s, 1), got); diff != "" {
		t.Fatalf("subscription differs from ReadAll (-ReadAll +Subscribe):\n%s", diff)
	}
	// Nothing more comes (no duplicate at the boundary): the next event
	// delivered is a new one.
	mustAppend(t, s, eventstore.StreamAppend{Stream: streams[0], Expected: eventstore.Any, Events: newEvents("test.live", 1)})
	if e := sub.next(t, 1)[0]; e.Position != total+1 {
		t.Fatalf("after %d events, the subscription delivered position %d, want %d", total, e.Position, total+1)
	}
}

func testSubscribeCancel(t *testing.T, f Factory) {
	s, _ := open(t, f)
	stream := streamName("a")
	mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: newEvents("test.a", 2)})
	sub := subscribe(t, s, 1)
	sub.next(t, 2)
	// Idle and live: cancel must end it.
	if err := sub.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v, want context.Canceled", err)
	}
	// A context that ends before Subscribe starts.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Subscribe(ctx, 1, func(eventstore.RecordedEvent) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe with a canceled context returned %v, want context.Canceled", err)
	}
}

// testConcurrentAppenders has 16 goroutines append to their own streams
// (with exact versions) and to a shared one (with Any) at the same time.
func testConcurrentAppenders(t *testing.T, f Factory) {
	s, _ := open(t, f)
	const writers, perWriter = 16, 25
	shared := streamName("shared")
	own := make([]string, writers)
	for i := range own {
		own[i] = streamName(fmt.Sprintf("own%02d", i))
	}
	type appended struct {
		res eventstore.AppendResult
		ids []string
	}
	results := make([][]appended, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				evs := newEvents("test.concurrent", 1)
				appends := []eventstore.StreamAppend{{Stream: own[w], Expected: expect(int64(i) - 1), Events: evs}}
				if i%5 == 4 {
					appends = append(appends, eventstore.StreamAppend{Stream: shared, Expected: eventstore.Any, Events: newEvents("test.shared", 1)})
				}
				res, err := s.Append(t.Context(), appends...)
				if err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
				var ids []string
				for _, a := range appends {
					for _, e := range a.Events {
						ids = append(ids, e.ID)
					}
				}
				results[w] = append(results[w], appended{res, ids})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	all := readAll(t, s, 1)
	total := writers * (perWriter + perWriter/5)
	if len(all) != total {
		t.Fatalf("ReadAll gave %d events, want %d", len(all), total)
	}
	byID := make(map[string]eventstore.RecordedEvent, len(all))
	versions := make(map[string]uint64)
	for i, e := range all {
		if e.Position != uint64(i)+1 {
			t.Fatalf("event %d has position %d: positions are not gap-free", i, e.Position)
		}
		if e.Version != versions[e.Stream] {
			t.Fatalf("position %d: stream %q version %d, want %d", e.Position, e.Stream, e.Version, versions[e.Stream])
		}
		versions[e.Stream]++
		byID[e.ID] = e
	}
	for w, rs := range results {
		for i, r := range rs {
			// The append's events are stored, together, ending at the
			// position it reported.
			for j, id := range r.ids {
				e, ok := byID[id]
				if !ok {
					t.Fatalf("writer %d, append %d: event %s is lost", w, i, id)
				}
				if want := r.res.Position - uint64(len(r.ids)-1-j); e.Position != want {
					t.Fatalf("writer %d, append %d: event %s at position %d, want %d", w, i, id, e.Position, want)
				}
			}
			if r.res.Versions[0] != int64(i) {
				t.Fatalf("writer %d, append %d: own stream version %d, want %d", w, i, r.res.Versions[0], i)
			}
		}
	}
	wantHead(t, s, uint64(total))
}

// testRacingNoStream has 16 goroutines create the same stream at once:
// exactly one may win, the others must see its version in their conflict.
func testRacingNoStream(t *testing.T, f Factory) {
	s, _ := open(t, f)
	const racers = 16
	for round := range 5 {
		stream := streamName(fmt.Sprintf("race%d", round))
		start := make(chan struct{})
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for r := range racers {
			wg.Go(func() {
				<-start
				_, errs[r] = s.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: newEvents("test.race", 2)})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
				continue
			}
			wantConflict(t, err, eventstore.ConflictError{Stream: stream, Expected: eventstore.NoStream, Actual: 1})
		}
		if wins != 1 {
			t.Fatalf("round %d: %d appends with NoStream succeeded, want 1", round, wins)
		}
		if got := len(readStream(t, s, stream, 0)); got != 2 {
			t.Fatalf("round %d: stream has %d events, want 2", round, got)
		}
	}
	wantHead(t, s, 5*2)
}

// testContendedExactVersions is the group commit's workout: 16 goroutines
// each append, N times, one event to their own stream and one to a shared
// stream in a single append, both with exact expected versions. A conflict
// on the shared stream must roll back the own-stream event too, report the
// shared stream's real version, and leave the retry (same event IDs) free to
// succeed. At the end nothing is lost, nothing is duplicated, and each
// append's two events are adjacent.
func testContendedExactVersions(t *testing.T, f Factory) {
	s, _ := open(t, f)
	const writers, perWriter = 16, 20
	shared := streamName("shared")
	type done struct {
		own, shared string // event IDs
		res         eventstore.AppendResult
	}
	results := make([][]done, writers)
	conflicts := make([]int, writers)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own := fmt.Sprintf("%s-own%02d", shared, w)
			known := int64(-1) // what this writer believes the shared version is
			for i := range perWriter {
				evOwn, evShared := newEvent("test.own", i), newEvent("test.shared", i)
				for {
					res, err := s.Append(t.Context(),
						eventstore.StreamAppend{Stream: own, Expected: expect(int64(i) - 1), Events: []eventstore.EventData{evOwn}},
						eventstore.StreamAppend{Stream: shared, Expected: expect(known), Events: []eventstore.EventData{evShared}},
					)
					if err == nil {
						if res.Versions[0] != int64(i) || res.Versions[1] <= known {
							errs <- fmt.Errorf("writer %d: append %d: versions %v after own %d, shared %d", w, i, res.Versions, i-1, known)
							return
						}
						known = res.Versions[1]
						results[w] = append(results[w], done{evOwn.ID, evShared.ID, res})
						break
					}
					var ce *eventstore.ConflictError
					if !errors.As(err, &ce) {
						errs <- fmt.Errorf("writer %d: append %d: %w", w, i, err)
						return
					}
					if ce.Stream != shared || ce.Expected != expect(known) || ce.Actual <= known {
						errs <- fmt.Errorf("writer %d: append %d: conflict %+v, want one on %q with Actual > %d", w, i, *ce, shared, known)
						return
					}
					conflicts[w]++
					known = ce.Actual
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	all := readAll(t, s, 1)
	if len(all) != 2*writers*perWriter {
		t.Fatalf("ReadAll gave %d events, want %d", len(all), 2*writers*perWriter)
	}
	byID := make(map[string]eventstore.RecordedEvent, len(all))
	versions := make(map[string]uint64)
	for i, e := range all {
		if e.Position != uint64(i)+1 {
			t.Fatalf("event %d has position %d: positions are not gap-free", i, e.Position)
		}
		if e.Version != versions[e.Stream] {
			t.Fatalf("position %d: stream %q version %d, want %d", e.Position, e.Stream, e.Version, versions[e.Stream])
		}
		versions[e.Stream]++
		if _, dup := byID[e.ID]; dup {
			t.Fatalf("event %s stored twice", e.ID)
		}
		byID[e.ID] = e
	}
	if versions[shared] != writers*perWriter {
		t.Fatalf("shared stream has %d events, want %d", versions[shared], writers*perWriter)
	}
	total := 0
	for w, rs := range results {
		total += conflicts[w]
		for i, r := range rs {
			o, sh := byID[r.own], byID[r.shared]
			if o.ID == "" || sh.ID == "" {
				t.Fatalf("writer %d, append %d: events lost", w, i)
			}
			if o.Position+1 != sh.Position || sh.Position != r.res.Position {
				t.Fatalf("writer %d, append %d: own event at %d, shared at %d, result %d: want adjacent, ending at the result", w, i, o.Position, sh.Position, r.res.Position)
			}
			if o.Version != uint64(i) || int64(sh.Version) != r.res.Versions[1] {
				t.Fatalf("writer %d, append %d: versions own %d shared %d, result %v", w, i, o.Version, sh.Version, r.res.Versions)
			}
		}
	}
	t.Logf("%d appends, %d conflicts reported and retried", writers*perWriter, total)
}

// expect is the expected version for a stream believed to be at v (-1: none).
func expect(v int64) eventstore.ExpectedVersion {
	if v < 0 {
		return eventstore.NoStream
	}
	return eventstore.Exact(uint64(v))
}

func testReopen(t *testing.T, f Factory) {
	s, opener := open(t, f)
	a, b := streamName("a"), streamName("b")
	mustAppend(t, s, eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream, Events: newEvents("test.a", 3)})
	mustAppend(t, s,
		eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(2), Events: newEvents("test.a", 1)},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.NoStream, Events: newEvents("test.b", 2)},
	)
	before := readAll(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen(t, opener)
	if diff := cmp.Diff(before, readAll(t, s, 1)); diff != "" {
		t.Fatalf("reopened store differs (-before +after):\n%s", diff)
	}
	wantHead(t, s, uint64(len(before)))
	// Versions carry on: the old ones conflict, the next ones work, and
	// an event already stored is still recognised.
	_, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(2), Events: newEvents("test.a", 1)})
	wantConflict(t, err, eventstore.ConflictError{Stream: a, Expected: eventstore.Exact(2), Actual: 3})
	first := []eventstore.EventData{{ID: before[0].ID, Type: before[0].Type, Data: before[0].Data, Metadata: before[0].Metadata}}
	wantResult(t, mustAppend(t, s, eventstore.StreamAppend{Stream: a, Expected: eventstore.Any, Events: first}),
		eventstore.AppendResult{Position: 1, Versions: []int64{0}})
	res := mustAppend(t, s,
		eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(3), Events: newEvents("test.a", 1)},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.Exact(1), Events: newEvents("test.b", 1)},
	)
	wantResult(t, res, eventstore.AppendResult{Position: 8, Versions: []int64{4, 2}})
	after := readAll(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen(t, opener)
	if diff := cmp.Diff(after, readAll(t, s, 1)); diff != "" {
		t.Fatalf("store reopened twice differs (-before +after):\n%s", diff)
	}
	if !f.NoHashChain {
		// The chain runs on across the reopens.
		n, err := eventstore.VerifyChain(t.Context(), s, nil)
		if err != nil || n != 8 {
			t.Fatalf("VerifyChain = %d, %v; want 8, nil", n, err)
		}
	}
}

func testHashChain(t *testing.T, f Factory) {
	if f.NoHashChain {
		t.Skip("the store keeps no hash chain")
	}
	s, _ := open(t, f)
	for i := range 10 {
		mustAppend(t, s, eventstore.StreamAppend{Stream: streamName("h"), Expected: eventstore.Any, Events: newEvents("test.hash", 1+i%3)})
	}
	all := readAll(t, s, 1)
	var prev []byte
	for _, e := range all {
		if want := eventstore.ChainHash(prev, e); !cmp.Equal(want, e.Hash) {
			t.Fatalf("position %d: hash %x, want ChainHash(previous, event) = %x", e.Position, e.Hash, want)
		}
		prev = e.Hash
	}
	var progress []uint64
	n, err := eventstore.VerifyChain(t.Context(), s, func(p uint64) { progress = append(progress, p) })
	if err != nil || n != uint64(len(all)) {
		t.Fatalf("VerifyChain = %d, %v; want %d, nil", n, err, len(all))
	}
	if diff := cmp.Diff([]uint64{uint64(len(all))}, progress); diff != "" {
		t.Fatalf("VerifyChain progress (-want +got):\n%s", diff)
	}
}

func testClosed(t *testing.T, f Factory) {
	s, _ := open(t, f)
	stream := streamName("a")
	mustAppend(t, s, eventstore.StreamAppend{Stream: stream, Expected: eventstore.NoStream, Events: newEvents("test.a", 1)})
	sub := subscribe(t, s, 1)
	sub.next(t, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: eventstore.Any, Events: newEvents("test.a", 1)}); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := s.ReadAll(t.Context(), 1, func(eventstore.RecordedEvent) error { return nil }); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("ReadAll after Close = %v, want ErrClosed", err)
	}
	// A live subscription ends when the store closes.
	select {
	case err := <-sub.done:
		sub.done <- err
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("Subscribe ended with %v when the store closed, want ErrClosed", err)
		}
	case <-time.After(Timeout):
		t.Fatalf("Subscribe still running %v after Close", Timeout)
	}
}

func testCanceledContext(t *testing.T, f Factory) {
	s, _ := open(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Append(ctx, eventstore.StreamAppend{Stream: streamName("a"), Expected: eventstore.Any, Events: newEvents("test.a", 1)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a canceled context = %v, want context.Canceled", err)
	}
	wantHead(t, s, 0)
	if err := s.ReadAll(ctx, 1, func(eventstore.RecordedEvent) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAll with a canceled context = %v, want context.Canceled", err)
	}
}

// testPipeline runs for stores that implement eventstore.Pipeliner: appends
// enqueued one after the other are committed in that order, so each may
// expect the version the one before leads to.
func testPipeline(t *testing.T, f Factory) {
	s, _ := open(t, f)
	p, ok := s.(eventstore.Pipeliner)
	if !ok {
		t.Skip("the store does not implement eventstore.Pipeliner")
	}
	a, b := streamName("a"), streamName("b")
	const n = 50
	var waits []func() (eventstore.AppendResult, error)
	var want []eventstore.RecordedEvent
	for i := range n {
		stream := a
		if i%3 == 2 {
			stream = b
		}
		version := int64(-1)
		for _, e := range want {
			if e.Stream == stream {
				version = int64(e.Version)
			}
		}
		ev := newEvent("test.pipeline", i)
		waits = append(waits, p.Enqueue(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: expect(version), Events: []eventstore.EventData{ev}}))
		want = append(want, recorded(uint64(i)+1, stream, uint64(version+1), ev))
	}
	// One with a stale version fails alone; the next carries on.
	stale := p.Enqueue(t.Context(), eventstore.StreamAppend{Stream: a, Expected: eventstore.Exact(0), Events: newEvents("test.stale", 1)})
	last := newEvent("test.pipeline", n)
	next := p.Enqueue(t.Context(), eventstore.StreamAppend{Stream: b, Expected: eventstore.Exact(uint64(n/3 - 1)), Events: []eventstore.EventData{last}})
	want = append(want, recorded(n+1, b, n/3, last))

	for i, wait := range waits {
		res, err := wait()
		if err != nil {
			t.Fatalf("enqueued append %d: %v", i, err)
		}
		if res.Position != uint64(i)+1 {
			t.Fatalf("enqueued append %d committed at position %d, want %d", i, res.Position, i+1)
		}
	}
	_, err := stale()
	wantConflict(t, err, eventstore.ConflictError{Stream: a, Expected: eventstore.Exact(0), Actual: int64(n - n/3 - 1)})
	if res, err := next(); err != nil || res.Position != n+1 {
		t.Fatalf("append after the stale one = %+v, %v; want position %d", res, err, n+1)
	}
	wantEvents(t, "ReadAll", readAll(t, s, 1), want)
}
