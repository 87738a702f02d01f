package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore"
	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/domain"
)

// The short versions of bench/flood.sh, in `make test`: they check the
// invariants (events bounded, known devices served, refusals cheap and
// logged once per burst, idle connections bounded and closed), never
// timings.

// sippRun runs a sipp scenario from local address ip:port against target,
// count calls at rate a second, the MACs of csv cycled. It returns sipp's
// exit error and its statistics' last row (column name to value).
func sippRun(t *testing.T, scenario string, macs []string, ip string, port, count, rate int, target string, extra ...string) (map[string]string, error) {
	t.Helper()
	sippBin := need(t, "sipp", "sip-tester")
	dir := t.TempDir()
	csv := filepath.Join(dir, "macs.csv")
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, m := range macs {
		b.WriteString(m + "\n")
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	args := append([]string{"-sf", sf, "-inf", csv, "-m", fmt.Sprint(count), "-r", fmt.Sprint(rate), "-l", "500",
		"-i", ip, "-p", fmt.Sprint(port), "-t", "u1", "-timeout", "60s", "-nostdin", "-max_retrans", "3",
		"-trace_stat", "-stf", "stat.csv", "-fd", "1", "-trace_err"}, extra...)
	args = append(args, target)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sippBin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	stats := map[string]string{}
	if f, ferr := os.Open(filepath.Join(dir, "stat.csv")); ferr == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var head, last []string
		for sc.Scan() {
			row := strings.Split(sc.Text(), ";")
			if head == nil {
				head = row
				continue
			}
			last = row
		}
		f.Close()
		for i := range min(len(head), len(last)) {
			stats[head[i]] = last[i]
		}
	}
	if err != nil {
		errs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
		for _, f := range errs {
			body, _ := os.ReadFile(f)
			out = append(out, body...)
		}
		return stats, fmt.Errorf("sipp %s from %s: %v\n%s", scenario, ip, err, tail(string(out), 3000))
	}
	return stats, nil
}

// canBind reports whether this machine lets a socket bind ip (the whole
// 127.0.0.0/8 is loopback on Linux).
func canBind(t *testing.T, ip string) {
	t.Helper()
	c, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Skipf("cannot bind %s: %v", ip, err)
	}
	c.Close()
}

// metric reads one series of the registrar's /metrics (0 when absent).
func (r *Registrar) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(r.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}

// eventsSince reads the events after position from, read-only, while the
// registrar runs.
func (r *Registrar) eventsSince(t *testing.T, from uint64) []eventstore.RecordedEvent {
	t.Helper()
	s, err := sqlite.OpenReadOnly(context.Background(), filepath.Join(r.Data, "autoreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []eventstore.RecordedEvent
	err = s.ReadAll(context.Background(), from+1, func(e eventstore.RecordedEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRejectionsBounded checks the events written during a flood: only
// rejections, at most one per device and reason in any minute.
func checkRejectionsBounded(t *testing.T, evs []eventstore.RecordedEvent) int {
	t.Helper()
	last := map[string]time.Time{}
	for _, e := range evs {
		if e.Type != domain.TypeRegistrationRejected {
			t.Errorf("the flood wrote a %s event (position %d)", e.Type, e.Position)
			continue
		}
		ev, err := domain.Decode(e.Type, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		rej := ev.(domain.RegistrationRejected)
		key := rej.Device + "/" + string(rej.Reason)
		if prev, ok := last[key]; ok && rej.At.Sub(prev) < domain.RejectionInterval {
			t.Errorf("%s rejected twice within a minute (%v, %v)", key, prev, rej.At)
		}
		last[key] = rej.At
	}
	return len(last)
}

// A flood of REGISTERs from unknown devices while the window is closed:
// known devices sharing the flood's source address are still served, the
// event log grows by at most one rejection per device and reason, the
// per-source limit answers the excess with 503 before the registrar, and
// the refusals are logged once per burst.
func TestSIPFloodFromUnknownDevices(t *testing.T) {
	need(t, "sipp", "sip-tester")
	const floodIP = "127.0.0.2" // not trusted (the sample trusts 127.0.0.1 only)
	canBind(t, floodIP)
	r := startRegistrar(t, "")
	r.MustAdmin("autoreg", "protocol", "sip")
	r.MustAdmin("autoreg", "open", "--reason", "known phones")
	known := macs("00D100", 20)
	knownPort := freePort(t)
	if _, err := sippRun(t, "register.xml", known, floodIP, knownPort, len(known), 100, r.SIP); err != nil {
		t.Fatal(err)
	}
	r.MustAdmin("autoreg", "close", "--reason", "flood test")
	before := r.events(t)

	// 1,000 REGISTERs at 200/s from 600 unknown devices (some come twice),
	// and meanwhile the known phones refresh three times each from the same
	// address.
	unknown := macs("00F100", 600)
	var wg sync.WaitGroup
	var floodStats, refreshStats map[string]string
	var floodErr, refreshErr error
	wg.Go(func() {
		floodStats, floodErr = sippRun(t, "flood.xml", unknown, floodIP, freePort(t), 1000, 200, r.SIP)
	})
	wg.Go(func() {
		time.Sleep(time.Second) // into the flood
		refreshStats, refreshErr = sippRun(t, "register.xml", known, floodIP, knownPort, 3*len(known), 20, r.SIP,
			"-base_cseq", "100")
	})
	wg.Wait()
	if floodErr != nil {
		t.Errorf("flood: every REGISTER must get 403 or 503: %v", floodErr)
	}
	if refreshErr != nil {
		t.Fatalf("known devices were not all served during the flood: %v", refreshErr)
	}
	t.Logf("flood: %s calls ok, %s failed, %s retransmissions; known refreshes: %s ok, %s failed",
		floodStats["SuccessfulCall(C)"], floodStats["FailedCall(C)"], floodStats["Retransmissions(C)"],
		refreshStats["SuccessfulCall(C)"], refreshStats["FailedCall(C)"])

	refused := r.metric(t, `autoreg_refused_total{adapter="sip",reason="rate_limited"}`)
	rejected := r.metric(t, `autoreg_registration_rejections_total{reason="window_closed"}`)
	evs := r.eventsSince(t, before)
	devices := checkRejectionsBounded(t, evs)
	t.Logf("503 rate_limited: %.0f, 403 window_closed: %.0f, events written: %d (%d devices)", refused, rejected, len(evs), devices)
	if refused == 0 {
		t.Error("the per-source limit refused nothing")
	}
	if refused+rejected < 1000 {
		t.Errorf("503s (%.0f) and 403s (%.0f) do not account for the 1,000 REGISTERs", refused, rejected)
	}
	if len(evs) > len(unknown) {
		t.Errorf("%d events for %d devices", len(evs), len(unknown))
	}
	if len(evs) > int(rejected) {
		t.Errorf("%d events for %.0f rejections", len(evs), rejected)
	}

	// Known devices still registered, with their DNs.
	devs := r.Devices()
	for _, m := range known {
		if d := devs["SEP"+m]; !d.Registered || d.DN == "" {
			t.Errorf("known device %s after the flood: %+v", m, d)
		}
	}
	if len(devs) != len(known) {
		t.Errorf("%d devices after the flood, want the %d known", len(devs), len(known))
	}

	// One log line per burst (and per summary interval), not one per refusal.
	logs := r.logs.String()
	lines503 := strings.Count(logs, "REGISTERs refused: 503")
	lines403 := strings.Count(logs, "registrations rejected")
	t.Logf("log lines: %d about 503s, %d about 403s", lines503, lines403)
	if lines503 == 0 || lines503 > 4 || lines403 > 4 {
		t.Errorf("refusals logged %d times, rejections %d times, for %.0f and %.0f", lines503, lines403, refused, rejected)
	}
}

// rss is a process's resident set, in KiB.
func rss(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Skip("no VmRSS")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// raiseNoFile lifts this process's soft limit on open files.
func raiseNoFile(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	if lim.Cur < want {
		lim.Cur = min(want, lim.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < want {
		t.Skipf("open files limited to %d", lim.Cur)
	}
}

// 500 idle TCP connections to the SCCP port from several addresses, 100 of
// them stalled half way through a frame: the registrar's memory stays
// bounded, other phones register meanwhile, and every idle or stalled
// connection is closed after sccp.idle_timeout.
func TestSCCPIdleAndStalledConnections(t *testing.T) {
	const idle, stalled, hosts = 400, 100, 5
	raiseNoFile(t, 2*(idle+stalled)+512)
	canBind(t, "127.0.1.1")
	t.Setenv("AUTOREG_SCCP_IDLE_TIMEOUT", "3s")
	r := startRegistrar(t, "")
	pid := r.cmd.Process.Pid
	base := rss(t, pid)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	half := []byte{0x04, 0x00, 0x00, 0x00, 0x00, 0x00} // 6 of a KeepAlive's 12 bytes
	for i := range idle + stalled {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.1.%d", 1+i%hosts))}}
		c, err := d.Dial("tcp", r.SCCP)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i >= idle {
			if _, err := c.Write(half); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	time.Sleep(300 * time.Millisecond)
	loaded := rss(t, pid)
	t.Logf("registrar RSS: %d KiB at rest, %d KiB with %d idle connections (%.1f KiB each)",
		base, loaded, len(conns), float64(loaded-base)/float64(len(conns)))
	if per := (loaded - base) / len(conns); per > 100 {
		t.Errorf("%d KiB per idle connection", per)
	}

	// Other phones register meanwhile (SCCP, the sample's protocol).
	r.MustAdmin("autoreg", "open", "--reason", "beside the idle connections")
	out, err := exec.Command(bin(t, "phonesim"), "--sccp", r.SCCP, "--phones", "20", "--seed", "11",
		"--format", "json", "--summary", "--timeout", "5s").Output()
	if err != nil {
		t.Fatalf("phonesim beside %d idle connections: %v\n%s", len(conns), err, out)
	}
	var res struct {
		Registered int `json:"registered"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Registered != 20 {
		t.Fatalf("phonesim: %v\n%s", err, out)
	}

	// The registrar closes every one after the idle timeout.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if err != nil && errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if open > 0 {
		t.Errorf("%d connections still open 10 s after a 3 s idle timeout", open)
	}
	// A stalled connection's frame deadline and its registration deadline
	// are a few microseconds apart: it ends by either.
	logs := r.logs.String()
	if n := strings.Count(logs, "stalled in the middle of a frame"); n == 0 || n > stalled {
		t.Errorf("%d connections logged as stalled, %d stalled", n, stalled)
	}
}
