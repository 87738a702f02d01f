package projections_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
	rt "github.com/autoreg/autoreg/replay/replaytest"
)

// build runs the story of replaytest into fresh read models.
func build(t *testing.T) (*rt.History, *projections.Set, *projections.Runner) {
	t.Helper()
	h := rt.Build(t)
	set := projections.NewSet()
	r := projections.NewRunner(h.Store, set.All()...)
	head, _ := h.Store.Head(context.Background())
	pos, err := r.CatchUp(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pos != head {
		t.Fatalf("caught up to %d, head %d", pos, head)
	}
	return h, set, r
}

func at(h, m int) time.Time  { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
func at2(h, m int) time.Time { return time.Date(2026, 3, 3, h, m, 0, 0, time.UTC) }

func TestWindows(t *testing.T) {
	_, set, _ := build(t)
	want := []projections.Window{
		{ID: "W1", OpenedAt: at(10, 2), OpenedBy: rt.Admin, OpenReason: "bulk add, ticket 42", Until: at(11, 2),
			OpenPosition: 31, ClosedAt: at(10, 15), ClosedBy: rt.Admin2, CloseReason: "batch done",
			CloseCause: domain.CloseByAdmin, ClosePosition: 44, Protocol: domain.SCCP,
			ProtocolChanges: []projections.ProtocolChange{{Position: 39, At: at(10, 8), Protocol: domain.SIP, By: rt.Admin}},
			Registrations: []projections.Registration{
				{Position: 33, At: at(10, 3), Device: rt.Phone1, Model: "7961", Protocol: domain.SCCP, DN: "1000"},
				{Position: 35, At: at(10, 4), Device: rt.Phone2, Model: "7961", Protocol: domain.SCCP, DN: "1001"},
				{Position: 37, At: at(10, 5), Device: rt.Phone3, Model: "7961", Protocol: domain.SCCP, DN: "1002"},
				{Position: 41, At: at(10, 9), Device: rt.Phone4, Model: "7961", Protocol: domain.SIP, DN: "1003"},
				{Position: 43, At: at(10, 10), Device: rt.Phone5, Model: "7902", Protocol: domain.SCCP, DN: "1004"},
			},
			Rejected: 1, RejectedBy: map[domain.RejectReason]int{domain.RejectWrongProtocol: 1}},
		{ID: "W2", OpenedAt: at2(8, 22), OpenedBy: rt.Admin2, OpenReason: "two lobby phones", Until: at2(8, 52),
			MaxRegistrations: 2, OpenPosition: 50, ClosedAt: at2(8, 24), ClosedBy: "system",
			CloseReason: "the window's limit of 2 registrations is reached", CloseCause: domain.CloseRegistrationLimit,
			ClosePosition: 55, Protocol: domain.SIP,
			Registrations: []projections.Registration{
				{Position: 52, At: at2(8, 23), Device: rt.Phone6, Model: "7961", Protocol: domain.SIP, DN: "1002"},
				{Position: 54, At: at2(8, 24), Device: rt.Phone7, Model: "7961", Protocol: domain.SIP, DN: "1005"},
			}},
		{ID: "W3", OpenedAt: at2(10, 30), OpenedBy: rt.Admin, OpenReason: "spare phones", Until: at2(10, 45),
			OpenPosition: 60, ClosedAt: at2(10, 45), ClosedBy: "system", CloseReason: "maximum duration elapsed",
			CloseCause: domain.CloseDurationElapsed, ClosePosition: 61, Protocol: domain.SIP},
	}
	if diff := cmp.Diff(want, set.Windows.List(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}
	closed := set.Windows.RejectedWhileClosed()
	wantClosed := projections.Rejections{Count: 3,
		ByReason: map[domain.RejectReason]int{domain.RejectWindowClosed: 2, domain.RejectMixedMode: 1},
		Devices:  map[string]int{rt.Rogue: 2, rt.Phone8: 1}}
	if diff := cmp.Diff(wantClosed, closed); diff != "" {
		t.Errorf("rejected while closed (-want +got):\n%s", diff)
	}
	if _, open := set.Windows.Current(); open {
		t.Error("a window is open at the end")
	}
	if got := set.Windows.Between(at2(0, 0), at2(9, 0)); len(got) != 1 || got[0].ID != "W2" {
		t.Errorf("windows of the morning of day 2: %v", got)
	}
	if got := set.Windows.Between(at(10, 15), at(10, 15)); len(got) != 1 || got[0].ID != "W1" {
		t.Errorf("windows at the instant W1 closed: %v", got)
	}
	if p := set.Windows.Protocol(); p != domain.SIP {
		t.Errorf("protocol %s", p)
	}
}

func TestAssignment(t *testing.T) {
	_, set, _ := build(t)
	cur, ok := set.Assignment.Current()
	want := projections.Range{Start: "1000", End: "1099", Partition: "Internal", Current: true, Size: 100,
		Used: 6, Free: 94, Next: "1006", ConfiguredAt: rt.T0, ConfiguredBy: "config", Position: 29}
	if !ok {
		t.Fatal("no range")
	}
	if diff := cmp.Diff(want, cur); diff != "" {
		t.Errorf("range (-want +got):\n%s", diff)
	}
	wantHold := []projections.Holding{
		{Partition: "Internal", DN: "1000", Device: rt.Phone1},
		{Partition: "Internal", DN: "1001", Device: rt.Phone2},
		{Partition: "Internal", DN: "1002", Device: rt.Phone6},
		{Partition: "Internal", DN: "1003", Device: rt.Phone4},
		{Partition: "Internal", DN: "1004", Device: rt.Phone5},
		{Partition: "Internal", DN: "1005", Device: rt.Phone7},
	}
	if diff := cmp.Diff(wantHold, set.Assignment.Holdings()); diff != "" {
		t.Errorf("holdings (-want +got):\n%s", diff)
	}
	if d, ok := set.Assignment.Holder("Internal", "1002"); !ok || d != rt.Phone6 {
		t.Errorf("holder of 1002: %q %v", d, ok)
	}
	if got := set.Assignment.InRange(cur); len(got) != 6 || got["1005"] != rt.Phone7 {
		t.Errorf("in range: %v", got)
	}
	if h := set.Assignment.History(); len(h) != 1 || h[0].By != "config" {
		t.Errorf("history: %v", h)
	}
}

func TestDevices(t *testing.T) {
	_, set, _ := build(t)
	p1, ok := set.Devices.Get(rt.Phone1)
	want := projections.Device{Name: rt.Phone1, Exists: true, Model: "7961", Protocol: domain.SCCP, DN: "1000",
		Partition: "Internal", Pool: "Staff", Description: "desk 12", Load: "SCCP41.9-4-2SR3-1S",
		Registered: true, Address: "10.0.1.1:2000", Autoregistered: true, Window: "W1", AutoregisteredAt: at(10, 3),
		FirstSeen: at(10, 3), LastSeen: at(10, 17), Position: 47}
	if !ok {
		t.Fatal("no Phone1")
	}
	if diff := cmp.Diff(want, p1); diff != "" {
		t.Errorf("Phone1 (-want +got):\n%s", diff)
	}
	p3, _ := set.Devices.Get(rt.Phone3)
	if p3.Exists || !p3.Deleted || p3.DN != "" {
		t.Errorf("Phone3 deleted: %+v", p3)
	}
	rogue, _ := set.Devices.Get(rt.Rogue)
	if rogue.Exists || rogue.Rejections != 2 || rogue.LastRejection != domain.RejectMixedMode || !rogue.LastSeen.Equal(at2(8, 28)) {
		t.Errorf("rogue: %+v", rogue)
	}
	p4, _ := set.Devices.Get(rt.Phone4)
	if p4.Rejections != 1 || p4.Protocol != domain.SIP || !p4.FirstSeen.Equal(at(10, 7)) {
		t.Errorf("Phone4: %+v", p4)
	}
	var names []string
	for _, d := range set.Devices.List() {
		names = append(names, d.Name)
	}
	wantNames := []string{rt.Phone1, rt.Phone2, rt.Phone4, rt.Phone5, rt.Phone6, rt.Phone7}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if n, reg := set.Devices.Counts(); n != 6 || reg != 5 {
		t.Errorf("counts %d %d", n, reg)
	}
	if all := set.Devices.All(); len(all) != 9 {
		t.Errorf("all devices: %d", len(all))
	}
}

func TestConfigHistory(t *testing.T) {
	_, set, _ := build(t)
	all := set.Config.Changes(time.Time{}, time.Time{})
	// 29 configuration events, then W1 open, protocol, close, reconfigure,
	// delete, W2 open, close, mixed, nonsecure, W3 open, close.
	if len(all) != 29+11 {
		t.Fatalf("%d changes", len(all))
	}
	day2 := set.Config.Changes(at2(0, 0), time.Time{})
	var got []string
	for _, c := range day2 {
		got = append(got, c.Type+" "+c.Actor)
	}
	want := []string{
		"autoregistration.window_opened admin:bob",
		"autoregistration.window_closed sip", // the registration that reached the limit closed it
		"cluster.security_mode_set admin:security",
		"cluster.security_mode_set admin:security",
		"autoregistration.window_opened admin:alice",
		"autoregistration.window_closed system",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("day 2 (-want +got):\n%s", diff)
	}
	var payload map[string]any
	if err := json.Unmarshal(day2[0].Payload, &payload); err != nil || payload["reason"] != "two lobby phones" {
		t.Errorf("payload %s: %v", day2[0].Payload, err)
	}
	if day2[0].Position != 50 || !day2[0].At.Equal(at2(8, 22)) || day2[0].Stream != domain.ClusterStream {
		t.Errorf("change %+v", day2[0])
	}
}

// TestAgainstTheAggregates folds a generated history through the domain's
// aggregates and checks the read models agree with them.
func TestAgainstTheAggregates(t *testing.T) {
	ctx := context.Background()
	store := generated(t, 60_000)
	set := projections.NewSet()
	if _, err := projections.NewRunner(store, set.All()...).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	cluster, rng := domain.NewCluster(), domain.NewDNRange()
	devs := map[string]domain.DeviceState{}
	err := store.ReadAll(ctx, 1, func(r eventstore.RecordedEvent) error {
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			return err
		}
		switch r.Stream {
		case domain.ClusterStream:
			cluster = domain.EvolveCluster(cluster, e)
		case domain.RangeStream:
			rng = domain.EvolveDNRange(rng, e)
		default:
			name, _ := domain.DeviceFromStream(r.Stream)
			d, ok := devs[name]
			if !ok {
				d = domain.NewDevice(name)
			}
			devs[name] = domain.EvolveDevice(d, e, r.RecordedAt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := set.Assignment.Current()
	next, _ := rng.NextFree()
	if cur.Next != next || cur.Free != rng.Free() || cur.Start != rng.Range.Start || cur.End != rng.Range.End {
		t.Errorf("range: read model %+v; aggregate %+v next %s free %d", cur, rng.Range, next, rng.Free())
	}
	holdings := set.Assignment.Holdings()
	if len(holdings) != rng.InUse.Len() {
		t.Errorf("%d DNs held, the aggregate says %d", len(holdings), rng.InUse.Len())
	}
	for _, h := range holdings {
		if d, _ := rng.Holder(h.Partition, h.DN); d != h.Device {
			t.Fatalf("DN %s/%s: %s", h.Partition, h.DN, h.Device)
		}
	}
	exist := 0
	for name, st := range devs {
		d, ok := set.Devices.Get(name)
		if !ok {
			t.Fatalf("no device %s", name)
		}
		if st.Exists {
			exist++
		}
		got := domain.DeviceState{Name: d.Name, Exists: d.Exists, Deleted: d.Deleted, Model: d.Model, Protocol: d.Protocol,
			DN: d.DN, Partition: d.Partition, Pool: d.Pool, CSS: d.CSS, Description: d.Description,
			Autoregistered: d.Autoregistered, Window: d.Window, Registered: d.Registered, Address: d.Address, Node: d.Node,
			Credentialed: d.CredentialSalt != ""}
		want := st
		want.LastRejected = nil
		if !st.Exists {
			// The read model remembers what a deleted or refused device was.
			want.Model, want.Address, got.Model, got.Address = "", "", "", ""
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("device %s (-aggregate +read model):\n%s", name, diff)
		}
	}
	if n, _ := set.Devices.Counts(); n != exist {
		t.Errorf("%d devices exist, the aggregates say %d", n, exist)
	}
	if n := len(set.Windows.List()); n != cluster.WindowsOpened {
		t.Errorf("%d windows, the cluster opened %d", n, cluster.WindowsOpened)
	}
	if _, open := set.Windows.Current(); open != (cluster.Window != nil) {
		t.Errorf("open %v, cluster %v", open, cluster.Window)
	}
}
