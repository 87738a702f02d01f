package command_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
	"github.com/autoreg/autoreg/projections"
	"github.com/autoreg/autoreg/replay/generate"
)

// history returns a memory store holding a generated history of n events
// and a clock that goes on from its end.
func history(t *testing.T, n int) (*memory.Store, *generate.Clock) {
	t.Helper()
	ctx := context.Background()
	clk := generate.NewClock(generate.Options{}.Start)
	store := memory.New(memory.WithClock(clk.Now))
	w := generate.NewStoreWriter(store, clk)
	if _, err := generate.Generate(ctx, w, generate.Options{Events: n, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return store, clk
}

// snapshotOf is the command side's state as the read side holds it after
// every event of store (what a registrar's snapshot holds), with the chain
// head there.
func snapshotOf(t *testing.T, store eventstore.Store) *command.Snapshot {
	t.Helper()
	ctx := context.Background()
	r := projections.NewReader(store, nil)
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	pos, cs := r.CommandState()
	return &command.Snapshot{Position: pos, Hash: hashAt(t, store, pos), Cluster: cs.Cluster, ClusterVersion: cs.ClusterVersion,
		Range: cs.Range, RangeVersion: cs.RangeVersion, Rejections: cs.Refusals}
}

func hashAt(t *testing.T, store eventstore.Store, pos uint64) []byte {
	t.Helper()
	var h []byte
	stop := errors.New("stop")
	if err := store.ReadAll(context.Background(), pos, func(e eventstore.RecordedEvent) error {
		h = bytes.Clone(e.Hash)
		return stop
	}); !errors.Is(err, stop) {
		t.Fatalf("no event at %d: %v", pos, err)
	}
	return h
}

// tail makes the decisions of a day after a history: the sample's
// configuration, a window, new phones autoregistered, one refused, a
// device deleted (its DN released).
func tail(t *testing.T, svc *testreg.Registrar, deleted string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Configure(ctx, cfg.Cluster.Commands(true, "config"), command.Origin{Actor: "config"}); err != nil {
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
		if _, err := svc.Execute(ctx, cmd, admin); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	for i := range 20 {
		if _, err := register(svc, mac(i), "7961", domain.SCCP, "10.9.0.1:2000"); err != nil {
			t.Fatalf("register %s: %v", mac(i), err)
		}
	}
	if _, err := register(svc, mac(99), "1234", domain.SCCP, "10.9.0.2:2000"); !isReject(err, domain.RejectUnknownModel) {
		t.Fatalf("an unknown model: %v", err)
	}
}

// TestNewFromSnapshotEqualsNewFromStore: a handler started from a snapshot
// of a generated history and folding the decisions made after it holds
// what a handler that folded the whole store holds (the cluster, the
// range and its DNs in use, the next free DN, the stream versions, the
// recent refusals), and decides the same.
func TestNewFromSnapshotEqualsNewFromStore(t *testing.T) {
	store, gen := history(t, 30_000)
	snap := snapshotOf(t, store)
	var deleted string
	for _, h := range func() []projections.Holding {
		r := projections.NewReader(store, nil)
		if _, err := r.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		return r.Holdings()
	}() {
		deleted = h.Device
	}
	clk := &clock{now: gen.Now().Add(time.Minute)}
	tail(t, testreg.New(t, store, command.Options{Clock: clk.Now}), deleted)
	clk.Add(10 * time.Second) // the refusal above is still remembered

	full := testreg.New(t, store, command.Options{Clock: clk.Now, VerifyChain: true})
	fromSnap, err := testreg.Open(t, store, command.Options{Clock: clk.Now, VerifyChain: true, Start: snap})
	if err != nil {
		t.Fatal(err)
	}
	want, got := full.Snapshot(), fromSnap.Snapshot()
	if got.Position != want.Position || got.Position <= snap.Position {
		t.Fatalf("position %d, want %d (the snapshot's %d)", got.Position, want.Position, snap.Position)
	}
	if diff := cmp.Diff(want.Cluster, got.Cluster); diff != "" {
		t.Fatalf("cluster (-store +snapshot):\n%s", diff)
	}
	if got.ClusterVersion != want.ClusterVersion || got.RangeVersion != want.RangeVersion {
		t.Fatalf("versions %d, %d; want %d, %d", got.ClusterVersion, got.RangeVersion, want.ClusterVersion, want.RangeVersion)
	}
	wr, gr := want.Range, got.Range
	if wr.Range != gr.Range || wr.Window != gr.Window || wr.WindowCount != gr.WindowCount {
		t.Fatalf("range %+v %s %d; want %+v %s %d", gr.Range, gr.Window, gr.WindowCount, wr.Range, wr.Window, wr.WindowCount)
	}
	if diff := cmp.Diff(maps.Collect(wr.InUse.All()), maps.Collect(gr.InUse.All())); diff != "" {
		t.Fatalf("DNs in use (-store +snapshot):\n%s", diff)
	}
	wn, _ := wr.NextFree()
	gn, _ := gr.NextFree()
	if wn != gn || wr.Free() != gr.Free() {
		t.Fatalf("next free %s, %d free; want %s, %d", gn, gr.Free(), wn, wr.Free())
	}
	if len(want.Rejections) == 0 {
		t.Fatal("no refusal remembered: the test proves less than it says")
	}
	if diff := cmp.Diff(want.Rejections, got.Rejections); diff != "" {
		t.Fatalf("refusals (-store +snapshot):\n%s", diff)
	}
	// The same decision: the refused phone again (not recorded twice in
	// the interval), then a new phone gets the next free DN.
	if _, err := register(fromSnap, mac(99), "1234", domain.SCCP, "10.9.0.2:2000"); !isReject(err, domain.RejectUnknownModel) {
		t.Fatalf("an unknown model: %v", err)
	}
	out, err := fromSnap.Execute(context.Background(), domain.Register{Device: mac(100), Model: "7961", Protocol: domain.SCCP, Address: "10.9.0.3:2000"}, command.Origin{Actor: "test"})
	if err != nil || out.Device.DN != wn {
		t.Fatalf("a new phone from the snapshot's handler: DN %q (%v), want %s", out.Device.DN, err, wn)
	}
	if fromSnap.Snapshot().Position != got.Position {
		t.Fatal("the handler folded from the store after its start") // appends apply speculatively, the head stays
	}
}

// TestNewRefusesASnapshotThatDoesNotFit: a snapshot whose chain head is
// not the store's event's, one past the store's head, one at position 0,
// and one whose stream versions the store's next events do not follow
// fail New with ErrSnapshot; the same store without the snapshot loads.
func TestNewRefusesASnapshotThatDoesNotFit(t *testing.T) {
	store, gen := history(t, 3_000)
	good := snapshotOf(t, store)
	clk := &clock{now: gen.Now().Add(time.Minute)}
	tail(t, testreg.New(t, store, command.Options{Clock: clk.Now}), "")
	for _, tc := range []struct {
		name string
		edit func(s *command.Snapshot)
	}{
		{"another chain head", func(s *command.Snapshot) { s.Hash = bytes.Repeat([]byte{1}, 32) }},
		{"past the head", func(s *command.Snapshot) { s.Position += 1_000_000 }},
		{"position 0", func(s *command.Snapshot) { s.Position = 0 }},
		{"the cluster's version", func(s *command.Snapshot) { s.ClusterVersion-- }},
		{"the range's version", func(s *command.Snapshot) { s.RangeVersion++ }},
	} {
		s := *snapshotOf(t, store) // a fresh copy: New takes its maps
		s.Position, s.Hash = good.Position, good.Hash
		s.Cluster, s.ClusterVersion, s.Range, s.RangeVersion = good.Cluster.Clone(), good.ClusterVersion, good.Range.Clone(), good.RangeVersion
		tc.edit(&s)
		for _, verify := range []bool{false, true} {
			_, err := testreg.Open(t, store, command.Options{Clock: clk.Now, VerifyChain: verify, Start: &s})
			if !errors.Is(err, command.ErrSnapshot) {
				t.Errorf("%s (verify %v): New = %v, want ErrSnapshot", tc.name, verify, err)
			}
		}
	}
	if _, err := testreg.Open(t, store, command.Options{Clock: clk.Now, VerifyChain: true}); err != nil {
		t.Fatal(err)
	}
}

// TestNewFromSnapshotVerifiesTheTail: with VerifyChain, an event altered
// after the snapshot fails New (ErrCorrupt, naming its position); one
// altered before it is not read (the whole chain is `replay verify`'s, or
// serve --verify-history's).
func TestNewFromSnapshotVerifiesTheTail(t *testing.T) {
	store, gen := history(t, 3_000)
	snap := snapshotOf(t, store)
	clk := &clock{now: gen.Now().Add(time.Minute)}
	tail(t, testreg.New(t, store, command.Options{Clock: clk.Now}), "")
	head, _ := store.Head(context.Background())
	for _, at := range []uint64{snap.Position + 2, head} {
		s := *snapshotOf(t, store) // a fresh copy: New takes its maps
		s.Position, s.Hash = snap.Position, snap.Hash
		s.Cluster, s.ClusterVersion, s.Range, s.RangeVersion = snap.Cluster.Clone(), snap.ClusterVersion, snap.Range.Clone(), snap.RangeVersion
		_, err := testreg.Open(t, flipped{Store: store, at: at}, command.Options{Clock: clk.Now, VerifyChain: true, Start: &s})
		if !errors.Is(err, eventstore.ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("position "+itoa(at))) {
			t.Errorf("an event altered at %d, after the snapshot: %v", at, err)
		}
	}
	s := *snap
	s.Range = snap.Range.Clone()
	if _, err := testreg.Open(t, flipped{Store: store, at: snap.Position - 5}, command.Options{Clock: clk.Now, VerifyChain: true, Start: &s}); err != nil {
		t.Errorf("an event altered before the snapshot: %v", err)
	}
}

// flipped reads a store as if one event's payload had been altered on
// disk (to the same length, so that it still decodes).
type flipped struct {
	eventstore.Store
	at uint64
}

func (s flipped) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	return s.Store.ReadAll(ctx, from, func(e eventstore.RecordedEvent) error {
		if e.Position == s.at {
			e.Metadata = append(bytes.Clone(e.Metadata), ' ')
		}
		return fn(e)
	})
}
