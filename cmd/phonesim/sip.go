package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/autoreg/autoreg/domain"
)

// Cisco's Contact parameters: the device name, and the model's SCCP device
// type code (Cisco SIP phones send both).
const (
	ciscoDeviceNameParam = "+u.sip!devicename.ccm.cisco.com"
	ciscoModelParam      = "+u.sip!model.ccm.cisco.com"
)

// sipClient registers phones over SIP. All phones share one sipgo user
// agent, so one UDP socket or one TCP connection.
type sipClient struct {
	ua        *sipgo.UserAgent
	client    *sipgo.Client
	transport string // "UDP" or "TCP"
	host      string // the registrar's host, as given
	port      int
	contact   string        // host:port of the phones' Contact
	run       string        // makes Call-IDs unique to this run
	expires   int           // seconds
	timeout   time.Duration // of a refresh

	resetMu sync.Mutex
	resets  map[string]chan<- struct{} // device -> told of a NOTIFY check-sync

	// creds are the digest credentials the phones learned from their
	// configuration files (--tftp); nil: the phones have none.
	creds *credentials
}

// credentials are the SIP digest credentials of the phones, by device, as
// their SEP<MAC>.cnf.xml gave them (line 1's authName and authPassword).
// With tftp set, a phone challenged without any fetches its file from
// there first, as a phone that booted from it would hold them.
type credentials struct {
	m    sync.Map
	tftp string
}

func (c *credentials) set(device, user, password string) {
	if user == "" {
		c.m.Delete(device)
		return
	}
	c.m.Store(device, sipgo.DigestAuth{Username: user, Password: password})
}

// fetch reads device's credentials from its configuration file on the
// TFTP server.
func (c *credentials) fetch(ctx context.Context, device string) (sipgo.DigestAuth, bool) {
	name := device + configSuffix
	b, err := fetchTFTP(ctx, c.tftp, name)
	if err != nil {
		return sipgo.DigestAuth{}, false
	}
	f, err := parsePhoneFile(name, b)
	if err != nil || len(f.Lines) == 0 || f.Lines[0].AuthName == "" {
		return sipgo.DigestAuth{}, false
	}
	c.set(device, f.Lines[0].AuthName, f.Lines[0].AuthPassword)
	return c.get(device)
}

func (c *credentials) get(device string) (sipgo.DigestAuth, bool) {
	if c == nil {
		return sipgo.DigestAuth{}, false
	}
	v, ok := c.m.Load(device)
	if !ok {
		return sipgo.DigestAuth{}, false
	}
	return v.(sipgo.DigestAuth), true
}

// onNotify answers the registrar's NOTIFYs as a Cisco phone does (200) and,
// for Event: check-sync (a reset), tells the phone named by the request's
// user, when it listens (--tftp).
func (c *sipClient) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	ev := req.GetHeader("Event") // check-sync, maybe with ;reboot=true
	if ev == nil {
		return
	}
	if name, _, _ := strings.Cut(ev.Value(), ";"); !strings.EqualFold(strings.TrimSpace(name), "check-sync") {
		return
	}
	c.resetMu.Lock()
	ch := c.resets[req.Recipient.User]
	c.resetMu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default: // told already
		}
	}
}

// onReset makes a check-sync NOTIFY for device reach ch (nil: no longer).
func (c *sipClient) onReset(device string, ch chan<- struct{}) {
	c.resetMu.Lock()
	defer c.resetMu.Unlock()
	if ch == nil {
		delete(c.resets, device)
		return
	}
	if c.resets == nil {
		c.resets = map[string]chan<- struct{}{}
	}
	c.resets[device] = ch
}

// newSIPClient prepares the user agent for the registrar at addr.
func newSIPClient(ctx context.Context, addr, transport string, expires int, timeout time.Duration, log *slog.Logger) (*sipClient, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usagef("--sip %q: %v", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return nil, usagef("--sip %q: bad port", addr)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal, as a URI has it
	}
	local := localIP(addr)
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgentHostname(local),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
	)
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(local), sipgo.WithClientLogger(log))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip client: %w", err)
	}
	var run [4]byte
	_, _ = rand.Read(run[:])
	c := &sipClient{
		ua: ua, client: client, transport: strings.ToUpper(transport),
		host: host, port: port, run: hex.EncodeToString(run[:]), expires: expires, timeout: timeout,
	}
	// Requests the registrar sends to the phones' Contact (NOTIFY) arrive
	// on the shared socket; a server on the same user agent answers them.
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip server: %w", err)
	}
	srv.OnNotify(c.onNotify)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.contact = net.JoinHostPort(local, strconv.Itoa(c.localPort(pctx)))
	return c, nil
}

// localIP is the address this host reaches addr from (a UDP "connection"
// sends nothing), or 127.0.0.1.
func localIP(addr string) string {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return "127.0.0.1"
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		return a.IP.String()
	}
	return "127.0.0.1"
}

// localPort opens the shared connection to the registrar ahead of the
// phones, for their Contact's port. When it cannot (the registrar is not
// there), the Contact says 5060 and each phone finds out for itself.
func (c *sipClient) localPort(ctx context.Context) int {
	req := sip.NewRequest(sip.OPTIONS, c.requestURI())
	req.SetTransport(c.transport)
	if err := sipgo.ClientRequestBuild(c.client, req); err != nil {
		return 5060
	}
	conn, err := c.ua.TransportLayer().ClientRequestConnection(ctx, req)
	if err != nil {
		return 5060
	}
	if _, p, err := net.SplitHostPort(conn.LocalAddr().String()); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	return 5060
}

func (c *sipClient) close() { c.ua.Close() }

// addr is the registrar's SIP address, host:port.
func (c *sipClient) addr() string { return net.JoinHostPort(c.host, strconv.Itoa(c.port)) }

func (c *sipClient) requestURI() sip.Uri {
	return sip.Uri{Scheme: "sip", Host: c.host, Port: c.port}
}

// sipPhone is one phone's SIP dialog state.
type sipPhone struct {
	c       *sipClient
	spec    spec
	callID  string
	tag     string
	contact string

	mu   sync.Mutex // serialises the phone's requests; guards cseq
	cseq uint32
}

func (c *sipClient) newPhone(s spec) *sipPhone {
	mac := strings.ToLower(strings.TrimPrefix(s.device, "SEP"))
	contact := fmt.Sprintf(`<sip:%s@%s;transport=%s>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-%s>";%s="%s"`,
		s.device, c.contact, strings.ToLower(c.transport), mac, ciscoDeviceNameParam, s.device)
	if m, ok := domain.LookupModel(s.model); ok && m.SCCPType != 0 {
		contact += fmt.Sprintf(`;%s="%d"`, ciscoModelParam, m.SCCPType)
	}
	return &sipPhone{
		c: c, spec: s, contact: contact,
		callID: fmt.Sprintf("%s-%s@%s", c.run, mac, strings.Trim(hostOnly(c.contact), "[]")),
		tag:    mac[6:] + c.run,
	}
}

func hostOnly(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// request builds the phone's next REGISTER.
func (p *sipPhone) request(expires int) *sip.Request {
	p.cseq++
	req := sip.NewRequest(sip.REGISTER, p.c.requestURI())
	req.SetTransport(p.c.transport)
	aor := sip.Uri{Scheme: "sip", User: p.spec.device, Host: p.c.host}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: p.tag}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	callID := sip.CallIDHeader(p.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(sip.NewHeader("User-Agent", "Cisco-CP"+p.spec.model+"G/9.4.2"))
	req.AppendHeader(sip.NewHeader("Contact", p.contact))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	return req
}

// do sends the phone's next REGISTER and waits for the final response. A
// 401 is answered as a phone does, once, with the credentials of its
// configuration file (the strongest algorithm offered first, as sipgo
// takes the first challenge: the registrar lists SHA-256 before MD5).
func (p *sipPhone) do(ctx context.Context, expires int) (*sip.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	req := p.request(expires)
	res, err := p.c.client.Do(ctx, req)
	if err != nil || res.StatusCode != sip.StatusUnauthorized {
		return res, err
	}
	auth, ok := p.c.creds.get(p.spec.device)
	if !ok && p.c.creds != nil && p.c.creds.tftp != "" {
		auth, ok = p.c.creds.fetch(ctx, p.spec.device)
	}
	if !ok {
		return res, nil
	}
	res, err = p.c.client.DoDigestAuth(ctx, req, res, auth)
	p.cseq = req.CSeq().SeqNo // sipgo sent it again with the next CSeq
	return res, err
}

// register registers s.
func (c *sipClient) register(ctx context.Context, s spec) attempt {
	p := c.newPhone(s)
	start := time.Now()
	res, err := p.do(ctx, c.expires)
	took := time.Since(start)
	if err != nil {
		return attempt{phone: failed(s, err, took)}
	}
	ph := Phone{Device: s.device, Model: s.model, Protocol: s.protocol, LatencyMS: ms(took)}
	if res.StatusCode == sip.StatusOK {
		ph.Result, ph.DN = ResultRegistered, associatedDN(res)
		return attempt{phone: ph, session: &sipSession{p: p, refresh: refreshInterval(res, c.expires)}}
	}
	ph.Result = ResultRejected
	ph.Reason, ph.Detail = sipRejection(res)
	return attempt{phone: ph}
}

// sipRejection names why a non-2xx answer refused the registration, and
// gives the text that says so.
func sipRejection(res *sip.Response) (reason, detail string) {
	status := fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
	warning := ""
	if h := res.GetHeader("Warning"); h != nil {
		warning = warningText(h.Value())
	}
	switch {
	case res.StatusCode == sip.StatusForbidden && warning != "":
		return rejectionReason(warning), warning
	case res.StatusCode == sip.StatusServiceUnavailable:
		if h := res.GetHeader("Retry-After"); h != nil {
			status += ", Retry-After " + h.Value()
		}
		return "busy", status
	case warning != "":
		return fmt.Sprintf("sip_%d", res.StatusCode), status + ": " + warning
	}
	return fmt.Sprintf("sip_%d", res.StatusCode), status
}

// warningText is the text of a Warning value `399 host "text"`.
func warningText(v string) string {
	i, j := strings.IndexByte(v, '"'), strings.LastIndexByte(v, '"')
	if i < 0 || j <= i {
		return strings.TrimSpace(v)
	}
	var b strings.Builder
	s := v[i+1 : j]
	for k := 0; k < len(s); k++ {
		if s[k] == '\\' && k+1 < len(s) {
			k++
		}
		b.WriteByte(s[k])
	}
	return b.String()
}

// associatedDN is the user of the 200's P-Associated-URI, <sip:DN@host>.
func associatedDN(res *sip.Response) string {
	h := res.GetHeader("P-Associated-URI")
	if h == nil {
		return ""
	}
	v := strings.TrimSpace(h.Value())
	v = strings.TrimPrefix(v, "<")
	if i := strings.IndexByte(v, '>'); i >= 0 {
		v = v[:i]
	}
	var u sip.Uri
	if err := sip.ParseUri(v, &u); err != nil {
		return ""
	}
	return u.User
}

// refreshInterval is when a phone refreshes its registration: at half the
// expiry the 200 granted (its Contact's expires, else the requested one).
func refreshInterval(res *sip.Response, requested int) time.Duration {
	granted := requested
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n < granted {
				granted = n
			}
		}
	}
	return time.Duration(granted) * time.Second / 2
}

// sipSession is a registered SIP phone.
type sipSession struct {
	p       *sipPhone
	refresh time.Duration
}

// hold refreshes the registration every refresh interval until ctx ends.
func (s *sipSession) hold(ctx context.Context) error {
	t := time.NewTicker(max(s.refresh, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.p.c.timeout)
		res, err := s.p.do(rctx, s.p.c.expires)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("refresh: %w", err)
		case res.StatusCode != sip.StatusOK:
			_, detail := sipRejection(res)
			return fmt.Errorf("refresh: %s", detail)
		}
	}
}

// unregister removes the phone's binding (Expires: 0).
func (s *sipSession) unregister(ctx context.Context) error {
	res, err := s.p.do(ctx, 0)
	if err != nil {
		return err
	}
	if res.StatusCode != sip.StatusOK {
		_, detail := sipRejection(res)
		return fmt.Errorf("%s", detail)
	}
	return nil
}

func (s *sipSession) close() {}
