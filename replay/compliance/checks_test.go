package compliance_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay/compliance"
)

const day = 24 * time.Hour

// wantEvidence compares a finding's evidence and checks that its message
// says each of the phrases.
func wantFinding(t *testing.T, f compliance.Finding, sev compliance.Severity, ev compliance.Evidence, phrases ...string) {
	t.Helper()
	if f.Severity != sev {
		t.Errorf("%s: severity %s, want %s", f.Check, f.Severity, sev)
	}
	if diff := cmp.Diff(ev, f.Evidence); diff != "" {
		t.Errorf("%s: evidence (-want +got):\n%s", f.Check, diff)
	}
	for _, p := range phrases {
		if !strings.Contains(f.Message, p) {
			t.Errorf("%s: message %q does not say %q", f.Check, f.Message, p)
		}
	}
	if c, _ := compliance.CheckByID(f.Check); f.Title != c.Title {
		t.Errorf("%s: title %q, want %q", f.Check, f.Title, c.Title)
	}
}

func count(t *testing.T, r *compliance.Report, id compliance.CheckID, n int) []compliance.Finding {
	t.Helper()
	fs := of(r, id)
	if len(fs) != n {
		t.Fatalf("%d %s findings, want %d: %+v", len(fs), id, n, fs)
	}
	return fs
}

// TestCleanHistory: a short window out of business hours, few phones, the
// restricted autoregistration CSS, the phones then moved to their permanent
// pool: nothing to report, whatever the severity.
func TestCleanHistory(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.step(time.Hour)
	h.open("three desk phones, ticket 7", 30*time.Minute)
	phones := h.batch(3, "7961", domain.SCCP)
	h.step(time.Minute)
	h.close()
	h.step(time.Hour)
	for _, p := range phones {
		h.step(time.Minute)
		h.admin(domain.ReconfigureDevice{Device: p, Pool: "Staff", Description: "desk", By: "admin:alice"})
	}
	until := since.Add(10 * day)
	r := h.build(since, until, nil)
	if len(r.Findings) != 0 {
		t.Fatalf("findings in a clean history: %+v", r.Findings)
	}
	if diff := cmp.Diff(compliance.Summary{}, r.Summary); diff != "" {
		t.Error(diff)
	}
	if len(r.Windows) != 1 || r.Windows[0].Registrations != 3 || r.Windows[0].DurationSeconds != 4*60 {
		t.Errorf("windows: %+v", r.Windows)
	}
	code, out, errs := h.run("report", "--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339), "--fail-on", "info")
	if code != compliance.ExitOK || !strings.Contains(out, "No findings.") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, errs, out)
	}
}

func TestWindowTooLongAndLeftOpen(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.open("long one", 0)
	open1, pos1 := h.now(), h.head()
	h.step(time.Minute)
	h.reg("7961", domain.SCCP, "")
	h.step(89 * time.Minute)
	h.close()
	close1, cpos1 := h.now(), h.head()
	// 50 minutes: within the default hour.
	h.step(time.Hour)
	h.open("short one", 0)
	h.step(50 * time.Minute)
	h.close()
	// Left open, no maximum: counts until --until.
	h.step(time.Hour)
	h.open("forgotten", 0)
	open3, pos3 := h.now(), h.head()
	until := open3.Add(2 * time.Hour)

	r := h.build(since, until, nil)
	fs := count(t, r, compliance.WindowTooLong, 2)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: []uint64{pos1, cpos1}, Devices: []string{},
		Windows: []string{"W1"}, Times: times(open1, close1)}, "open 1h30m", "more than the policy's 1h")
	wantFinding(t, fs[1], compliance.Warning, compliance.Evidence{Positions: []uint64{pos3}, Devices: []string{},
		Windows: []string{"W3"}, Times: times(open3, until)}, "open 2h", "still open at the end of the period")
	lo := count(t, r, compliance.LeftOpen, 1)
	wantFinding(t, lo[0], compliance.Warning, compliance.Evidence{Positions: []uint64{pos3}, Devices: []string{},
		Windows: []string{"W3"}, Times: times(open3, until)}, "forgotten", "no maximum duration")
	if w := r.Windows[2]; !w.OpenAtEnd || w.DurationSeconds != 7200 || !time.Time(w.End).Equal(until) {
		t.Errorf("W3: %+v", w)
	}

	// A stricter policy flags the 50-minute window too; the check can be off.
	r = h.build(since, until, policy(t, "checks:\n  window-too-long:\n    max_duration: 45m\n"))
	count(t, r, compliance.WindowTooLong, 3)
	r = h.build(since, until, policy(t, "checks:\n  window-too-long: {enabled: false}\n"))
	count(t, r, compliance.WindowTooLong, 0)
	// Before the third window opened, nothing was left open.
	r = h.build(since, open3.Add(-time.Minute), nil)
	count(t, r, compliance.LeftOpen, 0)
}

// A window whose maximum duration elapsed without its close recorded yet is
// closed by its time: not left open, its end is its deadline.
func TestWindowEndsAtItsMaximumDuration(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.open("timed", 30*time.Minute)
	opened := h.now()
	h.step(2 * time.Hour) // the registrar's timer never ran
	h.admin(domain.SetProtocol{Protocol: domain.SIP, By: "admin:alice"})
	r := h.build(since, h.now(), nil)
	count(t, r, compliance.LeftOpen, 0)
	count(t, r, compliance.WindowTooLong, 0)
	count(t, r, compliance.ProtocolMixedBatch, 0) // the change came after its time
	if len(r.Windows[0].ProtocolChanges) != 0 {
		t.Errorf("changes: %+v", r.Windows[0].ProtocolChanges)
	}
	w := r.Windows[0]
	if w.OpenAtEnd || !time.Time(w.End).Equal(opened.Add(30*time.Minute)) || w.DurationSeconds != 1800 || !time.Time(w.ClosedAt).IsZero() {
		t.Errorf("window: %+v", w)
	}
}

func TestTooManyPhones(t *testing.T) {
	h := newHist(t, saturday)
	h.admin(domain.ConfigureRange{Start: "1000", End: "1299", Partition: "Internal", By: "admin:alice"})
	since := h.now()
	h.open("99 phones", 0)
	h.batch(99, "7961", domain.SCCP)
	h.close()
	h.step(time.Hour)
	h.open("100 phones", 0)
	w2 := h.batch(100, "7961", domain.SCCP)
	first, last := h.now().Add(-99*time.Minute), h.now()
	h.close()
	until := h.now().Add(time.Minute)

	r := h.build(since, until, policy(t, "checks:\n  window-too-long: {enabled: false}\n"))
	fs := count(t, r, compliance.TooManyPhones, 2)
	// The period's finding first (its first registration is earlier).
	if fs[0].Evidence.Windows[0] != "W1" || !strings.Contains(fs[0].Message, "199 phones autoregistered in the period, in 2 windows") {
		t.Errorf("period finding: %+v", fs[0])
	}
	wantDevices := w2
	if fs[1].Evidence.Windows[0] != "W2" || !strings.Contains(fs[1].Message, "100 phones autoregistered in window W2") ||
		!cmp.Equal(wantDevices, fs[1].Evidence.Devices) || !cmp.Equal(times(first, last), fs[1].Evidence.Times) ||
		len(fs[1].Evidence.Positions) != 100 {
		t.Errorf("window finding: %+v", fs[1])
	}

	// The evidence limit caps the lists, not the totals.
	r = h.build(since, until, policy(t, "evidence_limit: 5\n"))
	fs = count(t, r, compliance.TooManyPhones, 2)
	if len(fs[1].Evidence.Devices) != 5 || len(fs[1].Evidence.Positions) != 5 || !strings.Contains(fs[1].Message, "100 phones") {
		t.Errorf("capped: %+v", fs[1])
	}
	// Thresholds from the policy; 0 turns a part off.
	r = h.build(since, until, policy(t, "checks:\n  too-many-phones: {per_window: 0, per_period: 200}\n"))
	count(t, r, compliance.TooManyPhones, 0)
	r = h.build(since, until, policy(t, "checks:\n  too-many-phones: {per_window: 99, per_period: 0}\n"))
	count(t, r, compliance.TooManyPhones, 2)
}

func TestMultipleAutoregCallManagers(t *testing.T) {
	h := newHist(t, saturday)
	// An episode over before the period: not reported.
	h.admin(domain.ConfigureCallManager{Name: "CM2", Description: "subscriber", AutoregEnabled: true, By: "admin:alice"})
	h.step(time.Minute)
	h.admin(domain.ConfigureCallManager{Name: "CM2", Description: "subscriber", By: "admin:alice"})
	h.step(time.Hour)
	since := h.now()
	h.step(time.Hour)
	h.open("batch", 0)
	h.step(time.Minute)
	// (Appended as an older store holds it: the registrar now closes the
	// window with such a change.)
	start := h.raw(domain.CallManagerConfigured{Name: "CM3", By: "admin:alice"})
	t1 := h.now()
	h.step(time.Minute)
	h.close()
	h.step(time.Hour)
	end := h.admin(domain.ConfigureCallManager{Name: "CM3", By: "admin:alice"})
	t2 := h.now()
	h.step(time.Hour)
	again := h.admin(domain.ConfigureCallManager{Name: "CM2", Description: "subscriber", AutoregEnabled: true, By: "admin:alice"})
	t3 := h.now()
	until := h.now().Add(time.Hour)

	r := h.build(since, until, nil)
	fs := count(t, r, compliance.MultipleAutoregCallManagers, 2)
	wantFinding(t, fs[0], compliance.Critical, compliance.Evidence{Positions: []uint64{start, end}, Devices: []string{},
		Windows: []string{"W1"}, Times: times(t1, t2)}, "enabled on CM1, CM3 at the same time", "until "+t2.Format("2006-01-02 15:04:05"))
	wantFinding(t, fs[1], compliance.Critical, compliance.Evidence{Positions: []uint64{again}, Devices: []string{},
		Windows: []string{}, Times: times(t3)}, "enabled on CM1, CM2", "until the end of the period")
	// The first episode, seen from a period that starts after it began.
	r = h.build(t1.Add(30*time.Minute), t1.Add(40*time.Minute), nil)
	count(t, r, compliance.MultipleAutoregCallManagers, 1)
}

func TestAutoregGroupMismatch(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	// CM1 has autoregistration enabled but CM2 is put first.
	p1 := h.admin(domain.ConfigureGroup{Name: "Default", CallManagers: []string{"CM2", "CM1"}, By: "admin:alice"})
	t1 := h.now()
	h.step(time.Hour)
	p2 := h.admin(domain.ConfigureGroup{Name: "Default", CallManagers: []string{"CM1", "CM2"}, By: "admin:alice"})
	t2 := h.now()
	// No group flagged while a window is open.
	h.step(time.Hour)
	h.admin(domain.ConfigureGroup{Name: "AR", CallManagers: []string{"CM1"}, By: "admin:alice"})
	h.admin(domain.SetAutoregGroup{Group: "AR", By: "admin:alice"})
	h.open("batch", 0)
	h.step(time.Minute)
	// (The registrar now closes the window with such a change; a store
	// written before holds it open: the events are appended as it has them.)
	p3 := h.raw(domain.GroupRemoved{Name: "AR", By: "admin:alice"})
	t3 := h.now()
	h.step(time.Minute)
	h.close()
	p4, t4 := h.head(), h.now()
	// The first CallManager's autoregistration disabled while open.
	h.step(time.Hour)
	h.admin(domain.SetAutoregGroup{Group: "Default", By: "admin:alice"})
	h.open("batch 2", 0)
	h.step(time.Minute)
	p5 := h.raw(domain.CallManagerConfigured{Name: "CM1", Description: "autoregistration CallManager", AutoregDisabled: true, By: "admin:alice"})
	t5 := h.now()
	h.step(time.Minute)
	h.close()
	p6, t6 := h.head(), h.now()

	r := h.build(since, h.now().Add(time.Hour), nil)
	fs := count(t, r, compliance.AutoregGroupMismatch, 3)
	wantFinding(t, fs[0], compliance.Critical, compliance.Evidence{Positions: []uint64{p1, p2}, Devices: []string{},
		Windows: []string{}, Times: times(t1, t2)}, "Autoregistration is enabled on CM1 but CM2 is first in the autoregistration group Default")
	wantFinding(t, fs[1], compliance.Critical, compliance.Evidence{Positions: []uint64{p3, p4}, Devices: []string{},
		Windows: []string{"W1"}, Times: times(t3, t4)}, "No CallManager group is flagged", "while window W1 is open")
	wantFinding(t, fs[2], compliance.Critical, compliance.Evidence{Positions: []uint64{p5, p6}, Devices: []string{},
		Windows: []string{"W2"}, Times: times(t5, t6)}, "CallManager CM1, first in the autoregistration group Default, has autoregistration disabled while window W2 is open")
	// Autoregistration off on its CallManager while closed is how it should be done.
	count(t, r, compliance.MultipleAutoregCallManagers, 0)
}

func TestNoAutoregCSS(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.admin(domain.SetAutoregCSS{CSS: "", By: "admin:alice"})
	h.step(time.Minute)
	h.open("no CSS", 0)
	p1, t1 := h.head(), h.now()
	h.batch(1, "7961", domain.SCCP)
	h.close()
	h.admin(domain.SetAutoregCSS{CSS: "Autoreg", By: "admin:alice"})
	h.step(time.Hour)
	h.open("with CSS", 0)
	h.step(time.Minute)
	p2 := h.admin(domain.SetAutoregCSS{CSS: "", By: "admin:alice"})
	t2 := h.now()
	h.step(time.Minute)
	h.close()
	h.step(time.Hour)
	h.admin(domain.SetAutoregCSS{CSS: "Autoreg", By: "admin:alice"})
	h.open("fine", 0)
	h.step(time.Minute)
	h.close()

	r := h.build(since, h.now(), nil)
	fs := count(t, r, compliance.NoAutoregCSS, 2)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: []uint64{p1}, Devices: []string{},
		Windows: []string{"W1"}, Times: times(t1)}, "was opened while no autoregistration calling search space was set")
	wantFinding(t, fs[1], compliance.Warning, compliance.Evidence{Positions: []uint64{p2}, Devices: []string{},
		Windows: []string{"W2"}, Times: times(t2)}, "lost its autoregistration calling search space while open")
	// The default pool's CSS (Autoreg) is restricted: nothing reaches out.
	count(t, r, compliance.AutoregCSSReachesExternal, 0)
	if r.Windows[0].AutoregCSS != "" || r.Windows[1].AutoregCSS != "Autoreg" {
		t.Errorf("windows: %+v", r.Windows)
	}
}

func TestAutoregCSSReachesExternal(t *testing.T) {
	t.Run("a catch-all pattern in Internal", func(t *testing.T) {
		h := newHist(t, saturday)
		since := h.now()
		h.admin(domain.AddRoutePattern{Pattern: "9.!", Partition: "Internal", By: "admin:alice"})
		// A closer blocking pattern stops the international number.
		h.admin(domain.AddRoutePattern{Pattern: "9011XXXXXXXXX", Partition: "Internal", Block: true, By: "admin:alice"})
		h.step(time.Minute)
		h.open("batch", 0)
		p1, t1 := h.head(), h.now()
		h.step(time.Minute)
		h.close()
		r := h.build(since, h.now(), nil)
		fs := count(t, r, compliance.AutoregCSSReachesExternal, 1)
		wantFinding(t, fs[0], compliance.Critical, compliance.Evidence{Positions: []uint64{p1}, Devices: []string{},
			Windows: []string{"W1"}, Times: times(t1)},
			"could dial external numbers: 95551234 and 914085551234 match 9.! in partition Internal of calling search space Autoreg")
		if strings.Contains(fs[0].Message, "9011441234567") {
			t.Errorf("the blocked number is reported: %s", fs[0].Message)
		}
		// Emergency numbers are allowed; other numbers come from the policy.
		r = h.build(since, h.now(), policy(t, `
checks:
  autoreg-css-reaches-external:
    external_numbers: ["911", "0", "9011441234567"]
    emergency_numbers: ["911", "0"]
`))
		count(t, r, compliance.AutoregCSSReachesExternal, 0)
		r = h.build(since, h.now(), policy(t, `
checks:
  autoreg-css-reaches-external:
    external_numbers: ["911"]
    emergency_numbers: []
`))
		fs = count(t, r, compliance.AutoregCSSReachesExternal, 1)
		if !strings.Contains(fs[0].Message, "911 matches 911 in partition Emergency") {
			t.Error(fs[0].Message)
		}
	})
	t.Run("a pattern added while a window is open", func(t *testing.T) {
		h := newHist(t, saturday)
		since := h.now()
		h.open("batch", 0)
		h.step(time.Minute)
		p := h.admin(domain.AddRoutePattern{Pattern: "9.[2-9]XXXXXX", Partition: "Emergency", By: "admin:alice"})
		at := h.now()
		h.step(time.Minute)
		h.close()
		h.step(time.Minute)
		h.open("later", 0)
		h.step(time.Minute)
		h.close()
		r := h.build(since, h.now(), nil)
		fs := count(t, r, compliance.AutoregCSSReachesExternal, 2)
		wantFinding(t, fs[0], compliance.Critical, compliance.Evidence{Positions: []uint64{p}, Devices: []string{},
			Windows: []string{"W1"}, Times: times(at)}, "95551234 matches 9.[2-9]XXXXXX in partition Emergency of calling search space Autoreg")
		if fs[1].Evidence.Windows[0] != "W2" {
			t.Errorf("%+v", fs[1])
		}
	})
	t.Run("no autoregistration CSS and a default pool that dials out", func(t *testing.T) {
		h := newHist(t, saturday)
		since := h.now()
		h.admin(domain.ConfigurePool{Name: "Default", Group: "Default", CSS: "Staff", By: "admin:alice"})
		h.admin(domain.SetAutoregCSS{CSS: "", By: "admin:alice"})
		h.open("batch", 0)
		h.step(time.Minute)
		h.close()
		r := h.build(since, h.now(), nil)
		fs := count(t, r, compliance.AutoregCSSReachesExternal, 1)
		if !strings.Contains(fs[0].Message, "95551234 matches 9.[2-9]XXXXXX in partition PSTN of calling search space Staff (of device pool Default)") {
			t.Error(fs[0].Message)
		}
		count(t, r, compliance.NoAutoregCSS, 1)
	})
}

func TestNotReconfigured(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.open("batch", 30*time.Minute)
	ps := h.batch(4, "7961", domain.SCCP)
	regAt := h.now() // the last one
	h.close()
	h.step(time.Hour)
	h.admin(domain.ReconfigureDevice{Device: ps[1], Pool: "Staff", By: "admin:alice"})
	rogue := h.admin(domain.ReconfigureDevice{Device: ps[2], Pool: "Rogue", By: "admin:alice"})
	h.admin(domain.DeleteDevice{Device: ps[3], By: "admin:alice"})

	first := regAt.Add(-3 * time.Minute)
	r := h.build(since, first.Add(7*day), nil) // exactly 7 days after the first: not more

	count(t, r, compliance.NotReconfigured, 0)
	r = h.build(since, regAt.Add(8*day), nil)
	fs := count(t, r, compliance.NotReconfigured, 2)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: []uint64{autoregPos(t, h, ps[0])},
		Devices: []string{ps[0]}, Windows: []string{"W1"}, Times: times(regAt.Add(-3 * time.Minute))},
		"1 autoregistered devices are still in device pool Default (the cluster default pool)", "more than 7 days")
	wantFinding(t, fs[1], compliance.Warning, compliance.Evidence{Positions: []uint64{rogue},
		Devices: []string{ps[2]}, Windows: []string{"W1"}, Times: times(regAt.Add(-time.Minute))},
		"device pool Rogue (the rogue pool)")

	// The policy's pools replace the defaults; days from the policy.
	r = h.build(since, regAt.Add(2*day), policy(t, "checks:\n  not-reconfigured: {pools: [Staff], days: 1}\n"))
	fs = count(t, r, compliance.NotReconfigured, 1)
	if !cmp.Equal([]string{ps[1]}, fs[0].Evidence.Devices) || !strings.Contains(fs[0].Message, "a holding pool of the policy") {
		t.Errorf("%+v", fs[0])
	}
}

// autoregPos is the position of the device's autoregistration.
func autoregPos(t *testing.T, h *hist, dev string) uint64 {
	t.Helper()
	var pos uint64
	err := h.store.ReadAll(h.ctx, 1, func(r eventstore.RecordedEvent) error {
		if r.Type == domain.TypeDeviceAutoregistered && r.Stream == domain.DeviceStream(dev) {
			pos = r.Position
		}
		return nil
	})
	if err != nil || pos == 0 {
		t.Fatalf("no autoregistration of %s (%v)", dev, err)
	}
	return pos
}

func TestBusinessHours(t *testing.T) {
	h := newHist(t, monday) // 10:01 on a Monday
	since := h.now()
	h.open("Monday morning", 15*time.Minute)
	p, at := h.head(), h.now()
	h.step(time.Minute)
	h.close()
	r := h.build(since, h.now(), nil)
	fs := count(t, r, compliance.BusinessHours, 1)
	wantFinding(t, fs[0], compliance.Info, compliance.Evidence{Positions: []uint64{p}, Devices: []string{},
		Windows: []string{"W1"}, Times: times(at)}, "Window W1 was opened Monday 2026-03-02 10:01 UTC, inside business hours (mon tue wed thu fri 08:00-18:00 UTC)")

	for _, tc := range []struct {
		name, policy string
		want         int
	}{
		{"19:01 in Tokyo", "timezone: Asia/Tokyo\n", 0},
		{"05:01 in New York, from 05:00", "timezone: America/New_York\nchecks:\n  business-hours: {start: \"05:00\"}\n", 1},
		{"weekends only", "checks:\n  business-hours: {days: [sat, sun]}\n", 0},
		{"ends at 10:01, excluded", "checks:\n  business-hours: {end: \"10:01\"}\n", 0},
		{"starts at 10:01, included", "checks:\n  business-hours: {start: \"10:01\", end: \"24:00\"}\n", 1},
		{"as critical", "checks:\n  business-hours: {severity: critical}\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.build(since, h.now(), policy(t, tc.policy))
			fs := count(t, r, compliance.BusinessHours, tc.want)
			if tc.name == "as critical" && fs[0].Severity != compliance.Critical {
				t.Errorf("severity %s", fs[0].Severity)
			}
		})
	}
}

func TestMissingDeviceDefaultLoad(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.admin(domain.SetDeviceDefaults{Model: "7961", LoadSCCP: "SCCP41.9-4-2SR3-1S", By: "admin:alice"}) // no SIP load now
	h.open("batch", 0)
	h.step(time.Minute)
	a := h.reg("7942", domain.SCCP, "") // 7942: no Device Defaults at all
	pa, ta := h.head(), h.now()
	h.step(time.Minute)
	h.reg("7961", domain.SCCP, "") // has its SCCP load
	h.admin(domain.SetProtocol{Protocol: domain.SIP, By: "admin:alice"})
	h.step(time.Minute)
	b := h.reg("7961", domain.SIP, "")
	pb, tb := h.head(), h.now()
	h.step(time.Minute)
	h.reg("7911", domain.SIP, "") // has its SIP load
	h.close()
	// Fixed afterwards: later phones are fine.
	h.admin(domain.SetDeviceDefaults{Model: "7942", LoadSCCP: "SCCP42.9-4-2SR3-1S", LoadSIP: "SIP42.9-4-2SR3-1S", By: "admin:alice"})
	h.admin(domain.SetProtocol{Protocol: domain.SCCP, By: "admin:alice"})
	h.open("batch 2", 0)
	h.step(time.Minute)
	h.reg("7942", domain.SCCP, "")
	h.close()

	r := h.build(since, h.now(), nil)
	fs := count(t, r, compliance.MissingDeviceDefaultLoad, 2)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: []uint64{pa}, Devices: []string{a},
		Windows: []string{"W1"}, Times: times(ta)}, "1 7942 phones autoregistered over SCCP while Device Defaults named no SCCP firmware load for model 7942")
	wantFinding(t, fs[1], compliance.Warning, compliance.Evidence{Positions: []uint64{pb}, Devices: []string{b},
		Windows: []string{"W1"}, Times: times(tb)}, "no SIP firmware load for model 7961")
	// Registrations before the period do not count.
	r = h.build(tb.Add(time.Second), h.now(), nil)
	count(t, r, compliance.MissingDeviceDefaultLoad, 0)
}

func TestRogueAttempts(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	const knocker, twice, odd = "SEP00000000DEAD", "SEP00000000BEEF", "SEP00000000CAFE"
	var kpos []uint64
	for range 12 {
		h.regAs(knocker, "7961", domain.SCCP, domain.RejectWindowClosed)
		kpos = append(kpos, h.head())
		h.regAs(knocker, "7961", domain.SCCP, domain.RejectWindowClosed) // within the rejection interval: not recorded
		h.step(time.Minute)
	}
	last := h.now().Add(-time.Minute)
	for range 2 {
		h.regAs(twice, "7940", domain.SCCP, domain.RejectWindowClosed)
		h.step(time.Minute)
	}
	h.open("batch", 0)
	h.regAs(odd, "9999", domain.SCCP, domain.RejectUnknownModel)
	h.reg("7961", domain.SIP, domain.RejectWrongProtocol) // not a rogue: not counted by default
	h.step(time.Minute)
	h.close()

	r := h.build(since, h.now(), nil)
	fs := count(t, r, compliance.RogueAttempts, 2)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: kpos, Devices: []string{knocker},
		Windows: []string{}, Times: times(since, last)}, "Unknown device SEP00000000DEAD (model 7961) from 10.1.2.3:2000 was refused 12 times (window_closed 12)", "more than the policy's 10")
	if f := fs[1]; f.Severity != compliance.Info || !cmp.Equal([]string{twice, odd}, f.Evidence.Devices) ||
		!strings.Contains(f.Message, "2 unknown devices were refused 3 times in all") {
		t.Errorf("%+v", f)
	}
	// The threshold and the reasons come from the policy.
	r = h.build(since, h.now(), policy(t, "checks:\n  rogue-attempts: {threshold: 1, escalated_severity: critical, reasons: [window_closed, wrong_protocol]}\n"))
	fs = count(t, r, compliance.RogueAttempts, 3)
	if fs[0].Severity != compliance.Critical || fs[1].Severity != compliance.Critical || fs[2].Severity != compliance.Info {
		t.Errorf("%+v", fs)
	}
}

func TestProtocolMixedBatch(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	// W1 opened at SCCP: two SCCP phones, a switch to SIP, a SIP phone and
	// an SCCP-only 7902, a switch back, another SCCP phone.
	h.open("mixed", 0)
	h.batch(2, "7961", domain.SCCP)
	h.step(time.Minute)
	s1 := h.admin(domain.SetProtocol{Protocol: domain.SIP, By: "admin:alice"})
	t1 := h.now()
	h.step(time.Minute)
	sip := h.reg("7961", domain.SIP, "")
	psip, tsip := h.head(), h.now()
	h.step(time.Minute)
	h.reg("7902", domain.SCCP, "")
	h.step(time.Minute)
	s2 := h.admin(domain.SetProtocol{Protocol: domain.SCCP, By: "admin:alice"})
	t2 := h.now()
	h.batch(1, "7961", domain.SCCP)
	h.close()
	// W2: a switch, but only SIP phones.
	h.step(time.Hour)
	h.open("switched", 0)
	h.step(time.Minute)
	s3 := h.admin(domain.SetProtocol{Protocol: domain.SIP, By: "admin:alice"})
	t3 := h.now()
	h.batch(2, "7961", domain.SIP)
	h.close()
	// W3: the SIP batch, with an SCCP-only phone: as the guide says.
	h.step(time.Hour)
	h.open("SIP batch", 0)
	h.batch(2, "7941", domain.SIP)
	h.batch(1, "7902", domain.SCCP)
	h.close()

	r := h.build(since, h.now(), nil)
	fs := count(t, r, compliance.ProtocolMixedBatch, 2)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: []uint64{s1, psip, s2}, Devices: []string{sip},
		Windows: []string{"W1"}, Times: times(t1, tsip, t2)},
		"protocol SCCP when opened", "changed while it was open (to SIP by admin:alice", "3 over SCCP and 1 over SIP: those over SIP should have been a batch of their own, with the parameter at SIP")
	wantFinding(t, fs[1], compliance.Warning, compliance.Evidence{Positions: []uint64{s3}, Devices: []string{},
		Windows: []string{"W2"}, Times: times(t3)}, "changed while it was open")
	if strings.Contains(fs[1].Message, "both protocols") {
		t.Error(fs[1].Message)
	}
	if diff := cmp.Diff(map[domain.Protocol]int{domain.SCCP: 4, domain.SIP: 1}, r.Windows[0].RegistrationsByProtocol); diff != "" {
		t.Error(diff)
	}
}

// The period: windows closed before --since are left out; a window that
// overlaps it is in, whole.
func TestPeriod(t *testing.T) {
	h := newHist(t, saturday)
	h.open("before", 0)
	h.step(2 * time.Hour)
	h.close()
	h.step(time.Hour)
	h.open("across", 0)
	h.step(30 * time.Minute)
	since := h.now()
	h.step(50 * time.Minute)
	h.close()
	h.step(time.Hour)
	until := h.now()
	h.step(time.Hour)
	h.open("after", 0)

	r := h.build(since, until, nil)
	if len(r.Windows) != 1 || r.Windows[0].ID != "W2" || r.Windows[0].DurationSeconds != 80*60 {
		t.Fatalf("windows: %+v", r.Windows)
	}
	count(t, r, compliance.WindowTooLong, 1)
	count(t, r, compliance.LeftOpen, 0)
	if !time.Time(r.Period.Since).Equal(since) || !time.Time(r.Period.Until).Equal(until) {
		t.Errorf("period %+v", r.Period)
	}
	// No bounds: from the first event to now (the clock).
	r = h.build(time.Time{}, time.Time{}, nil)
	if len(r.Windows) != 3 || !time.Time(r.Period.Since).Equal(saturday) || !time.Time(r.Period.Until).Equal(h.now()) {
		t.Errorf("period %+v, %d windows", r.Period, len(r.Windows))
	}
	count(t, r, compliance.LeftOpen, 1)
}

func TestRegisteredOutsideGroup(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.admin(domain.ConfigureCallManager{Name: "CM3", Description: "branch", By: "admin:alice"})
	h.admin(domain.ConfigureGroup{Name: "Branch", CallManagers: []string{"CM3"}, By: "admin:alice"})
	h.admin(domain.ConfigurePool{Name: "Branch", Group: "Branch", CSS: "Staff", By: "admin:alice"})
	h.open("batch", 0)
	devs := h.batch(2, "7961", domain.SCCP)
	h.close()
	h.step(time.Hour)
	register := func(dev, node, addr string) uint64 {
		t.Helper()
		out, err := h.svc.Execute(h.ctx, domain.Register{Device: dev, Model: "7961", Protocol: domain.SCCP, Address: addr, Node: node},
			command.Origin{Actor: "sccp", Peer: addr})
		if err != nil {
			t.Fatal(err)
		}
		return out.Position
	}
	// The first fails over to CM2, in its group (Default: CM1, CM2): fine.
	register(devs[0], "CM2", "10.1.2.3:2001")
	// The second registers with CM3, outside its group: flagged, and
	// accepted (it is registered with CM3 now).
	p1 := register(devs[1], "CM3", "10.1.2.4:2000")
	t1 := h.now()
	if d, _ := h.svc.Device(devs[1]); !d.Registered || d.Node != "CM3" {
		t.Fatalf("%s: %+v, want registered with CM3", devs[1], d)
	}
	r := h.build(since, h.now().Add(time.Hour), nil)
	fs := count(t, r, compliance.OutsideGroup, 1)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: []uint64{p1}, Devices: []string{devs[1]},
		Windows: []string{}, Times: times(t1, t1)}, devs[1], "device pool Default, group Default", "CallManager CM3, outside its group")
	// Moved to the branch's pool, CM3 is its group: no more findings after.
	h.step(time.Minute)
	h.admin(domain.ReconfigureDevice{Device: devs[1], Pool: "Branch", By: "admin:alice"})
	h.step(time.Minute)
	later := h.now()
	h.step(time.Hour)
	register(devs[1], "CM3", "10.1.2.5:2000")
	count(t, h.build(later, h.now().Add(time.Hour), nil), compliance.OutsideGroup, 0)
}

func TestSIPUnauthenticated(t *testing.T) {
	h := newHist(t, saturday)
	since := h.now()
	h.admin(domain.ConfigurePool{Name: "Lobby", Group: "Default", CSS: "Staff", SIPAuth: domain.AuthNone, By: "admin:alice"})
	h.open("batch", 0)
	sips := h.batch(3, "8961", domain.SIP) // this registrar issues no credentials
	h.batch(1, "7961", domain.SCCP)        // SCCP has none to issue: not a finding
	h.close()
	h.step(time.Hour)
	// The first is issued credentials; the third moves to a pool whose
	// profile is none.
	h.admin(domain.RotateCredentials{Device: sips[0], Credential: domain.Credential{Salt: "0123456789abcdef", Verifier: "ab"}, By: "admin:alice"})
	h.admin(domain.ReconfigureDevice{Device: sips[2], Pool: "Lobby", By: "admin:alice"})
	second, third := h.devicePos(sips[1]), h.devicePos(sips[2])
	r := h.build(since, h.now().Add(time.Hour), nil)
	fs := count(t, r, compliance.SIPUnauthenticated, 2)
	wantFinding(t, fs[0], compliance.Warning, compliance.Evidence{Positions: []uint64{second}, Devices: []string{sips[1]},
		Windows: []string{}, Times: times()}, "1 SIP devices of device pool Default", "they hold no digest credentials")
	wantFinding(t, fs[1], compliance.Warning, compliance.Evidence{Positions: []uint64{third}, Devices: []string{sips[2]},
		Windows: []string{}, Times: times()}, "device pool Lobby", "profile is none")
}
