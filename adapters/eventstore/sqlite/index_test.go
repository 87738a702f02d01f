package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/adapters/eventstore/storetest"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// Upkeeps of the stream index for the tests.
var (
	// neverIndex leaves every event in the tail.
	neverIndex = sqlite.WithIndexUpkeep(math.MaxUint64, 0, false)
	// indexEachGroup indexes in every group's transaction.
	indexEachGroup = sqlite.WithIndexUpkeep(1, 0, true)
)

// TestConformanceIndexUpkeep runs the conformance suite with the stream
// index kept in other ways than the default: never (every read scans the
// tail), in every group, and in small batches and idle time.
func TestConformanceIndexUpkeep(t *testing.T) {
	for name, opt := range map[string]sqlite.Option{
		"never":          neverIndex,
		"each group":     indexEachGroup,
		"small batches":  sqlite.WithIndexUpkeep(3, time.Millisecond, true),
		"never at close": sqlite.WithIndexUpkeep(5, 0, false),
	} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, storetest.Factory{New: func(t *testing.T) storetest.Opener {
				path := filepath.Join(t.TempDir(), "events.db")
				return func(t *testing.T) eventstore.Store {
					s, err := sqlite.Open(t.Context(), path, opt)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
			}})
		})
	}
}

// schemaV1 is the schema of the files made before the deferred stream
// index (user_version 1), as that code created them.
const schemaV1 = `
PRAGMA page_size = 4096;
PRAGMA journal_mode = DELETE;
PRAGMA synchronous = FULL;
BEGIN;
CREATE TABLE events (
	position    INTEGER PRIMARY KEY CHECK (position > 0), -- global, gap-free from 1
	stream      TEXT    NOT NULL CHECK (stream <> ''),
	version     INTEGER NOT NULL CHECK (version >= 0),    -- within the stream, from 0
	id          TEXT    NOT NULL UNIQUE,
	type        TEXT    NOT NULL,
	data        BLOB    NOT NULL,
	metadata    BLOB    NOT NULL,
	recorded_at INTEGER NOT NULL,                         -- Unix nanoseconds, UTC
	hash        BLOB    NOT NULL,                         -- eventstore.ChainHash
	UNIQUE (stream, version)
) STRICT;
PRAGMA application_id = 1095910727;
PRAGMA user_version = 1;
COMMIT;
PRAGMA journal_mode = WAL;
`

// createV1 makes an empty store of layout 1 at path.
func createV1(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schemaV1); err != nil {
		t.Fatal(err)
	}
}

// fileSchema is the file's user_version and the names of its tables.
func fileSchema(t *testing.T, path string) (version int, tables []string) {
	t.Helper()
	db := openRO(t, path)
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	return version, tables
}

// openRO opens the file read-only through database/sql, beside the store.
func openRO(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// indexState is the stream index's watermark and number of rows.
func indexState(t *testing.T, path string) (watermark, rows uint64) {
	t.Helper()
	db := openRO(t, path)
	defer db.Close()
	if err := db.QueryRow(`SELECT (SELECT indexed_through FROM stream_index_state), (SELECT count(*) FROM stream_index)`).Scan(&watermark, &rows); err != nil {
		t.Fatal(err)
	}
	return watermark, rows
}

func wantIndex(t *testing.T, path string, watermark uint64) {
	t.Helper()
	w, rows := indexState(t, path)
	if w != watermark || rows != watermark {
		t.Fatalf("stream index: watermark %d, %d rows; want %d and %d", w, rows, watermark, watermark)
	}
}

// setWatermark puts a closed store's index in the state a writer leaves
// when it last indexed up to position w: rows for positions 1 to w, and
// the watermark at w. A crash at any moment leaves the index in such a
// state (it is written in one transaction with its watermark).
func setWatermark(t *testing.T, path string, w uint64) {
	t.Helper()
	tamper(t, path, fmt.Sprintf(`BEGIN; DELETE FROM stream_index WHERE position > %d; UPDATE stream_index_state SET indexed_through = %d; COMMIT`, w, w))
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

// checkReads checks that s reads back exactly all: ReadAll, and each
// stream whole and from some of its versions.
func checkReads(t *testing.T, s eventstore.Store, all []eventstore.RecordedEvent) {
	t.Helper()
	if diff := diffEvents(all, readAll(t, s, 1)); diff != "" {
		t.Fatalf("ReadAll (-want +got):\n%s", diff)
	}
	streams := map[string][]eventstore.RecordedEvent{}
	for _, e := range all {
		streams[e.Stream] = append(streams[e.Stream], e)
	}
	for name, want := range streams {
		n := uint64(len(want))
		for _, from := range []uint64{0, 1, n / 2, n - 1, n, n + 1} {
			if diff := diffEvents(want[min(from, n):], readStream(t, s, name, from)); diff != "" {
				t.Fatalf("ReadStream(%q, %d) (-want +got):\n%s", name, from, diff)
			}
		}
	}
	if got := readStream(t, s, "no-such-stream", 0); len(got) != 0 {
		t.Fatalf("ReadStream of a stream that does not exist: %d events", len(got))
	}
}

// appendOne appends an event to stream, expecting the stream at version
// expected (-1: no stream), and checks where it lands.
func appendOne(t *testing.T, s eventstore.Store, stream string, expected int64, wantPos uint64) {
	t.Helper()
	exp := eventstore.NoStream
	if expected >= 0 {
		exp = eventstore.Exact(uint64(expected))
	}
	res, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: exp, Events: []eventstore.EventData{newEvent()}})
	if err != nil {
		t.Fatalf("append to %s at version %d: %v", stream, expected, err)
	}
	if res.Position != wantPos || res.Versions[0] != expected+1 {
		t.Fatalf("append to %s = %+v, want position %d version %d", stream, res, wantPos, expected+1)
	}
}

func newEvent() eventstore.EventData {
	return eventstore.EventData{ID: uuid.NewString(), Type: "test.event", Data: []byte(`{}`), Metadata: []byte(`{}`)}
}

func wantConflict(t *testing.T, err error, stream string, actual int64) {
	t.Helper()
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Stream != stream || ce.Actual != actual {
		t.Fatalf("append = %v, want a conflict on %s at version %d", err, stream, actual)
	}
}

// TestStreamIndexTail reads streams, and checks expected versions, while
// their events are in the tail, in the index, and in both, from the writing
// store and from a read-only one.
func TestStreamIndexTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path, sqlite.WithIndexUpkeep(10, 0, false))
	r, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	pos := uint64(0)
	for i := range 3 {
		pos++
		appendOne(t, s, "a", int64(i)-1, pos)
	}
	for i := range 4 {
		pos++
		appendOne(t, s, "b", int64(i)-1, pos)
	}
	wantIndex(t, path, 0) // 7 events, all in the tail
	all := readAll(t, s, 1)
	checkReads(t, s, all)
	checkReads(t, r, all)
	// Versions come from the tail: stale expectations conflict, and a
	// retried append is recognised.
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "a", Expected: eventstore.Exact(1), Events: []eventstore.EventData{newEvent()}})
	wantConflict(t, err, "a", 2)
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "b", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent()}})
	wantConflict(t, err, "b", 3)
	first := eventstore.EventData{ID: all[0].ID, Type: all[0].Type, Data: all[0].Data, Metadata: all[0].Metadata}
	if res, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "a", Expected: eventstore.Any, Events: []eventstore.EventData{first}}); err != nil || res.Position != 1 {
		t.Fatalf("retry of the first append = %+v, %v; want position 1", res, err)
	}

	// The group that makes the tail 10 events long indexes it.
	res, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "c", Expected: eventstore.NoStream, Events: events("c", 3)})
	if err != nil || res.Position != 10 {
		t.Fatalf("Append = %+v, %v", res, err)
	}
	wantIndex(t, path, 10)
	all = readAll(t, s, 1)
	checkReads(t, s, all)
	checkReads(t, r, all)

	// Index and tail together.
	appendOne(t, s, "a", 2, 11)
	appendOne(t, s, "a", 3, 12)
	appendOne(t, s, "c", 2, 13)
	wantIndex(t, path, 10)
	all = readAll(t, s, 1)
	checkReads(t, s, all)
	checkReads(t, r, all)
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "a", Expected: eventstore.Exact(3), Events: []eventstore.EventData{newEvent()}})
	wantConflict(t, err, "a", 4)
	if n, err := s.Verify(t.Context(), nil); err != nil || n != 13 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// TestStreamIndexLongStream reads a stream longer than a read chunk whose
// events are partly indexed and partly in the tail, from versions on both
// sides of the watermark and of the chunk boundary.
func TestStreamIndexLongStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path, sqlite.WithIndexUpkeep(700, 0, false))
	appendN(t, s, "long", events("a", 700)) // indexed by its own group
	appendN(t, s, "other", events("o", 5))
	appendN(t, s, "long", events("b", 600)) // in the tail
	wantIndex(t, path, 700)
	all := readAll(t, s, 1)
	var long []eventstore.RecordedEvent
	for _, e := range all {
		if e.Stream == "long" {
			long = append(long, e)
		}
	}
	for _, from := range []uint64{0, 1, 424, 699, 700, 701, 1023, 1024, 1025, 1299, 1300} {
		if diff := diffEvents(long[min(from, 1300):], readStream(t, s, "long", from)); diff != "" {
			t.Fatalf("ReadStream(long, %d) (-want +got):\n%s", from, diff)
		}
	}
	checkReads(t, s, all)
}

// copyFile copies a closed store to a new directory.
func copyFile(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestStreamIndexCrashStates opens a store in every state of its index a
// crash can leave (indexed up to any position): reads are the same, from a
// read-only store, from a writer that does not index, and from one that
// does; appends see every stream's version.
func TestStreamIndexCrashStates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path)
	for i := range 40 {
		appendN(t, s, fmt.Sprintf("s%d", i%4), events(fmt.Sprint("x", i), 1+i%3))
		if i%5 == 0 {
			if _, err := s.Append(t.Context(),
				eventstore.StreamAppend{Stream: "m1", Expected: eventstore.Any, Events: events(fmt.Sprint("m1-", i), 2)},
				eventstore.StreamAppend{Stream: "m2", Expected: eventstore.Any, Events: events(fmt.Sprint("m2-", i), 1)},
			); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := readAll(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	head := uint64(len(all))
	wantIndex(t, path, head) // Close indexed the tail
	last := map[string]int64{}
	for _, e := range all {
		last[e.Stream] = int64(e.Version)
	}

	for _, w := range []uint64{0, 1, 2, 37, head / 2, head - 1, head} {
		t.Run(fmt.Sprint("indexed through ", w), func(t *testing.T) {
			p := copyFile(t, path)
			setWatermark(t, p, w)
			wantIndex(t, p, w)

			r, err := sqlite.OpenReadOnly(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			checkReads(t, r, all)
			r.Close()

			// A writer that leaves the index as it is.
			s := openStore(t, p, neverIndex)
			checkReads(t, s, all)
			pos := head
			for _, stream := range []string{"s0", "s3", "m2"} {
				_, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: eventstore.Exact(uint64(last[stream] - 1)), Events: []eventstore.EventData{newEvent()}})
				wantConflict(t, err, stream, last[stream])
				pos++
				appendOne(t, s, stream, last[stream], pos)
			}
			_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "m1", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent()}})
			wantConflict(t, err, "m1", last["m1"])
			more := readAll(t, s, 1)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wantIndex(t, p, w)

			// A writer that indexes: at Close.
			s = openStore(t, p)
			checkReads(t, s, more)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wantIndex(t, p, pos)
			s = openStore(t, p, neverIndex)
			checkReads(t, s, more)
			if n, err := s.Verify(t.Context(), nil); err != nil || n != pos {
				t.Fatalf("Verify = %d, %v", n, err)
			}
		})
	}
}

// TestStreamIndexAtOpen: Open indexes a tail of a batch or more (such as a
// file loaded by another program), and leaves a shorter one.
func TestStreamIndexAtOpen(t *testing.T) {
	path, all := filledClosed(t, 250)
	setWatermark(t, path, 0)
	s := openStore(t, path, sqlite.WithIndexUpkeep(251, 0, false))
	wantIndex(t, path, 0)
	checkReads(t, s, all)
	s.Close()
	s = openStore(t, path, sqlite.WithIndexUpkeep(250, 0, false))
	wantIndex(t, path, 250)
	checkReads(t, s, all)
}

// TestStreamIndexIdle: a writer with nothing to do indexes the tail.
func TestStreamIndexIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path, sqlite.WithIndexUpkeep(math.MaxUint64, time.Millisecond, false))
	appendN(t, s, "a", events("a", 3))
	appendN(t, s, "b", events("b", 2))
	for deadline := time.Now().Add(storetest.Timeout); ; time.Sleep(time.Millisecond) {
		if w, _ := indexState(t, path); w == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle writer did not index the tail")
		}
	}
	wantIndex(t, path, 5)
	checkReads(t, s, readAll(t, s, 1))
}

// TestStreamIndexTwoWriters has two stores append to one file, as two
// registrars sharing a store do, one of them indexing in small batches and
// the other never, or both in batches of their own: neither duplicates a
// version, and each sees the other's appends in its expected versions.
func TestStreamIndexTwoWriters(t *testing.T) {
	for name, opt := range map[string]sqlite.Option{
		"one indexes":  neverIndex,
		"both index":   sqlite.WithIndexUpkeep(5, 0, false),
		"idle indexes": sqlite.WithIndexUpkeep(math.MaxUint64, time.Millisecond, false),
	} {
		t.Run(name, func(t *testing.T) { testTwoWriters(t, opt) })
	}
}

func testTwoWriters(t *testing.T, opt sqlite.Option) {
	path := filepath.Join(t.TempDir(), "events.db")
	a := openStore(t, path, sqlite.WithIndexUpkeep(4, 0, false))
	b := openStore(t, path, opt)
	version := map[string]int64{}
	for i := range 60 {
		s, other := a, b
		if i%3 == 1 {
			s, other = b, a
		}
		stream := fmt.Sprint("s", i%4)
		v, ok := version[stream]
		if !ok {
			v = -1
		}
		if v >= 0 {
			// The other writer's stale expectation conflicts.
			stale := eventstore.NoStream
			if v > 0 {
				stale = eventstore.Exact(uint64(v - 1))
			}
			_, err := other.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: stale, Events: []eventstore.EventData{newEvent()}})
			wantConflict(t, err, stream, v)
		}
		appendOne(t, s, stream, v, uint64(i)+1)
		version[stream] = v + 1
	}
	all := readAll(t, a, 1)
	checkReads(t, a, all)
	checkReads(t, b, all)
	if w, _ := indexState(t, path); w == 0 {
		t.Fatal("the indexing writer never indexed")
	}

	// Both at once, on the same streams.
	var wg sync.WaitGroup
	for _, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			for i := range 100 {
				if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: fmt.Sprint("s", i%4), Expected: eventstore.Any, Events: []eventstore.EventData{newEvent()}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	all = readAll(t, a, 1)
	checkReads(t, a, all) // ReadStream fails on a duplicate or missing version
	checkReads(t, b, all)
	db := openRO(t, path)
	var dups int
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT 1 FROM events GROUP BY stream, version HAVING count(*) > 1)`).Scan(&dups); err != nil || dups != 0 {
		t.Fatalf("%d duplicate versions, %v", dups, err)
	}
	if n, err := b.Verify(t.Context(), nil); err != nil || n != uint64(len(all)) {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// TestStreamIndexReadsWhileIndexing reads streams while a writer appends
// and indexes: each read is a whole prefix of the stream (ReadStream fails
// on a missing or repeated version), never shorter than the one before.
func TestStreamIndexReadsWhileIndexing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path, sqlite.WithIndexUpkeep(7, 0, false))
	r, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, st := range []*sqlite.Store{s, r} {
		wg.Go(func() {
			seen := map[string]int{}
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, stream := range []string{"a", "b"} {
					n := 0
					if err := st.ReadStream(t.Context(), stream, 0, func(eventstore.RecordedEvent) error { n++; return nil }); err != nil {
						t.Error(err)
						return
					}
					if n < seen[stream] {
						t.Errorf("ReadStream(%s) read %d events after %d", stream, n, seen[stream])
						return
					}
					seen[stream] = n
				}
			}
		})
	}
	for i := range 300 {
		stream := "a"
		if i%3 == 0 {
			stream = "b"
		}
		appendN(t, s, stream, events(fmt.Sprint("e", i), 1+i%2))
	}
	close(done)
	wg.Wait()
	checkReads(t, r, readAll(t, s, 1))
}

// TestStreamIndexDamage: an index that cannot be the store's is
// eventstore.ErrCorrupt.
func TestStreamIndexDamage(t *testing.T) {
	opens := map[string]func(string) error{
		"Open": func(p string) error {
			s, err := sqlite.Open(t.Context(), p, indexEachGroup)
			if err == nil {
				s.Close()
			}
			return err
		},
		"OpenReadOnly": func(p string) error {
			s, err := sqlite.OpenReadOnly(t.Context(), p)
			if err == nil {
				s.Close()
			}
			return err
		},
	}
	wantCorrupt := func(t *testing.T, p, words string) {
		t.Helper()
		for name, open := range opens {
			if err := open(p); !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), words) || !strings.Contains(err.Error(), p) {
				t.Errorf("%s = %v, want ErrCorrupt naming the file and saying %q", name, err, words)
			}
		}
	}
	t.Run("events deleted from the end", func(t *testing.T) {
		// The chain cannot tell; the index can.
		path, _ := filledClosed(t, 30)
		tamper(t, path, `DELETE FROM events WHERE position > 27`)
		wantCorrupt(t, path, "covers positions up to 30, but the last event is at position 27")
	})
	t.Run("no watermark", func(t *testing.T) {
		path, _ := filledClosed(t, 30)
		tamper(t, path, `DELETE FROM stream_index_state`)
		wantCorrupt(t, path, "watermark is missing")
	})
	t.Run("a version twice in the tail", func(t *testing.T) {
		path, _ := filledClosed(t, 30)
		setWatermark(t, path, 0)
		tamper(t, path, `UPDATE events SET version = version - 1 WHERE position = 10`)
		if err := opens["Open"](path); !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "same stream and version") {
			t.Errorf("Open = %v, want ErrCorrupt", err)
		}
		r, err := sqlite.OpenReadOnly(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		err = r.ReadStream(t.Context(), "device-0", 0, func(eventstore.RecordedEvent) error { return nil })
		if !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("ReadStream = %v, want ErrCorrupt", err)
		}
	})
	t.Run("an indexed event moved to another stream", func(t *testing.T) {
		path, _ := filledClosed(t, 30)
		tamper(t, path, `UPDATE events SET stream = 'device-9' WHERE position = 10`)
		s := openStore(t, path)
		err := s.ReadStream(t.Context(), "device-0", 0, func(eventstore.RecordedEvent) error { return nil })
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "expected version 9") {
			t.Errorf("ReadStream = %v, want ErrCorrupt at version 9", err)
		}
	})
}

// TestImportIndexes: Import indexes the tail it finds and the events it
// writes, and refuses a version the index already has.
func TestImportIndexes(t *testing.T) {
	_, all := filledClosed(t, 60)
	path := filepath.Join(t.TempDir(), "dst.db")
	dst := openStore(t, path, neverIndex)
	if err := dst.Import(t.Context(), all[:20]); err != nil {
		t.Fatal(err)
	}
	wantIndex(t, path, 20)
	dst.Close()
	setWatermark(t, path, 5) // a tail left by a crash
	dst = openStore(t, path, neverIndex)
	if err := dst.Import(t.Context(), all[20:]); err != nil {
		t.Fatal(err)
	}
	wantIndex(t, path, 60)
	checkReads(t, dst, all)
	if _, err := dst.Append(t.Context(), eventstore.StreamAppend{Stream: "device-1", Expected: eventstore.Exact(uint64(countStream(all, "device-1") - 1)), Events: []eventstore.EventData{newEvent()}}); err != nil {
		t.Fatalf("Append after Import: %v", err)
	}
}

func countStream(all []eventstore.RecordedEvent, stream string) int {
	n := 0
	for _, e := range all {
		if e.Stream == stream {
			n++
		}
	}
	return n
}

// TestLayout1File uses a file of layout 1 (made before the deferred index):
// it opens for writing and reading, behaves as before and stays layout 1.
func TestLayout1File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	createV1(t, path)
	s := openStore(t, path)
	pos := uint64(0)
	for i := range 5 {
		for _, stream := range []string{"a", "b"} {
			pos++
			appendOne(t, s, stream, int64(i)-1, pos)
		}
	}
	_, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "a", Expected: eventstore.Exact(2), Events: []eventstore.EventData{newEvent()}})
	wantConflict(t, err, "a", 4)
	all := readAll(t, s, 1)
	checkReads(t, s, all)
	r, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkReads(t, r, all)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Import into a layout-1 file.
	dst := filepath.Join(t.TempDir(), "dst.db")
	createV1(t, dst)
	d := openStore(t, dst)
	if err := d.Import(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	checkReads(t, d, all)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{path, dst} {
		version, tables := fileSchema(t, p)
		if version != 1 || !cmp.Equal(tables, []string{"events"}) {
			t.Fatalf("%s: user_version %d, tables %v; want 1, [events]", p, version, tables)
		}
	}
	s = openStore(t, path)
	checkReads(t, s, all)
	if n, err := s.Verify(t.Context(), nil); err != nil || n != pos {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// TestConformanceLayout1 runs the conformance suite on a file of layout 1.
func TestConformanceLayout1(t *testing.T) {
	storetest.Run(t, storetest.Factory{New: func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "events.db")
		createV1(t, path)
		return func(t *testing.T) eventstore.Store {
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}

// TestNewFileLayout: a new file is of the current layout, with the index.
func TestNewFileLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path)
	s.Close()
	version, tables := fileSchema(t, path)
	if version != sqlite.SchemaVersion || !cmp.Equal(tables, []string{"events", "stream_index", "stream_index_state"}) {
		t.Fatalf("user_version %d, tables %v", version, tables)
	}
	wantIndex(t, path, 0)
}

// TestNewStreamsDoNotScanTheTail: appends that each start a new stream (an
// autoregistration starts a device's) look the stream up in the index with
// one seek; the tail's streams are scanned once, not once per new stream.
// A rolled-back append and another connection's commit make the writer
// rescan it, and versions in the tail are still seen after both.
func TestNewStreamsDoNotScanTheTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path, neverIndex)
	// More new streams than the writer caches versions of, in one append
	// (one commit), then some one by one.
	const n = 5000
	batch := make([]eventstore.StreamAppend, n)
	for i := range batch {
		batch[i] = eventstore.StreamAppend{Stream: fmt.Sprint("device-", i), Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent()}}
	}
	if _, err := s.Append(t.Context(), batch...); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		appendOne(t, s, fmt.Sprint("phone-", i), -1, uint64(n+i)+1)
	}
	if got := s.TailScans(); got > 1 {
		t.Fatalf("%d scans of the tail for %d new streams, want at most 1", got, n+50)
	}
	// device-1 fell out of the version cache: its version comes from the tail.
	_, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "device-1", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent()}})
	wantConflict(t, err, "device-1", 0)
	before := s.TailScans()
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "device-2", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent()}})
	wantConflict(t, err, "device-2", 0) // after the rollback: rescanned, not taken from the index alone
	if s.TailScans() == before {
		t.Fatal("no rescan of the tail after a rolled-back append")
	}

	other := openStore(t, path, neverIndex)
	appendOne(t, other, "device-new", -1, n+51)
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "device-new", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent()}})
	wantConflict(t, err, "device-new", 0)
	appendOne(t, s, "device-new", 0, n+52)
	appendOne(t, s, "device-3", 0, n+53)
	for _, stream := range []string{"device-new", "device-3"} {
		if got := readStream(t, s, stream, 0); len(got) != 2 || got[1].Version != 1 {
			t.Fatalf("%s: %d events, want versions 0 and 1", stream, len(got))
		}
	}
}
