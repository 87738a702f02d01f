package sip

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/rs/zerolog"
)

// fakeCredentials is the registrar's side of digest authentication.
type fakeCredentials struct {
	mu sync.Mutex
	m  map[string]DigestCredential
}

func (f *fakeCredentials) DigestCredential(device string) (DigestCredential, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[device]
	return c, ok
}

func (f *fakeCredentials) set(device string, c DigestCredential) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]DigestCredential{}
	}
	f.m[device] = c
}

const testPassword = "S3CRETPASSWORD77"

var strangerPeer = netip.MustParseAddrPort("198.51.100.66:5060")

// authServer is a server whose device testDevice registered (and
// autoregistered, without credentials), then was issued credentials.
func authServer(t *testing.T, adjust func(*Config)) (*Server, *fakeRegistrar, *fakeCredentials, *[]bool) {
	t.Helper()
	creds := &fakeCredentials{}
	var failures []bool
	s, reg := newTestServer(t, func(c *Config) {
		c.Credentials, c.NonceKey = creds, []byte("0123456789abcdef0123456789abcdef")
		c.AuthFailed = func(stale bool) { failures = append(failures, stale) }
		if adjust != nil {
			adjust(c)
		}
	})
	if res := do(t, s, defaultRaw()); res.StatusCode != 200 {
		t.Fatalf("first registration: %d", res.StatusCode)
	}
	creds.set(testDevice, DigestCredential{User: testDevice, Password: func() string { return testPassword }, Address: testContactU})
	return s, reg, creds, &failures
}

func send(t *testing.T, s *Server, r rawRegister, peer netip.AddrPort) *sipmsg.Response {
	t.Helper()
	res := s.handle(context.Background(), r.request(t), peer, false)
	if res == nil {
		t.Fatalf("no response to %s", r)
	}
	return res
}

// answer returns r with an Authorization answering the challenge of res
// whose algorithm is alg, with password.
func answer(t *testing.T, r rawRegister, res *sipmsg.Response, alg, password string, nc int) rawRegister {
	t.Helper()
	var chal *digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("challenge %q: %v", h.Value(), err)
		}
		if c.Algorithm == alg {
			chal = c
		}
	}
	if chal == nil {
		t.Fatalf("no %s challenge in %v", alg, res.GetHeaders("WWW-Authenticate"))
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:autoreg.test",
		Username: testDevice, Password: password, Count: nc})
	if err != nil {
		t.Fatal(err)
	}
	r.Extra = append(append([]string(nil), r.Extra...), "Authorization: "+cred.String())
	return r
}

func next(r rawRegister, n int) rawRegister {
	r.Branch = r.Branch + "-" + string(rune('a'+n))
	r.CSeq = strings.Replace(r.CSeq, "101", string(rune('1'))+"0"+string(rune('2'+n)), 1)
	return r
}

// moved is the phone (or a stranger) registering from another address.
func moved() rawRegister {
	r := defaultRaw()
	r.ViaHost = "198.51.100.66:5060"
	r.Contacts = []string{"<sip:3c0b2d8a-1a2b@198.51.100.66:5060;transport=udp>;+sip.instance=" + testInstance}
	r.Branch, r.CSeq, r.CallID = "z9hG4bKmove1", "1 REGISTER", "move-1@198.51.100.66"
	return r
}

func TestAuthRefreshFromTheBindingPasses(t *testing.T) {
	s, reg, _, _ := authServer(t, nil)
	res := do(t, s, next(defaultRaw(), 0))
	if res.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", res.StatusCode, res.Reason)
	}
	if n := len(reg.registrations()); n != 2 {
		t.Fatalf("%d registrations", n)
	}
}

func TestAuthStrangerCannotMoveUnregisterOrRepoint(t *testing.T) {
	s, reg, _, failures := authServer(t, nil)
	// A move from another address, with the phone's own instance.
	res := send(t, s, moved(), strangerPeer)
	if res.StatusCode != 401 {
		t.Fatalf("move without credentials: %d", res.StatusCode)
	}
	chals := res.GetHeaders("WWW-Authenticate")
	if len(chals) != 2 || !strings.Contains(chals[0].Value(), "algorithm=SHA-256") || !strings.Contains(chals[1].Value(), "algorithm=MD5") ||
		!strings.Contains(chals[0].Value(), `realm="ccmsipline"`) || !strings.Contains(chals[0].Value(), `qop="auth"`) {
		t.Fatalf("challenges %v", chals)
	}
	// With a wrong password.
	res = send(t, s, answer(t, next(moved(), 1), res, "SHA-256", "guess", 1), strangerPeer)
	if res.StatusCode != 401 || len(*failures) != 1 || (*failures)[0] {
		t.Fatalf("wrong password: %d, failures %v", res.StatusCode, *failures)
	}
	// Contact: * with Expires: 0, from the stranger and from the phone's
	// own address: an unregistration is a change.
	wild := defaultRaw()
	wild.Contacts, wild.Expires, wild.Branch, wild.CSeq = []string{"*"}, "0", "z9hG4bKwild", "200 REGISTER"
	for _, peer := range []netip.AddrPort{strangerPeer, testPeer} {
		if res := send(t, s, wild, peer); res.StatusCode != 401 {
			t.Fatalf("Contact: * from %s: %d", peer, res.StatusCode)
		}
		wild.Branch += "x"
	}
	// A contact naming a third party's address, added to the binding.
	third := next(defaultRaw(), 3)
	third.Contacts = []string{testContact, "<sip:victim@203.0.113.9:5060>"}
	if res := send(t, s, third, testPeer); res.StatusCode != 401 {
		t.Fatalf("third-party contact: %d", res.StatusCode)
	}
	if n, u := len(reg.registrations()), len(reg.unregistrations()); n != 1 || u != 0 {
		t.Fatalf("the registrar heard of it: %d registrations, %d unregistrations", n, u)
	}
	if _, bindings := s.table.snapshot(0x001122AABBCC); len(bindings) != 1 || s.table.resolve(0x001122AABBCC, bindings)[0].uri() != testContactU {
		t.Fatalf("bindings now %v", bindings)
	}
}

func TestAuthThePhoneMoves(t *testing.T) {
	for _, alg := range []string{"SHA-256", "MD5"} {
		t.Run(alg, func(t *testing.T) {
			s, reg, _, failures := authServer(t, nil)
			res := send(t, s, moved(), strangerPeer)
			res = send(t, s, answer(t, next(moved(), 1), res, alg, testPassword, 1), strangerPeer)
			if res.StatusCode != 200 {
				t.Fatalf("authenticated move: %d %s", res.StatusCode, header(res, "Warning"))
			}
			regs := reg.registrations()
			if len(regs) != 2 || regs[1].Address != "sip:3c0b2d8a-1a2b@198.51.100.66:5060;transport=udp" {
				t.Fatalf("registrations %+v", regs)
			}
			if len(*failures) != 0 {
				t.Fatalf("failures %v", *failures)
			}
		})
	}
}

func TestAuthReplayAndStaleNonce(t *testing.T) {
	s, _, _, failures := authServer(t, nil)
	res := send(t, s, moved(), strangerPeer)
	authed := answer(t, next(moved(), 1), res, "MD5", testPassword, 1)
	if res := send(t, s, authed, strangerPeer); res.StatusCode != 200 {
		t.Fatalf("authenticated: %d", res.StatusCode)
	}
	// Back to the first address, replaying the captured Authorization
	// (same nonce and nc) in a new transaction: refused with a fresh nonce.
	replay := defaultRaw()
	replay.Branch, replay.CSeq, replay.Extra = "z9hG4bKreplay", "300 REGISTER", authed.Extra
	res = send(t, s, replay, testPeer)
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("replay: %d %v", res.StatusCode, res.GetHeaders("WWW-Authenticate"))
	}
	// A nonce issued by this server, older than its lifetime: stale=true.
	old := s.nonce(testDevice, time.Now().Add(-DefaultNonceLifetime-time.Minute))
	chal := &digest.Challenge{Realm: DefaultRealm, Nonce: old, Algorithm: "MD5", QOP: []string{"auth"}}
	cred, _ := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:autoreg.test", Username: testDevice, Password: testPassword})
	stale := defaultRaw()
	stale.Branch, stale.CSeq, stale.Extra = "z9hG4bKstale", "301 REGISTER", []string{"Authorization: " + cred.String()}
	res = send(t, s, stale, testPeer)
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("stale nonce: %d %v", res.StatusCode, res.GetHeaders("WWW-Authenticate"))
	}
	// A nonce of another device, or made up: not stale, failed.
	forged := strings.Replace(cred.String(), old, s.nonce("SEP999999999999", time.Now()), 1)
	stale.Branch, stale.CSeq, stale.Extra = "z9hG4bKforged", "302 REGISTER", []string{"Authorization: " + forged}
	res = send(t, s, stale, testPeer)
	if res.StatusCode != 401 || strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale") {
		t.Fatalf("another device's nonce: %d", res.StatusCode)
	}
	if len(*failures) != 3 || !(*failures)[0] || !(*failures)[1] || (*failures)[2] {
		t.Fatalf("failures (stale?) %v", *failures)
	}
}

func TestAuthAfterFailoverRenewsTheRegistrarsBinding(t *testing.T) {
	// A node that holds no binding for the device (it failed over here):
	// renewing the contact the registrar holds is no change; another one is.
	creds := &fakeCredentials{}
	creds.set(testDevice, DigestCredential{User: testDevice, Password: func() string { return testPassword }, Address: testContactU})
	s, reg := newTestServer(t, func(c *Config) { c.Credentials, c.NonceKey = creds, []byte("0123456789abcdef") })
	if res := do(t, s, defaultRaw()); res.StatusCode != 200 {
		t.Fatalf("same contact: %d", res.StatusCode)
	}
	s2, _ := newTestServer(t, func(c *Config) { c.Credentials, c.NonceKey = creds, []byte("0123456789abcdef") })
	if res := send(t, s2, moved(), strangerPeer); res.StatusCode != 401 {
		t.Fatalf("another contact: %d", res.StatusCode)
	}
	if n := len(reg.registrations()); n != 1 {
		t.Fatalf("%d registrations", n)
	}
}

func TestAuthDigestAlwaysChallengesRefreshes(t *testing.T) {
	s, _, creds, _ := authServer(t, nil)
	creds.set(testDevice, DigestCredential{User: testDevice, Password: func() string { return testPassword }, Address: testContactU, Always: true})
	r := next(defaultRaw(), 0)
	res := do(t, s, r)
	if res.StatusCode != 401 {
		t.Fatalf("refresh under digest-always: %d", res.StatusCode)
	}
	if res := do(t, s, answer(t, next(defaultRaw(), 1), res, "SHA-256", testPassword, 1)); res.StatusCode != 200 {
		t.Fatalf("authenticated refresh: %d", res.StatusCode)
	}
}

func TestNonceCountsBounded(t *testing.T) {
	n := newNonceCounts(time.Minute)
	now := time.Now()
	if !n.advance("a", 1, now) || n.advance("a", 1, now) || !n.advance("a", 2, now) {
		t.Fatal("counts do not advance")
	}
	// Two lifetimes later the nonce is forgotten (it is stale anyway).
	n.advance("b", 1, now.Add(time.Minute))
	n.advance("c", 1, now.Add(2*time.Minute))
	if len(n.cur)+len(n.prev) != 2 {
		t.Fatalf("%d + %d nonces remembered", len(n.cur), len(n.prev))
	}
}

func TestNoncesAreEachTheirOwn(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.NonceKey = []byte("0123456789abcdef") })
	now := time.Now()
	a, b := s.nonce(testDevice, now), s.nonce(testDevice, now)
	if a == b {
		t.Fatal("two challenges in one second share a nonce: the second answer would look like a replay")
	}
	for _, n := range []string{a, b} {
		if ok, stale := s.checkNonce(n, testDevice, now); !ok || stale {
			t.Fatalf("nonce %s: ok %v stale %v", n, ok, stale)
		}
		if ok, _ := s.checkNonce(n, "SEP999999999999", now); ok {
			t.Fatal("a nonce passes for another device")
		}
	}
}

// FuzzAuthorization: whatever Authorization a REGISTER that must
// authenticate carries, the server answers (401 or, for the right
// credentials only, 200) and never panics; a made-up one never passes.
func FuzzAuthorization(f *testing.F) {
	f.Add(`Digest username="SEP001122AABBCC", realm="ccmsipline", nonce="x", uri="sip:autoreg.test", response="0", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest username="SEP001122AABBCC", realm="ccmsipline", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", response="", algorithm=SHA-256`)
	f.Add(`Digest nc=zz`)
	f.Add(`Basic Zm9vOmJhcg==`)
	f.Add(`Digest username="a\"b", realm=ccmsipline, nonce=, qop="auth,auth-int", nc=ffffffffff`)
	f.Fuzz(func(t *testing.T, auth string) {
		if strings.ContainsAny(auth, "\r\n") {
			return // not one header
		}
		creds := &fakeCredentials{}
		creds.set(testDevice, DigestCredential{User: testDevice, Password: func() string { return testPassword }, Address: testContactU})
		s, reg := newTestServer(t, func(c *Config) {
			c.Credentials, c.NonceKey, c.Logger = creds, []byte("0123456789abcdef"), zerolog.Nop()
		})
		r := moved()
		r.Extra = []string{"Authorization: " + auth}
		req, err := sipmsg.ParseMessage([]byte(r.String()))
		if err != nil {
			return // the parser refused it: the transport answers that
		}
		res := s.handle(context.Background(), req.(*sipmsg.Request), strangerPeer, false)
		if res == nil {
			t.Fatal("no answer")
		}
		if res.StatusCode == 200 || len(reg.registrations()) != 0 {
			t.Fatalf("a made-up Authorization passed: %d, %q", res.StatusCode, auth)
		}
	})
}
