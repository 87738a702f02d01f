package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// registerFrom runs a REGISTER of a new device (by MAC) from peer through
// the server, synchronously.
func registerFrom(t *testing.T, s *Server, peer netip.AddrPort, mac string, n int) int {
	t.Helper()
	r := defaultRaw()
	r.To = "sip:SEP" + mac + "@autoreg.test"
	r.Contacts = []string{fmt.Sprintf(`<sip:%s@%s;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-%s>"`, mac, peer, mac)}
	r.CallID = "call-" + mac
	r.CSeq = fmt.Sprintf("%d REGISTER", n)
	r.Branch = fmt.Sprintf("z9hG4bK-%s-%d", mac, n)
	req, res := s.parseDatagram([]byte(r.String()), peer)
	if req == nil {
		t.Fatalf("unparsable: %v", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res = s.handle(ctx, req, peer, false)
	if res == nil {
		t.Fatal("no answer")
	}
	if res.StatusCode == 503 && header(res, "Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	return res.StatusCode
}

func TestSourceRateLimit(t *testing.T) {
	var mu sync.Mutex
	refused := map[string]int{}
	known := map[string]bool{"SEP00AA000000FF": true}
	s, reg := newTestServer(t, func(c *Config) {
		c.SourceRate, c.SourceBurst = 0.001, 3 // no refill during the test
		c.TrustedSources = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		c.Known = func(device string) bool { return known[device] }
		c.Refused = func(reason string) { mu.Lock(); refused[reason]++; mu.Unlock() }
	})
	flood := netip.MustParseAddrPort("192.0.2.66:5060")

	// The burst passes, the rest is refused before the registrar.
	for i := range 3 {
		if st := registerFrom(t, s, flood, fmt.Sprintf("00AA000000%02X", i), 1); st != 200 {
			t.Fatalf("request %d of the burst: %d", i, st)
		}
	}
	for i := 3; i < 10; i++ {
		if st := registerFrom(t, s, flood, fmt.Sprintf("00AA000000%02X", i), 1); st != 503 {
			t.Fatalf("request %d beyond the burst: %d, want 503", i, st)
		}
	}
	if n := len(reg.registrations()); n != 3 {
		t.Fatalf("the registrar saw %d registrations, want 3", n)
	}
	// A device bound from the same address refreshes whatever the bucket.
	if st := registerFrom(t, s, flood, "00AA00000000", 2); st != 200 {
		t.Fatalf("refresh of a bound device: %d", st)
	}
	// The same device from another port of the same address too.
	if st := registerFrom(t, s, netip.AddrPortFrom(flood.Addr(), 6000), "00AA00000001", 2); st != 200 {
		t.Fatalf("refresh from another port: %d", st)
	}
	// A device the registrar knows passes.
	if st := registerFrom(t, s, flood, "00AA000000FF", 1); st != 200 {
		t.Fatalf("known device: %d", st)
	}
	// Other sources have their own buckets; trusted ones have none.
	if st := registerFrom(t, s, netip.MustParseAddrPort("192.0.2.67:5060"), "00BB00000001", 1); st != 200 {
		t.Fatalf("another source: %d", st)
	}
	for i := range 10 {
		if st := registerFrom(t, s, netip.MustParseAddrPort("198.51.100.7:5060"), fmt.Sprintf("00CC000000%02X", i), 1); st != 200 {
			t.Fatalf("trusted source, request %d: %d", i, st)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if refused[refusedRateLimited] != 7 || len(refused) != 1 {
		t.Errorf("refusals counted %v, want rate_limited=7", refused)
	}
}

func TestSourceRateRefills(t *testing.T) {
	l := newSourceLimiter(10, 2, nil)
	a := netip.MustParseAddr("192.0.2.1")
	now := int64(0)
	first, second, third := l.allow(a, now), l.allow(a, now), l.allow(a, now)
	if !first || !second || third {
		t.Fatal("burst of 2 not applied")
	}
	now += int64(100 * time.Millisecond) // one token
	if first, second := l.allow(a, now), l.allow(a, now); !first || second {
		t.Fatal("refill of one token not applied")
	}
	now += int64(time.Hour)
	l.prune(now)
	if l.size() != 0 {
		t.Fatalf("a refilled bucket was kept: %d", l.size())
	}
	if newSourceLimiter(-1, 10, nil).allow(a, 0) != true {
		t.Fatal("a negative rate must not limit")
	}
}

// Spoofed source addresses cannot grow the limiter without bound.
func TestSourceLimiterIsBounded(t *testing.T) {
	l := newSourceLimiter(1, 1, nil)
	for i := range 200_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.allow(a, int64(i))
	}
	if n := l.size(); n > limiterShards*maxSourcesPerShard {
		t.Fatalf("%d sources remembered", n)
	}
}

// A flood's refusals are logged once per burst, with counts, not once per
// request.
func TestRefusalsLoggedOncePerBurst(t *testing.T) {
	var buf bytes.Buffer
	b := newBurstLog(zerolog.New(&buf), zerolog.WarnLevel, "REGISTERs refused: 503", 10*time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 1000 {
		peer := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 3)}), 5060)
		b.add(t0.Add(time.Duration(i)*time.Millisecond), refusedRateLimited, "SEP001122334455", peer)
		b.flush(t0.Add(time.Duration(i) * time.Millisecond))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "first of a burst") {
		t.Fatalf("during the first second: %d lines:\n%s", len(lines), buf.String())
	}
	b.flush(t0.Add(10 * time.Second))
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"count":999`) || !strings.Contains(lines[1], "rate_limited=999") ||
		!strings.Contains(lines[1], "192.0.2.0=333") {
		t.Fatalf("summary:\n%s", buf.String())
	}
	b.flush(t0.Add(15 * time.Second)) // not due
	b.flush(t0.Add(20 * time.Second)) // quiet for an interval: over
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "burst over") || !strings.Contains(lines[2], `"total":1000`) {
		t.Fatalf("end of burst:\n%s", buf.String())
	}
	// The next refusal starts a new burst, logged at once.
	b.add(t0.Add(time.Minute), refusedInFlight, "SEP001122334455", netip.MustParseAddrPort("192.0.2.1:5060"))
	if n := strings.Count(buf.String(), "first of a burst"); n != 2 {
		t.Fatalf("new burst:\n%s", buf.String())
	}
}

// dialFrom opens a TCP connection from a loopback address of its own.
func dialFrom(t *testing.T, ip string, to *net.TCPAddr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		t.Skipf("cannot dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestConnectionsPerSource(t *testing.T) {
	var mu sync.Mutex
	refused := map[string]int{}
	srv := serve(t, func(c *Config) {
		c.MaxConnectionsPerSource = 2
		c.TrustedSources = []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}
		c.Refused = func(reason string) { mu.Lock(); refused[reason]++; mu.Unlock() }
	})
	a, b := dialFrom(t, "127.0.0.2", srv.tcpAddr), dialFrom(t, "127.0.0.2", srv.tcpAddr)
	time.Sleep(50 * time.Millisecond)
	if !closedWithin(dialFrom(t, "127.0.0.2", srv.tcpAddr), 2*time.Second) {
		t.Fatal("a third connection from one address stayed open")
	}
	for range 4 { // trusted: not bounded
		if closedWithin(dialFrom(t, "127.0.0.9", srv.tcpAddr), 100*time.Millisecond) {
			t.Fatal("a trusted address was bounded")
		}
	}
	if closedWithin(dialFrom(t, "127.0.0.3", srv.tcpAddr), 100*time.Millisecond) {
		t.Fatal("another address was refused")
	}
	a.Close()
	b.Close()
	time.Sleep(50 * time.Millisecond)
	if closedWithin(dialFrom(t, "127.0.0.2", srv.tcpAddr), 100*time.Millisecond) {
		t.Fatal("closed connections did not give their places back")
	}
	mu.Lock()
	defer mu.Unlock()
	if refused[refusedConnsPerSource] != 1 {
		t.Errorf("refusals %v", refused)
	}
}

// A TCP connection that sends no whole request within FirstRequestTimeout
// is closed, however it trickles bytes; one that did is kept.
func TestFirstRequestTimeout(t *testing.T) {
	srv := serve(t, func(c *Config) { c.FirstRequestTimeout = 500 * time.Millisecond })
	idle := dialFrom(t, "127.0.0.1", srv.tcpAddr)
	trickle := dialFrom(t, "127.0.0.1", srv.tcpAddr)
	go func() {
		for _, b := range []byte("REGISTER sip:autoreg.test SIP/2.0\r\nVia: SIP/2.0/TCP") {
			if _, err := trickle.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	start := time.Now()
	if !closedWithin(idle, 3*time.Second) || !closedWithin(trickle, 3*time.Second) {
		t.Fatal("a connection without a request stayed open")
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	// A phone that registered keeps its connection past the first timeout.
	c := dialFrom(t, "127.0.0.1", srv.tcpAddr)
	r := defaultRaw()
	r.Transport = "TCP"
	if _, err := c.Write([]byte(r.String())); err != nil {
		t.Fatal(err)
	}
	if closedWithin(c, time.Second) {
		// closedWithin drained the answer; the connection must still be open.
		t.Fatal("a connection that sent a request was closed")
	}
}
