package sccp

import (
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/internal/limit"
)

// Per-source limits: a token bucket per source IP address for the
// registrations that reach the registrar, and a count of connections per
// source IP address (Config.MaxConnsPerSource). The limiter and the burst log are
// in adapters/internal/limit, shared with the SIP adapter.

// sampledLog lets the first few lines of each interval through and counts
// the rest, by message, for one summary line an interval: the ends of
// connections that never registered (idle, stalled, bad input, rejected)
// are worth a line each when they are few, and a count when they flood.
type sampledLog struct {
	log         zerolog.Logger
	what        string
	perInterval int
	interval    time.Duration

	mu         sync.Mutex
	window     time.Time // start of the current interval
	logged     int       // lines let through in it
	suppressed map[string]int
	since      time.Time // first suppressed line not yet summed up
}

func newSampledLog(log zerolog.Logger, what string, perInterval int, interval time.Duration) *sampledLog {
	return &sampledLog{log: log, what: what, perInterval: perInterval, interval: interval, suppressed: map[string]int{}}
}

// admit reports whether a line may be written; when not, it is counted
// under msg.
func (l *sampledLog) admit(now time.Time, msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= l.interval {
		l.window, l.logged = now, 0
	}
	if l.logged < l.perInterval {
		l.logged++
		return true
	}
	if len(l.suppressed) == 0 {
		l.since = now
	}
	if _, ok := l.suppressed[msg]; ok || len(l.suppressed) < 64 {
		l.suppressed[msg]++
	} else {
		l.suppressed["other"]++
	}
	return false
}

// flush writes the summary of the lines counted, once an interval.
func (l *sampledLog) flush(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.suppressed) == 0 || now.Sub(l.since) < l.interval {
		return
	}
	n := 0
	for _, c := range l.suppressed {
		n += c
	}
	l.log.Warn().Int("count", n).Dur("in_ms", now.Sub(l.since).Round(time.Millisecond)).
		Str("reasons", limit.Summary(l.suppressed)).Msg(l.what)
	clear(l.suppressed)
}
