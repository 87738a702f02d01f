package sip

import (
	"strings"
	"testing"
)

// What a peer sends must not become a header of the answer: sipgo lets a
// bare LF through inside a header value (found by FuzzRegister in a Require
// echoed in Unsupported).
func TestNoHeaderInjection(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.Host = "" })
	for name, raw := range map[string]string{
		"Require with a bare LF": "REGISTER sip:autoreg.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n" +
			"From: <sip:SEP001122AABBCC@h>;tag=1\r\nTo: <sip:SEP001122AABBCC@h>\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n" +
			"Require: x\nInjected: yes\r\nContent-Length: 0\r\n\r\n",
		"Request-URI host": "REGISTER sip:evil\"host SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK2\r\n" +
			"From: <sip:nobody@h>;tag=1\r\nTo: <sip:nobody@h>\r\nCall-ID: b\r\nCSeq: 1 REGISTER\r\n" +
			"Contact: <sip:x@192.0.2.10>\r\nContent-Length: 0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			res := exchange(s, []byte(raw), false)
			if res == nil {
				return // dropped: fine
			}
			checkResponse(t, res)
			if len(res.GetHeaders("Injected")) > 0 || strings.Contains(res.String(), "evil") {
				t.Fatalf("the peer's text is in the answer:\n%s", res)
			}
		})
	}
}
