package projections_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/snapfile"
	"github.com/autoreg/autoreg/projections"
)

// caughtUp returns a Reader over events that has applied them all.
func caughtUp(t testing.TB, events []eventstore.RecordedEvent) *projections.Reader {
	t.Helper()
	r := projections.NewReader(headedSource{sliceSource(events)}, nil)
	if _, err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSnapshotRoundTrip: a snapshot of the read models taken after part of
// a generated history (every kind of event), restored and caught up with
// the rest, holds exactly what read models that read the whole history
// hold: every device ever seen (its Device record, its DeviceState and
// version), the cluster, the ranges with their usage and history, the DNs
// in use, the status, and the command side's state. Taken at the end, the
// restored read models equal the live ones without reading anything.
func TestSnapshotRoundTrip(t *testing.T) {
	events := recorded(t, generated(t, 40_000))
	full := caughtUp(t, events)
	for _, cut := range []int{1, len(events) / 3, len(events) - 1, len(events)} {
		live := caughtUp(t, events[:cut])
		pos, body, err := live.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if pos != uint64(cut) {
			t.Fatalf("snapshot after %d events: position %d", cut, pos)
		}
		restored, cs, err := projections.RestoreReader(headedSource{sliceSource(events)}, nil, pos, body)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		// The command side's state the body holds is the live one's.
		_, want := live.CommandState()
		sameCommandState(t, want, cs)
		if restored.Position() != pos {
			t.Fatalf("restored at %d, want %d", restored.Position(), pos)
		}
		if _, err := restored.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameReaders(t, events, full, restored)
		t.Logf("cut at %d of %d events: a %d-byte body", cut, len(events), len(body))
	}
}

// sameReaders fails unless a and b hold the same read models and command
// side's state.
func sameReaders(t *testing.T, events []eventstore.RecordedEvent, a, b *projections.Reader) {
	t.Helper()
	ctx := context.Background()
	if a.Position() != b.Position() {
		t.Fatalf("positions %d and %d", a.Position(), b.Position())
	}
	names := map[string]bool{}
	for _, e := range events {
		if name, ok := domain.DeviceFromStream(e.Stream); ok {
			names[name] = true
		}
	}
	sa, sb := projections.SetOf(a), projections.SetOf(b)
	if diff := cmp.Diff(sa.Devices.All(), sb.Devices.All()); diff != "" {
		t.Fatalf("devices (-full +restored):\n%s", diff)
	}
	if len(sa.Devices.All()) != len(names) {
		t.Fatalf("%d devices in the read model, %d in the history", len(sa.Devices.All()), len(names))
	}
	for name := range names {
		da, va, fa := a.DeviceState(name)
		db, vb, fb := b.DeviceState(name)
		if diff := cmp.Diff(da, db); diff != "" || va != vb || fa != fb {
			t.Fatalf("%s: versions %d/%d, found %v/%v (-full +restored):\n%s", name, va, vb, fa, fb, diff)
		}
	}
	if ea, ra := sa.Devices.Counts(); true {
		if eb, rb := sb.Devices.Counts(); ea != eb || ra != rb {
			t.Fatalf("counts: %d devices, %d registered; restored %d, %d", ea, ra, eb, rb)
		}
	}
	if diff := cmp.Diff(sa.Assignment.Ranges(), sb.Assignment.Ranges()); diff != "" {
		t.Fatalf("ranges (-full +restored):\n%s", diff)
	}
	if diff := cmp.Diff(sa.Assignment.History(), sb.Assignment.History()); diff != "" {
		t.Fatalf("range history (-full +restored):\n%s", diff)
	}
	if diff := cmp.Diff(a.Holdings(), b.Holdings()); diff != "" {
		t.Fatalf("DNs in use (-full +restored):\n%s", diff)
	}
	for _, get := range []func(*projections.Reader) (any, error){
		func(r *projections.Reader) (any, error) { return r.Status(ctx) },
		func(r *projections.Reader) (any, error) { return r.Cluster(ctx) },
		func(r *projections.Reader) (any, error) { return r.Range(ctx) },
		func(r *projections.Reader) (any, error) { return r.Devices(ctx) },
	} {
		va, err := get(a)
		if err != nil {
			t.Fatal(err)
		}
		vb, err := get(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(va, vb); diff != "" {
			t.Fatalf("(-full +restored):\n%s", diff)
		}
	}
	_, ca := a.CommandState()
	_, cb := b.CommandState()
	sameCommandState(t, ca, cb)
}

// sameCommandState fails unless a and b are the same state; the DNs in
// use are compared by content.
func sameCommandState(t *testing.T, a, b projections.CommandState) {
	t.Helper()
	if diff := cmp.Diff(a.Cluster, b.Cluster); diff != "" {
		t.Fatalf("cluster (-want +got):\n%s", diff)
	}
	if a.ClusterVersion != b.ClusterVersion || a.RangeVersion != b.RangeVersion {
		t.Fatalf("stream versions %d, %d; want %d, %d", b.ClusterVersion, b.RangeVersion, a.ClusterVersion, a.RangeVersion)
	}
	ra, rb := a.Range, b.Range
	if ra.Range != rb.Range || ra.Window != rb.Window || ra.WindowCount != rb.WindowCount {
		t.Fatalf("range %+v %q %d; want %+v %q %d", rb.Range, rb.Window, rb.WindowCount, ra.Range, ra.Window, ra.WindowCount)
	}
	if diff := cmp.Diff(maps.Collect(ra.InUse.All()), maps.Collect(rb.InUse.All())); diff != "" {
		t.Fatalf("DNs in use (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(a.Refusals, b.Refusals); diff != "" {
		t.Fatalf("refusals (-want +got):\n%s", diff)
	}
}

// TestCommandStateIsTheCommandSides: the command side's state the read
// side keeps is the aggregates' folded from their streams, with the
// refusals of the last minute before the last one.
func TestCommandStateIsTheCommandSides(t *testing.T) {
	events := recorded(t, generated(t, 30_000))
	cluster, cv := domain.NewCluster(), int64(-1)
	rng, rv := domain.NewDNRange(), int64(-1)
	refusals := map[string]map[domain.RejectReason]time.Time{}
	var latest time.Time
	for _, r := range events {
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		switch r.Stream {
		case domain.ClusterStream:
			cluster, cv = domain.EvolveCluster(cluster, e), int64(r.Version)
		case domain.RangeStream:
			rng, rv = domain.EvolveDNRange(rng, e), int64(r.Version)
		}
		if rej, ok := e.(domain.RegistrationRejected); ok {
			at := rej.At
			if at.IsZero() {
				at = r.RecordedAt
			}
			if refusals[rej.Device] == nil {
				refusals[rej.Device] = map[domain.RejectReason]time.Time{}
			}
			if at.After(refusals[rej.Device][rej.Reason]) {
				refusals[rej.Device][rej.Reason] = at
			}
			if at.After(latest) {
				latest = at
			}
		}
	}
	_, got := caughtUp(t, events).CommandState()
	sameCommandState(t, projections.CommandState{Cluster: cluster, ClusterVersion: cv, Range: rng, RangeVersion: rv,
		Refusals: got.Refusals}, got)
	// The refusals kept are those the command side would still read.
	if len(got.Refusals) == 0 {
		t.Fatal("the history's refusals are all forgotten: the test proves nothing")
	}
	for dev, m := range refusals {
		for reason, at := range m {
			kept, ok := got.Refusals[dev][reason]
			if latest.Sub(at) < domain.RejectionInterval && (!ok || !kept.Equal(at)) {
				t.Errorf("%s %s at %v: not kept (%v)", dev, reason, at, kept)
			}
			if ok && !kept.Equal(at) {
				t.Errorf("%s %s: kept %v, recorded last at %v", dev, reason, kept, at)
			}
		}
	}
}

// TestRestoreReaderRefusesATruncatedBody: every prefix of a body is an
// error wrapping snapfile.ErrCorrupt, never a panic nor a reader.
func TestRestoreReaderRefusesATruncatedBody(t *testing.T) {
	events := recorded(t, generated(t, 5_000))
	pos, body, err := caughtUp(t, events).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	step := max(1, len(body)/500)
	for n := 0; n < len(body); n += step {
		r, _, err := projections.RestoreReader(headedSource{sliceSource(events)}, nil, pos, body[:n])
		if !errors.Is(err, snapfile.ErrCorrupt) || r != nil {
			t.Fatalf("a body cut at %d of %d bytes: %v", n, len(body), err)
		}
	}
	long := append(append([]byte(nil), body...), 0)
	if _, _, err := projections.RestoreReader(headedSource{sliceSource(events)}, nil, pos, long); !errors.Is(err, snapfile.ErrCorrupt) {
		t.Fatalf("a body with a byte more: %v", err)
	}
}

// TestSnapshotKeepsEveryClusterField: the cluster's state is written as
// JSON, so that a field the domain adds is kept; this checks that every
// field of a state with all of them set survives (a field added to
// domain.ClusterState and not set here fails the test, as a reminder).
func TestSnapshotKeepsEveryClusterField(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123, time.UTC)
	st := domain.ClusterState{
		Protocol: domain.SIP, Security: domain.Mixed,
		CallManagers:   map[string]domain.CallManager{"CM1": {Name: "CM1", Description: "d", AutoregDisabled: true}},
		Groups:         map[string][]string{"G": {"CM1"}},
		AutoregGroup:   "G",
		Partitions:     map[string]bool{"P": true},
		Patterns:       []domain.RoutePattern{{Pattern: "9.XX", Partition: "P", Block: true}},
		CSS:            map[string][]string{"C": {"P"}},
		Pools:          map[string]domain.DevicePool{"Pool": {Name: "Pool", Group: "G", CSS: "C"}},
		DefaultPool:    "Pool",
		DeviceDefaults: map[string]domain.DeviceDefaults{"7961": {Model: "7961", LoadSCCP: "a", LoadSIP: "b", Pool: "Pool"}},
		AutoregCSS:     "C",
		Window: &domain.Window{ID: "w1", Reason: "r", By: "admin:a", OpenedAt: at, Until: at.Add(time.Hour),
			MaxRegistrations: 5, Protocol: domain.SIP},
		WindowsOpened: 3,
	}
	for _, v := range []reflect.Value{reflect.ValueOf(st), reflect.ValueOf(*st.Window)} {
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Fatalf("%s.%s is not set here: set it, so that the snapshot is shown to keep it", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
	// Through the read side: a history whose cluster event sets it all is
	// overkill; the Cluster read model's state is set by a restore.
	events := recorded(t, generated(t, 2_000))
	r := caughtUp(t, events)
	projections.SetOf(r).Cluster.SetForTest(st)
	pos, body, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored, _, err := projections.RestoreReader(headedSource{sliceSource(events)}, nil, pos, body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, projections.SetOf(restored).Cluster.State()); diff != "" {
		t.Fatalf("(-written +read):\n%s", diff)
	}
}
