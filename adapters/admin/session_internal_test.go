package admin

import (
	"testing"
	"time"
)

// A session ends after SessionIdle without use, and SessionMax after the
// sign-in however used; past maxSessions the least recently used goes.
func TestSessionsExpire(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	ss := newSessions(func() time.Time { return now })
	id, s := ss.create(principal{User: "alice", Scope: ScopeAdmin})
	if len(id) < 40 || len(s.csrf) < 40 || id == s.csrf {
		t.Fatalf("id %q, csrf %q: not two long random tokens", id, s.csrf)
	}
	if got, ok := ss.get(id); !ok || got.User != "alice" || got.csrf != s.csrf {
		t.Fatalf("get: %+v %v", got, ok)
	}
	if _, ok := ss.get(id + "x"); ok {
		t.Fatal("another id finds the session")
	}
	// Used every 50 minutes it lives on, up to SessionMax.
	for now.Add(50*time.Minute).Sub(s.created) <= SessionMax {
		now = now.Add(50 * time.Minute)
		if _, ok := ss.get(id); !ok {
			t.Fatalf("a session used every 50 minutes ended after %s", now.Sub(s.created))
		}
	}
	now = s.created.Add(SessionMax + time.Minute)
	if _, ok := ss.get(id); ok {
		t.Fatal("a session outlived SessionMax")
	}
	if ss.size() != 0 {
		t.Fatal("an ended session is kept")
	}

	id2, _ := ss.create(principal{User: "bob", Scope: ScopeRead})
	now = now.Add(SessionIdle + time.Second)
	if _, ok := ss.get(id2); ok {
		t.Fatal("a session outlived SessionIdle unused")
	}

	ids := make([]string, 0, maxSessions)
	for range maxSessions {
		now = now.Add(time.Millisecond)
		id, _ := ss.create(principal{User: "u", Scope: ScopeRead})
		ids = append(ids, id)
	}
	ss.get(ids[0]) // the oldest is used: the second oldest goes
	now = now.Add(time.Millisecond)
	ss.create(principal{User: "v", Scope: ScopeRead})
	if ss.size() != maxSessions {
		t.Fatalf("%d sessions, want at most %d", ss.size(), maxSessions)
	}
	if _, ok := ss.get(ids[1]); ok {
		t.Error("the least recently used session was kept")
	}
	if _, ok := ss.get(ids[0]); !ok {
		t.Error("a recently used session was dropped")
	}
	ss.end(ids[0])
	if _, ok := ss.get(ids[0]); ok {
		t.Error("an ended session is found")
	}
}
