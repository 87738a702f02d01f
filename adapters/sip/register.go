package sip

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// adapterName is the Registration.Adapter of everything this package reports.
const adapterName = "sip"

// Cisco's Contact parameters: the device name, and the SCCP device type code
// of the model (the phones send both on every REGISTER).
const (
	ciscoDeviceNameParam = "+u.sip!devicename.ccm.cisco.com"
	ciscoModelParam      = "+u.sip!model.ccm.cisco.com"
)

// register is a REGISTER that passed validation: what processing needs,
// copied out of the message.
type register struct {
	msg      *sipmsg.Request
	key      uint64 // transaction key
	mac      uint64 // device table key
	device   string // SEP + MAC
	model    string // catalogue name, "" when unknown
	peer     netip.AddrPort
	peerText string // peer as ip:port
	reliable bool
	callID   string
	cseq     uint32
	// query: no Contact, the request only asks for the bindings.
	query bool
	// wildcard: "Contact: *" with "Expires: 0", remove every binding.
	wildcard bool
	contacts []contact

	next *register // the next request queued for the device

	// Where the answer goes: send writes it, done (optional) is called after.
	send     func(*sipmsg.Response)
	done     func()
	listener *listener // nil outside a transport
}

// contact is one Contact of a REGISTER.
type contact struct {
	uri      string        // canonical URI
	instance uint64        // hash of +sip.instance, 0 when absent
	expires  time.Duration // granted expiry; 0 removes the binding
}

// rejectf builds the outcome of a request refused before processing, with a
// Warning text.
func rejectf(status uint16, format string, args ...any) outcome {
	return outcome{status: status, text: fmt.Sprintf(format, args...)}
}

// validate checks a request as RFC 3261 10.3 steps 2 to 7 require, up to
// the point where the device's bindings are needed. It returns either the
// request to process or the outcome to answer right away (ok false). A nil
// register with ok false and a zero outcome means: send nothing.
func (s *Server) validate(req *sipmsg.Request, peer netip.AddrPort, reliable bool) (*register, outcome, bool) {
	if req.IsAck() {
		return nil, outcome{}, false // no response is wanted
	}
	hs, ok := scanHeaders(req)
	if !ok {
		// The response would carry the request's broken lines.
		return nil, outcome{}, false
	}
	// Mandatory headers (RFC 3261 8.1.1, 10.2). Without Via the answer
	// still reaches the sender: the datagram's source, the connection.
	switch {
	case req.Via() == nil:
		return nil, rejectf(400, "missing Via"), false
	case req.From() == nil:
		return nil, rejectf(400, "missing From"), false
	case req.To() == nil:
		return nil, rejectf(400, "missing To"), false
	case req.CallID() == nil || strings.TrimSpace(string(*req.CallID())) == "":
		return nil, rejectf(400, "missing Call-ID"), false
	case req.CSeq() == nil:
		return nil, rejectf(400, "missing CSeq"), false
	case req.CSeq().MethodName != req.Method:
		return nil, rejectf(400, "CSeq method %q is not %s", req.CSeq().MethodName, req.Method), false
	}
	switch req.Method {
	case sipmsg.REGISTER:
	case sipmsg.OPTIONS:
		return nil, outcome{status: 200}, false
	case sipmsg.CANCEL:
		// A REGISTER cannot be cancelled, and there is nothing else.
		return nil, outcome{status: 481}, false
	default:
		return nil, outcome{status: 405}, false
	}
	// Step 2: this registrar supports no extension. The option tags are
	// echoed in Unsupported: only tokens are (sipgo lets a bare LF through
	// inside a value, which would start a header of the peer's choosing).
	for _, tag := range hs.require {
		if !isToken(tag) {
			return nil, rejectf(400, "invalid Require option tag"), false
		}
	}
	if len(hs.require) > 0 {
		return nil, outcome{status: 420, text: strings.Join(hs.require, ", ")}, false
	}

	r := &register{
		msg:      req,
		key:      transactionKey(req),
		peer:     peer,
		peerText: peer.String(),
		reliable: reliable,
		callID:   string(*req.CallID()),
		cseq:     req.CSeq().SeqNo,
	}

	mac, ok := deviceMAC(req, hs.contacts)
	if !ok {
		// Step 3: the address-of-record names no device this registrar serves.
		return nil, rejectf(404, "no device name: neither a Contact +sip.instance with a MAC nor a To user SEP<MAC>"), false
	}
	r.mac = mac
	r.device = deviceName(mac)
	r.model = deviceModel(hs.userAgent, hs.contacts)

	// Expires header, for contacts without an expires parameter.
	defExpires := s.cfg.DefaultExpires
	if hs.expires != nil {
		d, ok := parseDeltaSeconds(*hs.expires)
		if !ok {
			return nil, rejectf(400, "invalid Expires %q", *hs.expires), false
		}
		defExpires = d
	}

	if len(hs.contacts) == 0 {
		r.query = true // step 6: no Contact, a query
		return r, outcome{}, true
	}

	for _, c := range hs.contacts {
		if c.Address.Wildcard {
			// Step 6: "*" only alone, with Expires: 0.
			if len(hs.contacts) != 1 || hs.expires == nil || defExpires != 0 || len(c.Params) > 0 {
				return nil, rejectf(400, "Contact: * needs Expires: 0 and no other Contact"), false
			}
			r.wildcard = true
			return r, outcome{}, true
		}
	}

	r.contacts = make([]contact, 0, len(hs.contacts))
	for _, c := range hs.contacts {
		uri, ok := canonicalURI(&c.Address)
		if !ok || !oneLine(uri) {
			return nil, rejectf(400, "invalid Contact URI %q", c.Address.String()), false
		}
		expires := defExpires
		if v, ok := param(c.Params, "expires"); ok {
			if expires, ok = parseDeltaSeconds(v); !ok {
				return nil, rejectf(400, "invalid Contact expires %q", v), false
			}
		}
		// Step 7: too brief is refused, too long is shortened.
		if expires > 0 && expires < s.cfg.MinExpires {
			return nil, outcome{status: 423, minExpires: uint32(s.cfg.MinExpires / time.Second)}, false
		}
		expires = min(expires, s.cfg.MaxExpires)
		var instance uint64
		if v, ok := param(c.Params, "+sip.instance"); ok {
			instance = maphash.String(txSeed, strings.ToLower(unquote(v)))
		}
		r.contacts = append(r.contacts, contact{uri: uri, instance: instance, expires: expires})
	}
	return r, outcome{}, true
}

// headerScan is what validate needs of a request's headers.
type headerScan struct {
	contacts  []*sipmsg.ContactHeader
	expires   *string // Expires value
	userAgent string
	require   []string // option tags of Require
}

// scanHeaders reads the headers validate needs in one pass. ok is false when
// a header that a response copies from the request (RFC 3261 8.2.6: Via,
// From, To, Call-ID, CSeq) holds a CR or LF: sipgo's parser lets a bare one
// through inside a value, and echoing it would put lines of the peer's
// choosing into the response.
func scanHeaders(req *sipmsg.Request) (hs headerScan, ok bool) {
	for _, h := range req.Headers() {
		switch h := h.(type) {
		case *sipmsg.ContactHeader:
			hs.contacts = append(hs.contacts, h)
		case *sipmsg.ViaHeader:
			if !oneLine(h.ProtocolName, h.ProtocolVersion, h.Transport, h.Host) || !oneLineParams(h.Params) {
				return hs, false
			}
		case *sipmsg.FromHeader:
			if !oneLine(h.DisplayName) || !oneLineURI(&h.Address) || !oneLineParams(h.Params) {
				return hs, false
			}
		case *sipmsg.ToHeader:
			if !oneLine(h.DisplayName) || !oneLineURI(&h.Address) || !oneLineParams(h.Params) {
				return hs, false
			}
		case *sipmsg.CallIDHeader:
			if !oneLine(string(*h)) {
				return hs, false
			}
		case *sipmsg.CSeqHeader:
			if !oneLine(string(h.MethodName)) {
				return hs, false
			}
		default:
			switch name := h.Name(); {
			case strings.EqualFold(name, "Expires"):
				v := h.Value()
				hs.expires = &v
			case strings.EqualFold(name, "User-Agent"):
				hs.userAgent = h.Value()
			case strings.EqualFold(name, "Require"):
				for tag := range strings.SplitSeq(h.Value(), ",") {
					if tag = strings.TrimSpace(tag); tag != "" {
						hs.require = append(hs.require, tag)
					}
				}
			}
		}
	}
	return hs, true
}

// isToken reports whether s is an RFC 3261 token (25.1): alphanumerics and
// -.!%*_+`'~.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func oneLine(ss ...string) bool {
	for _, s := range ss {
		if strings.ContainsAny(s, "\r\n") {
			return false
		}
	}
	return true
}

func oneLineParams(p sipmsg.HeaderParams) bool {
	for _, kv := range p {
		if !oneLine(kv.K, kv.V) {
			return false
		}
	}
	return true
}

func oneLineURI(u *sipmsg.Uri) bool {
	return oneLine(u.Scheme, u.User, u.Password, u.Host, u.Raw()) && oneLineParams(u.UriParams) && oneLineParams(u.Headers)
}

// deviceMAC names the device: the MAC in a Contact's +sip.instance (Cisco
// phones send "<urn:uuid:00000000-0000-0000-0000-001122aabbcc>"), else Cisco's
// devicename Contact parameter, else a To user SEP<MAC>.
func deviceMAC(req *sipmsg.Request, contacts []*sipmsg.ContactHeader) (uint64, bool) {
	for _, c := range contacts {
		if v, ok := param(c.Params, "+sip.instance"); ok {
			if mac, ok := instanceMAC(unquote(v)); ok {
				return mac, true
			}
		}
	}
	for _, c := range contacts {
		if v, ok := param(c.Params, ciscoDeviceNameParam); ok {
			if mac, ok := sepMAC(unquote(v)); ok {
				return mac, true
			}
		}
	}
	return sepMAC(req.To().Address.User)
}

// instanceMAC takes the MAC from the last 12 hex digits of an instance ID
// "<urn:uuid:...>".
func instanceMAC(instance string) (uint64, bool) {
	s := strings.TrimSuffix(strings.TrimPrefix(instance, "<"), ">")
	if len(s) < len("urn:uuid:")+12 || !strings.EqualFold(s[:len("urn:uuid:")], "urn:uuid:") {
		return 0, false
	}
	s = s[len("urn:uuid:"):]
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		s = s[i+1:]
	}
	return macKey(s)
}

// sepMAC parses a device name SEP<MAC> (the MAC in any case).
func sepMAC(name string) (uint64, bool) {
	if len(name) != 15 || !strings.EqualFold(name[:3], "SEP") {
		return 0, false
	}
	return macKey(name[3:])
}

// deviceModel reads the model from User-Agent ("Cisco-CP7961G/9.4.2" is a
// 7961), else from Cisco's model Contact parameter (an SCCP device type
// code). It returns "" when neither names a catalogue model.
func deviceModel(userAgent string, contacts []*sipmsg.ContactHeader) string {
	if userAgent != "" {
		if m := domain.ModelFromUserAgent(userAgent); m != "" {
			return m
		}
	}
	for _, c := range contacts {
		if v, ok := param(c.Params, ciscoModelParam); ok {
			if code, err := strconv.ParseUint(unquote(v), 10, 32); err == nil {
				if m, ok := domain.ModelBySCCPType(uint32(code)); ok {
					return m.Name
				}
			}
		}
	}
	return ""
}

// canonicalURI renders a contact URI for storage and comparison: scheme and
// host in lower case (RFC 3261 19.1.4 compares them case-insensitively), the
// rest as sent. Only sip and sips URIs with a host are accepted.
func canonicalURI(u *sipmsg.Uri) (string, bool) {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "sip" && scheme != "sips") || u.Host == "" || u.Wildcard {
		return "", false
	}
	c := *u
	c.Scheme = scheme
	c.Host = strings.ToLower(u.Host)
	return c.String(), true
}

// param finds a header parameter by name, ignoring case.
func param(p sipmsg.HeaderParams, name string) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(kv.K, name) {
			return kv.V, true
		}
	}
	return "", false
}

// unquote strips the double quotes of a quoted-string parameter value.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// parseDeltaSeconds parses an expiry (RFC 3261 delta-seconds). Values too
// large for 32 bits are taken as 2**32-1, as RFC 3261 20.19 says.
func parseDeltaSeconds(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		n = math.MaxUint32 // only digits: out of range
	}
	return time.Duration(n) * time.Second, true
}

// process runs a validated REGISTER against the bindings of its device,
// which the caller runs, and the registrar (RFC 3261 10.3 steps 6 to 8). It
// returns the outcome and, for a 2xx, the bindings to list.
func (s *Server) process(ctx context.Context, dev *device, r *register) (outcome, []binding) {
	now := s.clock()
	next, address, ok := plan(s.table, dev.bindings, r, now)
	if !ok {
		// Step 7: same Call-ID, CSeq not higher: out of order, the update is
		// aborted and the request fails.
		s.log.Debug().Str("device", r.device).Stringer("peer", r.peer).
			Uint32("cseq", r.cseq).Msg("out-of-order REGISTER ignored")
		return rejectf(500, "out-of-order REGISTER: CSeq %d is not above the binding's", r.cseq), nil
	}
	if len(next) > s.cfg.MaxContacts {
		return rejectf(403, "too many contacts for %s (at most %d)", r.device, s.cfg.MaxContacts), nil
	}
	switch res := s.authenticate(dev, r, next, address); res {
	case authMissing, authStale, authFailed:
		s.log.Debug().Str("device", r.device).Stringer("peer", r.peer).Uint8("auth", uint8(res)).Msg("REGISTER challenged: 401")
		return s.challenge(r, res), nil
	}

	dn := s.table.dn(r.mac, dev)
	switch {
	case address != "":
		// Something was added or refreshed: the registrar decides what it means.
		reg, err := s.cfg.Registrar.Register(ctx, command.Registration{
			Device:        r.device,
			Model:         r.model,
			Protocol:      domain.SIP,
			Address:       address,
			Adapter:       adapterName,
			Peer:          r.peerText,
			CorrelationID: r.callID,
		})
		if err != nil {
			return s.failure(err, r, "register"), nil
		}
		dn = reg.DN
		s.logRegistered(r, reg)
	case len(next) == 0 && len(dev.bindings) > 0:
		// The last binding went: the device unregistered.
		err := s.cfg.Registrar.Unregister(ctx, command.Unregistration{
			Device:        r.device,
			Reason:        command.UnregisterRequested,
			Adapter:       adapterName,
			Peer:          r.peerText,
			CorrelationID: r.callID,
		})
		if err != nil {
			return s.failure(err, r, "unregister"), nil
		}
		s.changeEvent(r.device, "device unregistered").Str("device", r.device).Str("dn", dn).Stringer("peer", r.peer).Msg("device unregistered")
	}
	peer := netip.AddrPort{}
	if address != "" {
		peer = r.peer
	}
	s.table.commit(r.mac, dev, next, dn, peer)
	return outcome{status: 200, text: dn}, s.table.resolve(r.mac, slices.Clone(next))
}

// plan applies the request's contacts to a copy of the device's bindings
// (RFC 3261 10.3 steps 6 and 7). It returns the new bindings and the first
// contact added or refreshed ("" for none), or ok false when a binding has
// the request's Call-ID with a CSeq not below the request's.
//
// A contact with the +sip.instance of an existing binding but another URI
// replaces that binding (RFC 5626 section 6 and RFC 5627: one binding per
// instance): a phone that comes back with a new contact moves rather than
// leaving its old binding to expire.
func plan(t *table, old []binding, r *register, now int64) (next []binding, address string, ok bool) {
	stale := func(b binding) bool { return b.callID() == r.callID && b.cseq >= r.cseq }
	if r.wildcard {
		for _, b := range old {
			if stale(b) {
				return nil, "", false
			}
		}
		return nil, "", true
	}
	// The binding a contact updates: same URI, else same instance. A URI
	// packs one way only: packed values compare as the URIs would.
	type packed struct {
		v   uint64
		odd string
	}
	uris := make([]packed, 0, 4)
	for _, c := range r.contacts {
		v, odd := t.contact(r.mac, c.uri)
		uris = append(uris, packed{v, odd})
	}
	match := func(list []binding, ci int) int {
		c, u := r.contacts[ci], uris[ci]
		i := slices.IndexFunc(list, func(b binding) bool { return b.contact == u.v && b.uri() == u.odd })
		if i < 0 && c.instance != 0 {
			i = slices.IndexFunc(list, func(b binding) bool { return b.instance == c.instance })
		}
		return i
	}
	next = slices.Clone(old)
	for ci, c := range r.contacts {
		// Ordering is checked against the bindings as they were, not as
		// this request's earlier contacts left them.
		if j := match(old, ci); j >= 0 && stale(old[j]) {
			return nil, "", false
		}
		i := match(next, ci)
		if c.expires == 0 {
			if i >= 0 {
				next = slices.Delete(next, i, i+1)
			}
			continue
		}
		var b binding
		if i >= 0 && next[i].contact == uris[ci].v && next[i].uri() == uris[ci].odd && next[i].callID() == r.callID {
			b = next[i] // a refresh keeps the string it holds
		} else {
			b = makeBinding(uris[ci].v, uris[ci].odd, r.callID)
		}
		b.instance, b.expires, b.cseq = c.instance, deadline(now, c.expires), r.cseq
		if i >= 0 {
			next[i] = b
		} else {
			next = append(next, b)
		}
		if address == "" {
			address = c.uri
		}
	}
	return slices.Clip(next), address, true
}

// failure turns a registrar error into the outcome the phone gets.
func (s *Server) failure(err error, r *register, op string) outcome {
	var rejection *domain.Rejection
	switch {
	case errors.Is(err, command.ErrBusy):
		return s.busy(r)
	case errors.As(err, &rejection):
		s.log.Debug().Str("device", r.device).Stringer("peer", r.peer).
			Str("reason", string(rejection.Reason)).Msg("registration rejected")
		s.rejections.Add(time.Now(), string(rejection.Reason), r.device, r.peer)
		return outcome{status: 403, text: rejection.Error()}
	case command.Unavailable(err):
		// Logged once per burst: a store that is down fails every write.
		s.log.Debug().Err(err).Str("device", r.device).Stringer("peer", r.peer).
			Msgf("registrar %s: store unavailable", op)
		s.storeDown.Add(time.Now(), err.Error(), r.device, r.peer)
		return s.unavailable()
	default:
		s.log.Error().Err(err).Str("device", r.device).Stringer("peer", r.peer).
			Msgf("registrar %s failed", op)
		return outcome{status: 500, text: "registration failed"}
	}
}

// unavailable is a 503 with a random Retry-After, which spreads the
// phones' retries.
func (s *Server) unavailable() outcome {
	lo, hi := int64(s.cfg.RetryAfterMin/time.Second), int64(s.cfg.RetryAfterMax/time.Second)
	return outcome{status: 503, retryAfter: uint16(min(lo+rand.Int64N(hi-lo+1), math.MaxUint16))}
}

func (s *Server) logRegistered(r *register, reg command.Registered) {
	ev := s.log.Debug()
	msg := "registration refreshed"
	switch {
	case reg.Autoregistered:
		ev, msg = s.log.Info(), "device autoregistered"
	case reg.Moved:
		ev, msg = s.changeEvent(r.device, "device moved"), "device moved"
	case reg.Changed:
		ev, msg = s.changeEvent(r.device, "device registered"), "device registered"
	}
	ev.Str("device", r.device).Str("dn", reg.DN).Stringer("peer", r.peer).Str("model", r.model).Msg(msg)
}
