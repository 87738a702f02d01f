package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/adapters/sccp/skinny"
	"github.com/autoreg/autoreg/domain"
)

// With --tftp a phone boots as a Cisco phone does (docs/provisioning.md):
// it fetches SEP<MAC>.cnf.xml from its TFTP server and, when that is not
// found (a phone the cluster does not know), XmlDefault.cnf.xml; it takes
// its CallManager list (priority order, processNodeName and the port of its
// protocol) and its firmware load from the file; it registers with the
// first CallManager of the list that accepts it, failing over as with
// --callmanagers; an SCCP phone then holds the whole conversation a 7961
// holds after RegisterAck. Once registered, a phone that booted from
// XmlDefault.cnf.xml fetches its own file again, which must now exist.
//
// phonesim reads the files as a phone does, with its own decoder: what it
// checks is the wire, not the registrar's types.

// Files a phone asks for.
const (
	defaultConfigName = "XmlDefault.cnf.xml"
	configSuffix      = ".cnf.xml"
)

// errFileNotFound is TFTP error 1: the server has no such file.
var errFileNotFound = errors.New("file not found")

// fetchTFTP reads name from the TFTP server at addr, within ctx's deadline.
func fetchTFTP(ctx context.Context, addr, name string) ([]byte, error) {
	c, err := tftp.NewClient(addr)
	if err != nil {
		return nil, fmt.Errorf("tftp %s: %w", addr, err)
	}
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(min(time.Until(d)/4, time.Second), 10*time.Millisecond)
	}
	c.SetTimeout(timeout)
	c.SetRetries(3)
	type answer struct {
		b   []byte
		err error
	}
	done := make(chan answer, 1)
	go func() { // pin/tftp's client takes no context: wait for it or for ctx
		wt, err := c.Receive(name, "octet")
		if err != nil {
			// pin/tftp reports a server's ERROR packet as "code: N, message: ..."
			if strings.HasPrefix(err.Error(), "code: 1,") {
				err = fmt.Errorf("tftp %s %s: %w", addr, name, errFileNotFound)
			} else {
				err = fmt.Errorf("tftp %s %s: %w", addr, name, err)
			}
			done <- answer{err: err}
			return
		}
		var b bytes.Buffer
		if _, err := wt.WriteTo(&b); err != nil {
			done <- answer{err: fmt.Errorf("tftp %s %s: %w", addr, name, err)}
			return
		}
		done <- answer{b: b.Bytes()}
	}()
	select {
	case a := <-done:
		return a.b, a.err
	case <-ctx.Done():
		return nil, fmt.Errorf("tftp %s %s: %w", addr, name, ctx.Err())
	}
}

// phoneFile is what a phone reads in SEP<MAC>.cnf.xml (<device>) and
// XmlDefault.cnf.xml (<Default>).
type phoneFile struct {
	Protocol string  `xml:"deviceProtocol"`
	Pool     cmGroup `xml:"devicePool>callManagerGroup"`
	Default  cmGroup `xml:"callManagerGroup"`
	Load     string  `xml:"loadInformation"`
	Lines    []struct {
		Name         string `xml:"name"`
		AuthName     string `xml:"authName"`
		AuthPassword string `xml:"authPassword"`
	} `xml:"sipProfile>sipLines>line"`
	Other []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

type cmGroup struct {
	Members []cmMember `xml:"members>member"`
}

type cmMember struct {
	Priority int    `xml:"priority,attr"`
	Name     string `xml:"callManager>name"`
	Host     string `xml:"callManager>processNodeName"`
	SCCPPort int    `xml:"callManager>ports>ethernetPhonePort"`
	SIPPort  int    `xml:"callManager>ports>sipPort"`
}

// parsePhoneFile decodes a configuration file; one that is not XML, or
// lists no CallManager, is an error: a phone could not register from it.
func parsePhoneFile(name string, b []byte) (phoneFile, error) {
	var f phoneFile
	if err := xml.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", name, err)
	}
	if len(f.group().Members) == 0 {
		return f, fmt.Errorf("%s lists no CallManager", name)
	}
	return f, nil
}

func (f phoneFile) group() cmGroup {
	if len(f.Pool.Members) > 0 {
		return f.Pool
	}
	return f.Default
}

// callManagers are the addresses (host:port) a phone of the protocol
// registers with, in priority order.
func (f phoneFile) callManagers(protocol string) []string {
	m := slices.Clone(f.group().Members)
	slices.SortStableFunc(m, func(a, b cmMember) int {
		return a.Priority - b.Priority
	})
	out := make([]string, 0, len(m))
	for _, cm := range m {
		port := cm.SCCPPort
		if protocol == ProtocolSIP {
			port = cm.SIPPort
		}
		if port == 0 {
			port = 2000
			if protocol == ProtocolSIP {
				port = 5060
			}
		}
		out = append(out, net.JoinHostPort(cm.Host, strconv.Itoa(port)))
	}
	return out
}

// load is the firmware load the file names for a phone of the model: its
// own file's <loadInformation>, or XmlDefault's <loadInformationN> for the
// model's SCCP device type N.
func (f phoneFile) load(model string) string {
	if f.Load != "" {
		return f.Load
	}
	m, ok := domain.LookupModel(model)
	if !ok || m.SCCPType == 0 {
		return ""
	}
	want := "loadInformation" + strconv.Itoa(int(m.SCCPType))
	for _, o := range f.Other {
		if o.XMLName.Local == want {
			return strings.TrimSpace(o.Value)
		}
	}
	return ""
}

// bootClient registers phones that boot from TFTP.
type bootClient struct {
	tftp string
	// creds receives the digest credentials of the SIP phones' files.
	creds   *credentials
	timeout time.Duration // of a boot
	// sip makes the SIP client of a CallManager address, once.
	sip func(ctx context.Context, addr string) (*sipClient, error)
}

// register boots s: configuration file, CallManager list, registration,
// and the own file once registered. The registered phone's session boots
// it again when its CallManager resets it (SCCP Reset).
func (c *bootClient) register(ctx context.Context, s spec) attempt {
	a, sips := c.boot(ctx, s)
	if a.session != nil {
		b := &bootSession{c: c, s: s, inner: a.session, report: &a.phone, sipReset: make(chan struct{}, 1)}
		b.listen(sips)
		a.session = b
	}
	return a
}

// boot boots s once; a SIP phone's result names the SIP clients of its
// CallManagers (where a NOTIFY check-sync may come from).
func (c *bootClient) boot(ctx context.Context, s spec) (attempt, []*sipClient) {
	a := c.bootOnce(ctx, s)
	if a.session == nil || s.protocol != ProtocolSIP {
		return a, nil
	}
	f, ok := a.session.(*sipListSession)
	if !ok {
		return a, nil
	}
	clients := make([]*sipClient, len(f.phones))
	for i, p := range f.phones {
		clients[i] = p.c
	}
	return a, clients
}

func (c *bootClient) bootOnce(ctx context.Context, s spec) attempt {
	start := time.Now()
	own := s.device + configSuffix
	name := own
	b, err := fetchTFTP(ctx, c.tftp, own)
	if errors.Is(err, errFileNotFound) {
		name = defaultConfigName
		b, err = fetchTFTP(ctx, c.tftp, name)
	}
	if err != nil {
		return attempt{phone: failed(s, fmt.Errorf("boot: %w", err), time.Since(start))}
	}
	f, err := parsePhoneFile(name, b)
	if err != nil {
		return attempt{phone: failed(s, fmt.Errorf("boot: %w", err), time.Since(start))}
	}
	c.learn(s, f)
	cms := f.callManagers(s.protocol)
	var a attempt
	if s.protocol == ProtocolSIP {
		list := &sipListClient{}
		for _, addr := range cms {
			cl, err := c.sip(ctx, addr)
			if err != nil {
				return attempt{phone: failed(s, fmt.Errorf("boot: %s lists %s: %w", name, addr, err), time.Since(start))}
			}
			list.clients = append(list.clients, cl)
		}
		a = list.register(ctx, s)
	} else {
		a = (&sccpListClient{cms: cms, start: true}).register(ctx, s)
	}
	a.phone.Config, a.phone.Load = name, f.load(s.model)
	if a.session == nil || name == own {
		return a
	}
	// Autoregistered: the phone's own file exists from now on.
	b, err = fetchTFTP(ctx, c.tftp, own)
	if err == nil {
		f, err = parsePhoneFile(own, b)
	}
	if err != nil {
		a.session.close()
		return attempt{phone: failed(s, fmt.Errorf("registered, but its own file: %w", err), time.Since(start))}
	}
	c.learn(s, f)
	a.phone.Config, a.phone.Load = own, f.load(s.model)
	if s.protocol == ProtocolSIP && (len(f.Lines) == 0 || f.Lines[0].Name != a.phone.DN) {
		a.phone.Detail = fmt.Sprintf("%s's line 1 is not the DN %s the registrar gave", own, a.phone.DN)
	}
	return a
}

// learn keeps the digest credentials a SIP phone's file gives its line 1.
func (c *bootClient) learn(s spec, f phoneFile) {
	if s.protocol != ProtocolSIP || c.creds == nil {
		return
	}
	if len(f.Lines) == 0 {
		c.creds.set(s.device, "", "")
		return
	}
	c.creds.set(s.device, f.Lines[0].AuthName, f.Lines[0].AuthPassword)
}

// sipClients makes one SIP client per CallManager address, shared by the
// phones that list it, and closes them all at the end.
type sipClients struct {
	mu        sync.Mutex
	clients   map[string]*sipClient
	transport string
	expires   int
	timeout   time.Duration
	log       *slog.Logger
	creds     *credentials
}

func (s *sipClients) get(ctx context.Context, addr string) (*sipClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[addr]; ok {
		return c, nil
	}
	c, err := newSIPClient(ctx, addr, s.transport, s.expires, s.timeout, s.log)
	if err != nil {
		return nil, err
	}
	c.creds = s.creds
	if s.clients == nil {
		s.clients = map[string]*sipClient{}
	}
	s.clients[addr] = c
	return c, nil
}

func (s *sipClients) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		c.close()
	}
}

// bootSession is a phone booted from TFTP, registered. On an SCCP Reset it
// does what a Cisco phone does: it unregisters, fetches its configuration
// file again and registers with the CallManagers it lists now (a new
// device pool's, after `registrar admin device set --pool`).
type bootSession struct {
	c      *bootClient
	s      spec
	inner  registration
	report *Phone
	// A SIP phone is reset by a NOTIFY check-sync from one of its
	// CallManagers (sips), which sends on sipReset.
	sips     []*sipClient
	sipReset chan struct{}
}

// listen makes the SIP clients of the phone's CallManagers tell it of a
// check-sync, and the previous ones no longer.
func (b *bootSession) listen(sips []*sipClient) {
	for _, c := range b.sips {
		c.onReset(b.s.device, nil)
	}
	b.sips = sips
	for _, c := range sips {
		c.onReset(b.s.device, b.sipReset)
	}
}

// holdUntilReset holds the registration until ctx ends, the registration
// fails, or the CallManager resets the phone (a *phone.ResetError).
func (b *bootSession) holdUntilReset(ctx context.Context) error {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.inner.hold(hctx) }()
	select {
	case err := <-done:
		return err
	case <-b.sipReset:
		cancel()
		<-done
		return &phone.ResetError{Device: b.s.device, Type: skinny.ResetReset}
	}
}

func (b *bootSession) bind(p *Phone) {
	b.report = p
	if r, ok := b.inner.(interface{ bind(*Phone) }); ok {
		r.bind(p)
	}
}

func (b *bootSession) hold(ctx context.Context) error {
	defer b.listen(nil)
	for {
		err := b.holdUntilReset(ctx)
		var reset *phone.ResetError
		if !errors.As(err, &reset) || ctx.Err() != nil {
			return err
		}
		uctx, cancel := context.WithTimeout(ctx, b.c.timeout)
		_ = b.inner.unregister(uctx)
		cancel()
		b.inner.close()
		rctx, cancel := context.WithTimeout(ctx, b.c.timeout)
		a, sips := b.c.boot(rctx, b.s)
		cancel()
		b.listen(sips)
		if a.session == nil {
			return fmt.Errorf("after a reset: %s %s", a.phone.Reason, a.phone.Detail)
		}
		a.phone.Resets = b.report.Resets + 1
		a.phone.LatencyMS = b.report.LatencyMS // the first registration's
		*b.report = a.phone
		b.inner = a.session
		if r, ok := b.inner.(interface{ bind(*Phone) }); ok {
			r.bind(b.report)
		}
	}
}

func (b *bootSession) unregister(ctx context.Context) error { return b.inner.unregister(ctx) }

func (b *bootSession) close() { b.inner.close() }
