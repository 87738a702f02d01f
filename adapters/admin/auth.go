package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"strings"
	"sync"
	"time"
)

// Reasons of autoreg_admin_auth_failures_total.
const (
	authMissing   = "missing"
	authInvalid   = "invalid"
	authReadOnly  = "read_only"
	authThrottled = "throttled"
	authCSRF      = "csrf" // a console change (or sign-in) without its CSRF token
)

// principal is who a request acts as.
type principal struct {
	User  string
	Scope string
}

func (p principal) canWrite() bool { return p.Scope == ScopeAdmin }

type tokenEntry struct {
	hash [sha256.Size]byte
	who  principal
}

// tokenSet matches bearer tokens in constant time: both sides are hashed to a
// fixed length (so neither the length nor a prefix leaks through timing) and
// the presented token is compared with every configured one, without an early
// exit.
type tokenSet struct{ entries []tokenEntry }

func newTokenSet(tokens []Token) tokenSet {
	ts := tokenSet{entries: make([]tokenEntry, 0, len(tokens))}
	for _, t := range tokens {
		scope := t.Scope
		if scope == "" {
			scope = ScopeAdmin
		}
		ts.entries = append(ts.entries, tokenEntry{hash: sha256.Sum256([]byte(t.Token)), who: principal{User: t.User, Scope: scope}})
	}
	return ts
}

func (ts tokenSet) empty() bool { return len(ts.entries) == 0 }

func (ts tokenSet) lookup(token string) (principal, bool) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range ts.entries {
		if subtle.ConstantTimeCompare(h[:], ts.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return principal{}, false
	}
	return ts.entries[found].who, true
}

// bearer extracts the token of an "Authorization: Bearer T" header.
func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(h[len(prefix):])
	return t, t != ""
}

// Throttling of failed authentications, per client address.
const (
	throttleFree     = 3                      // failures that slow nothing
	throttleBase     = 250 * time.Millisecond // the delay after the first slowed failure; it doubles
	throttleMaxDelay = 4 * time.Second        // the longest delay of one attempt
	throttleMaxWait  = 10 * time.Second       // beyond this queue, refuse with 429 at once
	throttleForget   = 15 * time.Minute       // an address without failures for this long starts afresh
	throttleMaxAddrs = 4096                   // addresses remembered at most
)

type failState struct {
	failures int
	last     time.Time // the last failure
	next     time.Time // the next attempt from this address is checked no earlier
}

// throttle slows the guessing of tokens from one address. Once an address
// has made throttleFree failed attempts, each further attempt with a token
// (right or wrong) waits its turn: attempts from the address are checked one
// after the other, each a delay after the previous, the delay doubling with
// every failure up to throttleMaxDelay. Parallel guessing therefore gains
// nothing; when an attempt would queue for longer than throttleMaxWait it is
// refused at once (429) without its token being looked at. A success clears
// the address. The map is bounded: past throttleMaxAddrs the stalest address
// is forgotten.
type throttle struct {
	mu  sync.Mutex
	m   map[string]*failState
	now func() time.Time
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{m: map[string]*failState{}, now: now}
}

// throttleKey is the client's address without the port.
func throttleKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// admit reserves the turn of an attempt from addr: how long to wait before
// checking its token, or refuse when the queue is too long.
func (t *throttle) admit(addr string) (wait time.Duration, refuse bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	st, ok := t.m[addr]
	if !ok || st.failures < throttleFree || now.Sub(st.last) > throttleForget {
		return 0, false
	}
	delay := min(throttleBase<<min(st.failures-throttleFree, 16), throttleMaxDelay)
	start := now
	if st.next.After(now) {
		start = st.next
	}
	wait = start.Add(delay).Sub(now)
	if wait > throttleMaxWait {
		return 0, true
	}
	st.next = now.Add(wait)
	return wait, false
}

// fail records a failed attempt from addr and returns the address's count.
func (t *throttle) fail(addr string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	st, ok := t.m[addr]
	if ok && now.Sub(st.last) > throttleForget && !st.next.After(now) {
		ok = false
	}
	if !ok {
		if len(t.m) >= throttleMaxAddrs {
			t.evictLocked(now)
		}
		st = &failState{}
		t.m[addr] = st
	}
	st.failures++
	st.last = now
	return st.failures
}

// ok clears addr after a successful authentication.
func (t *throttle) ok(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, addr)
}

// evictLocked drops forgotten addresses, or the stalest one when none is.
func (t *throttle) evictLocked(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, st := range t.m {
		if now.Sub(st.last) > throttleForget && !st.next.After(now) {
			delete(t.m, k)
			continue
		}
		if oldest == "" || st.last.Before(oldestAt) {
			oldest, oldestAt = k, st.last
		}
	}
	if len(t.m) >= throttleMaxAddrs && oldest != "" {
		delete(t.m, oldest)
	}
}

func (t *throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
