package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// do runs one request through the server's handler, as the transports do,
// without sockets.
func do(t *testing.T, s *Server, r rawRegister) *sipmsg.Response {
	t.Helper()
	res := s.handle(context.Background(), r.request(t), testPeer, r.Transport != "UDP")
	if res == nil {
		t.Fatalf("no response to %s", r)
	}
	return res
}

func TestRegisterNewDevice(t *testing.T) {
	s, reg := newTestServer(t, nil)
	res := do(t, s, defaultRaw())
	if res.StatusCode != 200 {
		t.Fatalf("status %d %s", res.StatusCode, res.Reason)
	}
	if got := header(res, "P-Associated-URI"); got != "<sip:1001@autoreg.test>" {
		t.Errorf("P-Associated-URI = %q", got)
	}
	if got := contacts(res); len(got) != 1 || got[0] != "<"+testContactU+">;expires=3600" {
		t.Errorf("Contact = %q", got)
	}
	if _, err := time.Parse(dateLayout, header(res, "Date")); err != nil {
		t.Errorf("Date: %v", err)
	}
	want := command.Registration{
		Device: testDevice, Model: "7961", Protocol: domain.SIP, Address: testContactU,
		Adapter: "sip", Peer: testPeer.String(), CorrelationID: defaultRaw().CallID,
	}
	if got := reg.registrations(); len(got) != 1 || got[0] != want {
		t.Errorf("registrations = %+v, want %+v", got, want)
	}
	if s.Devices() != 1 {
		t.Errorf("Devices() = %d", s.Devices())
	}
}

func TestRefreshKeepsDN(t *testing.T) {
	s, reg := newTestServer(t, nil)
	r := defaultRaw()
	do(t, s, r)
	r.Branch, r.CSeq = "z9hG4bKrefresh", "102 REGISTER"
	res := do(t, s, r)
	if res.StatusCode != 200 || header(res, "P-Associated-URI") != "<sip:1001@autoreg.test>" {
		t.Fatalf("refresh: %d, P-Associated-URI %q", res.StatusCode, header(res, "P-Associated-URI"))
	}
	if n := len(reg.registrations()); n != 2 {
		t.Errorf("%d Register calls, want 2 (the registrar decides a refresh)", n)
	}
	if got := contacts(res); len(got) != 1 {
		t.Errorf("a refresh must not add a binding: %q", got)
	}
}

func TestExpiryNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		contact  string
		expires  string
		status   int
		contactX string // the expires of the 200's Contact
	}{
		{"header", testContact, "1800", 200, "1800"},
		{"param wins", testContact + ";expires=120", "1800", 200, "120"},
		{"param case", testContact + ";Expires=120", "", 200, "120"},
		{"default", testContact, "", 200, "3600"},
		{"capped", testContact, "86400", 200, "3600"},
		{"huge", testContact, "99999999999999999999", 200, "3600"},
		{"too brief", testContact, "30", 423, ""},
		{"too brief param", testContact + ";expires=59", "3600", 423, ""},
		{"bad header", testContact, "soon", 400, ""},
		{"negative header", testContact, "-1", 400, ""},
		{"bad param", testContact + ";expires=1h", "", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reg := newTestServer(t, nil)
			r := defaultRaw()
			r.Contacts, r.Expires = []string{tt.contact}, tt.expires
			res := do(t, s, r)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d %s (%s), want %d", res.StatusCode, res.Reason, header(res, "Warning"), tt.status)
			}
			switch tt.status {
			case 200:
				if got := contacts(res); len(got) != 1 || !strings.HasSuffix(got[0], ";expires="+tt.contactX) {
					t.Errorf("Contact = %q, want expires=%s", got, tt.contactX)
				}
			case 423:
				if got := header(res, "Min-Expires"); got != "60" {
					t.Errorf("Min-Expires = %q", got)
				}
			case 400:
				if !strings.HasPrefix(header(res, "Warning"), `399 autoreg.test "`) {
					t.Errorf("Warning = %q", header(res, "Warning"))
				}
			}
			if tt.status != 200 && len(reg.registrations()) != 0 {
				t.Error("the registrar was called for a refused request")
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *rawRegister)
	}{
		{"no From", func(r *rawRegister) { r.Omit = "From" }},
		{"no To", func(r *rawRegister) { r.Omit = "To" }},
		{"no Call-ID", func(r *rawRegister) { r.Omit = "Call-ID" }},
		{"no CSeq", func(r *rawRegister) { r.Omit = "CSeq" }},
		{"CSeq method", func(r *rawRegister) { r.CSeq = "101 INVITE" }},
		{"tel Contact", func(r *rawRegister) { r.Contacts = []string{"<tel:+15551234>;+sip.instance=" + testInstance} }},
		{"star with Expires 3600", func(r *rawRegister) { r.Contacts = []string{"*"} }},
		{"star without Expires", func(r *rawRegister) { r.Contacts, r.Expires = []string{"*"}, "" }},
		{"star and a contact", func(r *rawRegister) { r.Contacts, r.Expires = []string{"*", testContact}, "0" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reg := newTestServer(t, nil)
			r := defaultRaw()
			tt.change(&r)
			res := do(t, s, r)
			if res.StatusCode != 400 {
				t.Fatalf("status %d %s, want 400", res.StatusCode, res.Reason)
			}
			if header(res, "Warning") == "" {
				t.Error("no Warning saying what is wrong")
			}
			if len(reg.registrations())+len(reg.unregistrations()) != 0 {
				t.Error("the registrar was called")
			}
		})
	}
}

func TestDeviceNaming(t *testing.T) {
	tests := []struct {
		name     string
		to       string
		contact  string
		status   int
		device   string
		warnings string
	}{
		{"instance wins over To", "sip:1001@autoreg.test", testContact, 200, testDevice, ""},
		{"instance wins over another SEP in To", "sip:SEPFFFFFFFFFFFF@autoreg.test", testContact, 200, testDevice, ""},
		{"To user", "sip:SEP00AABBCCDDEE@autoreg.test", "<sip:phone@192.0.2.10>", 200, "SEP00AABBCCDDEE", ""},
		{"To user lower case", "sip:sep00aabbccddee@autoreg.test", "<sip:phone@192.0.2.10>", 200, "SEP00AABBCCDDEE", ""},
		{"Cisco devicename param", "sip:1001@autoreg.test",
			`<sip:phone@192.0.2.10>;+u.sip!devicename.ccm.cisco.com="SEP0A0B0C0D0E0F"`, 200, "SEP0A0B0C0D0E0F", ""},
		{"instance not a uuid, To user", "sip:SEP00AABBCCDDEE@autoreg.test",
			`<sip:phone@192.0.2.10>;+sip.instance="<urn:foo:bar>"`, 200, "SEP00AABBCCDDEE", ""},
		{"neither", "sip:1001@autoreg.test", "<sip:phone@192.0.2.10>", 404, "", "no device name"},
		{"To user too short", "sip:SEP0011@autoreg.test", "<sip:phone@192.0.2.10>", 404, "", "no device name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reg := newTestServer(t, nil)
			r := defaultRaw()
			r.To, r.Contacts = tt.to, []string{tt.contact}
			res := do(t, s, r)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d %s (%s), want %d", res.StatusCode, res.Reason, header(res, "Warning"), tt.status)
			}
			if tt.status != 200 {
				if !strings.Contains(header(res, "Warning"), tt.warnings) {
					t.Errorf("Warning = %q", header(res, "Warning"))
				}
				return
			}
			if regs := reg.registrations(); len(regs) != 1 || regs[0].Device != tt.device {
				t.Errorf("registrations = %+v, want device %s", regs, tt.device)
			}
		})
	}
}

func TestModelFromUserAgent(t *testing.T) {
	tests := []struct {
		userAgent, contact, model string
	}{
		{"Cisco-CP7961G/9.4.2", testContact, "7961"},
		{"Cisco-CP8961/9.4.2", testContact, "8961"},
		{"Cisco-CP7961G/9.4.2", testContact + `;+u.sip!model.ccm.cisco.com="434"`, "7961"},
		{"Linphone/5.0", testContact, ""},
		{"", testContact, ""},
		{"Linphone/5.0", testContact + `;+u.sip!model.ccm.cisco.com="434"`, "7942"},
	}
	for _, tt := range tests {
		t.Run(tt.userAgent+tt.model, func(t *testing.T) {
			s, reg := newTestServer(t, nil)
			r := defaultRaw()
			r.UserAgent, r.Contacts = tt.userAgent, []string{tt.contact}
			if res := do(t, s, r); res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if regs := reg.registrations(); regs[0].Model != tt.model {
				t.Errorf("model %q, want %q", regs[0].Model, tt.model)
			}
		})
	}
}

func TestRegistrarErrors(t *testing.T) {
	rejection := func(reason domain.RejectReason, detail string) error {
		return fmt.Errorf("register: %w", &domain.Rejection{Device: testDevice, Reason: reason, Detail: detail})
	}
	tests := []struct {
		name    string
		err     error
		status  int
		warning string
	}{
		{"window closed", rejection(domain.RejectWindowClosed, "the autoregistration window is closed"), 403,
			`399 autoreg.test "SEP001122AABBCC may not register: the autoregistration window is closed"`},
		{"wrong protocol", rejection(domain.RejectWrongProtocol, ""), 403,
			`399 autoreg.test "SEP001122AABBCC may not register: wrong_protocol"`},
		{"range exhausted", rejection(domain.RejectRangeExhausted, `no "free" DN`), 403,
			`399 autoreg.test "SEP001122AABBCC may not register: no \"free\" DN"`},
		{"mixed mode", rejection(domain.RejectMixedMode, "cluster\r\nin mixed mode"), 403,
			`399 autoreg.test "SEP001122AABBCC may not register: cluster  in mixed mode"`},
		{"unknown model", rejection(domain.RejectUnknownModel, ""), 403,
			`399 autoreg.test "SEP001122AABBCC may not register: unknown_model"`},
		{"store unavailable", fmt.Errorf("append: %w", command.ErrUnavailable), 503, ""},
		{"other", errors.New("boom"), 500, `399 autoreg.test "registration failed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reg := newTestServer(t, nil)
			reg.set(func(f *fakeRegistrar) { f.regErr = tt.err })
			res := do(t, s, defaultRaw())
			if res.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", res.StatusCode, res.Reason, tt.status)
			}
			if tt.status == 503 {
				n, err := strconv.Atoi(header(res, "Retry-After"))
				if err != nil || n < 5 || n > 30 {
					t.Errorf("Retry-After = %q, want 5..30", header(res, "Retry-After"))
				}
			} else if got := header(res, "Warning"); got != tt.warning {
				t.Errorf("Warning = %s\nwant      %s", got, tt.warning)
			}
			if len(contacts(res)) != 0 {
				t.Error("a failed registration answered a binding")
			}
			waitFor(t, func() bool { return s.Devices() == 0 })
		})
	}
}

func TestUnregister(t *testing.T) {
	t.Run("wildcard", func(t *testing.T) {
		s, reg := newTestServer(t, nil)
		r := defaultRaw()
		do(t, s, r)
		r.Branch, r.CSeq, r.Contacts, r.Expires = "z9hG4bKbye", "102 REGISTER", []string{"*"}, "0"
		res := do(t, s, r)
		if res.StatusCode != 200 || len(contacts(res)) != 0 {
			t.Fatalf("status %d, contacts %q", res.StatusCode, contacts(res))
		}
		want := command.Unregistration{Device: testDevice, Reason: command.UnregisterRequested, Adapter: "sip",
			Peer: testPeer.String(), CorrelationID: r.CallID}
		if got := reg.unregistrations(); len(got) != 1 || got[0] != want {
			t.Errorf("unregistrations = %+v, want %+v", got, want)
		}
		waitFor(t, func() bool { return s.Devices() == 0 })
	})
	t.Run("expires=0 on the last contact", func(t *testing.T) {
		s, reg := newTestServer(t, nil)
		r := defaultRaw()
		do(t, s, r)
		r.Branch, r.CSeq, r.Contacts = "z9hG4bKbye", "102 REGISTER", []string{testContact + ";expires=0"}
		if res := do(t, s, r); res.StatusCode != 200 || len(contacts(res)) != 0 {
			t.Fatalf("status %d, contacts %q", res.StatusCode, contacts(res))
		}
		if got := reg.unregistrations(); len(got) != 1 || got[0].Reason != command.UnregisterRequested {
			t.Errorf("unregistrations = %+v", got)
		}
	})
	t.Run("expires=0 on one of two contacts", func(t *testing.T) {
		s, reg := newTestServer(t, nil)
		r := defaultRaw()
		other := "<sip:other@192.0.2.11>"
		r.Contacts = []string{testContact, other}
		if res := do(t, s, r); len(contacts(res)) != 2 {
			t.Fatalf("contacts %q, want two", contacts(res))
		}
		r.Branch, r.CSeq, r.Contacts = "z9hG4bKbye", "102 REGISTER", []string{other + ";expires=0"}
		res := do(t, s, r)
		if got := contacts(res); len(got) != 1 || !strings.HasPrefix(got[0], "<"+testContactU+">") {
			t.Errorf("contacts %q", got)
		}
		if len(reg.unregistrations()) != 0 {
			t.Error("Unregister called while a binding is left")
		}
	})
	t.Run("unknown device", func(t *testing.T) {
		s, reg := newTestServer(t, nil)
		r := defaultRaw()
		r.Contacts, r.Expires = []string{"*"}, "0"
		if res := do(t, s, r); res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if len(reg.unregistrations()) != 0 {
			t.Error("Unregister called for a device with no binding")
		}
	})
	t.Run("store unavailable keeps the binding", func(t *testing.T) {
		s, reg := newTestServer(t, nil)
		r := defaultRaw()
		do(t, s, r)
		reg.set(func(f *fakeRegistrar) { f.unregErr = command.ErrUnavailable })
		r.Branch, r.CSeq, r.Contacts, r.Expires = "z9hG4bKbye", "102 REGISTER", []string{"*"}, "0"
		if res := do(t, s, r); res.StatusCode != 503 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if s.Devices() != 1 {
			t.Error("the binding went although the registrar failed")
		}
	})
}

func TestOutOfOrderCSeq(t *testing.T) {
	for _, tt := range []struct{ name, cseq string }{{"lower", "100 REGISTER"}, {"equal", "101 REGISTER"}} {
		t.Run(tt.name, func(t *testing.T) {
			s, reg := newTestServer(t, nil)
			r := defaultRaw()
			do(t, s, r)
			late := r
			late.Branch, late.CSeq = "z9hG4bKlate", tt.cseq
			late.Contacts = []string{testContact + ";expires=0"}
			res := do(t, s, late)
			if res.StatusCode != 500 || !strings.Contains(header(res, "Warning"), "out-of-order") {
				t.Fatalf("status %d, Warning %q: want 500 out-of-order", res.StatusCode, header(res, "Warning"))
			}
			if len(reg.registrations()) != 1 || len(reg.unregistrations()) != 0 {
				t.Error("an out-of-order request reached the registrar")
			}
			// Nothing changed.
			query := r
			query.Branch, query.CSeq, query.Contacts = "z9hG4bKquery", "200 REGISTER", nil
			if got := contacts(do(t, s, query)); len(got) != 1 {
				t.Errorf("bindings after the late request: %q", got)
			}
			// Another Call-ID is not ordered against this one.
			other := late
			other.CallID = "another-call-id"
			if res := do(t, s, other); res.StatusCode != 200 {
				t.Errorf("other Call-ID: status %d", res.StatusCode)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	s, reg := newTestServer(t, nil)
	r := defaultRaw()
	r.Contacts = nil
	res := do(t, s, r)
	if res.StatusCode != 200 || len(contacts(res)) != 0 || header(res, "P-Associated-URI") != "" {
		t.Fatalf("query of an unknown device: %d %q", res.StatusCode, contacts(res))
	}
	do(t, s, defaultRaw())
	r.Branch, r.CSeq = "z9hG4bKq2", "102 REGISTER"
	res = do(t, s, r)
	if res.StatusCode != 200 || len(contacts(res)) != 1 || header(res, "P-Associated-URI") != "<sip:1001@autoreg.test>" {
		t.Fatalf("query: %d %q %q", res.StatusCode, contacts(res), header(res, "P-Associated-URI"))
	}
	if len(reg.registrations()) != 1 {
		t.Error("a query called the registrar")
	}
}

func TestRetransmission(t *testing.T) {
	s, reg := newTestServer(t, nil)
	r := defaultRaw()
	first := do(t, s, r)
	again := do(t, s, r)
	if first.StatusCode != 200 || again.StatusCode != 200 {
		t.Fatalf("status %d then %d", first.StatusCode, again.StatusCode)
	}
	if first.To().Params.GetOr("tag", "a") != again.To().Params.GetOr("tag", "b") {
		t.Error("the retransmitted answer has another To tag")
	}
	if header(again, "P-Associated-URI") != header(first, "P-Associated-URI") {
		t.Error("the retransmitted answer differs")
	}
	if n := len(reg.registrations()); n != 1 {
		t.Errorf("%d Register calls for one transaction", n)
	}

	// A rejection is remembered too.
	reg.set(func(f *fakeRegistrar) {
		f.regErr = &domain.Rejection{Device: testDevice, Reason: domain.RejectWindowClosed}
	})
	r.Branch, r.CSeq = "z9hG4bKrejected", "102 REGISTER"
	for range 3 {
		if res := do(t, s, r); res.StatusCode != 403 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if n := len(reg.registrations()); n != 2 {
		t.Errorf("%d Register calls, want 2", n)
	}
}

func TestInstanceReplacesBinding(t *testing.T) {
	s, reg := newTestServer(t, nil)
	r := defaultRaw()
	do(t, s, r)
	// The phone rebooted: new Call-ID, new contact, same instance.
	r.Branch, r.CallID, r.CSeq = "z9hG4bKreboot", "rebooted@192.0.2.20", "1 REGISTER"
	r.Contacts = []string{"<sip:new@192.0.2.20:5060>;+sip.instance=" + testInstance}
	res := do(t, s, r)
	if got := contacts(res); len(got) != 1 || !strings.HasPrefix(got[0], "<sip:new@192.0.2.20:5060>") {
		t.Errorf("contacts %q, want only the new one", got)
	}
	if regs := reg.registrations(); regs[1].Address != "sip:new@192.0.2.20:5060" {
		t.Errorf("Address %q", regs[1].Address)
	}
}

func TestSameContactTwiceInARequest(t *testing.T) {
	s, reg := newTestServer(t, nil)
	r := defaultRaw()
	r.Contacts = []string{testContact + ";expires=600", testContact + ";expires=1200"}
	res := do(t, s, r)
	if res.StatusCode != 200 {
		t.Fatalf("status %d %s", res.StatusCode, header(res, "Warning"))
	}
	if got := contacts(res); len(got) != 1 || !strings.HasSuffix(got[0], ";expires=1200") {
		t.Errorf("contacts %q: the last one wins", got)
	}
	if len(reg.registrations()) != 1 {
		t.Error("one request, one Register")
	}
}

func TestTooManyContacts(t *testing.T) {
	s, reg := newTestServer(t, func(c *Config) { c.MaxContacts = 2 })
	r := defaultRaw()
	r.Contacts = []string{"<sip:a@192.0.2.1>", "<sip:b@192.0.2.1>", "<sip:c@192.0.2.1>"}
	res := do(t, s, r)
	if res.StatusCode != 403 || !strings.Contains(header(res, "Warning"), "too many contacts") {
		t.Fatalf("status %d, Warning %q", res.StatusCode, header(res, "Warning"))
	}
	if len(reg.registrations()) != 0 {
		t.Error("the registrar was called")
	}
}

func TestOtherMethods(t *testing.T) {
	s, _ := newTestServer(t, nil)
	parse := func(text string) *sipmsg.Request {
		msg, err := sipmsg.ParseMessage([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return msg.(*sipmsg.Request)
	}
	head := "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\n" +
		"Call-ID: x\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n"
	for method, status := range map[string]int{"OPTIONS": 200, "INVITE": 405, "CANCEL": 481, "ACK": 0} {
		req := parse(method + " sip:autoreg.test SIP/2.0\r\n" + fmt.Sprintf(head, method))
		res := s.handle(context.Background(), req, testPeer, false)
		switch {
		case status == 0 && res != nil:
			t.Errorf("%s answered %d", method, res.StatusCode)
		case status != 0 && (res == nil || res.StatusCode != status):
			t.Errorf("%s: %v, want %d", method, res, status)
		case status == 405 && header(res, "Allow") != allowed:
			t.Errorf("405 Allow = %q", header(res, "Allow"))
		}
	}
	r := defaultRaw()
	r.Extra = []string{"Require: outbound, path"}
	if res := do(t, s, r); res.StatusCode != 420 || header(res, "Unsupported") != "outbound, path" {
		t.Errorf("Require: %d Unsupported %q", res.StatusCode, header(res, "Unsupported"))
	}
}
