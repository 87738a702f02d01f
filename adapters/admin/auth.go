package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
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
