package limit

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSourceRateRefills(t *testing.T) {
	l := NewSourceLimiter(10, 2, nil)
	a := netip.MustParseAddr("192.0.2.1")
	now := int64(0)
	first, second, third := l.Allow(a, now), l.Allow(a, now), l.Allow(a, now)
	if !first || !second || third {
		t.Fatal("burst of 2 not applied")
	}
	now += int64(100 * time.Millisecond) // one token
	if first, second := l.Allow(a, now), l.Allow(a, now); !first || second {
		t.Fatal("refill of one token not applied")
	}
	now += int64(time.Hour)
	l.Prune(now)
	if l.Size() != 0 {
		t.Fatalf("a refilled bucket was kept: %d", l.Size())
	}
	if NewSourceLimiter(-1, 10, nil).Allow(a, 0) != true {
		t.Fatal("a negative rate must not limit")
	}
}

// Spoofed source addresses cannot grow the limiter without bound.
func TestSourceLimiterIsBounded(t *testing.T) {
	l := NewSourceLimiter(1, 1, nil)
	for i := range 200_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Allow(a, int64(i))
	}
	if n := l.Size(); n > limiterShards*maxSourcesPerShard {
		t.Fatalf("%d sources remembered", n)
	}
}

// A flood's refusals are logged once per burst, with counts, not once per
// request.
func TestRefusalsLoggedOncePerBurst(t *testing.T) {
	var buf bytes.Buffer
	b := NewBurstLog(zerolog.New(&buf), zerolog.WarnLevel, "REGISTERs refused: 503", 10*time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 1000 {
		peer := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 3)}), 5060)
		b.Add(t0.Add(time.Duration(i)*time.Millisecond), "rate_limited", "SEP001122334455", peer)
		b.Flush(t0.Add(time.Duration(i) * time.Millisecond))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "first of a burst") {
		t.Fatalf("during the first second: %d lines:\n%s", len(lines), buf.String())
	}
	b.Flush(t0.Add(10 * time.Second))
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"count":999`) || !strings.Contains(lines[1], "rate_limited=999") ||
		!strings.Contains(lines[1], "192.0.2.0=333") {
		t.Fatalf("summary:\n%s", buf.String())
	}
	b.Flush(t0.Add(15 * time.Second)) // not due
	b.Flush(t0.Add(20 * time.Second)) // quiet for an interval: over
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "burst over") || !strings.Contains(lines[2], `"total":1000`) {
		t.Fatalf("end of burst:\n%s", buf.String())
	}
	// The next refusal starts a new burst, logged at once.
	b.Add(t0.Add(time.Minute), "in_flight", "SEP001122334455", netip.MustParseAddrPort("192.0.2.1:5060"))
	if n := strings.Count(buf.String(), "first of a burst"); n != 2 {
		t.Fatalf("new burst:\n%s", buf.String())
	}
}

// dialFrom opens a TCP connection from a loopback address of its own.
