package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// watched opens a store at a fresh path that records what WithJournalLost
// reports.
func watched(t *testing.T, opts ...Option) (s *Store, path string, reports func() []error) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "events.db")
	var mu sync.Mutex
	var got []error
	opts = append([]Option{WithJournalLost(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, err)
	})}, opts...)
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path, func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), got...)
	}
}

// register appends one event to a new stream, as an autoregistration does.
func register(t *testing.T, s *Store, name string) error {
	_, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "device-" + name, Expected: eventstore.NoStream,
		Events: []eventstore.EventData{{ID: "id-" + name, Type: "test.registered", Data: []byte(`{"device":"` + name + `"}`)}}})
	return err
}

// registerMany registers n devices from first, and returns the acknowledged.
func registerMany(t *testing.T, s *Store, prefix string, n int) []string {
	t.Helper()
	var acked []string
	for i := range n {
		name := fmt.Sprintf("%s%04d", prefix, i)
		if err := register(t, s, name); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		acked = append(acked, name)
	}
	return acked
}

// walFrameBytes is the WAL's size: frames not checkpointed yet live there.
func walFrameBytes(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// afterCrash is what a restart after kill -9 finds: the database file as it
// is on disk now (the store synced what it wrote), without the WAL that was
// deleted, opened as a new process would. It returns the devices it holds.
func afterCrash(t *testing.T, db string) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	cp := filepath.Join(dir, "events.db")
	copyFile(t, db, cp)
	s, err := Open(t.Context(), cp)
	if err != nil {
		t.Fatalf("open the store left after the crash: %v", err)
	}
	defer s.Close()
	if _, err := s.Verify(t.Context(), nil); err != nil {
		t.Fatalf("verify the store left after the crash: %v", err)
	}
	have := map[string]bool{}
	if err := s.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error {
		have[strings.TrimPrefix(e.Stream, "device-")] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return have
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func missing(acked []string, have map[string]bool) []string {
	var lost []string
	for _, d := range acked {
		if !have[d] {
			lost = append(lost, d)
		}
	}
	return lost
}

// refusesFor checks that appends fail, now and again, with the port's
// unavailability and ErrJournalLost, naming file and what happened, and that
// the store reported it once and is unhealthy.
func refusesFor(t *testing.T, s *Store, reports func() []error, file, what string) {
	t.Helper()
	for i := range 3 {
		err := register(t, s, fmt.Sprint("after-", i))
		if !errors.Is(err, eventstore.ErrUnavailable) || !errors.Is(err, ErrJournalLost) {
			t.Fatalf("append %d after the loss = %v, want ErrUnavailable and ErrJournalLost", i, err)
		}
		if !strings.Contains(err.Error(), file+" was "+what) {
			t.Fatalf("append %d after the loss: %v; want it to say %s was %s", i, err, file, what)
		}
	}
	if err := s.Healthy(); !errors.Is(err, ErrJournalLost) || !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("Healthy = %v, want ErrJournalLost", err)
	}
	if got := reports(); len(got) != 1 {
		t.Errorf("the loss was reported %d times, want once: %v", len(got), got)
	} else {
		t.Logf("reported: %v", got[0])
	}
}

// The WAL deleted while the store runs: the next append fails with the
// port's unavailability, and so does every one after; the store reports it
// once and is unhealthy; and every append acknowledged before is in the
// database file, which is all a restart finds.
func TestWALDeletedRefusesAndKeepsTheAcknowledged(t *testing.T) {
	s, path, reports := watched(t, WithJournalCheckInterval(0))
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy on a fresh store = %v", err)
	}
	acked := registerMany(t, s, "SEP", 300)
	inWAL := walFrameBytes(t, path)
	if inWAL <= 32 {
		t.Fatalf("the WAL holds %d bytes: the test needs acknowledged events there, not checkpointed", inWAL)
	}
	// What a crash now, with the WAL deleted and nothing done about it,
	// would leave: the database file alone.
	before := afterCrash(t, path)
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	refusesFor(t, s, reports, path+"-wal", "deleted")
	lost := missing(acked, afterCrash(t, path))
	t.Logf("FIGURE wal deleted: %d acknowledged (%d bytes of WAL), %d of them in the database file before the checkpoint, %d lost after", len(acked), inWAL, len(acked)-len(missing(acked, before)), len(lost))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged appends lost: %v", len(lost), lost[:min(len(lost), 5)])
	}
	if err := s.Close(); err != nil {
		t.Logf("close: %v", err)
	}
}

// The idle writer finds the deletion by itself (it checks once a second by
// default) and saves the WAL's events before any append comes.
func TestWALDeletedWhileIdle(t *testing.T) {
	s, path, reports := watched(t, WithJournalCheckInterval(10*time.Millisecond))
	acked := registerMany(t, s, "SEP", 50)
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Healthy() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the idle writer did not find the WAL deleted in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if lost := missing(acked, afterCrash(t, path)); len(lost) > 0 {
		t.Errorf("%d acknowledged appends lost without any append after the deletion", len(lost))
	}
	refusesFor(t, s, reports, path+"-wal", "deleted")
}

// The WAL replaced (another file renamed over it): the same.
func TestWALReplacedRefuses(t *testing.T) {
	s, path, reports := watched(t)
	acked := registerMany(t, s, "SEP", 100)
	other := filepath.Join(filepath.Dir(path), "other")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path+"-wal"); err != nil {
		t.Fatal(err)
	}
	refusesFor(t, s, reports, path+"-wal", "replaced")
	if lost := missing(acked, afterCrash(t, path)); len(lost) > 0 {
		t.Errorf("%d acknowledged appends lost", len(lost))
	}
}

// The database file replaced by another (an older copy of the store,
// renamed over it) or deleted: appends are refused, and the store copies
// what it had to a rescue file beside it, which holds every acknowledged
// append.
func TestDatabaseReplacedOrDeletedRefuses(t *testing.T) {
	for _, what := range []string{"replaced", "deleted"} {
		t.Run(what, func(t *testing.T) {
			s, path, reports := watched(t)
			old := filepath.Join(filepath.Dir(path), "old.db")
			registerMany(t, s, "OLD", 10)
			copyFile(t, path, old) // the file as it was (WAL not checkpointed: fewer events)
			acked := registerMany(t, s, "SEP", 200)
			if what == "replaced" {
				if err := os.Rename(old, path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			refusesFor(t, s, reports, path, what)
			rescued, _ := filepath.Glob(path + ".rescued-*")
			if len(rescued) != 1 {
				t.Fatalf("rescue files: %v, want one", rescued)
			}
			if lost := missing(acked, afterCrash(t, rescued[0])); len(lost) > 0 {
				t.Errorf("%d acknowledged appends missing from the rescue file %s", len(lost), rescued[0])
			}
			if msg := reports()[0].Error(); !strings.Contains(msg, rescued[0]) {
				t.Errorf("the report does not name the rescue file %s: %s", rescued[0], msg)
			}
		})
	}
}

// SQLite never replaces the WAL on its own while the store runs: through
// checkpoints (the WAL grows past the auto-checkpoint size and is reset),
// readers coming and going, memory released and a read-only store of the
// same file opened and closed in the same process, the files stay the
// store's and appends go on.
func TestJournalIdentityHoldsWhileRunning(t *testing.T) {
	s, path, reports := watched(t, WithJournalCheckInterval(time.Millisecond))
	walBefore, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4000)
	for i := range 3000 { // ~12 MB: several automatic checkpoints
		_, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: fmt.Sprint("s-", i%7), Expected: eventstore.Any,
			Events: []eventstore.EventData{{ID: fmt.Sprint("big-", i), Type: "test.big", Data: big}}})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if i%500 == 0 {
			if err := s.ReadAll(t.Context(), 1, func(eventstore.RecordedEvent) error { return nil }); err != nil {
				t.Fatal(err)
			}
			s.ReleaseMemory()
			ro, err := OpenReadOnly(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ro.Head(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := ro.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	walAfter, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(walBefore, walAfter) {
		t.Error("the WAL was replaced while the store ran")
	}
	if err := s.Healthy(); err != nil || len(reports()) != 0 {
		t.Errorf("Healthy = %v, reports %v; want neither", err, reports())
	}
	// Closed and opened again: the new store records the files anew.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := register(t, s2, "again"); err != nil || s2.Healthy() != nil {
		t.Fatalf("after reopening: %v, %v", err, s2.Healthy())
	}
}

// A store opened through a symbolic link: SQLite puts the WAL beside the
// file the link leads to, and the watch looks for it there (no false
// alarm); the link replaced is the database file replaced.
func TestJournalWatchThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	real, link := filepath.Join(dir, "real", "events.db"), filepath.Join(dir, "events.db")
	made, err := Open(t.Context(), real)
	if err != nil {
		t.Fatal(err)
	}
	if err := made.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	var reports []error
	s, err := Open(t.Context(), link, WithJournalLost(func(err error) { reports = append(reports, err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	registerMany(t, s, "SEP", 10)
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy through a symlink = %v", err)
	}
	other := filepath.Join(dir, "other.db")
	copyFile(t, real, other)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	refusesFor(t, s, func() []error { return reports }, link, "replaced")
}

// The WAL deleted in the middle of a burst of concurrent appends: whatever
// was acknowledged, before or during the deletion, is in the database file
// afterwards, and nothing is acknowledged once an append has been refused.
func TestWALDeletedDuringABurst(t *testing.T) {
	s, path, reports := watched(t, WithJournalCheckInterval(0))
	const workers, each = 8, 150
	var (
		mu       sync.Mutex
		acked    []string
		refused  int
		lateAcks int // acknowledged after this worker saw a refusal
	)
	var wg sync.WaitGroup
	deleted := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			sawRefusal := false
			for i := range each {
				if w == 0 && i == each/3 {
					if err := os.Remove(path + "-wal"); err != nil {
						t.Error(err)
					}
					close(deleted)
				}
				name := fmt.Sprintf("W%dN%04d", w, i)
				err := register(t, s, name)
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, name)
					if sawRefusal {
						lateAcks++
					}
				case errors.Is(err, ErrJournalLost) && errors.Is(err, eventstore.ErrUnavailable):
					refused++
					sawRefusal = true
				default:
					t.Errorf("append %s: %v", name, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-deleted
	lost := missing(acked, afterCrash(t, path))
	t.Logf("FIGURE wal deleted during a burst: %d acknowledged, %d refused, %d lost after", len(acked), refused, len(lost))
	if len(lost) > 0 || lateAcks > 0 {
		t.Errorf("%d acknowledged appends lost, %d acknowledged after a refusal", len(lost), lateAcks)
	}
	if refused == 0 || len(reports()) != 1 {
		t.Errorf("%d refused, %d reports: want refusals and one report", refused, len(reports()))
	}
}
