package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
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
