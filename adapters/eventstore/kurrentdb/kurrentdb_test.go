package kurrentdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url       string
		address   string
		seeds     int
		discover  bool
		tls       bool
		noVerify  bool
		user      string
		namespace string
	}{
		{url: "kurrentdb://127.0.0.1:2113?tls=false", address: "127.0.0.1:2113"},
		{url: "kurrentdb://localhost:2113", address: "localhost:2113", tls: true},
		{url: "esdb://admin:changeit@db:2113?tlsVerifyCert=false", address: "db:2113", tls: true, noVerify: true, user: "admin"},
		{url: "kurrentdb+discover://admin:changeit@cluster.example:2113", address: "cluster.example:2113", discover: true, tls: true, user: "admin"},
		{url: "esdb+discover://cluster.example:2113?tls=false", address: "cluster.example:2113", discover: true},
		{url: "kurrentdb://n1:2113,n2:2113,n3:2113?tls=false&nodePreference=leader", seeds: 3},
		{url: "KurrentDB://db:2113?tls=false&namespace=staging-", address: "db:2113", namespace: "staging-"},
		{url: "kurrentdb://db:2113?namespace=t1-&tls=false", address: "db:2113", namespace: "t1-"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			cfg, err := ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			c := cfg.Client
			if c.Address != tt.address && tt.seeds == 0 {
				t.Errorf("Address = %q, want %q", c.Address, tt.address)
			}
			if len(c.GossipSeeds) != tt.seeds || c.DnsDiscover != tt.discover || c.DisableTLS == tt.tls ||
				c.SkipCertificateVerification != tt.noVerify || c.Username != tt.user || cfg.Namespace != tt.namespace {
				t.Errorf("got seeds %d discover %v disableTLS %v skipVerify %v user %q namespace %q",
					len(c.GossipSeeds), c.DnsDiscover, c.DisableTLS, c.SkipCertificateVerification, c.Username, cfg.Namespace)
			}
			if strings.Contains(cfg.Location, "changeit") {
				t.Errorf("Location %q shows the password", cfg.Location)
			}
		})
	}
	for _, bad := range []string{"", "sqlite:///x.db", "/var/lib/autoreg.db", "http://db:2113", "kurrentdb://", "kurrentdb://db:2113?namespace=a$b", "kurrentdb://db:notaport"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
	for s, want := range map[string]bool{"kurrentdb://h": true, "esdb+discover://h": true, "ESDB://h": true, "sqlite:///x": false, "x.db": false, "kurrentdb:x": false} {
		if IsURL(s) != want {
			t.Errorf("IsURL(%q) = %v", s, !want)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 2, 3, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name   string
		e      eventstore.EventData
		ct     kdb.ContentType
		exact  bool
		hasKey string
	}{
		{"json", eventstore.EventData{ID: uuid.NewString(), Type: "device.registered", Data: []byte(`{"dn":"1000"}`), Metadata: []byte(`{"actor":"sip"}`)},
			kdb.ContentTypeJson, true, propMetadata},
		{"empty", eventstore.EventData{ID: uuid.NewString(), Type: "test.empty"}, kdb.ContentTypeBinary, true, ""},
		{"binary", eventstore.EventData{ID: uuid.NewString(), Type: "test.bin", Data: []byte{0, 1, 2}, Metadata: []byte{0xff, 0xfe}},
			kdb.ContentTypeBinary, true, propMetadata64},
		{"upper-case id", eventstore.EventData{ID: strings.ToUpper(uuid.NewString()), Type: "t", Data: []byte(`1`)}, kdb.ContentTypeJson, false, propID},
		{"not a uuid", eventstore.EventData{ID: "evt-42", Type: "t", Data: []byte(`"x"`)}, kdb.ContentTypeJson, false, propID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stamp{Position: 17, RecordedAt: at, Hash: []byte{0xab, 0xcd}}
			ke, err := encodeEvent(tt.e, st)
			if err != nil {
				t.Fatal(err)
			}
			if ke.ContentType != tt.ct || ke.EventType != tt.e.Type {
				t.Errorf("content type %v type %q, want %v %q", ke.ContentType, ke.EventType, tt.ct, tt.e.Type)
			}
			// The server's event ID: the UUID itself, or a stable one.
			id, exact := serverID(tt.e.ID)
			if exact != tt.exact || ke.EventID != id {
				t.Errorf("server id %v exact %v, want %v", ke.EventID, exact, tt.exact)
			}
			if again, _ := serverID(tt.e.ID); again != id {
				t.Errorf("serverID is not stable")
			}
			if u, err := uuid.Parse(tt.e.ID); err == nil && u != ke.EventID {
				t.Errorf("server id %v, want the event's own %v", ke.EventID, u)
			}
			// MultiStreamAppend takes only an object of strings.
			var props map[string]string
			if err := json.Unmarshal(ke.Metadata, &props); err != nil {
				t.Fatalf("metadata %s is not a JSON object of strings: %v", ke.Metadata, err)
			}
			if props[propPosition] != "17" || props[propRecordedAt] != "2026-03-02T09:02:03.123456789Z" || props[propHash] != "abcd" {
				t.Errorf("metadata %v", props)
			}
			if _, ok := props[tt.hasKey]; tt.hasKey != "" && !ok {
				t.Errorf("metadata %v has no %s", props, tt.hasKey)
			}
			// Read back as the server gives it (with its schema properties).
			props["$schema.name"], props["$schema.format"] = tt.e.Type, "Json"
			meta, _ := json.Marshal(props)
			got, err := decodeEvent(rawEvent{Stream: "ns-s", Revision: 4, ID: ke.EventID, Type: ke.EventType, Data: ke.Data, Metadata: meta}, "s")
			if err != nil {
				t.Fatal(err)
			}
			want := eventstore.RecordedEvent{Position: 17, Stream: "s", Version: 4, ID: tt.e.ID, Type: tt.e.Type, Data: tt.e.Data,
				Metadata: tt.e.Metadata, RecordedAt: at.UTC(), Hash: []byte{0xab, 0xcd}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if got.RecordedAt.Location() != time.UTC {
				t.Errorf("RecordedAt not UTC")
			}
		})
	}
	// Events the store did not write.
	for _, meta := range []string{``, `[]`, `{"actor":"x"}`, `{"autoreg.position":"0"}`,
		`{"autoreg.position":"1","autoreg.recorded-at":"yesterday","autoreg.hash":"ab"}`,
		`{"autoreg.position":"1","autoreg.recorded-at":"2026-03-02T09:02:03Z","autoreg.hash":""}`} {
		if _, err := decodeEvent(rawEvent{Stream: "s", Metadata: []byte(meta)}, "s"); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("decode with metadata %q: %v, want ErrCorrupt", meta, err)
		}
	}
}

func TestLogEntry(t *testing.T) {
	l := logEntry{First: 5, Last: 7, Hash: "ab", Streams: []logStream{{Stream: "a", Version: 1, IDs: []string{"x", "y"}}, {Stream: "b", Version: 0, IDs: []string{"z"}}}}
	ke, err := encodeLog(l)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeLog(rawEvent{Type: ke.EventType, Data: ke.Data})
	if err != nil || !cmp.Equal(l, got) {
		t.Fatalf("decodeLog = %+v, %v; want %+v", got, err, l)
	}
	for _, bad := range []rawEvent{
		{Type: "other", Data: ke.Data},
		{Type: logEventType, Data: []byte(`{`)},
		{Type: logEventType, Data: []byte(`{"first":5,"last":9,"streams":[{"ids":["x"]}]}`)},
		{Type: logEventType, Data: []byte(`{"first":0,"last":0,"streams":[]}`)},
	} {
		if _, err := decodeLog(bad); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("decodeLog(%s) = %v, want ErrCorrupt", bad.Data, err)
		}
	}
}

// TestExpected: the port's expected versions are checked against the
// version the store knows, and the server is sent that exact version.
func TestExpected(t *testing.T) {
	tests := []struct {
		expected eventstore.ExpectedVersion
		current  int64
		ok       bool
	}{
		{eventstore.Any, -1, true}, {eventstore.Any, 7, true},
		{eventstore.NoStream, -1, true}, {eventstore.NoStream, 0, false},
		{eventstore.Exact(0), 0, true}, {eventstore.Exact(3), 3, true}, {eventstore.Exact(3), 2, false},
		{eventstore.Exact(3), 4, false}, {eventstore.Exact(0), -1, false},
	}
	srv := newFakeServer()
	s := newStore(fakeBackend{srv}, Config{Namespace: "n-"})
	s.loaded = true
	s.head = head{rev: 9, pos: 41, hash: []byte{1}}
	for _, tt := range tests {
		appends := []eventstore.StreamAppend{{Stream: "s", Expected: tt.expected, Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}}}
		c := checkExpected(appends, []int64{tt.current})
		if (c == nil) != tt.ok {
			t.Errorf("%v on a stream at %d: conflict %v, want ok %v", tt.expected, tt.current, c, tt.ok)
			continue
		}
		if c != nil {
			if *c != (eventstore.ConflictError{Stream: "s", Expected: tt.expected, Actual: tt.current}) {
				t.Errorf("conflict %+v", *c)
			}
			continue
		}
		p, err := s.plan(appends, []int64{tt.current})
		if err != nil {
			t.Fatal(err)
		}
		wantState := kdb.StreamState(kdb.NoStream{})
		if tt.current >= 0 {
			wantState = kdb.StreamRevision{Value: uint64(tt.current)}
		}
		if len(p.reqs) != 2 || p.reqs[0].StreamName != "n-s" || p.reqs[0].ExpectedStreamState != wantState ||
			p.reqs[1].StreamName != "autoreg.positions-n-" || p.reqs[1].ExpectedStreamState != (kdb.StreamRevision{Value: 9}) {
			t.Errorf("%v on a stream at %d: requests %+v", tt.expected, tt.current, p.reqs)
		}
		if p.res.Position != 42 || p.res.Versions[0] != tt.current+1 || p.entry.First != 42 || p.entry.Last != 42 {
			t.Errorf("plan result %+v entry %+v", p.res, p.entry)
		}
	}
	if got := exactState(-1); got != (kdb.NoStream{}) {
		t.Errorf("exactState(-1) = %v", got)
	}
	for _, st := range []kdb.StreamState{kdb.Any{}, kdb.StreamExists{}} {
		if _, ok := stateVersion(st); ok {
			t.Errorf("stateVersion(%T) names a version", st)
		}
	}
}

// TestPlanStamps: positions follow the head, the hash chain runs on from
// the head's hash across streams, and the log entry says it all.
func TestPlanStamps(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 5, time.UTC)
	s := newStore(fakeBackend{newFakeServer()}, Config{Clock: func() time.Time { return now }})
	s.head = head{rev: 2, pos: 10, hash: []byte("prev")}
	a := []eventstore.EventData{{ID: uuid.NewString(), Type: "a1"}, {ID: uuid.NewString(), Type: "a2"}}
	b := []eventstore.EventData{{ID: uuid.NewString(), Type: "b1", Data: []byte(`{}`)}}
	appends := []eventstore.StreamAppend{
		{Stream: "autoreg-a", Expected: eventstore.Any, Events: a},
		{Stream: "autoreg-check", Expected: eventstore.Exact(4)},
		{Stream: "autoreg-b", Expected: eventstore.NoStream, Events: b},
	}
	p, err := s.plan(appends, []int64{6, 4, -1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (eventstore.AppendResult{Position: 13, Versions: []int64{8, 4, 0}}); !cmp.Equal(want, p.res) {
		t.Errorf("result %+v, want %+v", p.res, want)
	}
	// The check-only entry sends nothing: the server takes no entry without
	// events, and the log's expected revision covers it.
	var names []string
	for _, r := range p.reqs {
		names = append(names, r.StreamName)
	}
	if want := []string{"autoreg-a", "autoreg-b", "autoreg.positions"}; !slices.Equal(names, want) {
		t.Errorf("requests to %v, want %v", names, want)
	}
	prev := []byte("prev")
	pos := uint64(10)
	var got []eventstore.RecordedEvent
	for _, r := range p.reqs[:2] {
		for ke := range r.Events {
			e, err := decodeEvent(rawEvent{Stream: r.StreamName, Revision: 0, ID: ke.EventID, Type: ke.EventType, Data: ke.Data, Metadata: ke.Metadata}, r.StreamName)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e)
		}
	}
	versions := []uint64{7, 8, 0}
	for i, e := range got {
		pos++
		e.Version = versions[i]
		if e.Position != pos || !e.RecordedAt.Equal(now) {
			t.Errorf("event %d: position %d at %v", i, e.Position, e.RecordedAt)
		}
		if want := eventstore.ChainHash(prev, e); !cmp.Equal(want, e.Hash) {
			t.Errorf("event %d: hash does not chain", i)
		}
		prev = e.Hash
	}
	if !cmp.Equal(prev, p.hash) || p.entry.Hash != fmt.Sprintf("%x", prev) {
		t.Errorf("the log entry's hash is not the last event's")
	}
	want := logEntry{First: 11, Last: 13, Hash: p.entry.Hash, Streams: []logStream{
		{Stream: "autoreg-a", Version: 8, IDs: []string{a[0].ID, a[1].ID}},
		{Stream: "autoreg-b", Version: 0, IDs: []string{b[0].ID}},
	}}
	if diff := cmp.Diff(want, p.entry); diff != "" {
		t.Errorf("log entry (-want +got):\n%s", diff)
	}
}

// TestNames: without a namespace the store holds the registrar's streams
// only; with one, any stream, under it.
func TestNames(t *testing.T) {
	s := newStore(fakeBackend{newFakeServer()}, Config{})
	ev := []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}
	if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "orders-1", Expected: eventstore.Any, Events: ev}); !errors.Is(err, eventstore.ErrInvalidAppend) {
		t.Fatalf("append to orders-1 without a namespace: %v, want ErrInvalidAppend", err)
	}
	if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "autoreg-cluster", Expected: eventstore.Any, Events: ev}); err != nil {
		t.Fatal(err)
	}
	srv := s.b.(fakeBackend).srv
	if len(srv.streams["autoreg-cluster"]) != 1 || len(srv.streams["autoreg.positions"]) != 1 {
		t.Fatalf("server streams: %v", keys(srv.streams))
	}
	ns := newStore(fakeBackend{srv}, Config{Namespace: "staging-"})
	if _, err := ns.Append(t.Context(), eventstore.StreamAppend{Stream: "autoreg-cluster", Expected: eventstore.NoStream, Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}}); err != nil {
		t.Fatal(err)
	}
	if len(srv.streams["staging-autoreg-cluster"]) != 1 || len(srv.streams["autoreg.positions-staging-"]) != 1 {
		t.Fatalf("server streams: %v", keys(srv.streams))
	}
	// Each store sees its own events only.
	for _, st := range []*Store{s, ns} {
		if h, err := st.Head(t.Context()); err != nil || h != 1 {
			t.Fatalf("Head = %d, %v; want 1", h, err)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestTwoProcesses: two stores on one server (two registrars) append in
// turn and at once: positions stay gap-free, each sees the other's
// events and versions, and a conflict names the other's version.
func TestTwoProcesses(t *testing.T) {
	srv := newFakeServer()
	a := newStore(fakeBackend{srv}, Config{Namespace: "p-"})
	b := newStore(fakeBackend{srv}, Config{Namespace: "p-"})
	ev := func() []eventstore.EventData { return []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}} }
	if _, err := a.Append(t.Context(), eventstore.StreamAppend{Stream: "x", Expected: eventstore.NoStream, Events: ev()}); err != nil {
		t.Fatal(err)
	}
	// b has not seen a's append: its first attempt fails on the log, it
	// reads the log and its own check tells the truth.
	_, err := b.Append(t.Context(), eventstore.StreamAppend{Stream: "x", Expected: eventstore.NoStream, Events: ev()})
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Actual != 0 {
		t.Fatalf("b's NoStream on x: %v, want a conflict at version 0", err)
	}
	res, err := b.Append(t.Context(), eventstore.StreamAppend{Stream: "y", Expected: eventstore.NoStream, Events: ev()},
		eventstore.StreamAppend{Stream: "x", Expected: eventstore.Exact(0)})
	if err != nil || res.Position != 2 {
		t.Fatalf("b's append: %+v, %v; want position 2", res, err)
	}
	// a has a stale head: it catches up through the log.
	res, err = a.Append(t.Context(), eventstore.StreamAppend{Stream: "x", Expected: eventstore.Exact(0), Events: ev()})
	if err != nil || res.Position != 3 || res.Versions[0] != 1 {
		t.Fatalf("a's append: %+v, %v; want position 3 version 1", res, err)
	}
	// b's check of x at version 0 no longer holds.
	_, err = b.Append(t.Context(), eventstore.StreamAppend{Stream: "y", Expected: eventstore.Exact(0), Events: ev()},
		eventstore.StreamAppend{Stream: "x", Expected: eventstore.Exact(0)})
	if !errors.As(err, &ce) || ce.Stream != "x" || ce.Actual != 1 {
		t.Fatalf("b's stale check: %v, want a conflict on x at 1", err)
	}
	// Both at once, many times.
	done := make(chan error, 2)
	for _, st := range []*Store{a, b} {
		go func() {
			for range 50 {
				if _, err := st.Append(t.Context(), eventstore.StreamAppend{Stream: "shared", Expected: eventstore.Any, Events: ev()}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.Verify(t.Context(), nil); err != nil || n != 103 {
		t.Fatalf("Verify = %d, %v; want 103", n, err)
	}
}

// TestUnknownOutcome: an append the server committed but the client heard
// fail is recognised when retried, from this process or another.
func TestUnknownOutcome(t *testing.T) {
	srv := newFakeServer()
	s := newStore(fakeBackend{srv}, Config{Namespace: "u-"})
	first := []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}
	if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "a", Expected: eventstore.NoStream, Events: first}); err != nil {
		t.Fatal(err)
	}
	evs := []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}, {ID: uuid.NewString(), Type: "t"}}
	appends := []eventstore.StreamAppend{{Stream: "a", Expected: eventstore.Exact(0), Events: evs}, {Stream: "b", Expected: eventstore.Any, Events: first[:0]}}
	srv.failNext, srv.commitFail = fmt.Errorf("%w: connection reset", eventstore.ErrUnavailable), true
	if _, err := s.Append(t.Context(), appends...); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Append = %v, want ErrUnavailable", err)
	}
	want := eventstore.AppendResult{Position: 3, Versions: []int64{2, -1}}
	for _, st := range []*Store{s, newStore(fakeBackend{srv}, Config{Namespace: "u-"})} {
		res, err := st.Append(t.Context(), appends...)
		if err != nil || !cmp.Equal(want, res) {
			t.Fatalf("retry = %+v, %v; want %+v", res, err, want)
		}
	}
	if srv.appends != 2 {
		t.Fatalf("the server committed %d appends, want 2", srv.appends)
	}
	// A failure before the server wrote anything: the retry writes it.
	srv.failNext = fmt.Errorf("%w: connection refused", eventstore.ErrUnavailable)
	next := []eventstore.StreamAppend{{Stream: "a", Expected: eventstore.Exact(2), Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}}}
	if _, err := s.Append(t.Context(), next...); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Append = %v, want ErrUnavailable", err)
	}
	if res, err := s.Append(t.Context(), next...); err != nil || res.Position != 4 {
		t.Fatalf("retry = %+v, %v; want position 4", res, err)
	}
}

// TestSeek: reading from any position of a long log finds its place
// through the position log, beyond the page read from its end.
func TestSeek(t *testing.T) {
	srv := newFakeServer()
	srv.reverse = true
	s := newStore(fakeBackend{srv}, Config{Namespace: "k-"})
	for i := range 200 {
		evs := make([]eventstore.EventData, 1+i%3)
		for j := range evs {
			evs[j] = eventstore.EventData{ID: uuid.NewString(), Type: "t"}
		}
		if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: fmt.Sprintf("s%d", i%7), Expected: eventstore.Any, Events: evs},
			eventstore.StreamAppend{Stream: "other", Expected: eventstore.Any, Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := s.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{0, 1, 2, 3, 4, 17, 100, 255, head - 40, head - 1, head, head + 1, head + 5} {
		var got []uint64
		if err := s.ReadAll(t.Context(), from, func(e eventstore.RecordedEvent) error {
			got = append(got, e.Position)
			return nil
		}); err != nil {
			t.Fatalf("ReadAll(%d): %v", from, err)
		}
		start := max(from, 1)
		if start > head {
			if len(got) != 0 {
				t.Fatalf("ReadAll(%d) past the head %d gave %d events", from, head, len(got))
			}
			continue
		}
		if uint64(len(got)) != head-start+1 || got[0] != start || got[len(got)-1] != head {
			t.Fatalf("ReadAll(%d) gave %d events %v..., want %d from %d", from, len(got), got[:min(3, len(got))], head-start+1, start)
		}
	}
}

// TestCorrupt: an event missing from $all, or one written by someone else
// under the store's prefix, is reported, not skipped.
func TestCorrupt(t *testing.T) {
	srv := newFakeServer()
	s := newStore(fakeBackend{srv}, Config{Namespace: "c-"})
	for range 3 {
		if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "a", Expected: eventstore.Any, Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}}); err != nil {
			t.Fatal(err)
		}
	}
	srv.all = slices.Delete(srv.all, 2, 3) // the second event
	err := s.ReadAll(t.Context(), 1, func(eventstore.RecordedEvent) error { return nil })
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("ReadAll with position 2 gone: %v, want ErrCorrupt naming position 2", err)
	}
	srv = newFakeServer()
	s = newStore(fakeBackend{srv}, Config{Namespace: "c-"})
	for i := range 2 {
		if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "a", Expected: eventstore.Any, Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			srv.all = append(srv.all, rawEvent{Stream: "c-intruder", Type: "x", Metadata: []byte(`{}`), Pos: kdb.Position{Commit: 250}})
		}
	}
	if err := s.ReadAll(t.Context(), 1, func(eventstore.RecordedEvent) error { return nil }); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("ReadAll over a foreign event: %v, want ErrCorrupt", err)
	}
}

// TestImport copies one store's history into another as it is, in
// appends that respect what MultiStreamAppend can say, and refuses events
// that do not continue it.
func TestImport(t *testing.T) {
	src := newStore(fakeBackend{newFakeServer()}, Config{Namespace: "src-"})
	for i := range 40 {
		evs := make([]eventstore.EventData, 1+i%3)
		for j := range evs {
			evs[j] = eventstore.EventData{ID: uuid.NewString(), Type: "t", Data: []byte(`{"i":1}`), Metadata: []byte(`{"a":"b"}`)}
		}
		if _, err := src.Append(t.Context(), eventstore.StreamAppend{Stream: fmt.Sprintf("s%d", i%4), Expected: eventstore.Any, Events: evs},
			eventstore.StreamAppend{Stream: fmt.Sprintf("s%d", (i+1)%4), Expected: eventstore.Any, Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "u"}}}); err != nil {
			t.Fatal(err)
		}
	}
	var all []eventstore.RecordedEvent
	if err := src.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}
	srv := newFakeServer()
	srv.reverse = true
	dst := newStore(fakeBackend{srv}, Config{Namespace: "dst-"})
	if err := dst.Import(t.Context(), all[:33]); err != nil {
		t.Fatal(err)
	}
	if err := dst.Import(t.Context(), all[40:]); !errors.Is(err, ErrImport) {
		t.Fatalf("Import with a gap: %v, want ErrImport", err)
	}
	bad := slices.Clone(all[33:])
	bad[2].Data = []byte(`{"i":2}`)
	if err := dst.Import(t.Context(), bad); !errors.Is(err, ErrImport) {
		t.Fatalf("Import of an altered event: %v, want ErrImport", err)
	}
	if err := dst.Import(t.Context(), all[33:35]); err != nil {
		t.Fatalf("Import after the refused chunk: %v", err)
	}
	if err := dst.Import(t.Context(), all[35:]); err != nil {
		t.Fatal(err)
	}
	var got []eventstore.RecordedEvent
	if err := dst.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Fatalf("imported history differs (-source +copy):\n%s", diff)
	}
	// The copy goes on as a store of its own.
	fresh := newStore(fakeBackend{srv}, Config{Namespace: "dst-"})
	var v uint64
	for _, e := range all {
		if e.Stream == "s0" {
			v = e.Version
		}
	}
	res, err := fresh.Append(t.Context(), eventstore.StreamAppend{Stream: "s0", Expected: eventstore.Exact(v), Events: []eventstore.EventData{{ID: uuid.NewString(), Type: "t"}}})
	if err != nil || res.Position != uint64(len(all))+1 {
		t.Fatalf("append after the import: %+v, %v", res, err)
	}
	if n, err := fresh.Verify(t.Context(), nil); err != nil || n != uint64(len(all))+1 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// TestSQLiteRoundTrip copies a history from the SQLite store into this
// one and back (what replay copy does), and finds it unchanged: ids,
// metadata, times to the nanosecond, hashes.
func TestSQLiteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC)
	src, err := sqlite.Open(t.Context(), filepath.Join(dir, "src.db"), sqlite.WithClock(func() time.Time {
		clock = clock.Add(1234567 * time.Nanosecond)
		return clock
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := range 25 {
		if _, err := src.Append(t.Context(),
			eventstore.StreamAppend{Stream: fmt.Sprintf("autoreg-device-SEP%012d", i%4), Expected: eventstore.Any,
				Events: []eventstore.EventData{{ID: uuid.Must(uuid.NewV7()).String(), Type: "device.registered", Data: []byte(`{"dn":"1000"}`), Metadata: []byte(`{"actor":"sip"}`)}}},
			eventstore.StreamAppend{Stream: "autoreg-dnrange", Expected: eventstore.Any,
				Events: []eventstore.EventData{{ID: uuid.Must(uuid.NewV7()).String(), Type: "dnrange.dn_assigned"}}},
		); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func(st eventstore.Store) []eventstore.RecordedEvent {
		var all []eventstore.RecordedEvent
		if err := st.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error { all = append(all, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return all
	}
	want := readAll(src)

	kv := newStore(fakeBackend{newFakeServer()}, Config{})
	if err := kv.Import(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, readAll(kv), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("SQLite -> KurrentDB (-want +got):\n%s", diff)
	}
	back, err := sqlite.Open(t.Context(), filepath.Join(dir, "back.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := back.Import(t.Context(), readAll(kv)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, readAll(back)); diff != "" {
		t.Fatalf("KurrentDB -> SQLite (-want +got):\n%s", diff)
	}
}
