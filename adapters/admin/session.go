package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// The console's sessions: a signed-in administrator's browser holds a
// random session id in an HttpOnly, SameSite=Strict cookie (Secure under
// TLS); the server keeps, by the id's hash, who it is and a per-session
// CSRF token that every change made with the cookie must carry.
const (
	// SessionIdle ends a session unused this long.
	SessionIdle = time.Hour
	// SessionMax ends a session this long after sign-in, used or not.
	SessionMax = 12 * time.Hour
	// maxSessions bounds the sessions held; past it the oldest is dropped.
	maxSessions = 4096

	sessionCookie       = "autoreg_session"
	secureSessionCookie = "__Host-autoreg_session" // the name under TLS: Secure, Path=/, no Domain
	loginCookie         = "autoreg_login"          // the sign-in form's CSRF token, before a session
	csrfHeader          = "X-CSRF-Token"
)

type session struct {
	principal
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions are the console's sessions, keyed by the SHA-256 of their id.
type sessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[[sha256.Size]byte]*session{}, now: now}
}

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand does not fail (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for who and returns its id and CSRF token.
func (ss *sessions) create(who principal) (id string, s *session) {
	id = randomToken()
	now := ss.now()
	s = &session{principal: who, csrf: randomToken(), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.evictLocked(now)
	}
	ss.m[sha256.Sum256([]byte(id))] = s
	return id, s
}

// get returns the live session of id and marks it used.
func (ss *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	key := sha256.Sum256([]byte(id))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[key]
	if !ok {
		return nil, false
	}
	if expired(s, now) {
		delete(ss.m, key)
		return nil, false
	}
	s.seen = now
	cp := *s
	return &cp, true
}

// end ends the session of id.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sha256.Sum256([]byte(id)))
}

func expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > SessionIdle || now.Sub(s.created) > SessionMax
}

// evictLocked drops the expired sessions, or the least recently used one
// when none is.
func (ss *sessions) evictLocked(now time.Time) {
	var oldest [sha256.Size]byte
	var oldestSeen time.Time
	found := false
	for k, s := range ss.m {
		if expired(s, now) {
			delete(ss.m, k)
			continue
		}
		if !found || s.seen.Before(oldestSeen) {
			oldest, oldestSeen, found = k, s.seen, true
		}
	}
	if len(ss.m) >= maxSessions && found {
		delete(ss.m, oldest)
	}
}

func (ss *sessions) size() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// secureRequest reports whether the browser reached us over TLS: directly,
// or through a TLS-terminating proxy that says so.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// sessionID reads the session cookie of r ("" when none).
func sessionID(r *http.Request) string {
	for _, name := range []string{secureSessionCookie, sessionCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// setSessionCookie gives the browser its session id: HttpOnly (no script
// reads it), SameSite=Strict (no other site's page sends it), Secure and
// __Host- prefixed under TLS, expiring with the session.
func setSessionCookie(w http.ResponseWriter, r *http.Request, id string) {
	name, secure := sessionCookie, secureRequest(r)
	if secure {
		name = secureSessionCookie
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionMax / time.Second)})
}

// clearSessionCookie removes the session cookie.
func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{secureSessionCookie, sessionCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: name == secureSessionCookie || secureRequest(r),
			SameSite: http.SameSiteStrictMode, MaxAge: -1})
	}
}

// sameToken compares two tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
