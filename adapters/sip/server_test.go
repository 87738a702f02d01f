package sip

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// phone is a SIP client made with sipgo, registering one device.
type phone struct {
	t         *testing.T
	client    *sipgo.Client
	transport string
	server    *net.UDPAddr // host and port, whatever the transport
	aor       sipmsg.Uri
	callID    string
	cseq      uint32
}

func newPhone(t *testing.T, srv *served, transport string) *phone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("Cisco-CP7961G/9.4.2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	server := srv.udpAddr
	if transport == "TCP" {
		server = &net.UDPAddr{IP: srv.tcpAddr.IP, Port: srv.tcpAddr.Port}
	}
	return &phone{
		t: t, client: client, transport: transport, server: server,
		aor:    sipmsg.Uri{Scheme: "sip", User: testDevice, Host: "autoreg.test"},
		callID: "phone-" + transport + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		cseq:   100,
	}
}

// register sends a REGISTER with the next CSeq (unless a header option
// changes it) and returns the final response.
func (p *phone) register(contact, expires string, opts ...func(*sipmsg.Request)) *sipmsg.Response {
	p.t.Helper()
	p.cseq++
	req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Scheme: "sip", Host: p.server.IP.String(), Port: p.server.Port})
	req.SetTransport(p.transport)
	req.AppendHeader(&sipmsg.FromHeader{Address: p.aor, Params: sipmsg.HeaderParams{{K: "tag", V: "f00d"}}})
	req.AppendHeader(&sipmsg.ToHeader{Address: p.aor})
	callID := sipmsg.CallIDHeader(p.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: p.cseq, MethodName: sipmsg.REGISTER})
	req.AppendHeader(sipmsg.NewHeader("User-Agent", "Cisco-CP7961G/9.4.2"))
	if contact != "" {
		req.AppendHeader(sipmsg.NewHeader("Contact", contact))
	}
	if expires != "" {
		req.AppendHeader(sipmsg.NewHeader("Expires", expires))
	}
	for _, o := range opts {
		o(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("REGISTER over %s: %v", p.transport, err)
	}
	return res
}

func withCSeq(n uint32) func(*sipmsg.Request) {
	return func(r *sipmsg.Request) { r.CSeq().SeqNo = n }
}

func withTo(user string) func(*sipmsg.Request) {
	return func(r *sipmsg.Request) { r.To().Address.User = user; r.From().Address.User = user }
}

func withUserAgent(ua string) func(*sipmsg.Request) {
	return func(r *sipmsg.Request) {
		r.RemoveHeader("User-Agent")
		r.AppendHeader(sipmsg.NewHeader("User-Agent", ua))
	}
}

var transports = []string{"UDP", "TCP"}

func TestSocketRegisterRefreshUnregister(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			srv := serve(t, nil)
			p := newPhone(t, srv, tp)

			res := p.register(testContact, "3600")
			if res.StatusCode != 200 {
				t.Fatalf("new device: %d %s", res.StatusCode, res.Reason)
			}
			if got := header(res, "P-Associated-URI"); got != "<sip:1001@autoreg.test>" {
				t.Errorf("P-Associated-URI = %q", got)
			}
			if got := contacts(res); len(got) != 1 || got[0] != "<"+testContactU+">;expires=3600" {
				t.Errorf("Contact = %q", got)
			}
			if header(res, "Date") == "" {
				t.Error("no Date")
			}

			res = p.register(testContact, "3600")
			if res.StatusCode != 200 || header(res, "P-Associated-URI") != "<sip:1001@autoreg.test>" {
				t.Fatalf("refresh: %d %q", res.StatusCode, header(res, "P-Associated-URI"))
			}
			regs := srv.reg.registrations()
			if len(regs) != 2 {
				t.Fatalf("%d Register calls, want 2", len(regs))
			}
			for _, r := range regs {
				if r.Device != testDevice || r.Model != "7961" || r.Address != testContactU || r.Adapter != "sip" ||
					r.CorrelationID != p.callID || !strings.HasPrefix(r.Peer, "127.0.0.1:") || r.Protocol != domain.SIP {
					t.Errorf("registration %+v", r)
				}
			}

			res = p.register("*", "0")
			if res.StatusCode != 200 || len(contacts(res)) != 0 {
				t.Fatalf("unregister: %d %q", res.StatusCode, contacts(res))
			}
			unregs := srv.reg.unregistrations()
			if len(unregs) != 1 || unregs[0].Reason != command.UnregisterRequested || unregs[0].Device != testDevice ||
				unregs[0].CorrelationID != p.callID {
				t.Errorf("unregistrations %+v", unregs)
			}
			waitFor(t, func() bool { return srv.Devices() == 0 })
		})
	}
}

func TestSocketRefusals(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			srv := serve(t, nil)
			p := newPhone(t, srv, tp)

			srv.reg.set(func(f *fakeRegistrar) {
				f.regErr = &domain.Rejection{Device: testDevice, Reason: domain.RejectWindowClosed, Detail: "autoregistration is closed"}
			})
			res := p.register(testContact, "3600")
			if res.StatusCode != 403 || header(res, "Warning") != `399 autoreg.test "SEP001122AABBCC may not register: autoregistration is closed"` {
				t.Errorf("rejection: %d, Warning %q", res.StatusCode, header(res, "Warning"))
			}

			srv.reg.set(func(f *fakeRegistrar) { f.regErr = command.ErrUnavailable })
			res = p.register(testContact, "3600")
			if n, err := strconv.Atoi(header(res, "Retry-After")); res.StatusCode != 503 || err != nil || n < 5 || n > 30 {
				t.Errorf("unavailable: %d, Retry-After %q", res.StatusCode, header(res, "Retry-After"))
			}
			srv.reg.set(func(f *fakeRegistrar) { f.regErr = nil })
			calls := len(srv.reg.registrations())

			res = p.register(testContact, "30")
			if res.StatusCode != 423 || header(res, "Min-Expires") != "60" {
				t.Errorf("too brief: %d, Min-Expires %q", res.StatusCode, header(res, "Min-Expires"))
			}
			res = p.register(testContact, "later")
			if res.StatusCode != 400 || !strings.Contains(header(res, "Warning"), "Expires") {
				t.Errorf("bad Expires: %d, Warning %q", res.StatusCode, header(res, "Warning"))
			}
			res = p.register("<tel:+15551234>", "3600")
			if res.StatusCode != 400 || !strings.Contains(header(res, "Warning"), "Contact") {
				t.Errorf("bad Contact: %d, Warning %q", res.StatusCode, header(res, "Warning"))
			}
			res = p.register("<sip:phone@127.0.0.1>", "3600", withTo("1001"))
			if res.StatusCode != 404 {
				t.Errorf("no device name: %d", res.StatusCode)
			}
			if n := len(srv.reg.registrations()); n != calls {
				t.Errorf("refused requests reached the registrar (%d calls, want %d)", n, calls)
			}
		})
	}
}

func TestSocketOutOfOrderCSeq(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			srv := serve(t, nil)
			p := newPhone(t, srv, tp)
			if res := p.register(testContact, "3600", withCSeq(50)); res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			res := p.register("*", "0", withCSeq(49))
			if res.StatusCode != 500 {
				t.Errorf("late unregister: %d, want 500", res.StatusCode)
			}
			res = p.register(testContact, "3600", withCSeq(50))
			if res.StatusCode != 500 {
				t.Errorf("same CSeq, new transaction: %d, want 500", res.StatusCode)
			}
			if len(srv.reg.registrations()) != 1 || len(srv.reg.unregistrations()) != 0 {
				t.Error("out-of-order requests reached the registrar")
			}
			res = p.register("", "", withCSeq(51)) // query
			if res.StatusCode != 200 || len(contacts(res)) != 1 {
				t.Errorf("query after: %d %q", res.StatusCode, contacts(res))
			}
		})
	}
}

func TestSocketNamingAndModel(t *testing.T) {
	srv := serve(t, nil)
	p := newPhone(t, srv, "UDP")
	// +sip.instance names the device whatever To says.
	p.register(testContact, "3600", withTo("1001"), withUserAgent("Cisco-CP7942G/9.4.2"))
	// No instance: the To user.
	p.callID += "-2"
	p.register("<sip:x@127.0.0.1>", "3600", withTo("SEP00AABBCCDDEE"), withUserAgent("SomePhone/1.0"))
	regs := srv.reg.registrations()
	if len(regs) != 2 {
		t.Fatalf("%d registrations", len(regs))
	}
	if regs[0].Device != testDevice || regs[0].Model != "7942" {
		t.Errorf("instance naming: %+v", regs[0])
	}
	if regs[1].Device != "SEP00AABBCCDDEE" || regs[1].Model != "" {
		t.Errorf("To naming: %+v", regs[1])
	}
}

func TestSocketExpiry(t *testing.T) {
	srv := serve(t, func(c *Config) { c.MinExpires = time.Second; c.SweepInterval = 20 * time.Millisecond })
	p := newPhone(t, srv, "UDP")
	start := time.Now()
	if res := p.register(testContact, "1"); res.StatusCode != 200 || contacts(res)[0] != "<"+testContactU+">;expires=1" {
		t.Fatalf("register: %d %q", res.StatusCode, contacts(res))
	}
	select {
	case u := <-srv.reg.unregCh:
		if u.Reason != command.UnregisterExpired || u.Device != testDevice || u.CorrelationID != p.callID ||
			!strings.HasPrefix(u.Peer, "127.0.0.1:") {
			t.Errorf("unregistration %+v", u)
		}
		if d := time.Since(start); d < time.Second || d > 3*time.Second {
			t.Errorf("expired after %v, want 1s to 2s (whole seconds, rounded up)", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no Unregister(expired)")
	}
	waitFor(t, func() bool { return srv.Devices() == 0 })
	if n := len(srv.reg.unregistrations()); n != 1 {
		t.Errorf("%d unregistrations", n)
	}
}

func TestExpiryRetriesAfterFailure(t *testing.T) {
	srv := serve(t, func(c *Config) {
		c.MinExpires, c.SweepInterval, c.RetryAfterMin = time.Second, 20*time.Millisecond, time.Second
	})
	srv.reg.set(func(f *fakeRegistrar) { f.unregErr = command.ErrUnavailable })
	p := newPhone(t, srv, "UDP")
	p.register(testContact, "1")
	waitFor(t, func() bool { return len(srv.reg.unregistrations()) > 0 })
	time.Sleep(200 * time.Millisecond)
	if n := len(srv.reg.unregistrations()); n != 1 {
		t.Fatalf("%d Unregister calls, want 1 failed (retried after RetryAfterMin)", n)
	}
	srv.reg.set(func(f *fakeRegistrar) { f.unregErr = nil })
	select {
	case u := <-srv.reg.unregCh:
		if u.Reason != command.UnregisterExpired || u.CorrelationID != p.callID {
			t.Errorf("retry %+v", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the failed expiry was not retried")
	}
}

// udpClient is a raw UDP socket speaking to the server.
type udpClient struct {
	t    *testing.T
	conn *net.UDPConn
}

func dialUDP(t *testing.T, addr *net.UDPAddr) *udpClient {
	t.Helper()
	c, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, conn: c}
}

func (c *udpClient) send(r rawRegister) {
	c.t.Helper()
	r.ViaHost = c.conn.LocalAddr().String()
	if _, err := c.conn.Write([]byte(r.String())); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next response, nil when none came within d.
func (c *udpClient) read(d time.Duration) *sipmsg.Response {
	c.t.Helper()
	buf := make([]byte, maxDatagram)
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	n, err := c.conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	msg, err := sipmsg.ParseMessage(buf[:n])
	if err != nil {
		c.t.Fatalf("parse response: %v\n%s", err, buf[:n])
	}
	return msg.(*sipmsg.Response)
}

func TestSocketRetransmissions(t *testing.T) {
	srv := serve(t, nil)
	srv.reg.set(func(f *fakeRegistrar) { f.delay = 300 * time.Millisecond })
	c := dialUDP(t, srv.udpAddr)
	r := defaultRaw()
	c.send(r)
	time.Sleep(50 * time.Millisecond)
	c.send(r) // while the first is in flight: absorbed
	first := c.read(2 * time.Second)
	if first == nil || first.StatusCode != 200 {
		t.Fatalf("first answer %v", first)
	}
	if extra := c.read(200 * time.Millisecond); extra != nil {
		t.Errorf("the retransmission in flight got its own answer: %d", extra.StatusCode)
	}
	c.send(r) // after the answer: the same answer again
	again := c.read(time.Second)
	if again == nil || again.StatusCode != 200 || header(again, "P-Associated-URI") != header(first, "P-Associated-URI") ||
		again.To().Params.GetOr("tag", "") != first.To().Params.GetOr("tag", "-") {
		t.Fatalf("retransmission answered %v", again)
	}
	if n := len(srv.reg.registrations()); n != 1 {
		t.Errorf("%d Register calls for one transaction", n)
	}
	// sent-by is the source address: no received parameter.
	if via := again.Via(); via == nil || via.Params.Has("received") {
		t.Errorf("Via %v", via)
	}
}

func TestSocketMalformed(t *testing.T) {
	srv := serve(t, nil)
	c := dialUDP(t, srv.udpAddr)
	r := defaultRaw()
	r.Contacts = []string{"<sip:broken@>;;;"}
	r.Extra = []string{"Contact: <sip:a@b;>>,,<<"}
	c.send(r)
	res := c.read(2 * time.Second)
	if res == nil {
		t.Fatal("no answer")
	}
	if res.StatusCode != 400 {
		t.Errorf("status %d", res.StatusCode)
	}
	// Garbage is dropped.
	if _, err := c.conn.Write([]byte("\x00\x01 not SIP at all\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if res := c.read(200 * time.Millisecond); res != nil {
		t.Errorf("garbage answered %d", res.StatusCode)
	}
	// CRLF keepalives are ignored.
	if _, err := c.conn.Write([]byte("\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if res := c.read(200 * time.Millisecond); res != nil {
		t.Errorf("keepalive answered %d", res.StatusCode)
	}
}

func TestSocketOverload(t *testing.T) {
	srv := serve(t, func(c *Config) { c.MaxInFlight, c.QueueWait = 1, -1 })
	srv.reg.set(func(f *fakeRegistrar) { f.delay = 300 * time.Millisecond })
	c := dialUDP(t, srv.udpAddr)
	r := defaultRaw()
	c.send(r)
	time.Sleep(50 * time.Millisecond)
	other := r
	other.To, other.Contacts, other.CallID, other.Branch = "sip:SEP00AABBCCDDEE@autoreg.test", []string{"<sip:x@127.0.0.1>"}, "other", "z9hG4bKother"
	c.send(other)
	res := c.read(time.Second)
	if res == nil || res.StatusCode != 503 || header(res, "Retry-After") == "" || res.CallID().Value() != "other" {
		t.Fatalf("overload answer %v", res)
	}
	if res := c.read(time.Second); res == nil || res.StatusCode != 200 {
		t.Fatalf("first answer %v", res)
	}
	time.Sleep(50 * time.Millisecond) // the slot is given back just after the answer
	c.send(other)                     // not remembered: processed now
	if res := c.read(time.Second); res == nil || res.StatusCode != 200 {
		t.Fatalf("retry answer %v", res)
	}
}

// With a QueueWait, a request beyond MaxInFlight waits for a place
// instead of 503.
func TestSocketOverloadWaits(t *testing.T) {
	srv := serve(t, func(c *Config) { c.MaxInFlight, c.QueueWait = 1, 2*time.Second })
	srv.reg.set(func(f *fakeRegistrar) { f.delay = 200 * time.Millisecond })
	c := dialUDP(t, srv.udpAddr)
	r := defaultRaw()
	c.send(r)
	time.Sleep(20 * time.Millisecond)
	other := r
	other.To, other.Contacts, other.CallID, other.Branch = "sip:SEP00AABBCCDDEE@autoreg.test", []string{"<sip:x@127.0.0.1>"}, "other", "z9hG4bKother"
	c.send(other)
	for i := 0; i < 2; i++ {
		if res := c.read(2 * time.Second); res == nil || res.StatusCode != 200 {
			t.Fatalf("answer %d: %v, want 200 for both", i, res)
		}
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	s, reg := newTestServer(t, nil)
	reg.set(func(f *fakeRegistrar) { f.delay = 300 * time.Millisecond })
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- s.ServeUDP(context.Background(), pc) }()
	go func() { errs <- s.ServeTCP(context.Background(), ln) }()
	waitFor(t, func() bool { return len(s.Addrs()) == 2 })

	// One request over TCP, one over UDP, both in flight.
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	rt := defaultRaw()
	rt.Transport, rt.ViaHost = "TCP", tc.LocalAddr().String()
	if _, err := tc.Write([]byte(rt.String())); err != nil {
		t.Fatal(err)
	}
	c := dialUDP(t, pc.LocalAddr().(*net.UDPAddr))
	ru := defaultRaw()
	ru.To, ru.Contacts, ru.CallID = "sip:SEP00AABBCCDDEE@autoreg.test", []string{"<sip:x@127.0.0.1>"}, "udp-call"
	c.send(ru)
	time.Sleep(100 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if res := c.read(time.Second); res == nil || res.StatusCode != 200 {
		t.Errorf("UDP request in flight: %v", res)
	}
	_ = tc.SetReadDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Errorf("TCP request in flight: %q %v", line, err)
	}
	for range 2 {
		if err := <-errs; err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	}
	if err := s.ServeUDP(context.Background(), pc); err != ErrServerClosed {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestShutdownGivesUp(t *testing.T) {
	s, reg := newTestServer(t, nil)
	reg.set(func(f *fakeRegistrar) { f.delay = time.Minute })
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() { errs <- s.ServeUDP(context.Background(), pc) }()
	waitFor(t, func() bool { return len(s.Addrs()) == 1 })
	c := dialUDP(t, pc.LocalAddr().(*net.UDPAddr))
	c.send(defaultRaw())
	waitFor(t, func() bool { return s.txs.len() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
	select {
	case err := <-errs:
		if err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	s, _ := newTestServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { errs <- s.ListenAndServe(ctx, "udp", "127.0.0.1:0") }()
	waitFor(t, func() bool { return len(s.Addrs()) == 1 })
	cancel()
	select {
	case err := <-errs:
		if err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestTLS(t *testing.T) {
	cert := selfSigned(t)
	s, reg := newTestServer(t, func(c *Config) { c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() { errs <- s.ServeTLS(context.Background(), ln) }()
	defer func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		<-errs
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := defaultRaw()
	r.Transport, r.ViaHost = "TLS", conn.LocalAddr().String()
	r.Contacts = []string{"<sips:phone@" + conn.LocalAddr().String() + ">;+sip.instance=" + testInstance}
	// Two requests in one write.
	two := r.String()
	r.Branch, r.CSeq = "z9hG4bKtwo", "102 REGISTER"
	two += r.String()
	if _, err := conn.Write([]byte(two)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	var statuses []string
	for len(statuses) < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (statuses %q)", err, statuses)
		}
		if strings.HasPrefix(line, "SIP/2.0 ") {
			statuses = append(statuses, strings.TrimSpace(line))
		}
	}
	// Read the rest of the second answer, then ping.
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := conn.Write([]byte("\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if pong, err := br.ReadString('\n'); err != nil || pong != "\r\n" {
		t.Errorf("pong %q, %v", pong, err)
	}
	if statuses[0] != "SIP/2.0 200 OK" || statuses[1] != "SIP/2.0 200 OK" {
		t.Errorf("statuses %q", statuses)
	}
	if n := len(reg.registrations()); n != 2 {
		t.Errorf("%d registrations", n)
	}
}

func TestMaxConnections(t *testing.T) {
	srv := serve(t, func(c *Config) { c.MaxConnections = 1 })
	first, err := net.Dial("tcp", srv.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waitFor(t, func() bool { return srv.conns.Load() == 1 })
	second, err := net.Dial("tcp", srv.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err == nil {
		t.Error("the connection beyond MaxConnections was served")
	}
	first.Close()
	waitFor(t, func() bool { return srv.conns.Load() == 0 })
}

func TestHostLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"autoreg.test": "autoreg.test", "autoreg.test:5060": "autoreg.test:5060", "192.0.2.1": "192.0.2.1",
		"2001:db8::1": "[2001:db8::1]", "[2001:db8::1]": "[2001:db8::1]",
	} {
		if got := hostLiteral(in); got != want {
			t.Errorf("hostLiteral(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewServerConfig(t *testing.T) {
	reg := newFakeRegistrar()
	for name, cfg := range map[string]Config{
		"no registrar":   {},
		"min above max":  {Registrar: reg, MinExpires: time.Hour, MaxExpires: time.Minute},
		"sub-second":     {Registrar: reg, MinExpires: time.Millisecond},
		"bad retry":      {Registrar: reg, RetryAfterMin: 10 * time.Second, RetryAfterMax: 5 * time.Second},
		"negative limit": {Registrar: reg, MaxInFlight: -1},
	} {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	s, err := NewServer(Config{Registrar: reg})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.MinExpires != 60*time.Second || s.cfg.MaxExpires != time.Hour || s.cfg.DefaultExpires != time.Hour {
		t.Errorf("defaults %+v", s.cfg)
	}
	if err := s.ListenAndServe(context.Background(), "tls", "127.0.0.1:0"); err == nil {
		t.Error("tls without Config.TLS")
	}
	if err := s.ListenAndServe(context.Background(), "sctp", "127.0.0.1:0"); err == nil {
		t.Error("sctp")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "autoreg.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
