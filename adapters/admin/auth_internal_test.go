package admin

import (
	"fmt"
	"testing"
	"time"
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

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	th := newThrottle(func() time.Time { return now })
	const a = "192.0.2.7"

	// The first failures are free.
	for i := 0; i < throttleFree; i++ {
		if wait, refuse := th.admit(a); wait != 0 || refuse {
			t.Fatalf("attempt %d: wait %v refuse %v", i+1, wait, refuse)
		}
		th.fail(a)
	}
	// Then each attempt waits its turn, the delay doubling with failures.
	wait, refuse := th.admit(a)
	if refuse || wait != throttleBase {
		t.Fatalf("first slowed attempt: wait %v refuse %v", wait, refuse)
	}
	th.fail(a)
	// A parallel attempt queues behind the previous one.
	wait, _ = th.admit(a)
	if want := throttleBase + 2*throttleBase; wait != want {
		t.Fatalf("queued attempt waits %v, want %v", wait, want)
	}
	// Attempts pile up until the queue is too long: then refused at once.
	refused := false
	for i := 0; i < 20 && !refused; i++ {
		_, refused = th.admit(a)
	}
	if !refused {
		t.Fatal("the queue grew without bound")
	}
	// Another address is unaffected.
	if wait, refuse := th.admit("192.0.2.8"); wait != 0 || refuse {
		t.Fatalf("other address: wait %v refuse %v", wait, refuse)
	}
	// Time passes; the queue drains; a success clears the address.
	now = now.Add(time.Minute)
	if _, refuse := th.admit(a); refuse {
		t.Fatal("still refused after the queue drained")
	}
	th.ok(a)
	if wait, _ := th.admit(a); wait != 0 {
		t.Fatalf("after a success: wait %v", wait)
	}
	// Failures are forgotten after a while.
	for i := 0; i < throttleFree+3; i++ {
		th.fail(a)
	}
	now = now.Add(throttleForget + time.Second)
	if wait, _ := th.admit(a); wait != 0 {
		t.Fatalf("after %v: wait %v", throttleForget, wait)
	}
	// The delay is capped.
	for i := 0; i < 40; i++ {
		th.fail(a)
	}
	now = now.Add(time.Minute) // the queue is empty, the failures remembered
	if wait, _ := th.admit(a); wait != throttleMaxDelay {
		t.Fatalf("capped delay %v, want %v", wait, throttleMaxDelay)
	}
}

func TestThrottleIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	th := newThrottle(func() time.Time { return now })
	for i := 0; i < throttleMaxAddrs+500; i++ {
		now = now.Add(time.Millisecond)
		th.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := th.size(); n > throttleMaxAddrs {
		t.Fatalf("%d addresses remembered, bound %d", n, throttleMaxAddrs)
	}
	// The most recent address is still there; the first is gone.
	if _, ok := th.m["10.0.0.0"]; ok {
		t.Error("the stalest address was kept")
	}
	last := throttleMaxAddrs + 499
	if _, ok := th.m[fmt.Sprintf("10.%d.%d.%d", last>>16&255, last>>8&255, last&255)]; !ok {
		t.Error("the latest address was dropped")
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
