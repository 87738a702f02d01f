package compliance_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay"
	"github.com/autoreg/autoreg/replay/compliance"
	rt "github.com/autoreg/autoreg/replay/replaytest"
)

// story is the shared story of replaytest, with the command line on it.
type story struct {
	t *testing.T
	h *rt.History
}

func newStory(t *testing.T) *story { return &story{t: t, h: rt.Build(t)} }

func (s *story) run(args ...string) (int, string, string) {
	return runCLI(s.t, s.h.Store, func() time.Time { return s.h.End }, args...)
}

// pos finds the position of the n-th event (from 1) of a type in a stream
// ("" for any).
func (s *story) pos(typ, stream string, n int) uint64 {
	s.t.Helper()
	var found uint64
	seen := 0
	s.h.Store.ReadAll(context.Background(), 1, func(r eventstore.RecordedEvent) error {
		if r.Type == typ && (stream == "" || r.Stream == stream) {
			if seen++; seen == n {
				found = r.Position
			}
		}
		return nil
	})
	if found == 0 {
		s.t.Fatalf("no event %d of type %s in %q", n, typ, stream)
	}
	return found
}

func (s *story) head() uint64 {
	p, err := s.h.Store.Head(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func at(day, h, m int) replay.Time {
	return replay.Time(time.Date(2026, 3, day, h, m, 0, 0, time.UTC))
}

// TestJSONReport pins the JSON report of the shared story: every finding,
// its wording and its evidence, decoded and compared with go-cmp.
func TestJSONReport(t *testing.T) {
	s := newStory(t)
	code, out, errs := s.run("report", "--format", "json")
	if code != compliance.ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got compliance.Report
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	w1, w2, w3 := s.pos(domain.TypeWindowOpened, "", 1), s.pos(domain.TypeWindowOpened, "", 2), s.pos(domain.TypeWindowOpened, "", 3)
	sw := s.pos(domain.TypeProtocolSet, "", 1) // the configuration's SCCP is the default: no event
	p4 := s.pos(domain.TypeDeviceAutoregistered, domain.DeviceStream(rt.Phone4), 1)
	rogue := s.pos(domain.TypeRegistrationRejected, domain.DeviceStream(rt.Rogue), 1)
	p8 := s.pos(domain.TypeRegistrationRejected, domain.DeviceStream(rt.Phone8), 1)
	none := []string{}
	bh := func(id, when string, p uint64, tm replay.Time) compliance.Finding {
		return compliance.Finding{Check: compliance.BusinessHours, Severity: compliance.Info, Title: "Window opened during business hours",
			Message:  "Window " + id + " was opened " + when + " UTC, inside business hours (mon tue wed thu fri 08:00-18:00 UTC)",
			Evidence: compliance.Evidence{Positions: []uint64{p}, Devices: none, Windows: []string{id}, Times: []replay.Time{tm}}}
	}
	want := compliance.Report{
		SchemaVersion: 1, GeneratedAt: replay.Time(s.h.End),
		Period: compliance.Period{Since: replay.Time(rt.T0), Until: replay.Time(s.h.End)},
		Store:  replay.DefaultStore, Policy: "defaults", LastPosition: s.head(),
		Summary: compliance.Summary{Warning: 2, Info: 4},
		Findings: []compliance.Finding{
			{Check: compliance.ProtocolMixedBatch, Severity: compliance.Warning, Title: "Mixed SIP/SCCP batch in one window",
				Message: `In window W1, opened 2026-03-02 10:02:00 UTC by admin:alice ("bulk add, ticket 42") (protocol SCCP when opened): ` +
					"the Auto Registration Phone Protocol was changed while it was open (to SIP by admin:alice 2026-03-02 10:08:00 UTC); " +
					"dual-protocol phones autoregistered over both protocols, 3 over SCCP and 1 over SIP: those over SIP should have been a batch of their own, with the parameter at SIP",
				Evidence: compliance.Evidence{Positions: []uint64{sw, p4}, Devices: []string{rt.Phone4}, Windows: []string{"W1"},
					Times: []replay.Time{at(2, 10, 8), at(2, 10, 9)}}},
			// The story's SIP phones autoregistered on a registrar that
			// issued no credentials (as one before digest authentication).
			{Check: compliance.SIPUnauthenticated, Severity: compliance.Warning, Title: "SIP phones that register without digest authentication",
				Message: "3 SIP devices of device pool Default register without digest authentication at the end of the period: " +
					"they hold no digest credentials (anyone who knows their MAC may move or unregister them)",
				Evidence: compliance.Evidence{Positions: []uint64{p4, s.pos(domain.TypeDeviceAutoregistered, domain.DeviceStream(rt.Phone6), 1),
					s.pos(domain.TypeDeviceAutoregistered, domain.DeviceStream(rt.Phone7), 1)},
					Devices: []string{rt.Phone4, rt.Phone6, rt.Phone7}, Windows: none, Times: []replay.Time{}}},
			bh("W1", "Monday 2026-03-02 10:02", w1, at(2, 10, 2)),
			bh("W2", "Tuesday 2026-03-03 08:22", w2, at(3, 8, 22)),
			bh("W3", "Tuesday 2026-03-03 10:30", w3, at(3, 10, 30)),
			{Check: compliance.RogueAttempts, Severity: compliance.Info, Title: "Unknown devices refused",
				Message: "2 unknown devices were refused 2 times in all (10 at most each; reasons: window_closed, unknown_model) " +
					"from 2026-03-02 09:02:00 UTC to 2026-03-03 08:25:00 UTC",
				Evidence: compliance.Evidence{Positions: []uint64{rogue, p8}, Devices: []string{rt.Rogue, rt.Phone8}, Windows: none,
					Times: []replay.Time{at(2, 9, 2), at(3, 8, 25)}}},
		},
		Windows: []compliance.Window{
			{ID: "W1", OpenedAt: at(2, 10, 2), OpenedBy: rt.Admin, OpenReason: "bulk add, ticket 42", OpenPosition: w1,
				Until: at(2, 11, 2), ClosedAt: at(2, 10, 15), ClosedBy: rt.Admin2, CloseCause: "admin",
				ClosePosition: s.pos(domain.TypeWindowClosed, "", 1), End: at(2, 10, 15), DurationSeconds: 13 * 60,
				Protocol: domain.SCCP, ProtocolChanges: []replay.ProtocolChangeReport{{At: at(2, 10, 8), Protocol: domain.SIP, By: rt.Admin}},
				Registrations: 5, RegistrationsByProtocol: map[domain.Protocol]int{domain.SCCP: 4, domain.SIP: 1}, Rejected: 1,
				AutoregCSS: "Autoreg", Checks: []compliance.CheckID{compliance.ProtocolMixedBatch, compliance.BusinessHours}},
			{ID: "W2", OpenedAt: at(3, 8, 22), OpenedBy: rt.Admin2, OpenReason: "two lobby phones", OpenPosition: w2,
				Until: at(3, 8, 52), MaxRegistrations: 2, ClosedAt: at(3, 8, 24), ClosedBy: "system", CloseCause: "registration_limit",
				ClosePosition: s.pos(domain.TypeWindowClosed, "", 2), End: at(3, 8, 24), DurationSeconds: 2 * 60,
				Protocol: domain.SIP, ProtocolChanges: []replay.ProtocolChangeReport{},
				Registrations: 2, RegistrationsByProtocol: map[domain.Protocol]int{domain.SIP: 2},
				AutoregCSS: "Autoreg", Checks: []compliance.CheckID{compliance.BusinessHours}},
			{ID: "W3", OpenedAt: at(3, 10, 30), OpenedBy: rt.Admin, OpenReason: "spare phones", OpenPosition: w3,
				Until: at(3, 10, 45), ClosedAt: at(3, 10, 45), ClosedBy: "system", CloseCause: "duration_elapsed",
				ClosePosition: s.pos(domain.TypeWindowClosed, "", 3), End: at(3, 10, 45), DurationSeconds: 15 * 60,
				Protocol: domain.SIP, ProtocolChanges: []replay.ProtocolChangeReport{},
				RegistrationsByProtocol: map[domain.Protocol]int{},
				AutoregCSS:              "Autoreg", Checks: []compliance.CheckID{compliance.BusinessHours}},
		},
	}
	// The run gave the report checkpoints of the head (runCLI).
	if a := got.Anchor; a == nil || a.Checkpoints != 1 || a.LastPosition != s.head() || a.EventsAfter != 0 || len(a.Keys) != 1 {
		t.Errorf("anchor: %+v, want one checkpoint at the head", a)
	}
	got.Anchor = nil
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(compliance.Report{}), cmpopts.EquateComparable(replay.Time{})); diff != "" {
		t.Errorf("JSON report (-want +got):\n%s", diff)
	}
}

// TestJSONSchema: the keys of every object are exactly the documented ones
// (docs/compliance.md); lists are never null.
func TestJSONSchema(t *testing.T) {
	h := newHist(t, monday)
	h.admin(domain.AddRoutePattern{Pattern: "9.!", Partition: "Internal", By: "admin:alice"})
	h.open("keys", 0)
	h.batch(2, "7942", domain.SCCP)
	code, out, errs := h.run("report", "--format", "json", "--until", h.at(2*time.Hour).Format(time.RFC3339))
	if code != compliance.ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("not an object: %v", v)
		}
		var out []string
		for k, x := range m {
			if x == nil && k != "since" && k != "until" && k != "closed_at" {
				t.Errorf("%s is null", k)
			}
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	check := func(what string, got, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s keys (-want +got):\n%s", what, diff)
		}
	}
	check("report", keys(doc), sorted("schema_version", "generated_at", "period", "store", "policy", "last_position", "anchor", "summary", "findings", "windows"))
	check("anchor", keys(doc["anchor"]), sorted("log", "checkpoints", "last_position", "last_time", "last_node", "keys", "events_after"))
	check("period", keys(doc["period"]), sorted("since", "until"))
	check("summary", keys(doc["summary"]), sorted("critical", "warning", "info"))
	fs := doc["findings"].([]any)
	if len(fs) < 4 {
		t.Fatalf("%d findings", len(fs))
	}
	for _, f := range fs {
		check("finding", keys(f), sorted("check", "severity", "title", "message", "evidence"))
		check("evidence", keys(f.(map[string]any)["evidence"]), sorted("positions", "devices", "windows", "times"))
	}
	ws := doc["windows"].([]any)
	check("window", keys(ws[0]), sorted("id", "opened_at", "opened_by", "open_reason", "open_position", "until", "max_registrations",
		"closed_at", "closed_by", "close_cause", "close_position", "end", "open_at_end", "duration_seconds", "protocol",
		"protocol_changes", "registrations", "registrations_by_protocol", "rejected", "autoreg_css", "checks"))
	if ws[0].(map[string]any)["closed_at"] != nil || ws[0].(map[string]any)["open_at_end"] != true {
		t.Errorf("an open window: %v", ws[0])
	}
}

func TestCSV(t *testing.T) {
	s := newStory(t)
	code, out, _ := s.run("report", "--format", "csv")
	if code != compliance.ExitOK {
		t.Fatalf("exit %d", code)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"severity", "check", "title", "message", "windows", "devices", "times", "positions"}, rows[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if len(rows) != 7 {
		t.Fatalf("%d rows, want a header and 6 findings:\n%s", len(rows), out)
	}
	first := rows[1]
	if first[0] != "warning" || first[1] != "protocol-mixed-batch" || first[4] != "W1" || first[5] != rt.Phone4 ||
		first[6] != "2026-03-02T10:08:00Z 2026-03-02T10:09:00Z" {
		t.Errorf("first row: %q", first)
	}
}

func TestText(t *testing.T) {
	h := newHist(t, monday)
	h.admin(domain.AddRoutePattern{Pattern: "9.!", Partition: "Internal", By: "admin:alice"})
	h.open("everything at once", 0)
	h.batch(1, "7942", domain.SCCP)
	code, out, _ := h.run("report", "--until", h.at(3*time.Hour).Format(time.RFC3339))
	if code != compliance.ExitFindings {
		t.Fatalf("exit %d", code)
	}
	c, w, i := strings.Index(out, "\nCRITICAL (1)\n"), strings.Index(out, "\nWARNING (3)\n"), strings.Index(out, "\nINFO (1)\n")
	if c < 0 || w < c || i < w {
		t.Errorf("severities not in order:\n%s", out)
	}
	for _, want := range []string{"summary  1 critical, 3 warning, 1 info", "[autoreg-css-reaches-external]", "[window-too-long]",
		"[left-open]", "[missing-device-default-load]", "[business-hours]", "WINDOWS (1)", "still open"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// historyWith makes a history whose worst finding is sev (none for "").
func historyWith(t *testing.T, sev compliance.Severity) *hist {
	h := newHist(t, saturday)
	h.open("batch", 0)
	switch sev {
	case compliance.Critical:
		h.admin(domain.AddRoutePattern{Pattern: "9.!", Partition: "Internal", By: "admin:alice"})
	case compliance.Warning:
		h.step(2 * time.Hour) // too long
	case compliance.Info:
		h.close()
		h.regAs("SEP00000000DEAD", "7961", domain.SCCP, domain.RejectWindowClosed)
	}
	h.step(time.Minute)
	if h.svc.Status().Open {
		h.close()
	}
	return h
}

func TestExitStatusFollowsFailOn(t *testing.T) {
	for _, tc := range []struct {
		worst compliance.Severity
		codes map[string]int // --fail-on -> exit status
	}{
		{"", map[string]int{"": 0, "critical": 0, "warning": 0, "info": 0}},
		{compliance.Info, map[string]int{"": 0, "critical": 0, "warning": 0, "info": 1}},
		{compliance.Warning, map[string]int{"": 0, "critical": 0, "warning": 1, "info": 1}},
		{compliance.Critical, map[string]int{"": 1, "critical": 1, "warning": 1, "info": 1}},
	} {
		h := historyWith(t, tc.worst)
		for level, want := range tc.codes {
			args := []string{"report", "--format", "json"}
			if level != "" {
				args = append(args, "--fail-on", level)
			}
			code, out, errs := h.run(args...)
			if code != want {
				t.Errorf("worst %q, --fail-on %q: exit %d, want %d (%s)", tc.worst, level, code, want, errs)
			}
			var r compliance.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Errorf("worst %q, --fail-on %q: the report is written whatever the status: %v", tc.worst, level, err)
			}
			if code == 1 && !strings.Contains(errs, "finding(s) at or above") {
				t.Errorf("stderr %q", errs)
			}
		}
	}
}

// Bad input: exit 2, a message that says what is wrong, nothing on stdout
// and no file.
func TestBadInput(t *testing.T) {
	h := historyWith(t, compliance.Warning)
	dir := t.TempDir()
	writeFile := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknown := writeFile("unknown.yaml", "checks:\n  windows-too-long: {}\n")
	wrongType := writeFile("type.yaml", "checks:\n  too-many-phones:\n    per_window: lots\n")
	out := filepath.Join(dir, "report.html")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"since after until", []string{"--since", "2026-03-08", "--until", "2026-03-07"}, "--since 2026-03-08T00:00:00Z is after --until 2026-03-07T00:00:00Z"},
		{"a bad time", []string{"--since", "yesterday"}, `--since: "yesterday" is not a time`},
		{"since in the future", []string{"--since", "2099-01-01"}, "--since 2099-01-01T00:00:00Z is after now"},
		{"a bad date", []string{"--until", "2026-13-01"}, `--until: "2026-13-01" is not a time`},
		{"a bad format", []string{"--format", "pdf"}, `--format "pdf": use text, json, csv, html`},
		{"a bad level", []string{"--fail-on", "severe"}, `--fail-on: "severe" is not a severity`},
		{"a missing policy", []string{"--policy", filepath.Join(dir, "nope.yaml")}, "nope.yaml: cannot read the policy"},
		{"an unknown check id", []string{"--policy", unknown}, unknown + `: line 2: checks.windows-too-long: unknown check id "windows-too-long"`},
		{"a value of the wrong type", []string{"--policy", wrongType}, wrongType + `: line 3: checks.too-many-phones.per_window: want a whole number, got "lots"`},
		{"an argument", []string{"now"}, "takes no arguments"},
		{"an unknown flag", []string{"--verbose"}, "unknown flag: --verbose"},
		{"store and data", []string{"--store", "a.db", "--data", "d"}, "give --store or --data, not both"},
		{"no directory for -o", []string{"-o", filepath.Join(dir, "no", "r.html")}, "no directory " + filepath.Join(dir, "no")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"report", "-o", out, "--format", "html"}, tc.args...)
			if tc.name == "a bad format" {
				args = append([]string{"report", "-o", out}, tc.args...)
			}
			code, stdout, stderr := h.run(args...)
			if code != compliance.ExitError || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
		})
	}
}

// Stores that are not there or are not stores, through the real opener.
func TestBadStores(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a database, not at all, and long enough to be read as a file header"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"--store", filepath.Join(dir, "missing.db")}, "no event store at"},
		{"a directory", []string{"--store", dir}, "is a directory, not an event store"},
		{"no store in --data", []string{"--data", dir}, "no event store at " + filepath.Join(dir, "autoreg.db")},
		{"not a store", []string{"--store", text}, "notes.txt"},
		{"another scheme", []string{"--store", "mysql://localhost/autoreg"}, "mysql"},
		{"no KurrentDB server there", []string{"--store", "kurrentdb://127.0.0.1:1?tls=false"}, "kurrentdb://127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := compliance.Main(context.Background(), append([]string{"report"}, tc.args...), &out, &errb, compliance.WithTerminal(false))
			if code != compliance.ExitError || out.Len() != 0 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out.String(), errb.String(), tc.want)
			}
		})
	}
}

func TestOutputFile(t *testing.T) {
	h := historyWith(t, compliance.Critical)
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, _ := h.run("report", "--format", "json", "-o", out)
	if code != compliance.ExitFindings || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r compliance.Report
	if err := json.Unmarshal(b, &r); err != nil || r.Summary.Critical != 1 {
		t.Errorf("%v %+v", err, r.Summary)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// A device is written to, not replaced.
	if code, _, errs := h.run("report", "-o", os.DevNull); code != compliance.ExitFindings {
		t.Errorf("-o %s: exit %d: %s", os.DevNull, code, errs)
	}
	if info, err := os.Stat(os.DevNull); err != nil || info.Mode().IsRegular() {
		t.Fatalf("%s: %v %v", os.DevNull, info.Mode(), err)
	}
	if code, _, errs := h.run("report", "-o", t.TempDir()); code != compliance.ExitError || !strings.Contains(errs, "is a directory") {
		t.Errorf("-o DIR: exit %d: %s", code, errs)
	}
}

func TestHelpAndOtherCommands(t *testing.T) {
	h := historyWith(t, "")
	for _, args := range [][]string{{"--help"}, {"report", "--help"}, {"policy", "--help"}, {"policy", "sample", "--help"},
		{"policy", "check", "--help"}, {"checks", "--help"}} {
		code, out, _ := h.run(args...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "compliance") {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
	_, out, _ := h.run("--help")
	for _, c := range compliance.Checks {
		if !strings.Contains(out, string(c.ID)) {
			t.Errorf("--help does not name %s", c.ID)
		}
	}
	if _, out, _ := h.run("report", "--help"); !strings.Contains(out, "--fail-on") || !strings.Contains(out, "self-contained") {
		t.Errorf("report --help:\n%s", out)
	}
	code, out, _ := h.run("policy", "sample")
	if code != 0 || out != string(compliance.SamplePolicy) {
		t.Errorf("policy sample: exit %d", code)
	}
	code, out, _ = h.run("checks")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != len(compliance.Checks)+1 || !slices.Equal(strings.Fields(lines[6])[:2], []string{"autoreg-css-reaches-external", "critical"}) {
		t.Errorf("checks: exit %d:\n%s", code, out)
	}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, compliance.SamplePolicy, 0o600)
	os.WriteFile(bad, []byte("checks:\n  left-open: {severity: loud}\n"), 0o600)
	if code, out, _ := h.run("policy", "check", good); code != 0 || out != good+": ok\n" {
		t.Errorf("policy check good: %d %q", code, out)
	}
	if code, out, errs := h.run("policy", "check", bad); code != 2 || out != "" || !strings.Contains(errs, "line 2: checks.left-open.severity") {
		t.Errorf("policy check bad: %d %q %q", code, out, errs)
	}
	if code, _, errs := h.run("policy"); code != 2 || !strings.Contains(errs, "sample or check FILE") {
		t.Errorf("policy alone: %d %q", code, errs)
	}
}
