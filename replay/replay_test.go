package replay_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
	"github.com/autoreg/autoreg/replay"
	rt "github.com/autoreg/autoreg/replay/replaytest"
)

// keep is a store that survives Close, so that one history serves many runs.
type keep struct{ eventstore.Store }

func (keep) Close() error { return nil }

// cli runs the command line on the story of replaytest.
type cli struct {
	t *testing.T
	h *rt.History
}

func newCLI(t *testing.T) *cli { return &cli{t: t, h: rt.Build(t)} }

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = replay.Main(context.Background(), args, &out, &errb,
		replay.WithOpener(func(ctx context.Context, loc string) (eventstore.Store, error) { return keep{c.h.Store}, nil }),
		replay.WithTerminal(false), replay.WithNow(func() time.Time { return c.h.End }))
	return code, out.String(), errb.String()
}

// ok runs and fails the test unless the exit status is 0.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("replay %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v in:\n%s", err, s)
	}
	return v
}

func csvRows(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("%v in:\n%s", err, s)
	}
	return rows
}

func day1(h, m int) replay.Time { return replay.Time(time.Date(2026, 3, 2, h, m, 0, 0, time.UTC)) }
func day2(h, m int) replay.Time { return replay.Time(time.Date(2026, 3, 3, h, m, 0, 0, time.UTC)) }

var wantWindows = []replay.WindowReport{
	{ID: "W1", OpenedAt: day1(10, 2), OpenedBy: rt.Admin, OpenReason: "bulk add, ticket 42", Until: day1(11, 2),
		ClosedAt: day1(10, 15), ClosedBy: rt.Admin2, CloseReason: "batch done", CloseCause: "admin", Protocol: domain.SCCP,
		ProtocolChanges: []replay.ProtocolChangeReport{{At: day1(10, 8), Protocol: domain.SIP, By: rt.Admin}},
		Registrations: []replay.RegistrationReport{
			{Device: rt.Phone1, Model: "7961", Protocol: domain.SCCP, DN: "1000", At: day1(10, 3)},
			{Device: rt.Phone2, Model: "7961", Protocol: domain.SCCP, DN: "1001", At: day1(10, 4)},
			{Device: rt.Phone3, Model: "7961", Protocol: domain.SCCP, DN: "1002", At: day1(10, 5)},
			{Device: rt.Phone4, Model: "7961", Protocol: domain.SIP, DN: "1003", At: day1(10, 9)},
			{Device: rt.Phone5, Model: "7902", Protocol: domain.SCCP, DN: "1004", At: day1(10, 10)},
		},
		Rejected: 1, RejectedByReason: map[domain.RejectReason]int{domain.RejectWrongProtocol: 1}},
	{ID: "W2", OpenedAt: day2(8, 22), OpenedBy: rt.Admin2, OpenReason: "two lobby phones", Until: day2(8, 52),
		MaxRegistrations: 2, ClosedAt: day2(8, 24), ClosedBy: "system",
		CloseReason: "the window's limit of 2 registrations is reached", CloseCause: "registration_limit",
		Protocol: domain.SIP, ProtocolChanges: []replay.ProtocolChangeReport{},
		Registrations: []replay.RegistrationReport{
			{Device: rt.Phone6, Model: "7961", Protocol: domain.SIP, DN: "1002", At: day2(8, 23)},
			{Device: rt.Phone7, Model: "7961", Protocol: domain.SIP, DN: "1005", At: day2(8, 24)},
		},
		RejectedByReason: map[domain.RejectReason]int{}},
	{ID: "W3", OpenedAt: day2(10, 30), OpenedBy: rt.Admin, OpenReason: "spare phones", Until: day2(10, 45),
		ClosedAt: day2(10, 45), ClosedBy: "system", CloseReason: "maximum duration elapsed", CloseCause: "duration_elapsed",
		Protocol: domain.SIP, ProtocolChanges: []replay.ProtocolChangeReport{}, Registrations: []replay.RegistrationReport{},
		RejectedByReason: map[domain.RejectReason]int{}},
}

func ids(ws []replay.WindowReport) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

func TestWindows(t *testing.T) {
	c := newCLI(t)
	got := decode[[]replay.WindowReport](t, c.ok("windows", "--format", "json"))
	if diff := cmp.Diff(wantWindows, got); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"all", nil, []string{"W1", "W2", "W3"}},
		{"since day 2", []string{"--since", "2026-03-03"}, []string{"W2", "W3"}},
		{"until day 1", []string{"--until", "2026-03-02T23:59"}, []string{"W1"}},
		{"the instant W1 closed", []string{"--since", "2026-03-02T10:15:00Z", "--until", "2026-03-02T10:15:00Z"}, []string{"W1"}},
		{"a morning", []string{"--since", "2026-03-03T08:00", "--until", "2026-03-03T09:00"}, []string{"W2"}},
		{"nothing open", []string{"--since", "2026-03-02T12:00", "--until", "2026-03-02T13:00"}, []string{}},
		{"offset", []string{"--since", "2026-03-03T11:30:00+01:00"}, []string{"W3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decode[[]replay.WindowReport](t, c.ok(append([]string{"windows", "--format", "json"}, tc.args...)...))
			if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	rows := csvRows(t, c.ok("windows", "--format", "csv"))
	wantHeader := []string{"id", "opened_at", "opened_by", "open_reason", "until", "max_registrations", "closed_at",
		"closed_by", "close_reason", "close_cause", "protocol", "protocol_changes", "registrations", "rejected"}
	if diff := cmp.Diff(wantHeader, rows[0]); diff != "" {
		t.Errorf("CSV header (-want +got):\n%s", diff)
	}
	if len(rows) != 4 || rows[1][0] != "W1" || rows[1][1] != "2026-03-02T10:02:00Z" || rows[1][12] != "5" || rows[2][9] != "registration_limit" {
		t.Errorf("CSV rows: %q", rows)
	}

	text := c.ok("windows")
	for _, want := range []string{"WINDOW", "W1", "admin:alice", "bulk add, ticket 42", "2026-03-02 10:02:00",
		"SCCP>SIP", "registration_limit", "duration_elapsed", "3 windows, 7 phones autoregistered",
		"3 registrations refused while closed", "mixed_mode 1", "window_closed 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestDevice(t *testing.T) {
	c := newCLI(t)
	types := func(h replay.DeviceHistory) []string {
		var out []string
		for _, e := range h.History {
			out = append(out, e.Type+" "+e.Actor)
		}
		return out
	}
	for _, tc := range []struct {
		arg   string
		types []string
		state replay.DeviceStateReport
	}{
		{rt.Phone1, []string{
			"dnrange.dn_assigned sccp", "device.autoregistered sccp", "device.moved sccp", "device.reconfigured admin:carol",
		}, replay.DeviceStateReport{Exists: true, Model: "7961", Protocol: domain.SCCP, DN: "1000", Partition: "Internal",
			Pool: "Staff", Description: "desk 12", Registered: true, Address: "10.0.1.1:2000", Autoregistered: true,
			Window: "W1", AutoregisteredAt: day1(10, 3), FirstSeen: day1(10, 3), LastSeen: day1(10, 17)}},
		{"00:11:22:00:00:03", []string{ // Phone3, by MAC
			"dnrange.dn_assigned sccp", "device.autoregistered sccp", "device.deleted admin:carol", "dnrange.dn_released admin:carol",
		}, replay.DeviceStateReport{Deleted: true, Model: "7961", Address: "10.0.0.3:2000",
			FirstSeen: day1(10, 5), LastSeen: day1(10, 5)}},
		{strings.ToLower(rt.Rogue), []string{
			"device.registration_rejected sccp", "device.registration_rejected sccp",
		}, replay.DeviceStateReport{Model: "7961", Address: "10.6.6.6:2000", FirstSeen: day1(9, 2), LastSeen: day2(8, 28), Rejections: 2}},
		{rt.Phone4, []string{
			"device.registration_rejected sip", "dnrange.dn_assigned sip", "device.autoregistered sip",
		}, replay.DeviceStateReport{Exists: true, Model: "7961", Protocol: domain.SIP, DN: "1003", Partition: "Internal",
			Pool: "Default", CSS: "Autoreg", Registered: true, Address: "sip:SEP001122000004@10.0.0.4:5060",
			Autoregistered: true, Window: "W1", AutoregisteredAt: day1(10, 9), FirstSeen: day1(10, 7), LastSeen: day1(10, 9), Rejections: 1}},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			h := decode[replay.DeviceHistory](t, c.ok("device", tc.arg, "--format", "json"))
			if diff := cmp.Diff(tc.types, types(h)); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.state, h.State); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
	h := decode[replay.DeviceHistory](t, c.ok("device", rt.Phone1, "--format", "json"))
	first := h.History[0]
	var compact bytes.Buffer
	json.Compact(&compact, first.Data)
	if first.Position != 32 || first.Stream != domain.RangeStream || first.Summary != "DN 1000 assigned to "+rt.Phone1+" in W1" ||
		compact.String() != `{"dn":"1000","partition":"Internal","device":"SEP001122000001","window":"W1"}` {
		t.Errorf("first entry: %+v", first)
	}
	text := c.ok("device", rt.Phone1)
	for _, want := range []string{rt.Phone1 + ": registered", "1000 in Internal", "Staff", "in W1 at 2026-03-02 10:03:00",
		"moved from 10.0.0.1:2000 to 10.0.1.1:2000", "reconfigured: pool Staff"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	rows := csvRows(t, c.ok("device", rt.Phone1, "--format", "csv"))
	if diff := cmp.Diff([]string{"position", "recorded_at", "stream", "type", "actor", "summary", "data"}, rows[0]); diff != "" || len(rows) != 5 {
		t.Errorf("CSV: %q", rows)
	}
	if code, out, errs := c.run("device", "SEP0011220000FF"); code != 1 || out != "" || !strings.Contains(errs, "no event about SEP0011220000FF") {
		t.Errorf("unknown device: exit %d, %q, %q", code, out, errs)
	}
}

func TestState(t *testing.T) {
	c := newCLI(t)
	state := func(at time.Time) replay.StateReport {
		t.Helper()
		return decode[replay.StateReport](t, c.ok("state", "--at", at.Format(time.RFC3339), "--format", "json"))
	}
	names := func(r replay.StateReport) []string {
		out := []string{}
		for _, d := range r.Devices {
			out = append(out, d.Name+" "+d.DN)
		}
		return out
	}

	// Before the first event there is no state: it says so, in every format.
	for _, f := range []string{"text", "json", "csv"} {
		code, out, errs := c.run("state", "--at", rt.T0.Add(-time.Hour).Format(time.RFC3339), "--format", f)
		want := "replay: nothing was recorded at or before " + replay.Time(rt.T0.Add(-time.Hour)).String() + " UTC: the first event (position 1, "
		if code != replay.ExitFailure || out != "" || !strings.Contains(errs, want) || !strings.Contains(errs, "give a later --at") {
			t.Errorf("--format %s before the history: exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, %q", f, code, out, errs, want)
		}
	}

	conf := state(c.h.Configured)
	wantRange := []replay.RangeReport{{Start: "1000", End: "1099", Partition: "Internal", Used: 0, Free: 100, Next: "1000", Current: true}}
	if diff := cmp.Diff(wantRange, conf.Ranges); diff != "" {
		t.Errorf("configured: ranges (-want +got):\n%s", diff)
	}
	if conf.Position != 29 || conf.Security != "nonsecure" || conf.Cluster.DefaultPool != "Default" || conf.Cluster.AutoregCSS != "Autoreg" ||
		len(conf.Cluster.CallManagers) != 2 || !conf.Cluster.CallManagers[0].AutoregEnabled || conf.Cluster.CallManagers[1].AutoregEnabled ||
		len(conf.Cluster.Groups) != 1 || !conf.Cluster.Groups[0].Autoreg {
		t.Errorf("configured: %+v", conf)
	}

	open := state(c.h.W1Open)
	wantOpen := replay.AutoregReport{Open: true, Window: &replay.OpenWindowReport{ID: "W1", OpenedAt: day1(10, 2), OpenedBy: rt.Admin,
		OpenReason: "bulk add, ticket 42", Until: day1(11, 2), Protocol: domain.SCCP, Registrations: 3}}
	if diff := cmp.Diff(wantOpen, open.Autoregistration); diff != "" {
		t.Errorf("W1 open: autoregistration (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{rt.Phone1 + " 1000", rt.Phone2 + " 1001", rt.Phone3 + " 1002"}, names(open)); diff != "" {
		t.Errorf("W1 open: devices (-want +got):\n%s", diff)
	}
	if r := open.Ranges[0]; r.Used != 3 || r.Free != 97 || r.Next != "1003" {
		t.Errorf("W1 open: range %+v", r)
	}
	wantDev := replay.DeviceReport{Name: rt.Phone1, Model: "7961", Protocol: domain.SCCP, DN: "1000", Partition: "Internal",
		Pool: "Default", CSS: "Autoreg", Registered: true, Address: "10.0.0.1:2000", Window: "W1", LastSeen: day1(10, 3)}
	if diff := cmp.Diff(wantDev, open.Devices[0]); diff != "" {
		t.Errorf("W1 open: Phone1 (-want +got):\n%s", diff)
	}

	recon := state(c.h.Reconfigured)
	if diff := cmp.Diff([]string{rt.Phone1 + " 1000", rt.Phone2 + " 1001", rt.Phone4 + " 1003", rt.Phone5 + " 1004"}, names(recon)); diff != "" {
		t.Errorf("reconfigured: devices (-want +got):\n%s", diff)
	}
	if p1 := recon.Devices[0]; p1.Pool != "Staff" || p1.Address != "10.0.1.1:2000" || recon.Devices[1].Registered {
		t.Errorf("reconfigured: %+v", recon.Devices)
	}
	if r := recon.Ranges[0]; r.Used != 4 || r.Next != "1002" || recon.Protocol != domain.SIP || recon.Autoregistration.Open {
		t.Errorf("reconfigured: %+v", recon)
	}

	if mixed := state(c.h.Mixed); mixed.Security != "mixed" {
		t.Errorf("mixed: %s", mixed.Security)
	}

	now := decode[replay.StateReport](t, c.ok("state", "--format", "json"))
	end := state(c.h.End)
	if diff := cmp.Diff(end, now); diff != "" {
		t.Errorf("state now and at the end differ:\n%s", diff)
	}
	if end.Position != 61 || len(end.Devices) != 6 || end.Ranges[0].Used != 6 || end.Ranges[0].Next != "1006" ||
		end.Security != "nonsecure" || end.Autoregistration.Window != nil {
		t.Errorf("end: %+v", end)
	}
	if diff := cmp.Diff(names(open), names(end)); diff == "" {
		t.Error("the past and the end agree")
	}

	// W3 was open at 10:44 and its time up at 10:46 (the timer closed it at 10:50).
	if s := state(time.Date(2026, 3, 3, 10, 44, 0, 0, time.UTC)); !s.Autoregistration.Open || s.Autoregistration.Window.ID != "W3" {
		t.Errorf("W3 at 10:44: %+v", s.Autoregistration)
	}
	if s := state(time.Date(2026, 3, 3, 10, 46, 0, 0, time.UTC)); s.Autoregistration.Open || s.Autoregistration.Window == nil {
		t.Errorf("W3 at 10:46: %+v", s.Autoregistration)
	}

	rows := csvRows(t, c.ok("state", "--at", "2026-03-02T10:06", "--format", "csv"))
	wantHeader := []string{"name", "model", "protocol", "dn", "partition", "pool", "css", "registered", "address", "window", "last_seen"}
	if diff := cmp.Diff(wantHeader, rows[0]); diff != "" || len(rows) != 4 {
		t.Errorf("CSV: %q", rows)
	}
	text := c.ok("state", "--at", "2026-03-02T10:06")
	for _, want := range []string{"State at 2026-03-02 10:06:00 UTC", "open: window W1", "1000-1099", "Internal", "1003", rt.Phone3, "3 devices"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestEvents(t *testing.T) {
	c := newCLI(t)
	events := func(args ...string) []replay.EventReport {
		t.Helper()
		return decode[[]replay.EventReport](t, c.ok(append([]string{"events", "--format", "json"}, args...)...))
	}
	all := events()
	if len(all) != 61 || all[0].Position != 1 || all[60].Position != 61 {
		t.Fatalf("%d events", len(all))
	}
	if e := all[30]; e.Type != domain.TypeWindowOpened || e.Actor != rt.Admin || e.Stream != domain.ClusterStream ||
		e.Version == 0 || time.Time(e.RecordedAt) != time.Time(day1(10, 2)) || e.ID == "" {
		t.Errorf("event 31: %+v", e)
	}
	var data map[string]any
	if err := json.Unmarshal(all[30].Data, &data); err != nil || data["reason"] != "bulk add, ticket 42" || data["window"] != "W1" {
		t.Errorf("data %s", all[30].Data)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []uint64
	}{
		{"a type", []string{"--type", domain.TypeWindowOpened}, []uint64{31, 50, 60}},
		{"a pattern", []string{"--type", "autoregistration.*"}, []uint64{31, 44, 50, 55, 60, 61}},
		{"two types", []string{"--type", "cluster.security_mode_set,dnrange.dn_released"}, []uint64{49, 57, 59}},
		{"a stream", []string{"--stream", domain.DeviceStream(rt.Phone1)}, []uint64{33, 45, 47}},
		{"a stream and a type", []string{"--stream", domain.DeviceStream(rt.Phone1), "--type", "device.moved"}, []uint64{45}},
		{"an interval", []string{"--since", "2026-03-02T10:15", "--until", "2026-03-02T10:18"}, []uint64{44, 45, 46}},
		{"since", []string{"--since", "2026-03-03T10:30"}, []uint64{60, 61}},
		{"nothing", []string{"--stream", "autoreg-device-SEP000000000000"}, []uint64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := []uint64{}
			for _, e := range events(tc.args...) {
				got = append(got, e.Position)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	lines := strings.Split(strings.TrimSpace(c.ok("events", "--format", "jsonl", "--type", "device.*")), "\n")
	if len(lines) != 15 { // 7 autoregistered, 4 refused, moved, unregistered, reconfigured, deleted
		t.Errorf("%d JSON lines", len(lines))
	}
	for _, l := range lines {
		if e := decode[replay.EventReport](t, l); !strings.HasPrefix(e.Type, "device.") {
			t.Errorf("line %s", l)
		}
	}
	rows := csvRows(t, c.ok("events", "--format", "csv", "--type", "cluster.protocol_set"))
	if diff := cmp.Diff([]string{"position", "stream", "version", "type", "recorded_at", "actor", "id", "data"}, rows[0]); diff != "" ||
		len(rows) != 2 || rows[1][0] != "39" || rows[1][5] != rt.Admin || rows[1][7] != `{"protocol":"SIP","by":"admin:alice"}` {
		t.Errorf("CSV: %q", rows)
	}
	text := c.ok("events", "--since", "2026-03-03T08:24", "--until", "2026-03-03T08:24")
	for _, want := range []string{"POSITION", "DN 1005 assigned to " + rt.Phone7 + " in W2", "dnrange",
		"window W2 closed (registration_limit"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if empty := c.ok("events", "--format", "json", "--type", "dnrange.exhausted"); strings.TrimSpace(empty) != "[]" {
		t.Errorf("no events: %q", empty)
	}
}

func TestVerifyOK(t *testing.T) {
	c := newCLI(t)
	s := decode[replay.VerifySummary](t, c.ok("verify", "--format", "json"))
	if s.Events != 61 || s.Windows != 3 || s.Devices != 6 || s.Autoregistrations != 7 || s.Streams != 11 || len(s.Head) != 64 ||
		time.Time(s.First) != rt.T0 {
		t.Errorf("summary %+v", s)
	}
	text := c.ok("verify")
	for _, want := range []string{"OK", "events", "61", "windows", "devices", "6 (7 autoregistrations)", "time"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// An empty store has no state to show, and says so.
func TestStateOfAnEmptyStore(t *testing.T) {
	var out, errb bytes.Buffer
	code := replay.Main(context.Background(), []string{"state"}, &out, &errb,
		replay.WithOpener(func(ctx context.Context, loc string) (eventstore.Store, error) { return memory.New(), nil }),
		replay.WithTerminal(false))
	if code != replay.ExitFailure || out.Len() != 0 || !strings.Contains(errb.String(), "replay: the store holds no events yet") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// subscribed is a store that says when a follow subscribed to it.
type subscribed struct {
	eventstore.Store
	ch chan uint64 // receives the position the subscription starts from
}

func (s subscribed) Close() error { return nil }

func (s subscribed) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	s.ch <- from
	return s.Store.Subscribe(ctx, from, fn)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `replay events --follow` prints the events the filters select as they
// are appended to a store being written, each as soon as it is stored, and
// ends with status 0 when interrupted. Without --since it starts at the end
// of the log; with it, the history since then comes first.
func TestEventsFollow(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		history bool
	}{
		{"new events only", nil, false},
		{"since", []string{"--since", "2000-01-01"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := memory.New()
			reg := testreg.New(t, store, command.Options{})
			ctx := context.Background()
			by := command.Admin("carol", "")
			exec := func(cmd domain.Command) {
				t.Helper()
				if _, err := reg.Execute(ctx, cmd, by); err != nil {
					t.Fatal(err)
				}
			}
			exec(domain.AddPartition{Name: "Internal", By: by.Actor})

			sub := subscribed{Store: store, ch: make(chan uint64, 1)}
			out := &syncBuffer{}
			var errb bytes.Buffer
			fctx, interrupt := context.WithCancel(ctx)
			defer interrupt()
			done := make(chan int, 1)
			args := append([]string{"events", "--follow", "--format", "jsonl", "--type", "cluster.partition_*"}, c.args...)
			go func() {
				done <- replay.Main(fctx, args, out, &errb,
					replay.WithOpener(func(context.Context, string) (eventstore.Store, error) { return sub, nil }),
					replay.WithTerminal(false))
			}()
			select {
			case from := <-sub.ch:
				if want := map[bool]uint64{false: 2, true: 1}[c.history]; from != want {
					t.Errorf("subscribed from %d, want %d", from, want)
				}
			case code := <-done:
				t.Fatalf("replay events --follow ended at once: exit %d: %s", code, errb.String())
			}
			// The store is written while the follow runs: two partitions
			// (selected) and a pool-less CSS (not selected), then a removal.
			exec(domain.AddPartition{Name: "PSTN", By: by.Actor})
			exec(domain.ConfigureCSS{Name: "Staff", Partitions: []string{"Internal", "PSTN"}, By: by.Actor})
			exec(domain.AddPartition{Name: "Emergency", By: by.Actor})
			want := 2
			if c.history {
				want = 3
			}
			lines := func() []string { return strings.Split(strings.TrimSpace(out.String()), "\n") }
			deadline := time.Now().Add(10 * time.Second)
			for len(lines()) < want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			// One more: it must come out too, while nothing else does.
			exec(domain.RemoveCSS{Name: "Staff", By: by.Actor})
			exec(domain.RemovePartition{Name: "PSTN", By: by.Actor})
			want++
			for len(lines()) < want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			interrupt()
			if code := <-done; code != replay.ExitOK {
				t.Fatalf("interrupted follow: exit %d: %s", code, errb.String())
			}
			var got []string
			for _, l := range lines() {
				var r replay.EventReport
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				var data struct{ Name string }
				_ = json.Unmarshal(r.Data, &data)
				got = append(got, fmt.Sprintf("%d %s %s %s", r.Position, r.Type, data.Name, r.Actor))
			}
			wantLines := []string{
				"2 cluster.partition_added PSTN admin:carol",
				"4 cluster.partition_added Emergency admin:carol",
				"6 cluster.partition_removed PSTN admin:carol",
			}
			if c.history {
				wantLines = append([]string{"1 cluster.partition_added Internal admin:carol"}, wantLines...)
			}
			if diff := cmp.Diff(wantLines, got); diff != "" {
				t.Errorf("followed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventsFollowUsage(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"events", "--follow", "--format", "json"},
		{"events", "--follow", "--until", "2026-03-02"},
	} {
		code, out, errs := c.run(args...)
		if code != replay.ExitUsage || out != "" || !strings.Contains(errs, "--follow") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}
