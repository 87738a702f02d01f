package limit

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// KeyedLog lets through, each interval, the first line of each key (a
// device) and counts the others, for one summary line an interval: a
// device that moves, registers anew or unregisters once is logged as it
// happens; one that does so a thousand times a minute (a flood naming a
// known device, an SCCP connect-register-close loop) is logged once, then
// counted. At most maxKeyedKeys keys are let through an interval; lines of
// further keys are only counted, so that many devices cannot make the log
// unbounded either.
type KeyedLog struct {
	log      zerolog.Logger
	level    zerolog.Level
	what     string // "registration changes not logged one by one"
	interval time.Duration

	mu       sync.Mutex
	window   time.Time      // start of the current interval
	seen     map[string]int // lines of each key in it (the first was logged)
	since    time.Time      // first line counted, not summed up yet
	pending  map[string]int // lines counted by key, for the summary
	pendingN int
}

// maxKeyedKeys bounds the keys a KeyedLog remembers an interval.
const maxKeyedKeys = 1024

// NewKeyedLog returns a KeyedLog whose summaries go to log at level.
func NewKeyedLog(log zerolog.Logger, level zerolog.Level, what string, interval time.Duration) *KeyedLog {
	return &KeyedLog{log: log, level: level, what: what, interval: interval, seen: map[string]int{}, pending: map[string]int{}}
}

// Admit reports whether a line about key may be written now; when not, it
// is counted for the summary.
func (k *KeyedLog) Admit(now time.Time, key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.window) >= k.interval {
		k.window = now
		clear(k.seen)
	}
	n, ok := k.seen[key]
	if !ok && len(k.seen) < maxKeyedKeys {
		k.seen[key] = 1
		return true
	}
	if ok {
		k.seen[key] = n + 1
	}
	if k.pendingN == 0 {
		k.since = now
	}
	k.pendingN++
	if _, ok := k.pending[key]; ok || len(k.pending) < maxKeyedKeys {
		k.pending[key]++
	} else {
		k.pending["other"]++
	}
	return false
}

// Flush writes the summary of the lines counted, at most once an interval.
// Call it often (the adapters' upkeep does, every second or so).
func (k *KeyedLog) Flush(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pendingN == 0 || now.Sub(k.since) < k.interval {
		return
	}
	k.log.WithLevel(k.level).Int("count", k.pendingN).Dur("in_ms", now.Sub(k.since).Round(time.Millisecond)).
		Int("distinct", len(k.pending)).Str("top", topKeys(k.pending, 5)).Msg(k.what)
	clear(k.pending)
	k.pendingN = 0
}

func topKeys(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	var sb strings.Builder
	for i, key := range keys[:min(n, len(keys))] {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s=%d", key, m[key])
	}
	return sb.String()
}

// RefusedChanges is the refusal reason (autoreg_refused_total) both
// adapters give when the registrar declines a registration change of a
// device for now (moved or registered anew too often, from the device or
// its source: command.ErrBusy).
const RefusedChanges = "registration_changes"

// NewChangeLog is the KeyedLog of a protocol adapter's lines about its
// devices' registration changes (what: which lines): a device's first a
// minute as it happens, the rest summed up once a minute.
func NewChangeLog(log zerolog.Logger, what string) *KeyedLog {
	return NewKeyedLog(log, zerolog.InfoLevel, what+" not logged one by one (a device's first a minute is)", time.Minute)
}
