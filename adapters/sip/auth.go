package sip

// SIP digest authentication (RFC 3261 section 22, RFC 8760's SHA-256, MD5
// for the phones that know only it), per device.
//
// A device with credentials (Config.Credentials says so) must answer a 401
// challenge for a REGISTER that changes its binding: a contact added, moved
// or removed, an unregistration, or a first binding when the registrar
// holds none for it from the request's source. A refresh of the binding it
// holds, from the address it was made from, passes without one, unless its
// pool's profile is digest-always. Devices without credentials (unknown
// ones about to autoregister, SCCP ones, those provisioned by hand or whose
// credentials an administrator disabled) register as before.
//
// Nonces are stateless: the time they were issued, 8 random bytes (each
// challenge its own nonce) and an HMAC of both and the device, so a flood
// of challenges costs no memory. A nonce is good for
// Config.NonceLifetime; an older one with a valid HMAC is answered with a
// new challenge saying stale=true (the phone retries with it without asking
// its user). The highest nonce count seen per nonce is kept, so a captured
// request cannot be replayed; that table holds only nonces that
// authenticated a request, at most maxNonceCounts, for two lifetimes.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Credentials tells the adapter what a device must authenticate with. The
// registrar implements it from its read model and its secret.
type Credentials interface {
	// DigestCredential returns the device's digest credential; ok is
	// false when the device need not authenticate (unknown, without
	// credentials, or in a pool whose profile is none).
	DigestCredential(device string) (c DigestCredential, ok bool)
}

// DigestCredential is what a device authenticates with.
type DigestCredential struct {
	User string
	// Password derives the password; it is called only when a response
	// must be checked (a refresh needs none: no key derivation per
	// REGISTER).
	Password func() string
	// Always: every REGISTER must authenticate (profile digest-always).
	Always bool
	// Address is the contact the registrar holds for the device, the one
	// it last registered at ("" for none): a REGISTER of that contact alone
	// changes nothing when this adapter holds no binding of its own (after
	// a failover to this node, a restart, or the binding's expiry), as it
	// leaves the device reached where it was.
	Address string
}

// Digest algorithms offered, in the order of preference (RFC 8760 section
// 2.4: the strongest first; a client takes the first it supports).
var defaultAlgorithms = []string{"SHA-256", "MD5"}

const (
	// DefaultRealm is CallManager's digest realm.
	DefaultRealm         = "ccmsipline"
	DefaultNonceLifetime = 5 * time.Minute
	// maxNonceCounts bounds the nonces whose counts are remembered.
	maxNonceCounts = 1 << 18
	nonceMACSize   = 12
	nonceHead      = 16 // issue time and random bytes
)

// authOutcome is the result of checking a REGISTER's credentials.
type authOutcome uint8

const (
	authNotNeeded authOutcome = iota
	authPassed
	authMissing // no credentials for this realm and user: challenge
	authStale   // a valid nonce past its lifetime: challenge, stale=true
	authFailed  // wrong response, bad or replayed nonce: challenge
)

// nonceCounts remembers the highest nonce count seen per nonce, in two
// generations that rotate every nonce lifetime.
type nonceCounts struct {
	mu        sync.Mutex
	cur, prev map[string]uint32
	rotated   time.Time
	lifetime  time.Duration
}

func newNonceCounts(lifetime time.Duration) *nonceCounts {
	return &nonceCounts{cur: map[string]uint32{}, prev: map[string]uint32{}, lifetime: lifetime}
}

// advance records nc for nonce; false when nc is not above the highest seen
// (a replay), or the table is full (the client is sent a fresh nonce).
func (n *nonceCounts) advance(nonce string, nc uint32, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.rotated) >= n.lifetime {
		n.prev, n.cur, n.rotated = n.cur, make(map[string]uint32, len(n.cur)), now
	}
	last, ok := n.cur[nonce]
	if !ok {
		last, ok = n.prev[nonce]
	}
	if ok && nc <= last {
		return false
	}
	if !ok && len(n.cur) >= maxNonceCounts {
		return false
	}
	n.cur[nonce] = nc
	return true
}

// nonce issues a nonce for device at now.
func (s *Server) nonce(device string, now time.Time) string {
	var b [nonceHead + nonceMACSize]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	rand.Read(b[8:nonceHead]) // never fails (crypto/rand panics rather)
	copy(b[nonceHead:], s.nonceMAC(b[:nonceHead], device))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) nonceMAC(issued []byte, device string) []byte {
	m := hmac.New(sha256.New, s.cfg.NonceKey)
	m.Write(issued)
	m.Write([]byte(device))
	return m.Sum(nil)[:nonceMACSize]
}

// checkNonce says whether nonce is one this server issued for device (ok)
// and whether it is past its lifetime (stale).
func (s *Server) checkNonce(nonce, device string, now time.Time) (ok, stale bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceHead+nonceMACSize {
		return false, false
	}
	if subtle.ConstantTimeCompare(b[nonceHead:], s.nonceMAC(b[:nonceHead], device)) != 1 {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := now.Sub(issued)
	return true, age < -time.Minute || age > s.cfg.NonceLifetime
}

// changesBinding reports whether a REGISTER would change the device's
// binding: anything but contacts the device holds already, renewed from
// the address that made them. next is the bindings after the request,
// address its first contact added or refreshed.
func (s *Server) changesBinding(dev *device, r *register, next []binding, address string) bool {
	old := dev.bindings
	if r.wildcard || len(next) != len(old) || address == "" {
		return true // an unregistration, a contact added or removed
	}
	if len(old) == 0 {
		return true // none here: the caller asks the registrar's
	}
	if s.table.peer(r.mac, dev) != r.peer {
		return true
	}
	for ci := range r.contacts {
		v, odd := s.table.contact(r.mac, r.contacts[ci].uri)
		found := false
		for _, b := range old {
			if b.contact == v && b.uri() == odd {
				found = true
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// authenticate checks a REGISTER of a device that may have credentials
// before it changes anything.
func (s *Server) authenticate(dev *device, r *register, next []binding, address string) authOutcome {
	if s.cfg.Credentials == nil {
		return authNotNeeded
	}
	cred, ok := s.cfg.Credentials.DigestCredential(r.device)
	if !ok {
		return authNotNeeded
	}
	if !cred.Always {
		if !s.changesBinding(dev, r, next, address) {
			return authNotNeeded
		}
		if len(dev.bindings) == 0 && !r.wildcard && len(r.contacts) == 1 && r.contacts[0].expires > 0 && address == cred.Address {
			// This adapter holds nothing for the device, and the request
			// renews the contact the registrar holds: no change.
			return authNotNeeded
		}
	}
	return s.verify(r, cred)
}

// verify checks the request's Authorization for cred.
func (s *Server) verify(r *register, cred DigestCredential) authOutcome {
	now := time.Now()
	result := authMissing
	password := ""
	for _, h := range r.msg.GetHeaders("Authorization") {
		c, err := digest.ParseCredentials(h.Value())
		if err != nil || c.Realm != s.cfg.Realm || c.Username != cred.User {
			continue
		}
		ok, stale := s.checkNonce(c.Nonce, r.device, now)
		switch {
		case !ok:
			result = authFailed
			continue
		case stale:
			result = authStale
			continue
		}
		alg := strings.ToUpper(c.Algorithm)
		if alg == "" {
			alg = "MD5"
		}
		if alg != "MD5" && alg != "SHA-256" {
			result = authFailed
			continue
		}
		qop := []string(nil)
		if c.QOP != "" {
			if c.QOP != "auth" || c.Cnonce == "" || c.Nc <= 0 {
				result = authFailed
				continue
			}
			qop = []string{"auth"}
		}
		if password == "" {
			password = cred.Password()
		}
		want, err := digest.Digest(&digest.Challenge{Realm: s.cfg.Realm, Nonce: c.Nonce, Algorithm: c.Algorithm, QOP: qop},
			digest.Options{Method: string(r.msg.Method), URI: c.URI, Username: cred.User, Password: password,
				Count: c.Nc, Cnonce: c.Cnonce})
		if err != nil || subtle.ConstantTimeCompare([]byte(strings.ToLower(c.Response)), []byte(want.Response)) != 1 {
			result = authFailed
			continue
		}
		if c.QOP != "" && !s.nonces.advance(c.Nonce, uint32(c.Nc), now) {
			result = authStale // replayed, or too many nonces remembered: a fresh one
			continue
		}
		return authPassed
	}
	return result
}

// challenge is the 401 outcome for r.
func (s *Server) challenge(r *register, res authOutcome) outcome {
	o := outcome{status: 401, text: s.nonce(r.device, time.Now()), stale: res == authStale}
	if res == authFailed {
		s.authFailures.Add(time.Now(), "digest authentication failed", r.device, r.peer)
	}
	if s.cfg.AuthFailed != nil && res != authMissing {
		s.cfg.AuthFailed(res == authStale)
	}
	return o
}

// wwwAuthenticate writes the challenges of a 401 into res.
func (s *Server) wwwAuthenticate(res *sipmsg.Response, o outcome) {
	for _, alg := range s.cfg.Algorithms {
		c := digest.Challenge{Realm: s.cfg.Realm, Nonce: o.text, Algorithm: alg, QOP: []string{"auth"}, Stale: o.stale}
		res.AppendHeader(sipmsg.NewHeader("WWW-Authenticate", c.String()))
	}
}
