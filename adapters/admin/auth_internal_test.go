package admin

import (
	"fmt"
	"testing"
)

func TestTokenSet(t *testing.T) {
	ts := newTokenSet([]Token{
		{User: "alice", Token: "alice-secret"},
		{User: "bob", Token: "bob-secret", Scope: ScopeRead},
	})
	cases := []struct {
		token string
		want  principal
		ok    bool
	}{
		{"alice-secret", principal{"alice", ScopeAdmin}, true}, // empty scope means admin
		{"bob-secret", principal{"bob", ScopeRead}, true},
		{"alice-secre", principal{}, false},
		{"alice-secret ", principal{}, false},
		{"", principal{}, false},
	}
	for _, c := range cases {
		got, ok := ts.lookup(c.token)
		if ok != c.ok || got != c.want {
			t.Errorf("lookup(%q) = %+v, %v; want %+v, %v", c.token, got, ok, c.want, c.ok)
		}
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"BEARER abc":   "abc",
		"Bearer ":      "",
		"Basic abc":    "",
		"":             "",
		"Bearerabc":    "",
	} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}

func TestErrorStatusCoversEverySentinel(t *testing.T) {
	// errorStatus is exercised end to end in admin_test.go; here every
	// request-level error keeps its status.
	for _, re := range []*requestError{
		{status: 400, code: "bad_request"},
		{status: 413, code: "too_large"},
		{status: 415, code: "unsupported_media_type"},
	} {
		if st, code := errorStatus(fmt.Errorf("wrapped: %w", re)); st != re.status || code != re.code {
			t.Errorf("%+v -> %d %s", re, st, code)
		}
	}
}
