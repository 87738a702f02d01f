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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
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
	csv, sf := sippInputs(t, dir, scenario, macs)
	args := append([]string{"-sf", sf, "-inf", csv, "-m", fmt.Sprint(count), "-r", fmt.Sprint(rate), "-l", "500",
		"-i", ip, "-p", fmt.Sprint(port), "-t", "u1", "-timeout", fmt.Sprintf("%ds", count/max(rate, 1)+60), "-nostdin", "-max_retrans", "3",
		"-trace_stat", "-stf", "stat.csv", "-fd", "1", "-trace_err"}, extra...)
	args = append(args, target)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count/max(rate, 1))*time.Second+90*time.Second)
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

// percentiles are p50, p90, p99 and the maximum of ms, in a sentence.
func percentiles(ms []float64) string {
	if len(ms) == 0 {
		return "no samples"
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(p float64) float64 { return s[min(int(p*float64(len(s))), len(s)-1)] }
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%d samples)", at(.5), at(.9), at(.99), s[len(s)-1], len(s))
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

// metricSum adds up the series of a metric whose labels contain match.
func (r *Registrar) metricSum(t *testing.T, name, match string) float64 {
	t.Helper()
	resp, err := http.Get(r.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, match) {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, _ := strconv.ParseFloat(line[i+1:], 64)
			sum += v
		}
	}
	return sum
}

// refresher is a known SIP phone's socket: it refreshes the bindings sipp
// made from the same address and port (same contact), one REGISTER at a
// time, and times each from send to final answer.
type refresher struct {
	conn   *net.UDPConn
	target *net.UDPAddr
	local  string
	n      int
}

func newRefresher(t *testing.T, ip string, port int, target string) *refresher {
	t.Helper()
	laddr := &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
	var conn *net.UDPConn
	var err error
	for range 50 { // sipp may still be closing its socket
		if conn, err = net.ListenUDP("udp", laddr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	return &refresher{conn: conn, target: raddr, local: fmt.Sprintf("%s:%d", ip, port)}
}

// refresh sends one REGISTER for mac (retransmitted after 500 ms and 1 s,
// as RFC 3261's timer E does) and returns the final status and the time to
// it.
func (f *refresher) refresh(mac string) (int, time.Duration, error) {
	f.n++
	callID := fmt.Sprintf("refresh-%d-%d@%s", time.Now().UnixNano(), f.n, f.local)
	host := f.target.IP.String()
	msg := "REGISTER sip:" + f.target.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + f.local + ";branch=z9hG4bK-" + strconv.Itoa(f.n) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"From: <sip:SEP" + mac + "@" + host + ">;tag=r" + strconv.Itoa(f.n) + "\r\n" +
		"To: <sip:SEP" + mac + "@" + host + ">\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: " + strconv.Itoa(f.n) + " REGISTER\r\n" +
		"Max-Forwards: 70\r\nUser-Agent: Cisco-CP7961G/9.4.2\r\n" +
		"Contact: <sip:" + mac + "@" + f.local + ";transport=UDP>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-" + mac + ">\"\r\n" +
		"Expires: 3600\r\nContent-Length: 0\r\n\r\n"
	buf := make([]byte, 4096)
	start := time.Now()
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		if _, err := f.conn.WriteToUDP([]byte(msg), f.target); err != nil {
			return 0, 0, err
		}
		deadline := time.Now().Add(wait)
		for {
			_ = f.conn.SetReadDeadline(deadline)
			n, _, err := f.conn.ReadFromUDP(buf)
			if err != nil {
				break // retransmit
			}
			res := string(buf[:n])
			if !strings.Contains(res, callID) || !strings.HasPrefix(res, "SIP/2.0 ") || len(res) < 11 {
				continue // a late answer to an earlier request
			}
			code, _ := strconv.Atoi(res[8:11])
			if code < 200 {
				continue
			}
			return code, time.Since(start), nil
		}
	}
	return 0, 0, fmt.Errorf("no answer for %s", mac)
}

// refreshAll refreshes every mac rounds times at rate a second and returns
// the latencies (ms) of the 200s, and how many got something else.
func (f *refresher) refreshAll(macs []string, rounds int, rate float64) (ms []float64, failed int) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for range rounds {
		for _, m := range macs {
			<-tick.C
			code, d, err := f.refresh(m)
			if err != nil || code != 200 {
				failed++
				continue
			}
			ms = append(ms, float64(d.Microseconds())/1000)
		}
	}
	return ms, failed
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

// checkRejectionsBounded checks the events written during a flood: for
// the flooding devices only rejections, at most one per device and reason
// in any minute. It returns the rejections, the devices rejected, and the
// events of other devices.
func checkRejectionsBounded(t *testing.T, evs []eventstore.RecordedEvent, flooders map[string]bool) (rejections, devices, other int) {
	t.Helper()
	last := map[string]time.Time{}
	seen := map[string]bool{}
	for _, e := range evs {
		ev, err := domain.Decode(e.Type, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		rej, ok := ev.(domain.RegistrationRejected)
		switch {
		case ok && !flooders[rej.Device]:
			t.Errorf("known device %s rejected during the flood: %s", rej.Device, rej.Reason)
			other++
			continue
		case !ok:
			if name, isDev := domain.DeviceFromStream(e.Stream); isDev && flooders[name] {
				t.Errorf("the flood wrote a %s event on %s (position %d)", e.Type, e.Stream, e.Position)
			}
			other++
			continue
		}
		rejections++
		seen[rej.Device] = true
		key := rej.Device + "/" + string(rej.Reason)
		if prev, ok := last[key]; ok && rej.At.Sub(prev) < domain.RejectionInterval {
			t.Errorf("%s rejected twice within a minute (%v, %v)", key, prev, rej.At)
		}
		last[key] = rej.At
	}
	return rejections, len(seen), other
}

// envInt reads a size of the flood from the environment (bench/flood.sh
// sets them for the full run).
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// figure logs one of the figures bench/flood.sh prints.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE "+format, args...)
}

// phonesimRun registers the phones of seed over SIP and returns phonesim's
// JSON summary.
type phonesimSummary struct {
	Registered int                `json:"registered"`
	Errors     int                `json:"errors"`
	Rejected   map[string]int     `json:"rejected"`
	ErrorKinds map[string]int     `json:"error_kinds"`
	Latency    map[string]float64 `json:"latency_ms"`
	Phones     []struct {
		Device string `json:"device"`
		Result string `json:"result"`
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	} `json:"phones"`
}

// failures describes the first phones that did not register.
func (p phonesimSummary) failures() string {
	var b strings.Builder
	n := 0
	for _, ph := range p.Phones {
		if ph.Result != "registered" && n < 5 {
			fmt.Fprintf(&b, "\n  %s %s %s %s", ph.Device, ph.Result, ph.Reason, ph.Detail)
			n++
		}
	}
	return b.String()
}

func (r *Registrar) phonesimSIP(t *testing.T, phones, seed int, rate float64) (phonesimSummary, error) {
	t.Helper()
	args := []string{"--protocol", "sip", "--sip", r.SIP, "--auth-tftp", r.TFTP, "--phones", fmt.Sprint(phones), "--seed", fmt.Sprint(seed),
		"--format", "json", "--timeout", "10s", "--concurrency", "64"}
	if rate > 0 {
		args = append(args, "--rate", fmt.Sprintf("%g", rate))
	}
	out, err := exec.Command(bin(t, "phonesim"), args...).Output()
	var sum phonesimSummary
	if jerr := json.Unmarshal(out, &sum); jerr != nil && err == nil {
		err = fmt.Errorf("phonesim JSON: %v\n%s", jerr, out)
	}
	return sum, err
}

// A flood of REGISTERs from unknown devices while the window is closed:
// known devices sharing the flood's source address are still served, the
// event log grows by at most one rejection per device and reason, the
// per-source limit answers the excess with 503 before the registrar, and
// the refusals are logged once per burst. The known devices' latency,
// unloaded and loaded, is logged (bench/flood.sh prints it), not checked.
//
// Short by default (200/s for 5 s); AUTOREG_FLOOD_RATE, _SECONDS, _DEVICES
// (unknown MACs, cycled) and _KNOWN (known devices per group) size it.
func TestSIPFloodFromUnknownDevices(t *testing.T) {
	need(t, "sipp", "sip-tester")
	const floodIP = "127.0.0.2" // not trusted (the sample trusts 127.0.0.1 only)
	canBind(t, floodIP)
	rate := envInt(t, "AUTOREG_FLOOD_RATE", 200)
	secs := envInt(t, "AUTOREG_FLOOD_SECONDS", 5)
	nUnknown := envInt(t, "AUTOREG_FLOOD_DEVICES", 600)
	nKnown := envInt(t, "AUTOREG_FLOOD_KNOWN", 20)
	const seed = 4242

	r := startRegistrar(t, "")
	r.MustAdmin("partition", "add", "Flood")
	r.MustAdmin("range", "set", "--start", "100000", "--end", "199999", "--partition", "Flood")
	r.MustAdmin("autoreg", "protocol", "sip")
	r.MustAdmin("autoreg", "open", "--reason", "known phones")
	// Known devices of two groups: A registers from the flood's address
	// (sipp), B from another (phonesim, which measures latency).
	known := macs("00D100", nKnown)
	knownPort := freePort(t)
	// Under the per-source limit (50/s): these are new devices.
	if _, err := sippRun(t, "register.xml", known, floodIP, knownPort, len(known), 40, r.SIP); err != nil {
		t.Fatal(err)
	}
	if sum, err := r.phonesimSIP(t, nKnown, seed, 0); err != nil || sum.Registered != nKnown {
		t.Fatalf("phonesim registering group B: %d registered, errors %v: %v%s", sum.Registered, sum.ErrorKinds, err, sum.failures())
	}
	r.MustAdmin("autoreg", "close", "--reason", "flood test")

	span := float64(max(secs-2, 1)) // the known devices' runs fit in the flood
	refreshRate := 3 * float64(len(known)) / span
	ref := newRefresher(t, floodIP, knownPort, r.SIP)
	quietRTT, quietFailed := ref.refreshAll(known, 3, refreshRate)
	if quietFailed > 0 {
		t.Fatalf("known devices refreshing, unloaded: %d failed", quietFailed)
	}
	unloaded, err := r.phonesimSIP(t, nKnown, seed, float64(nKnown)/span)
	if err != nil || unloaded.Registered != nKnown {
		t.Fatalf("known devices, unloaded: %d registered, errors %v: %v%s", unloaded.Registered, unloaded.ErrorKinds, err, unloaded.failures())
	}
	before := r.events(t)
	refusedBefore := r.metric(t, `autoreg_refused_total{adapter="sip",reason="rate_limited"}`)
	rejectedBefore := r.metric(t, `autoreg_registration_rejections_total{reason="window_closed"}`)

	unknown := macs("00F100", nUnknown)
	total := rate * secs
	var wg sync.WaitGroup
	var floodStats map[string]string
	var loadedRTT []float64
	var loadedFailed int
	var floodErr, loadedErr error
	var loaded phonesimSummary
	started := time.Now()
	wg.Go(func() {
		floodStats, floodErr = sippRun(t, "flood.xml", unknown, floodIP, freePort(t), total, rate, r.SIP)
	})
	wg.Go(func() {
		time.Sleep(time.Second) // into the flood
		loadedRTT, loadedFailed = ref.refreshAll(known, 3, refreshRate)
	})
	wg.Go(func() {
		time.Sleep(time.Second)
		loaded, loadedErr = r.phonesimSIP(t, nKnown, seed, float64(nKnown)/span)
	})
	wg.Wait()
	elapsed := time.Since(started)
	if floodErr != nil {
		t.Errorf("flood: every REGISTER must get 403 or 503: %v", floodErr)
	}
	if loadedFailed > 0 {
		t.Errorf("known devices (from the flood's address): %d of %d refreshes not answered 200 during the flood", loadedFailed, 3*len(known))
	}
	if loadedErr != nil || loaded.Registered != nKnown {
		t.Errorf("known devices (another address) during the flood: %d registered, errors %v: %v%s", loaded.Registered, loaded.ErrorKinds, loadedErr, loaded.failures())
	}

	refused := r.metric(t, `autoreg_refused_total{adapter="sip",reason="rate_limited"}`) - refusedBefore
	otherRefused := r.metricSum(t, "autoreg_refused_total", `adapter="sip"`) - refused - refusedBefore
	rejected := r.metric(t, `autoreg_registration_rejections_total{reason="window_closed"}`) - rejectedBefore
	evs := r.eventsSince(t, before)
	flooders := map[string]bool{}
	for _, m := range unknown {
		flooders["SEP"+m] = true
	}
	rejections, devices, other := checkRejectionsBounded(t, evs, flooders)

	figure(t, "flood: %d REGISTERs offered at %d/s from %s (%d unknown MACs, cycled) in %v; sipp: %s answered, %s failed, %s retransmissions",
		total, rate, floodIP, nUnknown, elapsed.Round(time.Millisecond),
		floodStats["SuccessfulCall(C)"], floodStats["FailedCall(C)"], floodStats["Retransmissions(C)"])
	figure(t, "503 (per-source limit, before the registrar): %.0f; other 503s (global limits): %.0f; 403 window_closed (registrar): %.0f", refused, otherRefused, rejected)
	figure(t, "events written during the flood: %d rejections for %d devices (at most one per device and reason a minute), %d others (known devices)", rejections, devices, other)
	figure(t, "known devices from the flood's address: %d of %d refreshes answered 200 during the flood", len(loadedRTT), 3*len(known))
	figure(t, "known devices refreshing from the flood's address (same contact), unloaded: %s", percentiles(quietRTT))
	figure(t, "known devices refreshing from the flood's address (same contact), loaded:   %s", percentiles(loadedRTT))
	figure(t, "known devices re-registering from another address and port (phonesim: a move, written durably), unloaded: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%d phones)",
		unloaded.Latency["p50"], unloaded.Latency["p90"], unloaded.Latency["p99"], unloaded.Latency["max"], nKnown)
	figure(t, "known devices re-registering from another address and port (phonesim: a move, written durably), loaded:   p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%d phones)",
		loaded.Latency["p50"], loaded.Latency["p90"], loaded.Latency["p99"], loaded.Latency["max"], loaded.Registered)
	figure(t, "registrar RSS after the flood: %.1f MB", r.metric(t, "process_resident_memory_bytes")/1e6)

	if refused == 0 {
		t.Error("the per-source limit refused nothing")
	}
	answered, _ := strconv.Atoi(floodStats["SuccessfulCall(C)"])
	if refused+otherRefused+rejected < float64(answered) || answered == 0 {
		t.Errorf("503s (%.0f + %.0f) and 403s (%.0f) do not account for the %d REGISTERs sipp had answered", refused, otherRefused, rejected, answered)
	}
	minutes := int(elapsed/domain.RejectionInterval) + 1
	if rejections > devices*minutes || devices > nUnknown {
		t.Errorf("%d rejection events for %d devices in %d minute(s)", rejections, devices, minutes)
	}
	if rejections > int(rejected) {
		t.Errorf("%d events for %.0f rejections", rejections, rejected)
	}

	// Known devices still registered, with their DNs; no flooder is a device.
	devs := r.Devices()
	for _, m := range known {
		if d := devs["SEP"+m]; !d.Registered || d.DN == "" {
			t.Errorf("known device %s after the flood: %+v", m, d)
		}
	}
	if len(devs) != 2*nKnown {
		t.Errorf("%d devices after the flood, want the %d known", len(devs), 2*nKnown)
	}

	// One log line per burst (and per summary interval), not one per refusal.
	logs := r.logs.String()
	lines503 := strings.Count(logs, "REGISTERs refused: 503")
	lines403 := strings.Count(logs, "registrations rejected")
	figure(t, "log lines about refusals: %d for the 503s, %d for the 403s", lines503, lines403)
	if maxLines := 3 + secs/10; lines503 == 0 || lines503 > maxLines || lines403 > maxLines {
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

// Idle TCP connections to the SCCP port from several addresses (500 by
// default, AUTOREG_FLOOD_IDLE for the bench's 10,000), a fifth of them
// stalled half way through a frame: the registrar's memory stays bounded,
// other phones register meanwhile, and every idle or stalled connection is
// closed after sccp.idle_timeout (AUTOREG_FLOOD_IDLE_TIMEOUT, default 3s).
func TestSCCPIdleAndStalledConnections(t *testing.T) {
	total := envInt(t, "AUTOREG_FLOOD_IDLE", 500)
	stalled := total / 5
	idle := total - stalled
	hosts := total/150 + 1 // the sample allows 200 connections per address
	timeout := 3 * time.Second
	if v := os.Getenv("AUTOREG_FLOOD_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		timeout = d
	}
	raiseNoFile(t, uint64(total+1024)) // the registrar inherits it: each needs one a connection
	canBind(t, "127.0.1.1")
	t.Setenv("AUTOREG_SCCP_IDLE_TIMEOUT", timeout.String())
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
	opening := time.Now()
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
	opened := time.Since(opening)
	time.Sleep(300 * time.Millisecond)
	loaded := rss(t, pid)
	figure(t, "SCCP: %d connections (%d idle, %d stalled mid-frame) from %d addresses opened in %v",
		len(conns), idle, stalled, hosts, opened.Round(time.Millisecond))
	figure(t, "registrar RSS: %.1f MB at rest, %.1f MB with them (%.1f KiB a connection)",
		float64(base)/1024, float64(loaded)/1024, float64(loaded-base)/float64(len(conns)))
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
	var res phonesimSummary
	if err := json.Unmarshal(out, &res); err != nil || res.Registered != 20 {
		t.Fatalf("phonesim: %v\n%s", err, out)
	}
	figure(t, "20 SCCP phones registering beside them: p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		res.Latency["p50"], res.Latency["p99"], res.Latency["max"])

	// The registrar closes every one after the idle timeout.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	wait := timeout + 10*time.Second
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(opening.Add(wait))
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
	closedBy := time.Since(opening)
	figure(t, "all closed by the registrar %v after the first was opened (idle timeout %v); %d left open",
		closedBy.Round(time.Millisecond), timeout, open)
	if open > 0 {
		t.Errorf("%d connections still open %v after the first was opened, with a %v idle timeout", open, wait, timeout)
	}
	after := rss(t, pid)
	figure(t, "registrar RSS once they are closed: %.1f MB", float64(after)/1024)
	// Their ends are logged one by one only for the first few of every
	// 10 s; the rest are counted in a summary line.
	logs := r.logs.String()
	own := strings.Count(logs, `"message":"no registration within`) + strings.Count(logs, `"message":"bad input`)
	figure(t, "log lines about their ends: %d one by one (the rest counted in a summary every 10 s)", own)
	if limit := 20 * (int(closedBy/(10*time.Second)) + 2); own > limit {
		t.Errorf("%d connection ends logged one by one, want at most %d", own, limit)
	}
}
