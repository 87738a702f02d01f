package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// sipPeer sends REGISTERs over UDP from a local address of its own, as a
// phone or a stranger on the network would.
type sipPeer struct {
	t      *testing.T
	conn   *net.UDPConn
	target *net.UDPAddr
	local  string
	n      int
}

func newSIPPeer(t *testing.T, ip, target string) *sipPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	return &sipPeer{t: t, conn: conn, target: raddr, local: conn.LocalAddr().String()}
}

// sipAnswer is a final response: its status and headers.
type sipAnswer struct {
	status  int
	headers []string
}

func (a sipAnswer) header(name string) []string {
	var out []string
	for _, h := range a.headers {
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// register sends one REGISTER for device with the contact and expiry
// given, and Authorization when auth is not empty.
func (p *sipPeer) register(device, contact, expires, auth string) sipAnswer {
	p.t.Helper()
	p.n++
	callID := fmt.Sprintf("auth-%d-%d@%s", time.Now().UnixNano(), p.n, p.local)
	host := p.target.IP.String()
	msg := "REGISTER sip:" + p.target.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + p.local + ";branch=z9hG4bK-a" + strconv.Itoa(p.n) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"From: <sip:" + device + "@" + host + ">;tag=a" + strconv.Itoa(p.n) + "\r\n" +
		"To: <sip:" + device + "@" + host + ">\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: " + strconv.Itoa(p.n) + " REGISTER\r\n" +
		"Max-Forwards: 70\r\nUser-Agent: Cisco-CP8961/9.4.2\r\n" +
		"Contact: " + contact + "\r\n" +
		"Expires: " + expires + "\r\n"
	if auth != "" {
		msg += "Authorization: " + auth + "\r\n"
	}
	msg += "Content-Length: 0\r\n\r\n"
	buf := make([]byte, 8192)
	for range 3 {
		if _, err := p.conn.WriteToUDP([]byte(msg), p.target); err != nil {
			p.t.Fatal(err)
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, _, err := p.conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			res := string(buf[:n])
			if !strings.Contains(res, callID) || len(res) < 12 {
				continue
			}
			code, _ := strconv.Atoi(res[8:11])
			if code < 200 {
				continue
			}
			head, _, _ := strings.Cut(res, "\r\n\r\n")
			return sipAnswer{status: code, headers: strings.Split(head, "\r\n")[1:]}
		}
	}
	p.t.Fatalf("no answer to REGISTER for %s", device)
	return sipAnswer{}
}

// authorize answers the challenge of a 401 (its algorithm alg) for device.
func (p *sipPeer) authorize(a sipAnswer, alg, device, password string) string {
	p.t.Helper()
	for _, h := range a.header("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h)
		if err != nil {
			p.t.Fatalf("challenge %q: %v", h, err)
		}
		if c.Algorithm != alg {
			continue
		}
		cred, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:" + p.target.String(), Username: device, Password: password})
		if err != nil {
			p.t.Fatal(err)
		}
		return cred.String()
	}
	p.t.Fatalf("no %s challenge in %v", alg, a.headers)
	return ""
}

// A SIP phone that autoregistered holds digest credentials: a stranger
// cannot move it, unregister it or point it at a third party (401, nothing
// recorded); the phone itself, answering the challenge with the
// credentials of its configuration file, can. The administrator sees,
// rotates and disables them; the store never holds the password.
func TestDigestAuthenticationProtectsKnownPhones(t *testing.T) {
	r := startRegistrar(t, "")
	r.MustAdmin("autoreg", "protocol", "sip")
	r.MustAdmin("autoreg", "open", "--reason", "digest e2e")
	const mac = "00AA77000001"
	const device = "SEP" + mac
	phone := newSIPPeer(t, "127.0.0.1", r.SIP)
	home := "<sip:" + device + "@" + phone.local + ">;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-" + strings.ToLower(mac) + ">\""
	if a := phone.register(device, home, "3600", ""); a.status != 200 {
		t.Fatalf("autoregistration: %d %v", a.status, a.headers)
	}
	r.MustAdmin("autoreg", "close", "--reason", "done")
	user, password := r.credentials(t, device)
	if user != device || len(password) != 16 {
		t.Fatalf("credentials %q %q", user, password)
	}
	file := r.MustAdmin("config-file", device)
	if !strings.Contains(file, "<authName>"+device+"</authName>") || !strings.Contains(file, "<authPassword>"+password+"</authPassword>") {
		t.Fatalf("the configuration file does not carry the credentials:\n%s", file)
	}
	// A refresh from where it registered needs none.
	if a := phone.register(device, home, "3600", ""); a.status != 200 {
		t.Fatalf("refresh: %d", a.status)
	}
	before := r.events(t)

	stranger := newSIPPeer(t, "127.0.0.2", r.SIP)
	there := "<sip:" + device + "@" + stranger.local + ">;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-" + strings.ToLower(mac) + ">\""
	a := stranger.register(device, there, "3600", "")
	if a.status != 401 || len(a.header("WWW-Authenticate")) != 2 {
		t.Fatalf("a stranger's move: %d %v", a.status, a.headers)
	}
	if a := stranger.register(device, "*", "0", ""); a.status != 401 {
		t.Fatalf("a stranger's Contact: *: %d", a.status)
	}
	if a := stranger.register(device, home+", <sip:victim@203.0.113.9:5060>", "3600", ""); a.status != 401 {
		t.Fatalf("a third party's contact: %d", a.status)
	}
	wrong := stranger.authorize(a, "SHA-256", device, "GUESSGUESSGUESS1")
	if a := stranger.register(device, there, "3600", wrong); a.status != 401 {
		t.Fatalf("a wrong password: %d", a.status)
	}
	if n := r.events(t); n != before {
		t.Fatalf("the stranger wrote %d events", n-before)
	}
	if d := r.Devices()[device]; !d.Registered || !strings.Contains(d.Address, phone.local) {
		t.Fatalf("after the stranger: %+v", d)
	}
	if v := r.metric(t, `autoreg_sip_auth_failures_total{reason="failed"}`); v != 1 {
		t.Errorf("sip_auth_failures_total failed = %v, want 1", v)
	}

	// The phone itself moves to the other address, with MD5 this time.
	a = stranger.register(device, there, "3600", "")
	if a := stranger.register(device, there, "3600", stranger.authorize(a, "MD5", device, password)); a.status != 200 {
		t.Fatalf("the phone's authenticated move: %d %v", a.status, a.headers)
	}
	if d := r.Devices()[device]; !strings.Contains(d.Address, stranger.local) {
		t.Fatalf("after the move: %+v", d)
	}

	// Rotation: the old password stops working, the new one works; the
	// event names who, and no event holds a password.
	out := r.MustAdmin("device", "credentials", device, "--rotate")
	if !strings.Contains(out, "rotated") {
		t.Fatalf("rotate: %s", out)
	}
	_, rotated := r.credentials(t, device)
	if rotated == password {
		t.Fatal("rotation kept the password")
	}
	a = phone.register(device, home, "3600", "")
	if a := phone.register(device, home, "3600", phone.authorize(a, "SHA-256", device, password)); a.status != 401 {
		t.Fatalf("the old password after rotation: %d", a.status)
	}
	a = phone.register(device, home, "3600", "")
	if a := phone.register(device, home, "3600", phone.authorize(a, "SHA-256", device, rotated)); a.status != 200 {
		t.Fatalf("the new password: %d", a.status)
	}
	db, err := os.ReadFile(filepath.Join(r.Data, "autoreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(r.Data, "autoreg.db-wal"))
	for _, p := range []string{password, rotated} {
		if strings.Contains(string(db), p) || strings.Contains(string(wal), p) {
			t.Fatalf("the store holds a password")
		}
	}
	events := r.eventsSince(t, 0)
	issued := 0
	for _, e := range events {
		if e.Type == "device.credentials_issued" {
			issued++
			if !strings.Contains(string(e.Data), `"verifier"`) || !strings.Contains(string(e.Metadata), "admin") && issued == 2 {
				t.Errorf("credentials event %s / %s", e.Data, e.Metadata)
			}
		}
	}
	if issued != 2 {
		t.Fatalf("%d credentials_issued events, want 2 (autoregistration, rotation)", issued)
	}

	// Disabled: anyone may move it again (as before authentication).
	r.MustAdmin("device", "credentials", device, "--disable")
	if a := stranger.register(device, there, "3600", ""); a.status != 200 {
		t.Fatalf("after --disable: %d", a.status)
	}
}

// Text from the store reaches people's terminals escaped: a window's reason
// holding an escape sequence is shown as \x1b by `registrar admin status`,
// not sent raw.
func TestAdminTextEscapesControlCharacters(t *testing.T) {
	r := startRegistrar(t, "")
	r.MustAdmin("autoreg", "open", "--reason", "\x1b[2J\x1b]0;owned\x07 cleared")
	out := r.MustAdmin("status")
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `\x1b[2J\x1b]0;owned\a cleared`) {
		t.Fatalf("admin status printed the reason raw:\n%q", out)
	}
	if js := r.MustAdmin("status", "--format", "json"); !strings.Contains(js, `\u001b[2J`) {
		t.Fatalf("JSON keeps the reason as it is (escaped by JSON): %s", js)
	}
}
