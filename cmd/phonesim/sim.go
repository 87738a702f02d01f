package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// Protocol choices of Options.Protocol.
const (
	ProtocolSIP  = "sip"
	ProtocolSCCP = "sccp"
	ProtocolMix  = "mix"
)

// Results of a phone's registration (Phone.Result).
const (
	ResultRegistered = "registered"
	ResultRejected   = "rejected"
	ResultError      = "error"
)

// Options describe a simulation. The zero value of a field means its default
// where one is given.
type Options struct {
	// SIPAddr is host:port of the registrar's SIP side; needed when a phone
	// registers over SIP.
	SIPAddr string
	// SIPTransport is "udp" (default) or "tcp".
	SIPTransport string
	// SCCPAddr is host:port of the registrar's SCCP side; needed when a
	// phone registers over SCCP.
	SCCPAddr string
	// SCCPCallManagers and SIPCallManagers, when set, are the phones'
	// CallManager lists (host:port each, in order), in place of SCCPAddr
	// and SIPAddr: the phones register with the first that accepts them,
	// fail over and fall back as Cisco phones do (see failover.go).
	SCCPCallManagers []string
	SIPCallManagers  []string
	// TFTPAddr, when set, is the phones' TFTP server (host:port): each
	// phone boots from its configuration file there (boot.go), which
	// names its CallManagers, in place of the addresses above.
	TFTPAddr string
	// AuthTFTP, when set (host:port), is where SIP phones not booting from
	// TFTP fetch their configuration file for its digest credentials when
	// the registrar challenges them (a phone holds the file it booted
	// from). Without it (and without TFTPAddr) they have none: a 401 is
	// their answer.
	AuthTFTP string

	// Phones is how many phones register. 0 with Devices: one per device.
	Phones int
	// Protocol is "sip", "sccp" or "mix" (default sccp). With mix, phone i
	// (counting from 0) registers over SCCP when i is even and over SIP when
	// it is odd, unless its model speaks only one of them: then it uses that
	// one.
	Protocol string
	// Models are catalogue names ("7961"), given to the phones in turn
	// (default 7961). A name outside the catalogue is sent as is: the
	// registrar should reject it as unknown_model.
	Models []string
	// Devices are the phones' device names (SEP and the MAC); when empty
	// they are derived from Seed (SeededDevices).
	Devices []string
	// Seed derives the MACs when Devices is empty.
	Seed uint64

	// Rate is how many phones start per second; 0 starts them as fast as
	// Concurrency allows.
	Rate float64
	// Concurrency bounds the registrations in flight (default 64).
	Concurrency int
	// Timeout bounds each registration, DN included (default 5s).
	Timeout time.Duration
	// Hold keeps the registered phones registered this long (SCCP
	// keepalives, SIP refreshes) before the end; it ends early when ctx does.
	Hold time.Duration
	// Unregister unregisters the phones at the end (SIP Expires: 0, SCCP
	// UnregisterMessage). Otherwise SIP bindings are left to expire and
	// SCCP connections are closed.
	Unregister bool
	// Expires is the SIP registration's requested expiry in seconds
	// (default 3600).
	Expires int

	// Logger receives sipgo's logs; nil discards them.
	Logger *slog.Logger
}

// Result is what a simulation found.
type Result struct {
	// Registered counts the phones the registrar accepted.
	Registered int `json:"registered"`
	// Rejected counts the phones the registrar refused, by reason
	// (domain.RejectReason when recognised; "busy" for a registrar that
	// asked to come back later).
	Rejected map[string]int `json:"rejected"`
	// Errors counts the phones that got no answer (timeout, connection
	// refused ...); ErrorKinds counts them by kind.
	Errors     int            `json:"errors"`
	ErrorKinds map[string]int `json:"error_kinds"`
	// Unregistered counts the phones unregistered at the end.
	Unregistered int `json:"unregistered"`
	// Lost counts registered phones that failed later: a keepalive, a
	// refresh or the unregistration.
	Lost int `json:"lost"`
	// ElapsedMS is the registration phase's duration (hold excluded).
	ElapsedMS float64 `json:"elapsed_ms"`
	// Rate is answers (registered or rejected) per second over ElapsedMS.
	Rate float64 `json:"rate"`
	// Latency summarises the answered registrations' round trips.
	Latency Latency `json:"latency_ms"`
	// Phones is every phone, in the order they started.
	Phones []Phone `json:"phones"`
}

// Latency percentiles, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Phone is one simulated phone's outcome.
type Phone struct {
	Device   string `json:"device"`
	Model    string `json:"model"`
	Protocol string `json:"protocol"` // "sip" or "sccp"
	DN       string `json:"dn"`
	Result   string `json:"result"` // registered, rejected or error
	// Reason is the rejection reason, or the error's kind (timeout,
	// connection_refused, connection_closed, cancelled, error).
	Reason string `json:"reason"`
	// Detail is the registrar's text (SIP Warning, SCCP reject text) or the
	// error message.
	Detail string `json:"detail,omitempty"`
	// LatencyMS is the registration's round trip (the SCCP DN request
	// excluded).
	LatencyMS    float64 `json:"latency_ms"`
	Unregistered bool    `json:"unregistered,omitempty"`
	// Node is the CallManager (host:port) the phone is registered with at
	// the end, with a CallManager list; Failovers and Fallbacks count its
	// moves to a backup and back to the first.
	Node      string `json:"node,omitempty"`
	Failovers int    `json:"failovers,omitempty"`
	Fallbacks int    `json:"fallbacks,omitempty"`
	// Lost says why a registered phone failed later.
	Lost string `json:"lost,omitempty"`
	// With --tftp: Config is the configuration file the phone went by last
	// (XmlDefault.cnf.xml until it autoregistered, then its own), Load the
	// firmware load that file names for it, VersionLoad the load the
	// CallManager's VersionMessage named (SCCP).
	Config      string `json:"config,omitempty"`
	Load        string `json:"load,omitempty"`
	VersionLoad string `json:"version_load,omitempty"`
	// Resets counts the times its CallManager reset it (--tftp, SCCP): each
	// time it booted again from its configuration file.
	Resets int `json:"resets,omitempty"`
}

// ExitCode is the command's exit status for r: 0 when every phone got an
// answer and none was lost afterwards, 1 otherwise.
func (r *Result) ExitCode() int {
	if r.Errors > 0 || r.Lost > 0 {
		return 1
	}
	return 0
}

// UsageError is Run's error for invalid Options.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

var modelName = regexp.MustCompile(`^[0-9A-Za-z]{1,16}$`)

// normalise fills the defaults of o and checks it.
func (o Options) normalise() (Options, error) {
	if o.Protocol == "" {
		o.Protocol = ProtocolSCCP
	}
	o.Protocol = strings.ToLower(o.Protocol)
	if o.SIPTransport == "" {
		o.SIPTransport = "udp"
	}
	o.SIPTransport = strings.ToLower(o.SIPTransport)
	if len(o.Models) == 0 {
		o.Models = []string{"7961"}
	}
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Expires == 0 {
		o.Expires = 3600
	}
	if o.Phones == 0 && len(o.Devices) > 0 {
		o.Phones = len(o.Devices)
	}

	switch {
	case o.Protocol != ProtocolSIP && o.Protocol != ProtocolSCCP && o.Protocol != ProtocolMix:
		return o, usagef("--protocol %q: use sip, sccp or mix", o.Protocol)
	case o.SIPTransport != "udp" && o.SIPTransport != "tcp":
		return o, usagef("--sip-transport %q: use udp or tcp", o.SIPTransport)
	case o.Phones < 1:
		return o, usagef("--phones %d: at least one phone", o.Phones)
	case len(o.Devices) > 0 && o.Phones > len(o.Devices):
		return o, usagef("--phones %d but only %d MACs", o.Phones, len(o.Devices))
	case o.Rate < 0:
		return o, usagef("--rate %v: 0 (as fast as possible) or more", o.Rate)
	case o.Concurrency < 1:
		return o, usagef("--concurrency %d: at least 1", o.Concurrency)
	case o.Timeout < 0:
		return o, usagef("--timeout %v: must be positive", o.Timeout)
	case o.Hold < 0:
		return o, usagef("--hold %v: must not be negative", o.Hold)
	case o.Expires < 1:
		return o, usagef("--expires %d: at least 1 second", o.Expires)
	}
	models := make([]string, len(o.Models))
	for i, m := range o.Models {
		m = normaliseModel(m)
		if !modelName.MatchString(m) {
			return o, usagef("--models: %q is not a model name (letters and digits, e.g. 7961)", o.Models[i])
		}
		models[i] = m
	}
	o.Models = models
	for _, d := range o.Devices {
		if !domain.ValidDeviceName(d) {
			return o, usagef("device %q is not SEP and 12 upper-case hex digits", d)
		}
	}
	return o, nil
}

// normaliseModel accepts "7961", "CP-7961G" and "7961G" for a catalogue
// model; anything else is kept as given.
func normaliseModel(m string) string {
	m = strings.TrimSpace(m)
	s := strings.ToUpper(m)
	s = strings.TrimPrefix(s, "CP-")
	if _, ok := domain.LookupModel(s); ok {
		return s
	}
	if t := strings.TrimSuffix(s, "G"); t != s {
		if _, ok := domain.LookupModel(t); ok {
			return t
		}
	}
	return m
}

// spec is one phone to simulate.
type spec struct {
	device   string
	model    string
	protocol string // ProtocolSIP or ProtocolSCCP
}

// plan lists the phones o describes.
func plan(o Options) []spec {
	devices := o.Devices
	if len(devices) == 0 {
		devices = SeededDevices(o.Seed, o.Phones)
	}
	out := make([]spec, o.Phones)
	for i := range out {
		model := o.Models[i%len(o.Models)]
		out[i] = spec{device: devices[i], model: model, protocol: protocolFor(o.Protocol, model, i)}
	}
	return out
}

// protocolFor picks the protocol of phone i of the model for a choice.
func protocolFor(choice, model string, i int) string {
	if choice != ProtocolMix {
		return choice
	}
	if m, ok := domain.LookupModel(model); ok && !m.DualProtocol() && len(m.Protocols) > 0 {
		return strings.ToLower(string(m.Protocols[0]))
	}
	if i%2 == 0 {
		return ProtocolSCCP
	}
	return ProtocolSIP
}

// registration is a registered phone's session, for the hold and the end.
type registration interface {
	// hold keeps the phone registered until ctx ends; it returns why it
	// could not.
	hold(ctx context.Context) error
	// unregister ends the registration.
	unregister(ctx context.Context) error
	// close releases the phone without unregistering.
	close()
}

// attempt is the outcome of one phone's registration.
type attempt struct {
	phone   Phone
	session registration // nil unless registered
}

// Run simulates the phones o describes against a registrar and reports what
// each got. Its error is a *UsageError for invalid options; everything that
// goes wrong with the phones is in the Result (see Result.ExitCode). When
// ctx ends, the phones not started yet are reported as cancelled errors and
// the hold ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.normalise()
	if err != nil {
		return nil, err
	}
	specs := plan(o)
	needSIP := slices.ContainsFunc(specs, func(s spec) bool { return s.protocol == ProtocolSIP })
	needSCCP := slices.ContainsFunc(specs, func(s spec) bool { return s.protocol == ProtocolSCCP })
	if o.AuthTFTP != "" {
		if _, _, err := net.SplitHostPort(o.AuthTFTP); err != nil {
			return nil, usagef("--auth-tftp %q: want host:port, e.g. 127.0.0.1:69", o.AuthTFTP)
		}
	}
	if o.TFTPAddr != "" {
		if _, _, err := net.SplitHostPort(o.TFTPAddr); err != nil {
			return nil, usagef("--tftp %q: want host:port, e.g. 127.0.0.1:69", o.TFTPAddr)
		}
		needSIP, needSCCP = false, false // the files name the CallManagers
	}
	if needSIP {
		if _, _, err := net.SplitHostPort(o.SIPAddr); err != nil {
			return nil, usagef("--sip %q: want host:port, e.g. 127.0.0.1:5060", o.SIPAddr)
		}
	}
	if needSCCP {
		if _, _, err := net.SplitHostPort(o.SCCPAddr); err != nil {
			return nil, usagef("--sccp %q: want host:port, e.g. 127.0.0.1:2000", o.SCCPAddr)
		}
	}
	for _, l := range []struct {
		flag string
		cms  []string
	}{{"--callmanagers", o.SCCPCallManagers}, {"--sip-callmanagers", o.SIPCallManagers}} {
		for _, a := range l.cms {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, usagef("%s: %q: want host:port, e.g. 127.0.0.1:2000", l.flag, a)
			}
		}
	}

	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var sipc interface {
		register(context.Context, spec) attempt
	}
	var authCreds *credentials
	if o.AuthTFTP != "" {
		authCreds = &credentials{tftp: o.AuthTFTP}
	}
	if needSIP && len(o.SIPCallManagers) > 0 {
		list := &sipListClient{}
		for _, a := range o.SIPCallManagers {
			c, err := newSIPClient(ctx, a, o.SIPTransport, o.Expires, o.Timeout, log)
			if err != nil {
				return nil, err
			}
			defer c.close()
			c.creds = authCreds
			list.clients = append(list.clients, c)
		}
		sipc = list
	} else if needSIP {
		c, err := newSIPClient(ctx, o.SIPAddr, o.SIPTransport, o.Expires, o.Timeout, log)
		if err != nil {
			return nil, err
		}
		defer c.close()
		c.creds = authCreds
		sipc = c
	}
	var sccpc interface {
		register(context.Context, spec) attempt
	} = &sccpClient{addr: o.SCCPAddr}
	if len(o.SCCPCallManagers) > 0 {
		sccpc = &sccpListClient{cms: o.SCCPCallManagers}
	}

	var boot *bootClient
	if o.TFTPAddr != "" {
		creds := &credentials{}
		sips := &sipClients{transport: o.SIPTransport, expires: o.Expires, timeout: o.Timeout, log: log, creds: creds}
		defer sips.close()
		boot = &bootClient{tftp: o.TFTPAddr, timeout: o.Timeout, creds: creds, sip: func(_ context.Context, addr string) (*sipClient, error) {
			return sips.get(ctx, addr) // the client outlives the phone's registration
		}}
	}

	attempts := make([]attempt, len(specs))
	started := time.Now()
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i, s := range specs {
		if err := pace(ctx, started, i, o.Rate); err == nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			attempts[i] = attempt{phone: failed(s, ctx.Err(), 0)}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			var a attempt
			if boot != nil {
				a = boot.register(rctx, s)
			} else if s.protocol == ProtocolSIP {
				a = sipc.register(rctx, s)
			} else {
				a = sccpc.register(rctx, s)
			}
			if a.session != nil && o.Hold == 0 && !o.Unregister {
				// Nothing more to do with it: release its connection now
				// rather than hold one per phone until the end.
				a.session.close()
				a.session = nil
			}
			attempts[i] = a
			if b, ok := a.session.(interface{ bind(*Phone) }); ok {
				b.bind(&attempts[i].phone) // it reports its moves there
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)

	finish(ctx, attempts, o)
	return summarise(attempts, elapsed), nil
}

// pace waits until phone i may start at rate phones per second.
func pace(ctx context.Context, started time.Time, i int, rate float64) error {
	if rate <= 0 {
		return ctx.Err()
	}
	at := started.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish holds the registered phones for o.Hold, then unregisters or
// releases them.
func finish(ctx context.Context, attempts []attempt, o Options) {
	var wg sync.WaitGroup
	if o.Hold > 0 {
		hctx, cancel := context.WithTimeout(ctx, o.Hold)
		for i := range attempts {
			a := &attempts[i]
			if a.session == nil {
				continue
			}
			wg.Go(func() {
				if err := a.session.hold(hctx); err != nil {
					a.phone.Lost = err.Error()
				}
			})
		}
		wg.Wait()
		cancel()
	}

	// The unregistrations go ahead even after an interrupt: that is when
	// they matter most.
	base := context.WithoutCancel(ctx)
	sem := make(chan struct{}, o.Concurrency)
	for i := range attempts {
		a := &attempts[i]
		if a.session == nil {
			continue
		}
		if !o.Unregister || a.phone.Lost != "" {
			a.session.close()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			uctx, cancel := context.WithTimeout(base, o.Timeout)
			defer cancel()
			if err := a.session.unregister(uctx); err != nil {
				a.phone.Lost = "unregister: " + err.Error()
			} else {
				a.phone.Unregistered = true
			}
			a.session.close()
		})
	}
	wg.Wait()
}

// summarise counts the attempts.
func summarise(attempts []attempt, elapsed time.Duration) *Result {
	r := &Result{
		Rejected:   map[string]int{},
		ErrorKinds: map[string]int{},
		ElapsedMS:  ms(elapsed),
		Phones:     make([]Phone, len(attempts)),
	}
	var latencies []float64
	for i, a := range attempts {
		p := a.phone
		r.Phones[i] = p
		switch p.Result {
		case ResultRegistered:
			r.Registered++
		case ResultRejected:
			r.Rejected[p.Reason]++
		default:
			r.Errors++
			r.ErrorKinds[p.Reason]++
			continue
		}
		latencies = append(latencies, p.LatencyMS)
		if p.Unregistered {
			r.Unregistered++
		}
		if p.Lost != "" {
			r.Lost++
		}
	}
	if elapsed > 0 {
		r.Rate = float64(len(latencies)) / elapsed.Seconds()
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		at := func(q float64) float64 { return latencies[int(q*float64(len(latencies)-1)+0.5)] }
		r.Latency = Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: latencies[len(latencies)-1]}
	}
	return r
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// failed is the Phone of s when its registration got no answer.
func failed(s spec, err error, took time.Duration) Phone {
	return Phone{
		Device: s.device, Model: s.model, Protocol: s.protocol,
		Result: ResultError, Reason: errorKind(err), Detail: err.Error(), LatencyMS: ms(took),
	}
}

// errorKind classifies a failure to get an answer.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "connection_closed"
	}
	return "error"
}

// rejectionReason maps a registrar's rejection text to its reason: the
// SCCP reject texts (domain.Rejection.Short), the SIP Warning texts
// (domain.Rejection.Error: "SEP... may not register: detail") and the
// adapters' own refusals. An unknown text is returned as is.
func rejectionReason(text string) string {
	t := strings.TrimSpace(text)
	for _, reason := range domain.RejectReasons {
		if strings.EqualFold(t, (&domain.Rejection{Reason: reason}).Short()) {
			return string(reason)
		}
	}
	detail := t
	if _, after, ok := strings.Cut(t, "may not register: "); ok {
		detail = after
	}
	for _, reason := range domain.RejectReasons {
		if detail == string(reason) {
			return detail
		}
	}
	lower := strings.ToLower(detail)
	for _, k := range rejectionKeywords {
		if strings.Contains(lower, k.text) {
			return k.reason
		}
	}
	return t
}

// rejectionKeywords recognise the details the domain gives its rejections
// (domain/decide.go) and the adapters' own reject texts.
var rejectionKeywords = []struct{ text, reason string }{
	{"autoregistration is closed", string(domain.RejectWindowClosed)},
	{"mixed mode", string(domain.RejectMixedMode)},
	{"starting dn equals its ending dn", string(domain.RejectRangeDisabled)},
	{"is not in the catalogue", string(domain.RejectUnknownModel)},
	{"did not say its model", string(domain.RejectUnknownModel)},
	{"does not speak", string(domain.RejectWrongProtocol)},
	{"autoregisters over", string(domain.RejectWrongProtocol)},
	{"is configured for", string(domain.RejectWrongProtocol)},
	{"every dn from", string(domain.RejectRangeExhausted)},
	{"registrar busy", "busy"},
	{"invalid device name", "invalid_device"},
	{"registration failed", "failed"},
}

// inCatalogue reports whether model is a catalogue name.
func inCatalogue(model string) bool {
	_, ok := domain.LookupModel(model)
	return ok
}
