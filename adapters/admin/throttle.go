package admin

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Budgets of failed authentications (a wrong bearer token, a wrong token in
// the console's sign-in form). The token is always checked first, so these
// only ever decide how a failure is answered: a right token is never
// delayed nor refused, whatever its address did before.
//
// A failure is counted in three buckets: its address, its network (/24 for
// IPv4, /64 for IPv6, the block one host or one customer usually holds) and
// the whole server. The answer (401) is held back by the longest of the
// address's and the network's delays; it is refused at once (429 with
// Retry-After) when that delay would pass throttleMaxWait or when the
// server's budget is spent.
const (
	// throttleAddrFree failures from one address cost nothing (typing a
	// token wrong a few times); each further one is answered
	// throttleAddrBase after the previous answer to that address, the step
	// doubling with every failure up to throttleAddrMaxDelay. Parallel
	// attempts queue behind one another, so one address gets at most one
	// 401 every throttleAddrMaxDelay once it has failed 5+4 times.
	throttleAddrFree     = 5
	throttleAddrBase     = 250 * time.Millisecond
	throttleAddrMaxDelay = 4 * time.Second

	// The same for a network, with a larger free budget (a /24 may be an
	// office behind several addresses) and a shorter step: it takes over
	// when an attacker rotates through the addresses of its network
	// (127.0.0.0/24 has 254, a /64 has 2^64).
	throttleNetFree     = 20
	throttleNetBase     = 100 * time.Millisecond
	throttleNetMaxDelay = 2 * time.Second

	// throttleMaxWait bounds the queue of one address or network: a failure
	// whose answer would wait longer is refused at once with 429, so a
	// flood holds no more than throttleMaxWait/step requests per bucket.
	throttleMaxWait = 10 * time.Second

	// The server answers at most throttleGlobalRate failures a second with
	// 401 (after a burst of throttleGlobalBurst); beyond, wrong tokens get
	// 429 at once, whatever their address. This is what stops a flood
	// rotating through many networks (127.0.0.0/8, an IPv6 /48), and it
	// also bounds the requests held back by delays to about
	// throttleGlobalBurst + throttleGlobalRate*throttleMaxWait (150).
	throttleGlobalRate  = 10
	throttleGlobalBurst = 50

	// An address or network without a failure for throttleForget (and no
	// answer pending) starts afresh. At most throttleMaxAddrs addresses and
	// throttleMaxNets networks are remembered: beyond, the forgotten ones go,
	// then the stalest eighth, so a table's memory stays bounded (a few
	// hundred kB) and an insertion costs O(log n) amortized.
	throttleForget   = 15 * time.Minute
	throttleMaxAddrs = 4096
	throttleMaxNets  = 1024

	// Failures are logged as a summary every throttleSummaryEvery (a line
	// with the counts, the addresses, the networks and the most failing
	// address), not one line each; the first failure after a quiet interval
	// is logged on its own at once, so a single mistyped token is seen with
	// its peer and path. The summary counts at most throttleSummaryPeers
	// distinct addresses and networks (beyond, "addresses_over" says so).
	throttleSummaryEvery = 10 * time.Second
	throttleSummaryPeers = 1024
)

// bucketBudget is the free failures, the first delay and its cap of one
// kind of bucket.
type bucketBudget struct {
	free     int
	base     time.Duration
	maxDelay time.Duration
}

var (
	addrBudget = bucketBudget{throttleAddrFree, throttleAddrBase, throttleAddrMaxDelay}
	netBudget  = bucketBudget{throttleNetFree, throttleNetBase, throttleNetMaxDelay}
)

// failBucket is the failures of one address or network.
type failBucket struct {
	failures int
	last     time.Time // the last failure
	next     time.Time // the last answer held back is sent then
}

// wait is how long the answer to one more failure would be held back.
func (bb bucketBudget) wait(b *failBucket, now time.Time) time.Duration {
	if b.failures < bb.free {
		return 0
	}
	delay := min(bb.base<<min(b.failures-bb.free, 16), bb.maxDelay)
	start := now
	if b.next.After(now) {
		start = b.next
	}
	return start.Add(delay).Sub(now)
}

func (b *failBucket) stale(now time.Time) bool {
	return now.Sub(b.last) > throttleForget && !b.next.After(now)
}

// failTable is a bounded map of buckets.
type failTable struct {
	m   map[string]*failBucket
	max int
}

// get returns key's bucket, a fresh one when key is unknown or forgotten.
func (t *failTable) get(key string, now time.Time) *failBucket {
	b, ok := t.m[key]
	if ok && !b.stale(now) {
		return b
	}
	if !ok && len(t.m) >= t.max {
		t.evict(now)
	}
	b = &failBucket{}
	t.m[key] = b
	return b
}

// evict drops the forgotten buckets, then the stalest until the table is
// 7/8 full.
func (t *failTable) evict(now time.Time) {
	for k, b := range t.m {
		if b.stale(now) {
			delete(t.m, k)
		}
	}
	keep := t.max - t.max/8
	if len(t.m) <= keep {
		return
	}
	type aged struct {
		key  string
		last time.Time
	}
	all := make([]aged, 0, len(t.m))
	for k, b := range t.m {
		all = append(all, aged{k, b.last})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range all[:len(all)-keep] {
		delete(t.m, a.key)
	}
}

// clientKey is the address of remote ("host:port") without port or zone
// (IPv4-mapped IPv6 as IPv4), and its network: the /24 of an IPv4 address,
// the /64 of an IPv6 one. An address that does not parse (a Unix socket) is
// its own key and network.
func clientKey(remote string) (addr, network string) {
	ap, err := netip.ParseAddrPort(remote)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remote); err != nil {
		return remote, remote
	}
	a = a.Unmap().WithZone("")
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return a.String(), p.String()
}

// verdict says how to answer a failure.
type verdict struct {
	wait       time.Duration // hold the 401 back this long
	refuse     bool          // answer 429 at once
	retryAfter time.Duration // with this Retry-After
	failures   int           // the address's failures, this one included
}

// throttle counts the failed authentications per address, per network and
// for the whole server (see the budgets above), and logs them as summaries.
// It is safe for concurrent use.
type throttle struct {
	mu     sync.Mutex
	now    func() time.Time
	log    zerolog.Logger
	addrs  failTable
	nets   failTable
	tokens float64   // the global budget left
	filled time.Time // when tokens was last refilled
	sum    failSummary
}

func newThrottle(now func() time.Time, log zerolog.Logger) *throttle {
	return &throttle{
		now:    now,
		log:    log,
		addrs:  failTable{m: map[string]*failBucket{}, max: throttleMaxAddrs},
		nets:   failTable{m: map[string]*failBucket{}, max: throttleMaxNets},
		tokens: throttleGlobalBurst,
	}
}

// fail records a wrong token from remote and says how to answer it; msg
// and path are for the log.
func (t *throttle) fail(remote, path, msg string) verdict {
	addr, network := clientKey(remote)
	t.mu.Lock()
	now := t.now()
	a := t.addrs.get(addr, now)
	n := t.nets.get(network, now)
	wa, wn := addrBudget.wait(a, now), netBudget.wait(n, now)
	a.failures++
	a.last = now
	n.failures++
	n.last = now
	v := verdict{wait: max(wa, wn), failures: a.failures}
	// The global bucket refills at throttleGlobalRate a second.
	if !t.filled.IsZero() {
		t.tokens = min(throttleGlobalBurst, t.tokens+now.Sub(t.filled).Seconds()*throttleGlobalRate)
	}
	t.filled = now
	switch {
	case v.wait > throttleMaxWait:
		v.refuse, v.retryAfter = true, v.wait-throttleMaxWait
	case t.tokens < 1:
		v.refuse, v.retryAfter = true, time.Duration((1-t.tokens)/throttleGlobalRate*float64(time.Second))
	default:
		t.tokens--
		if wa > 0 {
			a.next = now.Add(wa)
		}
		if wn > 0 {
			n.next = now.Add(wn)
		}
	}
	if v.refuse {
		v.wait = 0
	}
	reason := authInvalid
	if v.refuse {
		reason = authThrottled
	}
	lead, line := t.sum.add(now, addr, network, reason, v.wait > 0)
	t.mu.Unlock()
	t.emit(line)
	if lead {
		t.log.Warn().Str("peer", remote).Str("path", path).Int("failures", v.failures).Str("reason", reason).
			Msg(msg + " (further failures are summed up every " + throttleSummaryEvery.String() + ")")
	}
	return v
}

// missing records a request without a token (which costs nothing to
// refuse and teaches nothing, so it is not throttled) for the log.
func (t *throttle) missing(remote, path, msg string) {
	addr, network := clientKey(remote)
	t.mu.Lock()
	lead, line := t.sum.add(t.now(), addr, network, authMissing, false)
	t.mu.Unlock()
	t.emit(line)
	if lead {
		t.log.Warn().Str("peer", remote).Str("path", path).Str("reason", authMissing).
			Msg(msg + " (further failures are summed up every " + throttleSummaryEvery.String() + ")")
	}
}

// flush logs the summary of the interval if it is over; final logs what
// is pending whatever the time (at shutdown).
func (t *throttle) flush(final bool) {
	t.mu.Lock()
	line := t.sum.roll(t.now(), final)
	t.mu.Unlock()
	t.emit(line)
}

// run flushes every throttleSummaryEvery until ctx ends, then a last time.
func (t *throttle) run(ctx context.Context) {
	tick := time.NewTicker(throttleSummaryEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.flush(false)
		case <-ctx.Done():
			t.flush(true)
			return
		}
	}
}

func (t *throttle) emit(l *summaryLine) {
	if l == nil {
		return
	}
	t.log.Warn().Int("failures", l.failures).Int("invalid", l.invalid).Int("missing", l.missing).
		Int("throttled", l.refused).Int("delayed", l.delayed).
		Int("addresses", l.addrs).Bool("addresses_over", l.over).Int("networks", l.nets).
		Str("top_peer", l.top).Int("top_peer_failures", l.topN).
		Int64("over_ms", l.span.Milliseconds()).
		Msg("admin authentication failures")
}

func (t *throttle) size() (addrs, nets int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.addrs.m), len(t.nets.m)
}

// failSummary sums up the failures of the current interval.
type failSummary struct {
	active  bool // an interval is running (it began with a failure, or right after a summary)
	start   time.Time
	logged  int // failures logged on their own in the interval
	counts  summaryLine
	peers   map[string]int
	netsSet map[string]struct{}
}

// summaryLine is one summary.
type summaryLine struct {
	failures, invalid, missing, refused, delayed int
	addrs, nets                                  int
	over                                         bool // more addresses or networks than counted
	top                                          string
	topN                                         int
	span                                         time.Duration
}

// add counts a failure; lead says to log it on its own (the first after a
// quiet interval); a non-nil line is the summary of the interval just over.
func (s *failSummary) add(now time.Time, addr, network, reason string, delayed bool) (lead bool, line *summaryLine) {
	line = s.roll(now, false)
	if !s.active {
		s.active, s.start, lead = true, now, true
		s.logged++
	}
	if s.peers == nil {
		s.peers, s.netsSet = map[string]int{}, map[string]struct{}{}
	}
	c := &s.counts
	c.failures++
	switch reason {
	case authMissing:
		c.missing++
	case authThrottled:
		c.refused++
	default:
		c.invalid++
	}
	if delayed {
		c.delayed++
	}
	if k, ok := s.peers[addr]; ok || len(s.peers) < throttleSummaryPeers {
		s.peers[addr] = k + 1
		if k+1 > c.topN {
			c.top, c.topN = addr, k+1
		}
	} else {
		c.over = true
	}
	if _, ok := s.netsSet[network]; ok || len(s.netsSet) < throttleSummaryPeers {
		s.netsSet[network] = struct{}{}
	} else {
		c.over = true
	}
	return lead, line
}

// roll ends the interval when it is over (or final): it returns its summary
// when some of its failures were not logged on their own, and starts the
// next interval (or goes quiet after an interval without failures).
func (s *failSummary) roll(now time.Time, final bool) *summaryLine {
	if !s.active || (!final && now.Sub(s.start) < throttleSummaryEvery) {
		return nil
	}
	var line *summaryLine
	if s.counts.failures > s.logged {
		l := s.counts
		l.addrs, l.nets, l.span = len(s.peers), len(s.netsSet), now.Sub(s.start)
		line = &l
	}
	if s.counts.failures == 0 || final {
		s.active = false
	}
	s.start, s.logged, s.counts = now, 0, summaryLine{}
	clear(s.peers)
	clear(s.netsSet)
	return line
}
