package sccp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/adapters/sccp/skinny"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// fakeRegistrar assigns DNs from a counter, rejects the devices it is told
// to, and records every call.
type fakeRegistrar struct {
	mu          sync.Mutex
	next        int
	dns         map[string]string
	reject      map[string]domain.RejectReason
	unavailable map[string]bool
	fail        map[string]error
	calls       []string // "register DEVICE" / "unregister DEVICE reason", in order
	regs        []command.Registration
	unregs      []command.Unregistration
	unregDelay  time.Duration
	unregCh     chan command.Unregistration
}

func newFakeRegistrar() *fakeRegistrar {
	return &fakeRegistrar{
		next:        1000,
		dns:         map[string]string{},
		reject:      map[string]domain.RejectReason{},
		unavailable: map[string]bool{},
		fail:        map[string]error{},
		unregCh:     make(chan command.Unregistration, 1000),
	}
}

func (f *fakeRegistrar) Register(ctx context.Context, r command.Registration) (command.Registered, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs = append(f.regs, r)
	f.calls = append(f.calls, "register "+r.Device)
	if reason, ok := f.reject[r.Device]; ok {
		return command.Registered{}, &domain.Rejection{Device: r.Device, Reason: reason}
	}
	if r.Model == "" {
		return command.Registered{}, &domain.Rejection{Device: r.Device, Reason: domain.RejectUnknownModel}
	}
	if err := f.fail[r.Device]; err != nil {
		return command.Registered{}, err
	}
	if f.unavailable[r.Device] {
		return command.Registered{}, fmt.Errorf("appending: %w", command.ErrUnavailable)
	}
	dn, ok := f.dns[r.Device]
	if !ok {
		dn = fmt.Sprint(f.next)
		f.next++
		f.dns[r.Device] = dn
	}
	return command.Registered{Device: r.Device, Model: r.Model, Protocol: r.Protocol, DN: dn,
		Autoregistered: !ok, Changed: true}, nil
}

func (f *fakeRegistrar) Unregister(ctx context.Context, u command.Unregistration) error {
	if f.unregDelay > 0 {
		time.Sleep(f.unregDelay)
	}
	f.mu.Lock()
	f.unregs = append(f.unregs, u)
	f.calls = append(f.calls, fmt.Sprintf("unregister %s %s", u.Device, u.Reason))
	f.mu.Unlock()
	f.unregCh <- u
	return nil
}

func (f *fakeRegistrar) registrations() []command.Registration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]command.Registration(nil), f.regs...)
}

func (f *fakeRegistrar) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeRegistrar) unregistrations() []command.Unregistration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]command.Unregistration(nil), f.unregs...)
}

// waitUnregister waits for the next Unregister call.
func (f *fakeRegistrar) waitUnregister(t *testing.T, within time.Duration) command.Unregistration {
	t.Helper()
	select {
	case u := <-f.unregCh:
		return u
	case <-time.After(within):
		t.Fatalf("no Unregister within %v", within)
		return command.Unregistration{}
	}
}

// logBuffer collects the server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines whose fields include all of match.
func (b *logBuffer) lines(t *testing.T, match map[string]string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		ok := true
		for k, v := range match {
			if fmt.Sprint(m[k]) != v {
				ok = false
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	srv   *sccp.Server
	addr  string
	reg   *fakeRegistrar
	logs  *logBuffer
	stop  context.CancelFunc
	serve chan error
}

// startServer serves on 127.0.0.1:0 with a fake registrar. The test's
// cleanup stops it.
func startServer(t *testing.T, cfg sccp.Config) *testServer {
	t.Helper()
	ts := &testServer{reg: newFakeRegistrar(), logs: &logBuffer{}, serve: make(chan error, 1)}
	if cfg.Registrar == nil {
		cfg.Registrar = ts.reg
	}
	cfg.Logger = zerolog.New(ts.logs).Level(zerolog.DebugLevel)
	ts.srv = sccp.NewServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.stop = cancel
	go func() { ts.serve <- ts.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.serve:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs)
		}
	})
	return ts
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialRaw opens a plain TCP connection to the server.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readN reads exactly n bytes within a few seconds.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v (got %x)", n, err, b)
	}
	return b
}

// expectClosed checks the server closes c within d, sending nothing more.
func expectClosed(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if isTimeout(err) {
		t.Fatalf("connection still open after %v", d)
	}
	if len(b) > 0 {
		t.Fatalf("server sent %x before closing", b)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(strings.Join(strings.Fields(s), ""), "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A 7960 with old firmware registers with the short 36-byte body; the server
// answers with exactly a RegisterAck and a CapabilitiesReq.
func TestRegister7960ShortBody(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	c := dialRaw(t, ts.addr)
	register := unhex(t, `28000000 00000000 01000000
		53455030 30303745 42334537 31363400 00000000 01000000
		7f000001 07000000 05000000`)
	if _, err := c.Write(register); err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		18000000 00000000 81000000 1e000000 4d2f442f 59410000 3c000000 03000000
		04000000 00000000 9b000000`)
	if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("reply\n got %x\nwant %x", got, want)
	}

	regs := ts.reg.registrations()
	if len(regs) != 1 {
		t.Fatalf("%d registrations", len(regs))
	}
	r := regs[0]
	peer := c.LocalAddr().String()
	ip, _, _ := net.SplitHostPort(peer) // the station's address is its IP: the port changes per connection
	if r.Device != "SEP0007EB3E7164" || r.Model != "7960" || r.Protocol != domain.SCCP ||
		r.Address != ip || r.Peer != peer || r.Adapter != "sccp" || !strings.HasPrefix(r.CorrelationID, "sccp-") {
		t.Fatalf("registration %+v (peer %s)", r, peer)
	}

	// The DN comes back in a LineStatRes.
	if _, err := c.Write(skinny.Marshal(skinny.LineStatReq{LineNumber: 1})); err != nil {
		t.Fatal(err)
	}
	f, err := skinny.NewReader(c, 0).ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if res := f.(skinny.LineStatRes); res.DirNumber != "1000" || res.LineNumber != 1 {
		t.Fatalf("LineStatRes %+v", res)
	}
}

// A 7961 registers with the long body of newer firmware, through the phone
// client; it gets its DN, a one-line button template and keepalive acks.
func TestRegister7961LongBody(t *testing.T) {
	ts := startServer(t, sccp.Config{KeepAlive: 20 * time.Second})
	ctx := testCtx(t)
	p, err := phone.DialConfig(ctx, ts.addr, phone.Config{
		Name: "SEP00112233AABB", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ack := p.Ack()
	if ack.KeepAliveInterval != 20 || ack.SecondaryKeepAliveInterval != 40 || ack.DateTemplate != "M/D/YA" ||
		ack.ProtocolVersion != sccp.MaxProtocolVersion {
		t.Fatalf("ack %+v", ack)
	}
	dn, err := p.DN(ctx)
	if err != nil || dn != "1000" {
		t.Fatalf("DN = %q, %v", dn, err)
	}
	bt, err := p.ButtonTemplate(ctx)
	if err != nil || len(bt.Buttons) != 1 || bt.Buttons[0] != (skinny.Button{Instance: 1, Definition: skinny.ButtonLine}) {
		t.Fatalf("button template %+v, %v", bt, err)
	}
	for range 3 {
		if err := p.KeepAlive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if r := ts.reg.registrations()[0]; r.Model != "7961" || r.Device != "SEP00112233AABB" {
		t.Fatalf("registration %+v", r)
	}
	if lines := ts.logs.lines(t, map[string]string{"message": "registered", "device": "SEP00112233AABB", "dn": "1000"}); len(lines) != 1 {
		t.Fatalf("%d 'registered' log lines", len(lines))
	}
}

func TestRejections(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ts.reg.reject["SEP000000000001"] = domain.RejectWindowClosed
	ts.reg.reject["SEP000000000002"] = domain.RejectRangeExhausted
	ts.reg.unavailable["SEP000000000004"] = true
	ts.reg.fail["SEP000000000005"] = errors.New("projection exploded")
	tests := []struct {
		name       string
		device     string
		deviceType uint32
		text       string
		calls      bool // whether the registrar is asked
	}{
		{"window closed", "SEP000000000001", 7, "Autoregistration closed", true},
		{"range exhausted", "SEP000000000002", 30018, "DN range exhausted", true},
		{"unknown model", "SEP000000000003", 12345, "Unknown device model", true},
		{"registrar busy", "SEP000000000004", 7, "Registrar busy, try again", true},
		{"registrar error", "SEP000000000005", 7, "Registration failed", true},
		{"lower-case name", "SEP00000000000a", 7, "Invalid device name", false},
		{"not SEP", "CIPC12345", 7, "Invalid device name", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ts.reg.registrations())
			_, err := phone.Dial(testCtx(t), ts.addr, tt.device, tt.deviceType)
			var rej *phone.RejectedError
			if !errors.As(err, &rej) || !errors.Is(err, phone.ErrRejected) {
				t.Fatalf("err = %v, want a rejection", err)
			}
			if rej.Text != tt.text {
				t.Fatalf("reject text %q, want %q", rej.Text, tt.text)
			}
			if called := len(ts.reg.registrations()) > before; called != tt.calls {
				t.Fatalf("registrar called: %v", called)
			}
			// One line a refusal at info or above (debug lines come on top,
			// for whoever turns them on).
			notDebug := func() []map[string]any {
				var out []map[string]any
				for _, l := range ts.logs.lines(t, map[string]string{"device": tt.device}) {
					if l["level"] != "debug" {
						out = append(out, l)
					}
				}
				return out
			}
			var lines []map[string]any
			for deadline := time.Now().Add(2 * time.Second); len(lines) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				lines = notDebug()
			}
			time.Sleep(20 * time.Millisecond) // a second line, if any, has come by now
			lines = notDebug()
			if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0]["message"]), "regist") {
				t.Fatalf("log lines for %s: %v", tt.device, lines)
			}
		})
	}
	// The server closes a rejected phone's connection, after the reject.
	c := dialRaw(t, ts.addr)
	reg := skinny.Register{DeviceName: "SEP000000000001", DeviceType: 7, Length: skinny.RegisterShortLen}
	if _, err := c.Write(skinny.Marshal(reg)); err != nil {
		t.Fatal(err)
	}
	want := skinny.Marshal(skinny.RegisterReject{Text: "Autoregistration closed"})
	if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	expectClosed(t, c, 3*time.Second)
	if u := ts.reg.unregistrations(); len(u) != 0 {
		t.Fatalf("unregistrations after rejects: %+v", u)
	}
}

// An UnregisterAck comes only once the unregistration is durable.
func TestUnregister(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ts.reg.unregDelay = 100 * time.Millisecond
	ctx := testCtx(t)
	p, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Unregister(ctx); err != nil {
		t.Fatal(err)
	}
	u := ts.reg.unregistrations() // recorded before the ack was sent
	if len(u) != 1 || u[0].Device != "SEP0011223344AA" || u[0].Reason != command.UnregisterRequested ||
		u[0].Adapter != "sccp" || u[0].Peer != p.LocalAddr().String() || !strings.HasPrefix(u[0].CorrelationID, "sccp-") {
		t.Fatalf("unregistrations %+v", u)
	}
	// The connection's end reports nothing more.
	time.Sleep(200 * time.Millisecond)
	if u := ts.reg.unregistrations(); len(u) != 1 {
		t.Fatalf("unregistrations %+v", u)
	}
}

func TestMissedKeepAlives(t *testing.T) {
	ts := startServer(t, sccp.Config{KeepAlive: 300 * time.Millisecond, MissedKeepAlives: 3})
	ctx := testCtx(t)
	p, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Ack().KeepAliveInterval != 1 {
		t.Fatalf("keepalive interval %d, want 1 (rounded up)", p.Ack().KeepAliveInterval)
	}
	// Keepalives (or any message) within the window keep it registered.
	for range 4 {
		time.Sleep(200 * time.Millisecond)
		if err := p.KeepAlive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	u := ts.reg.waitUnregister(t, 3*time.Second)
	if u.Reason != command.UnregisterKeepalive || u.Device != "SEP0011223344AA" {
		t.Fatalf("unregistration %+v", u)
	}
	if waited := time.Since(start); waited < 800*time.Millisecond {
		t.Fatalf("unregistered after %v, before 3 intervals", waited)
	}
	if _, err := p.Expect(ctx, skinny.KeepAliveAckID); err == nil {
		t.Fatal("connection still open")
	}
}

func TestConnectionLost(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	p, err := phone.Dial(testCtx(t), ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	peer := p.LocalAddr().String()
	p.Close()
	u := ts.reg.waitUnregister(t, 3*time.Second)
	if u.Reason != command.UnregisterConnLost || u.Device != "SEP0011223344AA" || u.Peer != peer {
		t.Fatalf("unregistration %+v", u)
	}
}

// Bad input closes the connection with one log line naming the peer and the
// problem; nothing is registered and other phones are served meanwhile.
func TestBadInput(t *testing.T) {
	ts := startServer(t, sccp.Config{IdleTimeout: 300 * time.Millisecond})
	tests := []struct {
		name  string
		send  []byte
		close bool   // the client closes its side after sending
		want  string // in the log line's error
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: cm\r\n\r\n"), false, "frame length 542393671 exceeds the maximum 4096"},
		{"huge length", unhex(t, "ffffff7f 00000000 01000000"), false, "frame length 2147483647 exceeds"},
		{"zero length", make([]byte, 12), false, "frame length 0"},
		{"bad header version", unhex(t, "04000000 00010000 00000000"), false, "header version 0x100"},
		{"undecodable register", skinny.AppendRawFrame(nil, 0, skinny.RegisterID, []byte("SEP0011")), false, "RegisterMessage"},
		{"truncated", skinny.Marshal(skinny.Register{DeviceName: "SEP0011223344AA", DeviceType: 7})[:30], true, "stream ended inside a frame (30 of 60 bytes)"},
		{"stalled half frame", skinny.Marshal(skinny.KeepAlive{})[:6], false, "stalled in the middle of a frame: 6 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			peer := c.LocalAddr().String()
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.close {
				c.(*net.TCPConn).CloseWrite()
			}
			// Another phone registers while the bad one is being handled.
			ctx := testCtx(t)
			p, err := phone.Dial(ctx, ts.addr, "SEP00000000BEEF", 7)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DN(ctx); err != nil {
				t.Fatal(err)
			}
			p.Unregister(ctx)

			expectClosed(t, c, 3*time.Second)
			var lines []map[string]any
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if lines = ts.logs.lines(t, map[string]string{"peer": peer}); len(lines) > 0 {
					break
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d log lines for %s: %v", len(lines), peer, lines)
			}
			if lines[0]["level"] != "warn" || !strings.Contains(fmt.Sprint(lines[0]["error"]), tt.want) {
				t.Fatalf("log line %v, want a warning with %q", lines[0], tt.want)
			}
		})
	}
	for _, r := range ts.reg.registrations() {
		if r.Device != "SEP00000000BEEF" {
			t.Fatalf("registered %+v", r)
		}
	}
}

// A connection that never registers nor keeps alive is closed after the
// idle timeout. One that keeps alive without registering is a phone's
// standby connection (to the next CallManager of its list): it stays open
// while it keeps alive, and is closed once its keepalives stop, as a
// registered phone's would be (bounded, like every connection, by
// max_conns and max_conns_per_source).
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, sccp.Config{IdleTimeout: time.Second, KeepAlive: time.Second, MissedKeepAlives: 1})
	silent := dialRaw(t, ts.addr)
	c := dialRaw(t, ts.addr)
	start := time.Now()
	for range 6 {
		if _, err := c.Write(skinny.Marshal(skinny.KeepAlive{})); err != nil {
			t.Fatalf("the standby connection was closed after %v: %v", time.Since(start), err)
		}
		want := skinny.Marshal(skinny.KeepAliveAck{})
		if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("got %x", got)
		}
		time.Sleep(300 * time.Millisecond)
	}
	expectClosed(t, silent, 3*time.Second)
	// 1.8 s of keepalives every 300 ms, past the 1 s idle timeout: open.
	// Now silent: closed within the missed keepalives.
	expectClosed(t, c, 3*time.Second)
	if d := time.Since(start); d < 1800*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	if len(ts.reg.registrations()) != 0 {
		t.Fatal("registrar called")
	}
}

// Requests that need a registration are ignored before one.
func TestBeforeRegistration(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	c := dialRaw(t, ts.addr)
	var out []byte
	out = skinny.AppendFrame(out, 0, skinny.LineStatReq{LineNumber: 1})
	out = skinny.AppendFrame(out, 0, skinny.ButtonTemplateReq{})
	out = skinny.AppendFrame(out, 0, skinny.Unknown{MsgID: 0x0020, Body: []byte("alarm")})
	out = skinny.AppendFrame(out, 0, skinny.KeepAlive{})
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	want := skinny.Marshal(skinny.KeepAliveAck{}) // the first and only answer
	if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

// SCCP has no authentication: a second connection naming a device whose
// phone is alive on its own (heard from within the keepalive interval) is
// refused; once the old one has gone silent, a registration on a new
// connection takes over: the old connection is closed and no
// unregistration is reported for the device.
func TestSecondRegistrationWinsOnlyOverASilentOne(t *testing.T) {
	ts := startServer(t, sccp.Config{KeepAlive: 400 * time.Millisecond})
	ctx := testCtx(t)
	old, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 7); err == nil || !strings.Contains(err.Error(), "Registrar busy") {
		t.Fatalf("an impostor while the phone is alive: %v, want refused", err)
	}
	if err := old.KeepAlive(ctx); err != nil {
		t.Fatalf("the phone after the impostor: %v", err)
	}
	time.Sleep(700 * time.Millisecond) // silent for more than 1.5 keepalive intervals
	p, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := old.Expect(ctx, skinny.KeepAliveAckID); err == nil || !errors.Is(err, io.EOF) {
		t.Fatalf("old connection: %v, want it closed", err)
	}
	if dn, err := p.DN(ctx); err != nil || dn != "1000" {
		t.Fatalf("DN %q, %v", dn, err)
	}
	time.Sleep(100 * time.Millisecond)
	if u := ts.reg.unregistrations(); len(u) != 0 {
		t.Fatalf("unregistrations %+v", u)
	}
	// The new connection's end is reported.
	p.Close()
	if u := ts.reg.waitUnregister(t, 3*time.Second); u.Reason != command.UnregisterConnLost || u.Peer != p.LocalAddr().String() {
		t.Fatalf("unregistration %+v", u)
	}
}

func TestConcurrentPhones(t *testing.T) {
	const n = 200
	ts := startServer(t, sccp.Config{SourceRate: -1}) // 200 phones from one address
	ctx := testCtx(t)
	var wg sync.WaitGroup
	dns := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("SEP0000%08X", i)
			p, err := phone.DialConfig(ctx, ts.addr, phone.Config{
				Name: name, DeviceType: []uint32{7, 8, 30018, 115}[i%4], ProtocolVersion: uint8(i % 22),
				LongRegister: i%2 == 0,
			})
			if err != nil {
				errs <- err
				return
			}
			defer p.Close()
			if err := p.KeepAlive(ctx); err != nil {
				errs <- err
				return
			}
			if dns[i], err = p.DN(ctx); err != nil {
				errs <- err
				return
			}
			if err := p.Unregister(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, dn := range dns {
		if dn == "" || seen[dn] {
			t.Fatalf("DN %q missing or assigned twice", dn)
		}
		seen[dn] = true
	}
	u := ts.reg.unregistrations()
	if len(u) != n {
		t.Fatalf("%d unregistrations", len(u))
	}
	for _, x := range u {
		if x.Reason != command.UnregisterRequested {
			t.Fatalf("unregistration %+v", x)
		}
	}
}

func TestMaxConns(t *testing.T) {
	ts := startServer(t, sccp.Config{MaxConns: 2})
	ctx := testCtx(t)
	for i := range 2 {
		p, err := phone.Dial(ctx, ts.addr, fmt.Sprintf("SEP00000000000%d", i), 7)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
	}
	c := dialRaw(t, ts.addr)
	expectClosed(t, c, 3*time.Second)
}

// Shutdown finishes the connections and reports their devices gone.
func TestShutdown(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ctx := testCtx(t)
	var phones []*phone.Phone
	for i := range 3 {
		p, err := phone.Dial(ctx, ts.addr, fmt.Sprintf("SEP00000000000%d", i), 7)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		phones = append(phones, p)
	}
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ts.serve; !errors.Is(err, sccp.ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	ts.serve <- nil // for the cleanup
	u := ts.reg.unregistrations()
	if len(u) != 3 {
		t.Fatalf("unregistrations %+v", u)
	}
	for _, x := range u {
		if x.Reason != command.UnregisterConnLost {
			t.Fatalf("unregistration %+v", x)
		}
	}
	for _, p := range phones {
		if err := p.KeepAlive(ctx); err == nil {
			t.Fatal("phone still connected")
		}
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Fatal("still accepting")
	}
}

// Cancelling Serve's context stops the server at once, reporting nothing.
func TestServeContextCancel(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	p, err := phone.Dial(testCtx(t), ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ts.stop()
	select {
	case err := <-ts.serve:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
		ts.serve <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if u := ts.reg.unregistrations(); len(u) != 0 {
		t.Fatalf("unregistrations %+v", u)
	}
}

// A device that re-registers on a new connection while its old connection's
// unregistration is in flight ends up registered: the registrar sees the
// unregistration first.
func TestReRegisterDuringUnregister(t *testing.T) {
	ts := startServer(t, sccp.Config{KeepAlive: 100 * time.Millisecond, MissedKeepAlives: 2})
	ts.reg.unregDelay = 300 * time.Millisecond
	ctx := testCtx(t)
	old, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	time.Sleep(300 * time.Millisecond) // the keepalive window passes: the unregistration starts
	p, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	calls := ts.reg.callLog()
	if len(calls) < 2 || calls[len(calls)-1] != "register SEP0011223344AA" {
		t.Fatalf("calls %q: the new registration must come last", calls)
	}
	if dn, err := p.DN(ctx); err != nil || dn != "1000" {
		t.Fatalf("DN %q, %v", dn, err)
	}
	time.Sleep(100 * time.Millisecond)
	if calls := ts.reg.callLog(); calls[len(calls)-1] != "register SEP0011223344AA" {
		t.Fatalf("calls %q", calls)
	}
}

// Shutdown gives up when its context ends before the connections are done.
func TestShutdownTimeout(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ts.reg.unregDelay = time.Second
	ctx := testCtx(t)
	p, err := phone.Dial(ctx, ts.addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Shutdown took %v", d)
	}
}

func TestListenAndServe(t *testing.T) {
	reg := newFakeRegistrar()
	srv := sccp.NewServer(sccp.Config{Registrar: reg})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx, "127.0.0.1:0") }()
	var addr net.Addr
	for deadline := time.Now().Add(5 * time.Second); addr == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		addr = srv.Addr()
	}
	if addr == nil {
		t.Fatal("no address")
	}
	p, err := phone.Dial(testCtx(t), addr.String(), "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("ListenAndServe = %v", err)
	}
	if err := sccp.NewServer(sccp.Config{Registrar: reg}).ListenAndServe(context.Background(), "256.0.0.1:1"); err == nil {
		t.Fatal("listening on a bad address succeeded")
	}
}

func TestServeWithoutRegistrar(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := sccp.NewServer(sccp.Config{}).Serve(context.Background(), ln); err == nil {
		t.Fatal("Serve without a registrar succeeded")
	}
}
