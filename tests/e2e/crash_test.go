package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a log buffer safe to read while the process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a registrar process on fixed addresses, so that it can be killed
// and started again where the phones look for it.
type proc struct {
	t                *testing.T
	data             string
	sip, sccp, admin string
	adminURL         string
	extra            []string
	cmd              *exec.Cmd
	logs             *lockedBuffer
	done             chan error
	exited           bool
	exitErr          error
	started          time.Time
	healthy          time.Duration // since start
}

func newProc(t *testing.T, data string, extra ...string) *proc {
	p := &proc{t: t, data: data, extra: extra,
		sip:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		sccp:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	p.adminURL = "http://" + p.admin
	return p
}

// start runs `registrar serve`; it does not wait.
func (p *proc) start() {
	p.t.Helper()
	args := append([]string{"serve", "--data", p.data, "--tftp-addr", "", "--sip-addr", p.sip, "--sccp-addr", p.sccp,
		"--admin-addr", p.admin, "--log-level", "info"}, p.extra...)
	p.cmd = exec.Command(bin(p.t, "registrar"), args...)
	p.logs = &lockedBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.exited, p.exitErr = false, nil
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(p.cmd, p.done)
	p.t.Cleanup(func() { p.kill() })
}

// waitExit waits for the process to end and returns its exit error.
func (p *proc) waitExit(d time.Duration) (error, bool) {
	if p.exited {
		return p.exitErr, true
	}
	select {
	case err := <-p.done:
		p.exited, p.exitErr = true, err
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

// kill sends SIGKILL and reaps the process.
func (p *proc) kill() {
	if p.cmd == nil || p.exited {
		return
	}
	_ = p.cmd.Process.Kill()
	p.waitExit(time.Minute)
}

// stop sends SIGTERM and waits.
func (p *proc) stop() error {
	if p.cmd == nil || p.exited {
		return p.exitErr
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err, ok := p.waitExit(15 * time.Second); ok {
		return err
	}
	p.kill()
	return fmt.Errorf("registrar did not stop in 15 s")
}

// waitHealthy polls /healthz until 200 (and the "serving" log line),
// recording the time since start.
func (p *proc) waitHealthy(limit time.Duration) {
	p.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := p.started.Add(limit)
	for time.Now().Before(deadline) {
		if err, ok := p.waitExit(0); ok {
			p.t.Fatalf("registrar exited at start: %v\n%s", err, tail(p.logs.String(), 4000))
		}
		resp, err := client.Get(p.adminURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(p.logs.String(), "registrar serving") {
				p.healthy = time.Since(p.started)
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.t.Fatalf("registrar not healthy %v after start:\n%s", limit, tail(p.logs.String(), 4000))
}

// registrar is a Registrar view of the process, for the harness's helpers
// (admin CLI, devices, replay).
func (p *proc) registrar() *Registrar {
	return &Registrar{t: p.t, Data: p.data, SIP: p.sip, SCCP: p.sccp, AdminURL: p.adminURL, cmd: p.cmd}
}

// simPhone is one phone of phonesim's JSON output.
type simPhone struct {
	Device   string `json:"device"`
	Model    string `json:"model"`
	Protocol string `json:"protocol"`
	DN       string `json:"dn"`
	Result   string `json:"result"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail"`
}

// runPhonesim runs one batch and returns its phones, whatever its exit
// status (phones that got no answer are errors in the output).
func runPhonesim(t *testing.T, sipAddr, sccpAddr string, args ...string) ([]simPhone, error) {
	all := append([]string{"--sip", sipAddr, "--sccp", sccpAddr, "--format", "json"}, args...)
	cmd := exec.Command(bin(t, "phonesim"), all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var res struct {
		Phones []simPhone `json:"phones"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("phonesim %v: %v (%v)\n%s\n%s", args, err, runErr, out.String(), errb.String())
	}
	return res.Phones, nil
}

// acked is what the phones were told: device -> DN ("" for an SCCP phone
// that got its RegisterAck but not its DN before the kill).
type acked struct {
	mu     sync.Mutex
	dn     map[string]string
	phones int // phones that tried
	errors int
}

func (a *acked) add(phones []simPhone) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range phones {
		a.phones++
		switch {
		case p.Result == "registered":
			a.dn[p.Device] = p.DN
		case p.Result == "error" && strings.Contains(p.Detail, "registered, but the DN"):
			// RegisterAck received, the LineStatRes not: acknowledged, DN unknown.
			if _, ok := a.dn[p.Device]; !ok {
				a.dn[p.Device] = ""
			}
		default:
			a.errors++
		}
	}
}

// TestCrashLosesNothingAcknowledged: first-time registrations over SIP and
// SCCP (phonesim, in small batches, each batch's JSON kept) while the real
// registrar is killed with SIGKILL at random moments and started again on
// the same data directory. Every phone that got a 200 OK or a RegisterAck
// has the DN it was told, in the store (replay state) and in the
// registrar (admin devices); no DN is held twice; replay verify passes; the
// registrar serves again (healthz, a phone registers) soon after each start.
//
// Snapshots are on, at a small interval (AUTOREG_CRASH_SNAPSHOT_EVENTS
// events, 20 by default, or every 100 ms), so that kills land while one is
// written too: every start is from the last whole snapshot (the starts
// after the first kills are from one), none is ever ignored, and nothing
// acknowledged is lost.
//
// AUTOREG_CRASH_KILLS (5), AUTOREG_CRASH_SECONDS (15: the whole run),
// AUTOREG_CRASH_RATE (phones a second, 40), AUTOREG_CRASH_BATCH (20)
// size it; bench/crash.sh runs a longer one.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the real registrar")
	}
	kills := envInt(t, "AUTOREG_CRASH_KILLS", 5)
	seconds := envInt(t, "AUTOREG_CRASH_SECONDS", 15)
	rate := envInt(t, "AUTOREG_CRASH_RATE", 40)
	batch := envInt(t, "AUTOREG_CRASH_BATCH", 20)
	snapEvents := envInt(t, "AUTOREG_CRASH_SNAPSHOT_EVENTS", 20)

	p := newProc(t, t.TempDir(), "--config", withSnapshots(t, bigRangeConfig(t), snapEvents, 100*time.Millisecond))
	p.start()
	p.waitHealthy(15 * time.Second)
	r := p.registrar()
	r.MustAdmin("autoreg", "open", "--reason", "crash test", "--for", "2h")

	ack := &acked{dn: map[string]string{}}
	var seedMu sync.Mutex
	nextSeed := uint64(1000)
	seed := func() uint64 {
		seedMu.Lock()
		defer seedMu.Unlock()
		nextSeed++
		return nextSeed
	}

	// The load: batches of new phones, half SCCP (7961), half SIP (8961,
	// SIP only), until stopped.
	stop := make(chan struct{})
	var load sync.WaitGroup
	var loadErr error
	for w := 0; w < 2; w++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				phones, err := runPhonesim(t, p.sip, p.sccp, "--mix", "--models", "7961,8961",
					"--phones", fmt.Sprint(batch), "--seed", fmt.Sprint(seed()), "--concurrency", "8",
					"--rate", fmt.Sprint(max(rate/2, 1)), "--timeout", "2s")
				if err != nil {
					ack.mu.Lock()
					loadErr = err
					ack.mu.Unlock()
					return
				}
				ack.add(phones)
			}
		}()
	}

	// probe registers one new SCCP phone until it gets its DN, and returns
	// when it did (since the process started).
	probe := func() time.Duration {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			phones, err := runPhonesim(t, p.sip, p.sccp, "--protocol", "sccp", "--models", "7961",
				"--phones", "1", "--seed", fmt.Sprint(seed()), "--timeout", "2s")
			if err != nil {
				t.Fatal(err)
			}
			ack.add(phones)
			if len(phones) == 1 && phones[0].Result == "registered" {
				return time.Since(p.started)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no phone registered within 20 s of the start:\n%s", tail(p.logs.String(), 4000))
		return 0
	}

	avg := time.Duration(seconds) * time.Second / time.Duration(kills)
	var healthz, firstReg []time.Duration
	snapStarts, snapsWritten, snapsIgnored := 0, 0, 0
	halfWritten := map[string]bool{} // temporary files of snapshots a kill cut short
	// countSnapshots reads the snapshots of the process's log: written,
	// ignored at its start, and whether it started from one.
	countSnapshots := func() {
		logs := p.logs.String()
		snapsWritten += strings.Count(logs, `"message":"snapshot written"`)
		snapsIgnored += strings.Count(logs, `"message":"snapshot ignored`)
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, `"message":"event store open"`) && !strings.Contains(line, `"snapshot_position":0,`) {
				snapStarts++
			}
		}
		if strings.Contains(logs, `"message":"snapshot ignored`) {
			t.Errorf("a snapshot was ignored at a start:\n%s", head(logs, 3000))
		}
	}
	for k := 0; k < kills; k++ {
		// A random moment: between a tenth and 1.9 times the average.
		time.Sleep(avg/10 + rand.N(avg*18/10))
		p.kill()
		countSnapshots()
		half, _ := filepath.Glob(filepath.Join(p.data, ".autoreg.db.snapshot.tmp-*"))
		for _, f := range half {
			halfWritten[f] = true
		}
		p.start()
		p.waitHealthy(15 * time.Second)
		reg := probe()
		if p.healthy > time.Second {
			t.Logf("slow start:\n%s", head(p.logs.String(), 3000))
		}
		healthz = append(healthz, p.healthy)
		firstReg = append(firstReg, reg)
		t.Logf("kill %d: healthz 200 after %v, a phone registered after %v", k+1, p.healthy.Round(time.Millisecond), reg.Round(time.Millisecond))
	}
	close(stop)
	load.Wait()
	if loadErr != nil {
		t.Fatal(loadErr)
	}

	// What the registrar says (admin devices), then what the store holds.
	inRegistrar := r.Devices()
	if err := p.stop(); err != nil {
		t.Errorf("SIGTERM after the run: %v\n%s", err, tail(p.logs.String(), 4000))
	}
	countSnapshots()
	if kills >= 2 && snapStarts == 0 {
		t.Errorf("no start was from a snapshot (%d written)", snapsWritten)
	}
	out := r.replay(t, "state", "--format", "json")
	var state struct {
		Devices []struct {
			Name string `json:"name"`
			DN   string `json:"dn"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(out), &state); err != nil {
		t.Fatalf("replay state JSON: %v\n%s", err, tail(out, 2000))
	}
	inStore := map[string]string{}
	holder := map[string]string{}
	for _, d := range state.Devices {
		inStore[d.Name] = d.DN
		if other, ok := holder[d.DN]; ok && d.DN != "" {
			t.Errorf("DN %s held by %s and %s in the store", d.DN, other, d.Name)
		}
		holder[d.DN] = d.Name
	}
	regHolder := map[string]string{}
	for name, d := range inRegistrar {
		if other, ok := regHolder[d.DN]; ok && d.DN != "" {
			t.Errorf("DN %s held by %s and %s in the registrar", d.DN, other, name)
		}
		regHolder[d.DN] = name
	}

	found, lost, noDN := 0, 0, 0
	for _, dev := range slices.Sorted(maps.Keys(ack.dn)) {
		want := ack.dn[dev]
		got, ok := inStore[dev]
		d, inReg := inRegistrar[dev]
		switch {
		case !ok || !inReg:
			lost++
			t.Errorf("%s was acknowledged (DN %q) but is missing: store %v, registrar %v", dev, want, ok, inReg)
		case want == "" && got == "":
			lost++
			t.Errorf("%s was acknowledged but has no DN in the store", dev)
		case want != "" && (got != want || d.DN != want):
			lost++
			t.Errorf("%s was told DN %s; the store says %s, the registrar %s", dev, want, got, d.DN)
		default:
			found++
			if want == "" {
				noDN++
			}
		}
	}
	verify := r.replay(t, "verify")
	if !strings.HasPrefix(verify, "OK") {
		t.Errorf("replay verify:\n%s", verify)
	}
	if len(ack.dn) < 20 {
		t.Errorf("only %d phones acknowledged: the load did not run", len(ack.dn))
	}
	worst := slices.Max(firstReg)
	if worst > 10*time.Second {
		t.Errorf("serving again took up to %v after a start", worst)
	}
	figure(t, "crash: %d kills, %d phones tried, %d acknowledged (%d of them SCCP without their DN), %d found, %d lost; %d devices in the store",
		kills, ack.phones, len(ack.dn), noDN, found, lost, len(inStore))
	figure(t, "crash: restart to healthz 200: %v; to a phone registered: %v (max %v)", roundAll(healthz), roundAll(firstReg), worst.Round(time.Millisecond))
	figure(t, "crash: snapshots every %d events or 100ms: %d written, %d of %d starts from one, %d ignored, %d kills cut one short",
		snapEvents, snapsWritten, snapStarts, kills, snapsIgnored, len(halfWritten))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// bigRangeConfig writes the sample configuration with the range
// 100000-199999 (the sample's 100 DNs run out), and returns its path. The
// configuration is applied at every start, so the range must be there, not
// set through the admin API.
func bigRangeConfig(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(bin(t, "registrar"), "config", "sample").Output()
	if err != nil {
		t.Fatalf("registrar config sample: %v", err)
	}
	s := string(out)
	for _, r := range [][2]string{{`start: "1000"`, `start: "100000"`}, {`end: "1099"`, `end: "199999"`}} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("the sample configuration has no %s", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	path := filepath.Join(t.TempDir(), "autoreg.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// withSnapshots rewrites the configuration at path to write snapshots
// every n events or every d, and returns path.
func withSnapshots(t *testing.T, path string, n int, d time.Duration) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "\nsnapshot:"), strings.Index(s, "\nsip:")
	if i < 0 || j < i {
		t.Fatal("the sample configuration has no snapshot section before sip")
	}
	s = s[:i] + fmt.Sprintf("\nsnapshot:\n  enabled: true\n  every_events: %d\n  every: %s\n", n, d) + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
