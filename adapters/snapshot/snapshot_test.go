package snapshot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/adapters/snapshot"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/snapfile"
	"github.com/autoreg/autoreg/replay/generate"
)

// logBuffer is a log safe to read while it is written.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// generated writes a generated history of n events (seed) into a new
// SQLite store in dir and returns it open, with a clock that goes on from
// the history's end.
func generated(t *testing.T, dir string, n int, seed uint64) (*sqlite.Store, *generate.Clock) {
	t.Helper()
	ctx := context.Background()
	clk := generate.NewClock(generate.Options{}.Start)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "autoreg.db"), sqlite.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := generate.NewStoreWriter(store, clk)
	if _, err := generate.Generate(ctx, w, generate.Options{Events: n, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return store, clk
}

// start starts a registrar's two sides on store (from the snapshot at
// path, if not ""), until the test ends.
func start(t *testing.T, store snapshot.Store, path string, now func() time.Time) (*snapshot.Started, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	readCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := snapshot.Start(context.Background(), readCtx, store, snapshot.StartOptions{
		Path: path, Clock: now, Log: zerolog.New(logs),
		Command: command.Options{Clock: now, VerifyChain: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, logs
}

// decisions makes a day of decisions after a history: a new range, a
// window, new phones, one refused, one device deleted.
func decisions(t *testing.T, h *command.Handler, deleted string, first int) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Configure(ctx, cfg.Cluster.Commands(true, "config"), command.Origin{Actor: "config"}); err != nil {
		t.Fatal(err)
	}
	admin := command.Admin("alice", "")
	cmds := []domain.Command{
		domain.ConfigureRange{Start: "7000000", End: "7999999", Partition: "Internal", By: "alice"},
		domain.OpenWindow{Reason: "after the snapshot", For: time.Hour, By: "alice"},
	}
	if deleted != "" {
		cmds = append(cmds, domain.DeleteDevice{Device: deleted, By: "alice"})
	}
	for _, cmd := range cmds {
		if _, err := h.Execute(ctx, cmd, admin); err != nil && !errors.Is(err, domain.ErrWindowOpen) {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	for i := first; i < first+30; i++ {
		model, p := "7961", domain.SCCP
		if i%2 == 0 {
			model, p = "8961", domain.SIP
		}
		if _, err := h.Register(ctx, command.Registration{Device: mac(i), Model: model, Protocol: p, Address: "10.9.0.1:5060", Adapter: "test"}); err != nil {
			t.Fatalf("register %s: %v", mac(i), err)
		}
	}
	var rej *domain.Rejection
	if _, err := h.Register(ctx, command.Registration{Device: mac(999), Model: "1234", Protocol: domain.SCCP, Address: "10.9.0.2:2000", Adapter: "test"}); !errors.As(err, &rej) {
		t.Fatalf("an unknown model: %v", err)
	}
}

func mac(i int) string { return domain.DeviceNameOfMAC(0x00AB00000000 + uint64(i)) }

// deviceNames lists every device the store has a stream of.
func deviceNames(t *testing.T, store eventstore.Store) []string {
	t.Helper()
	seen := map[string]bool{}
	if err := store.ReadAll(context.Background(), 1, func(e eventstore.RecordedEvent) error {
		if name, ok := domain.DeviceFromStream(e.Stream); ok {
			seen[name] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return sortedKeys(seen)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sameStart fails unless two started registrars hold the same: every
// device's DeviceState and version, the cluster, the DNs in use, the
// status, and the command side's state.
func sameStart(t *testing.T, store eventstore.Store, want, got *snapshot.Started) {
	t.Helper()
	ctx := context.Background()
	if want.Reader.Position() != got.Reader.Position() {
		t.Fatalf("read side at %d, want %d", got.Reader.Position(), want.Reader.Position())
	}
	names := deviceNames(t, store)
	for _, name := range names {
		ws, wv, wf := want.Reader.DeviceState(name)
		gs, gv, gf := got.Reader.DeviceState(name)
		if diff := cmp.Diff(ws, gs); diff != "" || wv != gv || wf != gf {
			t.Fatalf("%s: version %d/%d, found %v/%v (-store +snapshot):\n%s", name, wv, gv, wf, gf, diff)
		}
		wd, _, _ := want.Reader.Device(ctx, name)
		gd, _, _ := got.Reader.Device(ctx, name)
		if diff := cmp.Diff(wd, gd); diff != "" {
			t.Fatalf("%s (-store +snapshot):\n%s", name, diff)
		}
	}
	for _, get := range []func(*snapshot.Started) (any, error){
		func(s *snapshot.Started) (any, error) { return s.Reader.Cluster(ctx) },
		func(s *snapshot.Started) (any, error) { return s.Reader.Status(ctx) },
		func(s *snapshot.Started) (any, error) { return s.Reader.Devices(ctx) },
		func(s *snapshot.Started) (any, error) { return s.Reader.Holdings(), nil },
	} {
		w, err := get(want)
		if err != nil {
			t.Fatal(err)
		}
		g, err := get(got)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Fatalf("(-store +snapshot):\n%s", diff)
		}
	}
	ws, gs := want.Handler.Snapshot(), got.Handler.Snapshot()
	if diff := cmp.Diff(ws.Cluster, gs.Cluster); diff != "" {
		t.Fatalf("command side's cluster (-store +snapshot):\n%s", diff)
	}
	if ws.ClusterVersion != gs.ClusterVersion || ws.RangeVersion != gs.RangeVersion ||
		ws.Range.Range != gs.Range.Range || ws.Range.WindowCount != gs.Range.WindowCount {
		t.Fatalf("command side's versions %d, %d; range %+v, %d; want %d, %d; %+v, %d",
			gs.ClusterVersion, gs.RangeVersion, gs.Range.Range, gs.Range.WindowCount,
			ws.ClusterVersion, ws.RangeVersion, ws.Range.Range, ws.Range.WindowCount)
	}
	if diff := cmp.Diff(maps.Collect(ws.Range.InUse.All()), maps.Collect(gs.Range.InUse.All())); diff != "" {
		t.Fatalf("command side's DNs in use (-store +snapshot):\n%s", diff)
	}
	wn, _ := ws.Range.NextFree()
	gn, _ := gs.Range.NextFree()
	if wn != gn {
		t.Fatalf("next free DN %s, want %s", gn, wn)
	}
	if diff := cmp.Diff(ws.Rejections, gs.Rejections); diff != "" {
		t.Fatalf("command side's refusals (-store +snapshot):\n%s", diff)
	}
}

// TestStartFromSnapshotEqualsStartFromStore: a registrar started from a
// snapshot written after a generated history, with the decisions made
// after it in the store, holds what a registrar that read the whole store
// holds: both sides, every device. The snapshot is written by a Writer of
// a running registrar, as `registrar serve` does.
func TestStartFromSnapshotEqualsStartFromStore(t *testing.T) {
	dir := t.TempDir()
	store, gen := generated(t, dir, 30_000, 3)
	path := filepath.Join(dir, "autoreg.db.snapshot")
	now := func() time.Time { return gen.Now().Add(time.Minute) }

	first, logs := start(t, store, path, now)
	if first.From != 0 || !strings.Contains(logs.String(), "no snapshot") {
		t.Fatalf("started from %d without a snapshot file:\n%s", first.From, logs)
	}
	w := snapshot.NewWriter(store, first.Reader, path, first.From, snapshot.WriterOptions{Log: zerolog.New(logs)})
	written, err := w.Write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	head, _ := store.Head(context.Background())
	if written.Position != head || written.Bytes == 0 {
		t.Fatalf("snapshot at %d (%d bytes), the store's head is %d", written.Position, written.Bytes, head)
	}
	if again, err := w.Write(context.Background()); err != nil || again.Position != 0 {
		t.Fatalf("a second snapshot with nothing new: %+v, %v", again, err)
	}
	holdings := first.Reader.Holdings()
	decisions(t, first.Handler, holdings[len(holdings)/2].Device, 0)

	fromStore, _ := start(t, store, "", now)
	fromSnap, logs := start(t, store, path, now)
	if fromSnap.From != written.Position || fromSnap.SnapshotBytes != written.Bytes {
		t.Fatalf("started from %d (%d bytes), want the snapshot at %d:\n%s", fromSnap.From, fromSnap.SnapshotBytes, written.Position, logs)
	}
	if strings.Contains(logs.String(), `"warn"`) {
		t.Fatalf("warnings:\n%s", logs)
	}
	sameStart(t, store, fromStore, fromSnap)
	if w, g := fromStore.Handler.Snapshot().Position, fromSnap.Handler.Snapshot().Position; w != g {
		t.Fatalf("the command side folded up to %d, want %d", g, w)
	}
	// And both go on alike: the same decisions on each, in turn.
	decisions(t, fromSnap.Handler, "", 100)
	if err := fromStore.Reader.Fresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	other, _ := start(t, store, "", now)
	sameStart(t, store, other, fromSnap)
}

// TestSnapshotsThatDoNotFitAreIgnored: a snapshot of another format
// version, one cut short, one with a byte flipped, one at a position past
// the store's head, one whose chain head is not the store's event's, one
// whose body does not decode, and one of another history that claims
// this store's chain head: each is ignored with a warning naming the file
// and why, and the registrar starts from the store, as without it.
func TestSnapshotsThatDoNotFitAreIgnored(t *testing.T) {
	dir := t.TempDir()
	store, gen := generated(t, dir, 5_000, 3)
	now := func() time.Time { return gen.Now().Add(time.Minute) }
	path := filepath.Join(dir, "autoreg.db.snapshot")
	first, _ := start(t, store, path, now)
	if _, err := snapshot.NewWriter(store, first.Reader, path, 0, snapshot.WriterOptions{}).Write(context.Background()); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, body, err := snapfile.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	decisions(t, first.Handler, "", 0) // a tail after the snapshot
	head, _ := store.Head(context.Background())

	// A snapshot of another history, at a position this store has, made to
	// claim this store's chain head there.
	otherStore, _ := generated(t, t.TempDir(), 3_000, 11)
	otherPath := filepath.Join(t.TempDir(), "other.snapshot")
	other, _ := start(t, otherStore, "", now)
	if _, err := snapshot.NewWriter(otherStore, other.Reader, otherPath, 0, snapshot.WriterOptions{}).Write(context.Background()); err != nil {
		t.Fatal(err)
	}
	oh, obody, err := snapfile.ReadFile(otherPath)
	if err != nil || oh.Position >= head {
		t.Fatalf("the other snapshot at %d (%v); this store's head %d", oh.Position, err, head)
	}
	thisHash, err := eventstore.HashAt(context.Background(), store, oh.Position)
	if err != nil {
		t.Fatal(err)
	}

	encode := func(h snapfile.Header, body []byte) []byte {
		b, err := snapfile.Encode(h, body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherVersion := bytes.Clone(good)
	binary.LittleEndian.PutUint32(otherVersion[8:], snapfile.Version+1)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x01
	for _, tc := range []struct {
		name    string
		content []byte
		why     string
	}{
		{"another version", otherVersion, "format version"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"a byte flipped", flipped, "SHA-256"},
		{"past the head", encode(snapfile.Header{Position: head + 1, Hash: h.Hash, Written: h.Written}, body), "past the store's last event"},
		{"another chain head", encode(snapfile.Header{Position: h.Position, Hash: bytes.Repeat([]byte{7}, 32), Written: h.Written}, body), "chain head"},
		{"a body that does not decode", encode(h, body[:len(body)-3]), "section"},
		{"another history's", encode(snapfile.Header{Position: oh.Position, Hash: thisHash, Written: oh.Written}, obody), "does not fit"},
	} {
		if err := os.WriteFile(path, tc.content, 0o600); err != nil {
			t.Fatal(err)
		}
		st, logs := start(t, store, path, now)
		warn := ""
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"level":"warn"`) {
				warn = line
			}
		}
		if st.From != 0 || !strings.Contains(warn, path) || !strings.Contains(warn, tc.why) || !strings.Contains(warn, "replays the store") {
			t.Errorf("%s: started from %d; want a warning naming %s and %q:\n%s", tc.name, st.From, path, tc.why, logs)
			continue
		}
		if st.Reader.Position() != head {
			t.Errorf("%s: the read side is at %d, the store's head at %d", tc.name, st.Reader.Position(), head)
		}
		ref, _ := start(t, store, "", now)
		sameStart(t, store, ref, st)
	}
}

// TestStartRemovesHalfWrittenSnapshots: a registrar killed while it wrote
// a snapshot leaves a temporary file beside the last whole one; the next
// start removes it (once it is a minute old: another process may be
// writing one) and starts from the whole one.
func TestStartRemovesHalfWrittenSnapshots(t *testing.T) {
	dir := t.TempDir()
	store, gen := generated(t, dir, 3_000, 3)
	now := func() time.Time { return gen.Now().Add(time.Minute) }
	path := filepath.Join(dir, "autoreg.db.snapshot")
	first, _ := start(t, store, path, now)
	written, err := snapshot.NewWriter(store, first.Reader, path, 0, snapshot.WriterOptions{}).Write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	half := filepath.Join(dir, ".autoreg.db.snapshot.tmp-4242")
	if err := os.WriteFile(half, good[:len(good)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(half, old, old); err != nil {
		t.Fatal(err)
	}
	st, logs := start(t, store, path, now)
	if st.From != written.Position {
		t.Fatalf("started from %d, want %d:\n%s", st.From, written.Position, logs)
	}
	if _, err := os.Stat(half); !errors.Is(err, os.ErrNotExist) || !strings.Contains(logs.String(), half) {
		t.Fatalf("the half-written file: %v\n%s", err, logs)
	}
}
