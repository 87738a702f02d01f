// Package limit holds what the SIP and SCCP adapters share to withstand
// floods: a token bucket per source IP address, bounded in memory, and a
// log that reports refusals once per burst rather than once per request.
//
// It imports the standard library only.
package limit

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

const (
	limiterShards      = 64
	maxSourcesPerShard = 1024
)

type bucket struct {
	tokens float64
	last   int64 // server clock (ns) of the last update
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	_       [40]byte
}

// SourceLimiter is a token bucket per source IP address.
type SourceLimiter struct {
	rate    float64 // tokens a nanosecond
	burst   float64
	trusted []netip.Prefix
	shards  [limiterShards]limiterShard
}

// NewSourceLimiter returns nil (no limit) when rate is not positive.
func NewSourceLimiter(perSecond float64, burst int, trusted []netip.Prefix) *SourceLimiter {
	if perSecond <= 0 {
		return nil
	}
	l := &SourceLimiter{rate: perSecond / float64(time.Second), burst: float64(max(burst, 1)), trusted: trusted}
	for i := range l.shards {
		l.shards[i].buckets = make(map[netip.Addr]*bucket)
	}
	return l
}

func (l *SourceLimiter) shard(a netip.Addr) *limiterShard {
	b := a.As16()
	h := uint64(0)
	for _, x := range b {
		h = h*31 + uint64(x)
	}
	return &l.shards[h%limiterShards]
}

func (l *SourceLimiter) IsTrusted(a netip.Addr) bool {
	return Trusted(l.trusted, a)
}

// trusted reports whether a is in one of the prefixes.
func Trusted(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// allow takes a token from a's bucket; false when it is empty.
func (l *SourceLimiter) Allow(a netip.Addr, now int64) bool {
	if l == nil || l.IsTrusted(a) {
		return true
	}
	sh := l.shard(a)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[a]
	if b == nil {
		if len(sh.buckets) >= maxSourcesPerShard {
			for k := range sh.buckets { // forget one: map order is random
				delete(sh.buckets, k)
				break
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		sh.buckets[a] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now-b.last)*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune drops the buckets that have refilled: they hold nothing a new one
// would not.
func (l *SourceLimiter) Prune(now int64) {
	if l == nil {
		return
	}
	full := int64(l.burst / l.rate)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for a, b := range sh.buckets {
			if now-b.last >= full {
				delete(sh.buckets, a)
			}
		}
		sh.mu.Unlock()
	}
}

func (l *SourceLimiter) Size() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}

// BurstLog logs refusals once per burst rather than once per request: the
// first refusal after a quiet period is logged as it happens (with its
// device and peer); those that follow are counted, by reason and by source
// address, and summed up in one line every interval while they go on; a
// last line says when the burst is over and how many it refused in all.
type BurstLog struct {
	log      zerolog.Logger
	level    zerolog.Level
	what     string // "REGISTERs refused"
	interval time.Duration

	mu       sync.Mutex
	active   bool
	started  time.Time
	lastLine time.Time
	total    int
	reasons  map[string]int
	sources  map[netip.Addr]int
}

// maxLoggedSources bounds the source addresses a burst remembers.
const maxLoggedSources = 256

func NewBurstLog(log zerolog.Logger, level zerolog.Level, what string, interval time.Duration) *BurstLog {
	return &BurstLog{log: log, level: level, what: what, interval: interval,
		reasons: map[string]int{}, sources: map[netip.Addr]int{}}
}

// add records one refusal.
func (b *BurstLog) Add(now time.Time, reason, device string, peer netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active {
		b.active, b.started, b.lastLine, b.total = true, now, now, 1
		b.log.WithLevel(b.level).Str("reason", reason).Str("device", device).Stringer("peer", peer).
			Msg(b.what + ": first of a burst (the rest are counted)")
		return
	}
	b.total++
	b.reasons[reason]++
	if _, ok := b.sources[peer.Addr()]; ok || len(b.sources) < maxLoggedSources {
		b.sources[peer.Addr()]++
	}
}

// flush writes the burst's summary line when one is due. Call it often (the
// sweeper does, every SweepInterval).
func (b *BurstLog) Flush(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active || now.Sub(b.lastLine) < b.interval {
		return
	}
	n := 0
	for _, c := range b.reasons {
		n += c
	}
	if n == 0 {
		b.log.WithLevel(b.level).Int("total", b.total).Dur("lasted_ms", b.lastLine.Sub(b.started).Round(time.Second)).
			Msg(b.what + ": burst over")
		b.active = false
		return
	}
	b.log.WithLevel(b.level).Int("count", n).Dur("in_ms", now.Sub(b.lastLine).Round(time.Millisecond)).
		Str("reasons", Summary(b.reasons)).Str("top_sources", topSources(b.sources, 5)).
		Int("sources", len(b.sources)).Msg(b.what)
	clear(b.reasons)
	clear(b.sources)
	b.lastLine = now
}

func Summary(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s=%d", k, m[k])
	}
	return sb.String()
}

func topSources(m map[netip.Addr]int, n int) string {
	type kv struct {
		a netip.Addr
		c int
	}
	all := make([]kv, 0, len(m))
	for a, c := range m {
		all = append(all, kv{a, c})
	}
	slices.SortFunc(all, func(x, y kv) int {
		if x.c != y.c {
			return y.c - x.c
		}
		return x.a.Compare(y.a)
	})
	var sb strings.Builder
	for i, e := range all[:min(n, len(all))] {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s=%d", e.a, e.c)
	}
	return sb.String()
}
