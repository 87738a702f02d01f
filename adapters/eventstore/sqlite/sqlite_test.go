package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to make foreign files and tamper with stores

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

func openStore(t *testing.T, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func events(prefix string, n int) []eventstore.EventData {
	es := make([]eventstore.EventData, n)
	for i := range es {
		es[i] = eventstore.EventData{
			ID:       fmt.Sprintf("%s-%06d", prefix, i),
			Type:     "test.event",
			Data:     fmt.Appendf(nil, `{"n":%d}`, i),
			Metadata: []byte(`{"actor":"test"}`),
		}
	}
	return es
}

func appendN(t *testing.T, s eventstore.Store, stream string, evs []eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: stream, Expected: eventstore.Any, Events: evs})
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
		t.Fatalf("ReadAll: %v", err)
	}
	return got
}

// diffEvents is cmp.Diff for long runs of events, which cmp.Diff itself
// compares slowly: it diffs the first pair that differs, or the whole runs
// if their lengths differ. Empty and nil runs are equal.
func diffEvents(want, got []eventstore.RecordedEvent) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d events, want %d:\n%s", len(got), len(want), cmp.Diff(want, got))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Position != g.Position || w.Stream != g.Stream || w.Version != g.Version || w.ID != g.ID || w.Type != g.Type ||
			!bytes.Equal(w.Data, g.Data) || !bytes.Equal(w.Metadata, g.Metadata) || !w.RecordedAt.Equal(g.RecordedAt) || !bytes.Equal(w.Hash, g.Hash) {
			return fmt.Sprintf("event %d differs:\n%s", i, cmp.Diff(w, g))
		}
	}
	return ""
}

// fileState is a file's bytes and the files beside it, to prove an open
// left everything alone.
func fileState(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return fmt.Sprintf("%x\nfiles: %v", b, names)
}

func TestReadOnlySeesWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	w := openStore(t, path)
	appendN(t, w, "device-1", events("a", 3))

	r, err := sqlite.OpenReadOnly(t.Context(), path, sqlite.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer r.Close()
	if diff := cmp.Diff(readAll(t, w, 1), readAll(t, r, 1)); diff != "" {
		t.Fatalf("reader and writer disagree (-writer +reader):\n%s", diff)
	}
	if _, err := r.Append(t.Context(), eventstore.StreamAppend{Stream: "x", Expected: eventstore.Any, Events: events("x", 1)}); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("Append on a read-only store = %v, want ErrReadOnly", err)
	}

	// A subscription on the reader gets the writer's later appends.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := make(chan eventstore.RecordedEvent, 100)
	done := make(chan error, 1)
	go func() {
		done <- r.Subscribe(ctx, 2, func(e eventstore.RecordedEvent) error {
			got <- e
			return nil
		})
	}()
	receive := func(n int) []eventstore.RecordedEvent {
		var es []eventstore.RecordedEvent
		for range n {
			select {
			case e := <-got:
				es = append(es, e)
			case <-ctx.Done():
				t.Fatalf("reader's subscription got %d of %d events", len(es), n)
			}
		}
		return es
	}
	first := receive(2)
	appendN(t, w, "device-2", events("b", 2))
	appendN(t, w, "device-1", events("c", 1))
	live := receive(3)
	if diff := cmp.Diff(readAll(t, w, 2), append(first, live...)); diff != "" {
		t.Fatalf("reader's subscription (-writer's ReadAll +subscription):\n%s", diff)
	}
	if h, err := r.Head(t.Context()); err != nil || h != 6 {
		t.Fatalf("reader's Head = %d, %v; want 6", h, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v, want context.Canceled", err)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	random := make([]byte, 3*4096)
	rand.Read(random)
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
	}{
		{"random bytes", func(t *testing.T, path string) { writeFile(t, path, random) }},
		{"text", func(t *testing.T, path string) { writeFile(t, path, []byte("registrar.yaml: not a database\n")) }},
		{"empty", func(t *testing.T, path string) { writeFile(t, path, nil) }},
		{"sqlite header only", func(t *testing.T, path string) { writeFile(t, path, []byte("SQLite format 3\x00")) }},
		{"another SQLite database", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE phones (mac TEXT); INSERT INTO phones VALUES ('SEP001122334455')`); err != nil {
				t.Fatal(err)
			}
		}},
		{"another WAL database", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`PRAGMA journal_mode=WAL; CREATE TABLE events (x); PRAGMA user_version = 1`); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			tt.write(t, path)
			before := fileState(t, path)
			for name, open := range map[string]func(context.Context, string, ...sqlite.Option) (*sqlite.Store, error){
				"Open": sqlite.Open, "OpenReadOnly": sqlite.OpenReadOnly,
			} {
				s, err := open(t.Context(), path)
				if err == nil {
					s.Close()
					t.Fatalf("%s succeeded on a foreign file", name)
				}
				if !errors.Is(err, sqlite.ErrNotEventStore) && !errors.Is(err, eventstore.ErrCorrupt) {
					t.Errorf("%s: %v, want ErrNotEventStore or ErrCorrupt", name, err)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("%s: error %q does not name the file", name, err)
				}
				if diff := cmp.Diff(before, fileState(t, path)); diff != "" {
					t.Fatalf("%s changed the directory or the file (-before +after):\n%s", name, diff)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// filledClosed makes a closed store of n events (WAL checkpointed and gone).
func filledClosed(t *testing.T, n int) (path string, all []eventstore.RecordedEvent) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 100 {
		appendN(t, s, fmt.Sprintf("device-%d", i/100%3), events(fmt.Sprintf("e%d", i), min(100, n-i)))
	}
	all = readAll(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path + "-wal"); err == nil && info.Size() > 0 {
		t.Fatalf("WAL still holds %d bytes after Close", info.Size())
	}
	return path, all
}

func TestTruncatedFile(t *testing.T) {
	path, _ := filledClosed(t, 2000)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int64{4096, 3 * 4096, 100, info.Size() - 1000} {
		t.Run(fmt.Sprintf("cut %d", cut), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "events.db")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, b[:int64(len(b))-cut])
			before := fileState(t, p)
			for name, open := range map[string]func(context.Context, string, ...sqlite.Option) (*sqlite.Store, error){
				"Open": sqlite.Open, "OpenReadOnly": sqlite.OpenReadOnly,
			} {
				s, err := open(t.Context(), p)
				if err == nil {
					s.Close()
					t.Fatalf("%s succeeded on a file cut by %d bytes", name, cut)
				}
				if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), p) {
					t.Fatalf("%s: %v; want ErrCorrupt naming %s", name, err, p)
				}
				if diff := cmp.Diff(before, fileState(t, p)); diff != "" {
					t.Fatalf("%s changed the file (-before +after):\n%s", name, diff)
				}
			}
		})
	}
}

// tamper runs SQL on a closed store's file, as an attacker or a careless
// operator with the sqlite3 shell would.
func tamper(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		position string // the position the error must name
		atOpen   bool   // Open itself must fail
	}{
		{"edited data", `UPDATE events SET data = CAST('{"n":9999}' AS BLOB) WHERE position = 20`, "position 20", false},
		{"edited recorded_at", `UPDATE events SET recorded_at = recorded_at + 1 WHERE position = 33`, "position 33", false},
		{"edited stream", `UPDATE events SET stream = 'device-x' WHERE position = 7`, "position 7", false},
		{"deleted event", `DELETE FROM events WHERE position = 40`, "position 40", false},
		{"edited last event", `UPDATE events SET type = 'test.forged' WHERE position = 50`, "position 50", true},
		{"edited next to last event", `UPDATE events SET metadata = CAST('{}' AS BLOB) WHERE position = 49`, "position 49", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := filledClosed(t, 50)
			tamper(t, path, tt.query)
			s, err := sqlite.Open(t.Context(), path)
			if tt.atOpen {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), path) || !regexp.MustCompile(`\b`+tt.position+`\b`).MatchString(err.Error()) {
					t.Fatalf("Open: %v; want ErrCorrupt naming %s and %s", err, path, tt.position)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			n, err := s.Verify(t.Context(), nil)
			if !errors.Is(err, eventstore.ErrCorrupt) || !regexp.MustCompile(`\b`+tt.position+`\b`).MatchString(err.Error()) {
				t.Fatalf("Verify = %d, %v; want ErrCorrupt naming %s", n, err, tt.position)
			}
		})
	}
}

func TestClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.FixedZone("CET", 3600))
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path, sqlite.WithClock(func() time.Time { return at }))
	appendN(t, s, "s", events("e", 2))
	s.Close()
	s = openStore(t, path)
	for _, e := range readAll(t, s, 1) {
		if !e.RecordedAt.Equal(at) || e.RecordedAt.Location() != time.UTC || e.RecordedAt.Nanosecond() != 123456789 {
			t.Fatalf("RecordedAt = %v, want %v in UTC", e.RecordedAt, at.UTC())
		}
	}
	if _, err := s.Verify(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestLongReads reads more than one chunk (1,024 events), through the
// parallel reader, from various positions.
func TestLongReads(t *testing.T) {
	path, all := filledClosed(t, 5000)
	for _, readers := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("readers=%d", readers), func(t *testing.T) {
			s := openStore(t, path, sqlite.WithReadParallelism(readers))
			for _, from := range []uint64{1, 2, 1024, 1025, 2049, 4999, 5000, 5001} {
				if diff := diffEvents(all[min(from, 5001)-1:], readAll(t, s, from)); diff != "" {
					t.Fatalf("ReadAll(%d) (-want +got):\n%s", from, diff)
				}
			}
			// fn's error stops the read where it was returned.
			stop := errors.New("stop")
			n := 0
			err := s.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error {
				if n++; n == 3000 {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) || n != 3000 {
				t.Fatalf("ReadAll = %v after %d events, want stop after 3000", err, n)
			}
			// A subscription catches up through the same path.
			ctx, cancel := context.WithCancel(t.Context())
			var got []eventstore.RecordedEvent
			err = s.Subscribe(ctx, 10, func(e eventstore.RecordedEvent) error {
				got = append(got, e)
				if len(got) == len(all)-9 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Subscribe = %v", err)
			}
			if diff := diffEvents(all[9:], got); diff != "" {
				t.Fatalf("Subscribe(10) (-want +got):\n%s", diff)
			}
			// A stream longer than a chunk.
			var stream []eventstore.RecordedEvent
			for _, e := range all {
				if e.Stream == "device-2" {
					stream = append(stream, e)
				}
			}
			var gotStream []eventstore.RecordedEvent
			if err := s.ReadStream(t.Context(), "device-2", 5, func(e eventstore.RecordedEvent) error {
				gotStream = append(gotStream, e)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(stream) <= 1024 {
				t.Fatalf("device-3 has only %d events", len(stream))
			}
			if diff := diffEvents(stream[5:], gotStream); diff != "" {
				t.Fatalf("ReadStream (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCloseFlushesQueuedAppends closes the store while appends are in
// flight: each must either be written (and survive a reopen) or fail with
// ErrClosed.
func TestCloseFlushesQueuedAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 32
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written = map[string]bool{}
		closed  int
	)
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				evs := events(fmt.Sprintf("w%d-%d", w, i), 1)
				_, err := s.Append(context.Background(), eventstore.StreamAppend{Stream: fmt.Sprint("w", w), Expected: eventstore.Any, Events: evs})
				mu.Lock()
				switch {
				case err == nil:
					written[evs[0].ID] = true
				case errors.Is(err, eventstore.ErrClosed):
					closed++
				default:
					t.Errorf("Append: %v", err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	close(start)
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if closed != writers {
		t.Fatalf("%d writers saw ErrClosed, want %d", closed, writers)
	}
	s = openStore(t, path)
	stored := map[string]bool{}
	for _, e := range readAll(t, s, 1) {
		stored[e.ID] = true
	}
	if diff := cmp.Diff(written, stored); diff != "" {
		t.Fatalf("acknowledged appends vs stored events (-acknowledged +stored):\n%s", diff)
	}
	t.Logf("%d appends acknowledged before Close", len(written))
}

// TestLockedFileIsUnavailable holds the write lock from another connection
// past the busy timeout: Append fails with ErrUnavailable, and works again
// once the lock is gone.
func TestLockedFileIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path, sqlite.WithBusyTimeout(50*time.Millisecond))
	appendN(t, s, "s", events("a", 1))

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "s", Expected: eventstore.Exact(0), Events: events("b", 1)})
	if !errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Append while locked = %v, want ErrUnavailable naming the file", err)
	}
	if _, err := conn.ExecContext(t.Context(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	res := appendN(t, s, "s", events("b", 1))
	if res.Position != 2 {
		t.Fatalf("Append after the lock = %+v, want position 2", res)
	}
	if _, err := s.Verify(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestTwoWriters has two Stores append to one file in turn: each notices
// the other's commits (data_version) and carries on from them, so versions,
// positions and the chain stay whole.
func TestTwoWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	a := openStore(t, path)
	b := openStore(t, path)
	for i := range 10 {
		s := a
		if i%2 == 1 {
			s = b
		}
		expected := eventstore.NoStream
		if i > 0 {
			expected = eventstore.Exact(uint64(i - 1))
		}
		res, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "shared", Expected: expected, Events: events(fmt.Sprint("e", i), 1)})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if res.Position != uint64(i)+1 {
			t.Fatalf("append %d at position %d, want %d", i, res.Position, i+1)
		}
	}
	if n, err := b.Verify(t.Context(), nil); err != nil || n != 10 {
		t.Fatalf("Verify = %d, %v; want 10, nil", n, err)
	}
}
