package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The store's WAL deleted (rm) while the registrar serves: from then on
// no registration is acknowledged (SIP 503 with Retry-After, SCCP
// RegisterReject "busy"), /healthz answers 503 with the reason, and the log
// has one error line naming the file. Killed with SIGKILL and started again
// on the same data directory, the registrar has every phone acknowledged
// before the deletion, with its DN: the store checkpointed the deleted
// WAL's frames into the database file through the connection that still
// had it open.
func TestWALDeletedWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	data := t.TempDir()
	p := newProc(t, data, "--config", bigRangeConfig(t))
	p.start()
	p.waitHealthy(15 * time.Second)
	r := p.registrar()
	r.MustAdmin("autoreg", "open", "--reason", "journal test")

	told := map[string]string{} // device -> DN, every acknowledged phone
	keep := func(phones []simPhone) (registered, busy int) {
		for _, ph := range phones {
			switch {
			case ph.Result == "registered":
				told[ph.Device] = ph.DN
				registered++
			case ph.Result == "rejected" && ph.Reason == "busy":
				busy++
			}
		}
		return registered, busy
	}
	sipPh := newSIPPhone(t, "00FB01000001")
	if code, res := sipPh.register(p.sip, 5*time.Second); code != 200 || dnOf(res) == "" {
		t.Fatalf("SIP phone before the deletion: %d\n%s", code, res)
	} else {
		told["SEP"+sipPh.mac] = dnOf(res)
	}
	phones, err := runPhonesim(t, p.sip, p.sccp, "--mix", "--models", "7961,8961", "--phones", "500",
		"--seed", "601", "--concurrency", "20")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := keep(phones); n != len(phones) {
		t.Fatalf("before the deletion, %d of %d registered: %+v", n, len(phones), phones[:min(len(phones), 5)])
	}
	wal := filepath.Join(data, "autoreg.db-wal")
	info, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	ackedBefore := len(told)
	t.Logf("%d phones acknowledged; the WAL holds %d bytes", ackedBefore, info.Size())

	before := len(p.logs.String())
	if err := os.Remove(wal); err != nil {
		t.Fatal(err)
	}

	// New phones, SIP and SCCP: refused, every one.
	phones, err = runPhonesim(t, p.sip, p.sccp, "--mix", "--models", "7961,8961", "--phones", "40",
		"--seed", "602", "--timeout", "15s", "--concurrency", "20")
	if err != nil {
		t.Fatal(err)
	}
	ackedAfter, busy := keep(phones)
	code, res := newSIPPhone(t, "00FB02000001").register(p.sip, 15*time.Second)
	if code == 200 {
		ackedAfter++
		told["SEP00FB02000001"] = dnOf(res)
	}
	if ackedAfter != 0 || busy != len(phones) {
		t.Errorf("after the deletion: %d registered, %d told to come back, of %d: want none registered\n%+v", ackedAfter, busy, len(phones), phones[:min(len(phones), 5)])
	}
	if code != 503 || sipHeader(res, "Retry-After") == "" {
		t.Errorf("a new SIP phone after the deletion: %d, want 503 with Retry-After\n%s", code, res)
	}

	// A known phone refreshing needs no event: still served. A change
	// through the admin API is refused as the phones' are.
	if code, res := sipPh.register(p.sip, 15*time.Second); code != 200 || dnOf(res) != told["SEP"+sipPh.mac] {
		t.Errorf("the known SIP phone refreshing after the deletion: %d (DN %q, want %s)\n%s", code, dnOf(res), told["SEP"+sipPh.mac], res)
	}
	if out, err := r.Admin("autoreg", "close", "--reason", "journal test"); err == nil || !strings.Contains(err.Error(), "unavailable") ||
		!strings.Contains(err.Error(), "until the registrar is restarted") || strings.Contains(err.Error(), "try again shortly") {
		t.Errorf("autoreg close after the deletion: %v\n%s; want it refused as unavailable", err, out)
	}

	resp, err := http.Get(p.adminURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), wal+" was deleted") {
		t.Errorf("/healthz after the deletion: %d %q, want 503 naming %s", resp.StatusCode, body, wal)
	}

	logs := p.logs.String()[before:]
	lost := countLines(logs, "event store journal lost")
	if lost != 1 || countLines(logs, "journal lost") != 1 {
		t.Errorf("%d log lines of the journal lost, want one\n%s", lost, tail(logs, 3000))
	}
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "event store journal lost") {
			if !strings.Contains(line, wal) || !strings.Contains(line, `"level":"error"`) {
				t.Errorf("the journal-lost line does not name %s at level error: %s", wal, line)
			}
			t.Logf("logged: %s", line)
		}
	}
	// The adapters' refusal lines (one per burst, at error level), and
	// SCCP's line per closed connection whose unregistration could not be
	// recorded (info), carry the store's error too.
	naming, errLines := 0, 0
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, wal) && !strings.Contains(line, "event store journal lost") {
			naming++
			if strings.Contains(line, `"level":"error"`) {
				errLines++
			}
		}
	}
	t.Logf("FIGURE wal deleted while serving: 1 journal-lost line; %d other lines repeat the error (%d at level error: the adapters' refusal bursts)", naming, errLines)

	// A crash now, and a start on the same data directory.
	p.kill()
	if _, err := os.Stat(wal); err == nil {
		t.Log("the killed registrar left a new -wal") // not expected: nothing opened one
	}
	p.start()
	p.waitHealthy(15 * time.Second)
	missing := lostAfterRestart(t, p, p.registrar(), told)
	t.Logf("FIGURE wal deleted while serving: %d acknowledged before, %d acknowledged after (%d told to come back), %d acknowledged lost after kill -9 and restart",
		ackedBefore, ackedAfter, busy+1, missing)
}
