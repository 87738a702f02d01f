package sip

import (
	"fmt"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// rawRegister is a REGISTER as a Cisco 7961 sends it, in text; its fields
// are changed by the tests.
type rawRegister struct {
	Transport string // UDP
	ViaHost   string // 192.0.2.10:5060
	Branch    string
	To        string // To URI
	CallID    string
	CSeq      string // "101 REGISTER"
	UserAgent string
	Contacts  []string // Contact header values
	Expires   string   // Expires header value, "" for none
	Extra     []string // more header lines
	Omit      string   // a header name to leave out
}

const (
	testMAC      = "001122AABBCC"
	testDevice   = "SEP" + testMAC
	testInstance = `"<urn:uuid:00000000-0000-0000-0000-001122aabbcc>"`
	testContact  = "<sip:3c0b2d8a-1a2b@192.0.2.10:5060;transport=udp>;+sip.instance=" + testInstance
	testContactU = "sip:3c0b2d8a-1a2b@192.0.2.10:5060;transport=udp"
)

func defaultRaw() rawRegister {
	return rawRegister{
		Transport: "UDP",
		ViaHost:   "192.0.2.10:5060",
		Branch:    "z9hG4bK4b4d5b7e",
		To:        "sip:" + testDevice + "@autoreg.test",
		CallID:    "001122aa-bbcc0002-1a2b3c4d@192.0.2.10",
		CSeq:      "101 REGISTER",
		UserAgent: "Cisco-CP7961G/9.4.2",
		Contacts:  []string{testContact},
		Expires:   "3600",
	}
}

func (r rawRegister) String() string {
	var b strings.Builder
	line := func(name, format string, args ...any) {
		if strings.EqualFold(name, r.Omit) {
			return
		}
		fmt.Fprintf(&b, "%s: "+format+"\r\n", append([]any{name}, args...)...)
	}
	b.WriteString("REGISTER sip:autoreg.test SIP/2.0\r\n")
	line("Via", "SIP/2.0/%s %s;branch=%s", r.Transport, r.ViaHost, r.Branch)
	line("From", "<%s>;tag=001122aabbcc0002", r.To)
	line("To", "<%s>", r.To)
	line("Call-ID", "%s", r.CallID)
	line("Max-Forwards", "70")
	line("CSeq", "%s", r.CSeq)
	if r.UserAgent != "" {
		line("User-Agent", "%s", r.UserAgent)
	}
	for _, c := range r.Contacts {
		line("Contact", "%s", c)
	}
	if r.Expires != "" {
		line("Expires", "%s", r.Expires)
	}
	for _, e := range r.Extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func (r rawRegister) request(t testing.TB) *sipmsg.Request {
	t.Helper()
	msg, err := sipmsg.ParseMessage([]byte(r.String()))
	if err != nil {
		t.Fatalf("parse %q: %v", r.String(), err)
	}
	req := msg.(*sipmsg.Request)
	req.SetTransport(r.Transport)
	req.SetSource(testPeer.String())
	return req
}

// header returns a response header's value, "" when absent.
func header(res *sipmsg.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// contacts lists a response's Contact values.
func contacts(res *sipmsg.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("contact") {
		out = append(out, h.Value())
	}
	return out
}
