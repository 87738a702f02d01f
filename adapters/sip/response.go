package sip

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// dateLayout is the SIP-date of RFC 3261 20.17 (RFC 1123, always GMT).
// Cisco phones set their clock from the Date of the REGISTER's 200.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 GMT"

// allowed is the Allow header value: the methods this server answers.
const allowed = "REGISTER, OPTIONS"

func reasonPhrase(status uint16) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 420:
		return "Bad Extension"
	case 423:
		return "Interval Too Brief"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	}
	return "Unknown"
}

// response builds the answer to req for outcome o. bindings are listed, with
// the seconds each has left, in a 2xx to a REGISTER.
func (s *Server) response(req *sipmsg.Request, key uint64, peer netip.AddrPort, o outcome, bindings []binding) *sipmsg.Response {
	res := newResponse(req, o.status, key, peer)
	host := s.hostFor(req)
	switch {
	case o.status == 200 && req.Method == sipmsg.REGISTER:
		now := deadline(s.clock(), 0)
		for _, b := range bindings {
			left := int64(b.expires) - int64(now)
			res.AppendHeader(sipmsg.NewHeader("Contact", "<"+b.uri()+">;expires="+strconv.FormatInt(max(left, 0), 10)))
		}
		if o.text != "" {
			res.AppendHeader(sipmsg.NewHeader("P-Associated-URI", "<sip:"+o.text+"@"+host+">"))
		}
	case o.status == 200 || o.status == 405:
		res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	case o.status == 401:
		s.wwwAuthenticate(res, o)
	case o.status == 420:
		res.AppendHeader(sipmsg.NewHeader("Unsupported", o.text))
	case o.status == 423:
		res.AppendHeader(sipmsg.NewHeader("Min-Expires", strconv.FormatUint(uint64(o.minExpires), 10)))
	case o.status == 503:
		res.AppendHeader(sipmsg.NewHeader("Retry-After", strconv.FormatUint(uint64(o.retryAfter), 10)))
	case o.text != "":
		res.AppendHeader(sipmsg.NewHeader("Warning", "399 "+host+" "+quote(o.text)))
	}
	res.AppendHeader(sipmsg.NewHeader("Date", s.date(time.Now())))
	return res
}

// newResponse starts a response to req as RFC 3261 8.2.6 says: its Vias,
// From, To (with a tag), Call-ID and CSeq. It does what
// sipmsg.NewResponseFromRequest does, without a random To tag (the tag is
// derived from the transaction, so a retransmitted answer is the same) and
// without copying headers the response only reads: the request is not used
// after its answer is written.
func newResponse(req *sipmsg.Request, status uint16, key uint64, peer netip.AddrPort) *sipmsg.Response {
	res := sipmsg.NewResponse(int(status), reasonPhrase(status))
	res.SipVersion = req.SipVersion
	top := true
	for _, h := range req.Headers() {
		via, ok := h.(*sipmsg.ViaHeader)
		if !ok {
			continue
		}
		if top {
			via = via.Clone()
			received(via, peer)
			top = false
		}
		res.AppendHeader(via)
	}
	if from := req.From(); from != nil {
		res.AppendHeader(from)
	}
	if to := req.To(); to != nil {
		if !to.Params.Has("tag") {
			tagged := *to
			tagged.Params = append(to.Params.Clone(), sipmsg.HeaderKV{K: "tag", V: strconv.FormatUint(key, 36)})
			to = &tagged
		}
		res.AppendHeader(to)
	}
	if id := req.CallID(); id != nil {
		res.AppendHeader(id)
	}
	if cseq := req.CSeq(); cseq != nil {
		res.AppendHeader(cseq)
	}
	res.SetBody(nil) // Content-Length: 0
	return res
}

// received adds to the top Via where the request came from: rport and
// received when the client asked with an empty rport (RFC 3581), received
// when sent-by is not the source address (RFC 3261 18.2.1).
func received(via *sipmsg.ViaHeader, peer netip.AddrPort) {
	if !peer.IsValid() {
		return
	}
	ip := peer.Addr().Unmap().String()
	if rport, ok := via.Params.Get("rport"); ok && rport == "" {
		via.Params.Add("rport", strconv.Itoa(int(peer.Port())))
		via.Params.Add("received", ip)
		return
	}
	if via.Host != ip && !via.Params.Has("received") {
		via.Params.Add("received", ip)
	}
}

// cachedDate is a Date header value, rendered once per second.
type cachedDate struct {
	unix int64
	text string
}

// date renders now for the Date header.
func (s *Server) date(now time.Time) string {
	unix := now.Unix()
	if d := s.dateCache.Load(); d != nil && d.unix == unix {
		return d.text
	}
	d := &cachedDate{unix: unix, text: now.UTC().Format(dateLayout)}
	s.dateCache.Store(d)
	return d.text
}

// quote makes a quoted-string (RFC 3261 25.1) of text: backslash and double
// quote escaped, control characters (a header injection) dropped.
func quote(text string) string {
	var b strings.Builder
	b.Grow(len(text) + 2)
	b.WriteByte('"')
	for _, r := range text {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hostFor is the host of P-Associated-URI and Warning: Config.Host, else the
// listening host, else the Request-URI's host.
func (s *Server) hostFor(req *sipmsg.Request) string {
	if h := s.host.Load(); h != nil {
		return *h
	}
	if h := req.Recipient.Host; h != "" && validHost(h) {
		return hostLiteral(h)
	}
	return "localhost"
}

// validHost reports whether a Request-URI host may be written into a
// response (Warning, P-Associated-URI): an IP address or a DNS name, nothing
// that could end a header or a quoted string.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// hostLiteral brackets an IPv6 address for use in a URI or a Warning.
func hostLiteral(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
		return "[" + host + "]"
	}
	return host
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encode renders res into a pooled buffer; give it back with releaseBuffer.
func encode(res *sipmsg.Response) *bytes.Buffer {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	res.StringWrite(buf)
	return buf
}

func releaseBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		bufPool.Put(buf)
	}
}
