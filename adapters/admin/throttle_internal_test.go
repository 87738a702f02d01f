package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/testreg"
)

var t0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// clock is a settable time for the throttle and the server.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// throttledServer is a server on a fake clock whose held-back answers are
// recorded, not waited for; log receives its log.
type throttledServer struct {
	*Server
	clock *clock
	mu    sync.Mutex
	held  []time.Duration
	log   *bytes.Buffer
}

const (
	testAdminToken = "alice-token-0123456789"
	testReadToken  = "bob-read-token-0123456789"
)

func newThrottledServer(t *testing.T) *throttledServer {
	t.Helper()
	svc, err := testreg.Open(t, memory.New(), command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &throttledServer{clock: &clock{now: t0}, log: &bytes.Buffer{}}
	s, err := New(Config{Tokens: []Token{
		{User: "alice", Token: testAdminToken, Scope: ScopeAdmin},
		{User: "bob", Token: testReadToken, Scope: ScopeRead},
	}}, svc.Handler, svc.Reader, zerolog.New(ts.log).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	s.now = ts.clock.Now
	s.hold = func(_ context.Context, d time.Duration) bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.held = append(ts.held, d)
		return true
	}
	ts.Server = s
	return ts
}

// get sends GET /v1/status with token from remote; it returns the status
// and how long the answer was held back (0: not held).
func (ts *throttledServer) get(remote, token string) (int, time.Duration, http.Header) {
	ts.mu.Lock()
	before := len(ts.held)
	ts.mu.Unlock()
	req := httptest.NewRequest("GET", "/v1/status", nil)
	req.RemoteAddr = remote
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, req)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var held time.Duration
	for _, d := range ts.held[before:] {
		held += d
	}
	return rec.Code, held, rec.Header()
}

func testCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// (a) After 100 wrong tokens from an address, the right token from that
// address is let in at once: the throttle never looks at it.
func TestRightTokenIsNeverThrottled(t *testing.T) {
	ts := newThrottledServer(t)
	const remote = "127.0.0.1:40000"
	var held, refused int
	for i := 0; i < 100; i++ {
		code, d, h := ts.get(remote, fmt.Sprintf("guess-%03d-0123456789", i))
		switch {
		case code == http.StatusTooManyRequests:
			refused++
			if h.Get("Retry-After") == "" {
				t.Fatalf("attempt %d: 429 without Retry-After", i+1)
			}
		case code != http.StatusUnauthorized:
			t.Fatalf("attempt %d: %d", i+1, code)
		case d > 0:
			held++
		}
	}
	if held == 0 || refused == 0 {
		t.Fatalf("100 wrong tokens from one address: %d held back, %d refused; the throttle did nothing", held, refused)
	}
	for _, tok := range []string{testAdminToken, testReadToken} {
		if code, d, _ := ts.get(remote, tok); code != http.StatusOK || d != 0 {
			t.Fatalf("the right token after 100 wrong ones: %d, held %v; want 200 at once", code, d)
		}
	}
	// Its success does not clear the address (a read token must not
	// launder guesses at the admin one): the next wrong token is refused.
	if code, _, _ := ts.get(remote, "guess-again-0123456789"); code != http.StatusTooManyRequests {
		t.Errorf("a wrong token after the right one: %d, want 429", code)
	}
	// The metric counts each kind of answer.
	m := ts.metrics
	if got := testCounter(m.AuthFailures.WithLabelValues(authInvalid)) + testCounter(m.AuthFailures.WithLabelValues(authThrottled)); got != 101 {
		t.Errorf("invalid + throttled = %v, want 101", got)
	}
	if got := testCounter(m.AuthFailures.WithLabelValues(authThrottled)); got != float64(refused+1) {
		t.Errorf("throttled = %v, want %d", got, refused+1)
	}
}

// One address: a few free failures, then a delay doubling up to its cap,
// parallel attempts queued one behind the other, 429 past the queue's bound.
func TestThrottleAddress(t *testing.T) {
	c := &clock{now: t0}
	th := newThrottle(c.Now, zerolog.Nop())
	const a = "192.0.2.7:1234"
	for i := 0; i < throttleAddrFree; i++ {
		if v := th.fail(a, "/", "x"); v.wait != 0 || v.refuse {
			t.Fatalf("failure %d: %+v", i+1, v)
		}
	}
	if v := th.fail(a, "/", "x"); v.refuse || v.wait != throttleAddrBase {
		t.Fatalf("first slowed failure: %+v", v)
	}
	// A parallel one queues behind it, with twice the step.
	if v := th.fail(a, "/", "x"); v.wait != 3*throttleAddrBase {
		t.Fatalf("queued failure held %v, want %v", v.wait, 3*throttleAddrBase)
	}
	refused := false
	for i := 0; i < 20 && !refused; i++ {
		refused = th.fail(a, "/", "x").refuse
	}
	if !refused {
		t.Fatal("the queue grew without bound")
	}
	// Another address of another network is not affected.
	if v := th.fail("198.51.100.1:1", "/", "x"); v.wait != 0 || v.refuse {
		t.Fatalf("another address: %+v", v)
	}
	// Once the queue drained, the step is capped.
	c.Add(time.Minute)
	if v := th.fail(a, "/", "x"); v.refuse || v.wait != throttleAddrMaxDelay {
		t.Fatalf("capped: %+v, want %v", v, throttleAddrMaxDelay)
	}
	// And forgotten after a quiet while.
	c.Add(throttleForget + time.Minute)
	if v := th.fail(a, "/", "x"); v.wait != 0 || v.refuse || v.failures != 1 {
		t.Fatalf("after %v: %+v", throttleForget, v)
	}
}

// (b) Rotating through the addresses of 127.0.0.0/24 is caught by the
// network's bucket; rotating through many /24s by the global one.
func TestRotationIsThrottled(t *testing.T) {
	c := &clock{now: t0}
	th := newThrottle(c.Now, zerolog.Nop())
	// One /24, every failure from a new address: free, then held back,
	// then refused, although no address failed twice.
	var held, refused int
	for i := 1; i <= 200; i++ {
		v := th.fail(fmt.Sprintf("127.0.0.%d:5000", i), "/", "x")
		if i <= throttleNetFree && (v.wait != 0 || v.refuse) {
			t.Fatalf("failure %d of the /24: %+v", i, v)
		}
		if v.wait > 0 {
			held++
		}
		if v.refuse {
			refused++
		}
	}
	if held == 0 || refused < 150 {
		t.Fatalf("200 addresses of one /24: %d held, %d refused", held, refused)
	}

	// Every /24 fails once: each address and network is under its budget,
	// and the global budget refuses the rest at once (no waiting).
	c.Add(time.Hour)
	th = newThrottle(c.Now, zerolog.Nop())
	answered := 0
	for i := 0; i < 1000; i++ {
		v := th.fail(fmt.Sprintf("127.%d.%d.1:5000", i>>8+1, i&255), "/", "x")
		if v.wait != 0 {
			t.Fatalf("failure %d held %v, want 0 (every bucket is fresh)", i, v.wait)
		}
		if !v.refuse {
			answered++
		}
	}
	if answered != throttleGlobalBurst {
		t.Fatalf("1000 failures at once from 1000 networks: %d answered 401, want the burst %d", answered, throttleGlobalBurst)
	}

	// A flood of 1000 wrong tokens a second for 10 s rotating through
	// 127.0.x.y (so 4 networks a second, 256 addresses each): about the
	// global rate is answered 401, the rest refused.
	c.Add(time.Hour)
	th = newThrottle(c.Now, zerolog.Nop())
	answered = 0
	for i := 0; i < 10000; i++ {
		c.Add(time.Millisecond)
		if !th.fail(fmt.Sprintf("127.0.%d.%d:5000", i>>8&255, i&255), "/", "x").refuse {
			answered++
		}
	}
	if limit := throttleGlobalBurst + 10*throttleGlobalRate; answered > limit {
		t.Fatalf("10 s of a rotating flood: %d answered 401, want at most %d", answered, limit)
	}
	t.Logf("10 s of a 1000/s flood rotating through 127.0.x.y: %d of 10000 answered 401, the rest 429", answered)
}

// (c) IPv6 addresses are grouped by /64 (IPv4-mapped ones as IPv4).
func TestClientKey(t *testing.T) {
	for remote, want := range map[string][2]string{
		"192.0.2.7:443":                  {"192.0.2.7", "192.0.2.0/24"},
		"[2001:db8:1:2:3:4:5:6]:443":     {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		"[2001:db8:1:2::ffff]:1":         {"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		"[2001:db8:1:3::1]:1":            {"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		"[fe80::1%eth0]:1":               {"fe80::1", "fe80::/64"},
		"[::ffff:192.0.2.7]:1":           {"192.0.2.7", "192.0.2.0/24"},
		"@":                              {"@", "@"},
		"2001:db8::1":                    {"2001:db8::1", "2001:db8::/64"},
		"[2001:db8:ffff:ffff:1::1]:8443": {"2001:db8:ffff:ffff:1::1", "2001:db8:ffff:ffff::/64"},
	} {
		if a, n := clientKey(remote); a != want[0] || n != want[1] {
			t.Errorf("clientKey(%q) = %q, %q; want %q, %q", remote, a, n, want[0], want[1])
		}
	}
}

func TestRotationWithinAnIPv6Network(t *testing.T) {
	c := &clock{now: t0}
	th := newThrottle(c.Now, zerolog.Nop())
	var held int
	for i := 1; i <= 40; i++ {
		v := th.fail(fmt.Sprintf("[2001:db8:0:7:%x::1]:5000", i), "/", "x")
		if i <= throttleNetFree && v.wait != 0 {
			t.Fatalf("failure %d of the /64: %+v", i, v)
		}
		if v.wait > 0 || v.refuse {
			held++
		}
	}
	if held != 40-throttleNetFree {
		t.Fatalf("40 addresses of one /64: %d slowed, want %d", held, 40-throttleNetFree)
	}
	// The next /64 is another network.
	if v := th.fail("[2001:db8:0:8::1]:5000", "/", "x"); v.wait != 0 || v.refuse {
		t.Fatalf("another /64: %+v", v)
	}
}

// The tables forget the stalest entries beyond their bounds.
func TestThrottleIsBounded(t *testing.T) {
	c := &clock{now: t0}
	th := newThrottle(c.Now, zerolog.Nop())
	for i := 0; i < 3*throttleMaxAddrs; i++ {
		c.Add(time.Millisecond)
		th.fail(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255), "/", "x")
		if a, n := th.size(); a > throttleMaxAddrs || n > throttleMaxNets {
			t.Fatalf("after %d failures: %d addresses, %d networks remembered (bounds %d, %d)", i+1, a, n, throttleMaxAddrs, throttleMaxNets)
		}
	}
	if _, ok := th.addrs.m["10.0.0.0"]; ok {
		t.Error("the stalest address was kept")
	}
	last := 3*throttleMaxAddrs - 1
	if _, ok := th.addrs.m[fmt.Sprintf("10.%d.%d.%d", last>>16&255, last>>8&255, last&255)]; !ok {
		t.Error("the latest address was dropped")
	}
}

// (d) A flood is logged as a line at its start and a summary per
// interval, not a line per failure; the summaries add up.
func TestFailuresAreLoggedAsSummaries(t *testing.T) {
	ts := newThrottledServer(t)
	const n = 1000
	for i := 0; i < n; i++ {
		ts.clock.Add(30 * time.Millisecond) // 30 s in all
		remote := fmt.Sprintf("127.0.%d.%d:6000", i%7, i%200+1)
		if i%10 == 0 {
			ts.get(remote, "") // no token: summed up too
		} else {
			ts.get(remote, fmt.Sprintf("guess-%04d-0123456789", i))
		}
	}
	ts.throttle.flush(true) // as at shutdown

	var lines, summaries, leads, summed int
	for _, l := range strings.Split(strings.TrimSpace(ts.log.String()), "\n") {
		var e struct {
			Message  string `json:"message"`
			Failures int    `json:"failures"`
			Addrs    int    `json:"addresses"`
			Networks int    `json:"networks"`
			Top      string `json:"top_peer"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines++
		switch {
		case e.Message == "admin authentication failures":
			summaries++
			summed += e.Failures
			if e.Addrs == 0 || e.Networks == 0 || e.Networks > 7 || e.Top == "" {
				t.Errorf("summary %s", l)
			}
		case strings.HasPrefix(e.Message, "admin request with"):
			leads++
		default:
			t.Errorf("unexpected line %s", l)
		}
	}
	if leads != 1 || summaries < 3 || summaries > 4 || lines != leads+summaries {
		t.Errorf("%d failures over 30 s: %d lines (%d on their own, %d summaries), want 1 and 3 or 4\n%s", n, lines, leads, summaries, ts.log)
	}
	if summed != n { // the summaries count every failure of their interval, the first one's too
		t.Errorf("the summaries account for %d failures, want %d", summed, n)
	}
	// A lone failure after a quiet while is a line of its own, with its peer.
	ts.log.Reset()
	ts.clock.Add(time.Hour)
	ts.get("192.0.2.9:7000", "wrong-token-0123456789")
	ts.throttle.flush(true)
	if out := ts.log.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, `"peer":"192.0.2.9:7000"`) || strings.Contains(out, "wrong-token") {
		t.Errorf("a lone failure logged as:\n%s", out)
	}
}
