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
	res := sipmsg.NewResponseFromRequest(req, int(o.status), reasonPhrase(o.status), nil)

	// The same To tag for every retransmission of the answer.
	if to := res.To(); to != nil {
		to.Params.Add("tag", strconv.FormatUint(key, 36))
	}
	// RFC 3261 18.2.1: received, when the Via host is not where the request
	// came from (sipgo adds it only for rport).
	if via := res.Via(); via != nil && peer.IsValid() {
		if ip := peer.Addr().Unmap().String(); via.Host != ip && !via.Params.Has("received") {
			via.Params.Add("received", ip)
		}
	}

	now := time.Now()
	host := s.hostFor(req)
	switch {
	case o.status == 200 && req.Method == sipmsg.REGISTER:
		clock := s.clock()
		for _, b := range bindings {
			left := (b.expires - clock + int64(time.Second) - 1) / int64(time.Second)
			res.AppendHeader(sipmsg.NewHeader("Contact", "<"+b.uri+">;expires="+strconv.FormatInt(max(left, 0), 10)))
		}
		if o.text != "" {
			res.AppendHeader(sipmsg.NewHeader("P-Associated-URI", "<sip:"+o.text+"@"+host+">"))
		}
	case o.status == 200 || o.status == 405:
		res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	case o.status == 420:
		res.AppendHeader(sipmsg.NewHeader("Unsupported", o.text))
	case o.status == 423:
		res.AppendHeader(sipmsg.NewHeader("Min-Expires", strconv.FormatUint(uint64(o.minExpires), 10)))
	case o.status == 503:
		res.AppendHeader(sipmsg.NewHeader("Retry-After", strconv.FormatUint(uint64(o.retryAfter), 10)))
	case o.text != "":
		res.AppendHeader(sipmsg.NewHeader("Warning", "399 "+host+" "+quote(o.text)))
	}
	res.AppendHeader(sipmsg.NewHeader("Date", now.UTC().Format(dateLayout)))
	return res
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
	if req.Recipient.Host != "" {
		return hostLiteral(req.Recipient.Host)
	}
	return "localhost"
}

// hostLiteral brackets an IPv6 address for use in a URI or a Warning.
func hostLiteral(host string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
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
