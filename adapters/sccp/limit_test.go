package sccp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// from dials from a loopback address of its own: each stands for a host.
func from(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
}

func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	c, err := from(ip).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refusals counts Config.Refused's calls by reason.
type refusals struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *refusals) add(reason string) { r.mu.Lock(); r.m[reason]++; r.mu.Unlock() }
func (r *refusals) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[reason]
}

func TestConnectionsPerSource(t *testing.T) {
	ref := &refusals{m: map[string]int{}}
	ts := startServer(t, sccp.Config{MaxConnsPerSource: 3, Refused: ref.add,
		TrustedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}})
	var held []net.Conn
	for range 3 {
		held = append(held, dialFrom(t, "127.0.0.2", ts.addr))
	}
	// Let the server count them, then one more from that address is closed.
	time.Sleep(100 * time.Millisecond)
	expectClosed(t, dialFrom(t, "127.0.0.2", ts.addr), 3*time.Second)
	if n := ref.get("connections_per_source"); n != 1 {
		t.Errorf("refusals counted: %d", n)
	}
	// Another host is not affected.
	p, err := phone.DialConfig(testCtx(t), ts.addr, phone.Config{Name: "SEP00AA00000001", DeviceType: 7,
		ProtocolVersion: 5, Dialer: from("127.0.0.3")})
	if err != nil {
		t.Fatalf("a phone on another address: %v", err)
	}
	p.Close()
	// A trusted address is not bounded.
	for range 5 {
		c := dialFrom(t, "127.0.0.9", ts.addr)
		if _, err := c.Write(skinny.Marshal(skinny.KeepAlive{})); err != nil {
			t.Fatal(err)
		}
		readN(t, c, len(skinny.Marshal(skinny.KeepAliveAck{})))
	}
	// A closed connection gives its slot back.
	held[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		p, err := phone.DialConfig(testCtx(t), ts.addr, phone.Config{Name: "SEP00AA00000002", DeviceType: 7,
			ProtocolVersion: 5, Dialer: from("127.0.0.2")})
		if err == nil {
			p.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed slot was not given back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRegistrationsPerSource(t *testing.T) {
	ref := &refusals{m: map[string]int{}}
	ts := startServer(t, sccp.Config{SourceRate: 0.001, SourceBurst: 2, Refused: ref.add,
		Known: func(device string) bool { return device == "SEP00BB000000FF" }})
	ctx := testCtx(t)
	dial := func(name string) error {
		p, err := phone.DialConfig(ctx, ts.addr, phone.Config{Name: name, DeviceType: 7, ProtocolVersion: 5,
			Dialer: from("127.0.0.4")})
		if err == nil {
			p.Close()
		}
		return err
	}
	for i := range 2 {
		if err := dial(fmt.Sprintf("SEP00BB000000%02X", i)); err != nil {
			t.Fatalf("phone %d of the burst: %v", i, err)
		}
	}
	var rej *phone.RejectedError
	if err := dial("SEP00BB00000002"); !errors.As(err, &rej) || rej.Text != "Registrar busy, try again" {
		t.Fatalf("beyond the burst: %v, want a RegisterReject busy", err)
	}
	// A device the registrar knows is not refused for its address's sake.
	if err := dial("SEP00BB000000FF"); err != nil {
		t.Fatalf("known device: %v", err)
	}
	if n := len(ts.reg.registrations()); n != 3 {
		t.Errorf("the registrar saw %d registrations, want 3", n)
	}
	if n := ref.get("rate_limited"); n != 1 {
		t.Errorf("rate_limited counted %d", n)
	}
	if got := ts.logs.String(); strings.Count(got, "first of a burst") != 1 {
		t.Errorf("refusal log:\n%s", got)
	}
}

// raiseNoFile lifts the soft limit on open files to the hard one.
func raiseNoFile(t testing.TB, want uint64) {
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

// Many idle connections, and clients that send half a frame and stall, from
// many addresses: a phone on its own still registers and is answered at
// once, every idle or stalled connection is closed after IdleTimeout, and
// the goroutines go back to what they were.
func TestIdleAndStalledConnections(t *testing.T) {
	const idle, stalled, hosts = 400, 100, 10
	raiseNoFile(t, 4*(idle+stalled)+256)
	before := runtime.NumGoroutine()
	ts := startServer(t, sccp.Config{IdleTimeout: time.Second, MaxConnsPerSource: 60, RefusalLogInterval: time.Second})
	var conns []net.Conn
	half := skinny.Marshal(skinny.KeepAlive{})[:7]
	for i := range idle + stalled {
		c := dialFrom(t, fmt.Sprintf("127.0.1.%d", 1+i%hosts), ts.addr)
		if i >= idle {
			if _, err := c.Write(half); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	// Another phone is served meanwhile.
	ctx := testCtx(t)
	start := time.Now()
	p, err := phone.DialConfig(ctx, ts.addr, phone.Config{Name: "SEP00CC00000001", DeviceType: 7, ProtocolVersion: 5,
		Dialer: from("127.0.2.1")})
	if err != nil {
		t.Fatalf("a phone beside %d idle connections: %v", len(conns), err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Logf("registration beside the idle connections took %v", d)
	}
	defer p.Close()
	// Every idle and stalled connection is closed by the server.
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						errs <- fmt.Errorf("%s still open after 5 s", c.LocalAddr())
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The registered phone is still answered.
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := p.KeepAlive(ctx2); err != nil {
		t.Fatalf("keepalive after the flood: %v", err)
	}
	p.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Their ends are logged one by one only for the first few; the rest
	// are counted in a summary line.
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = ts.logs.String(); strings.Contains(got, "never registered closed") {
			break
		}
	}
	own := 0
	for line := range strings.SplitSeq(got, "\n") {
		if !strings.Contains(line, `"level":"debug"`) &&
			(strings.Contains(line, `"message":"no registration within`) || strings.Contains(line, `"message":"bad input`)) {
			own++
		}
	}
	if own == 0 || own > 40 || !strings.Contains(got, "never registered closed") {
		t.Errorf("%d connection ends logged one by one (of %d), summary: %v", own, idle+stalled,
			strings.Contains(got, "never registered closed"))
	}
}
