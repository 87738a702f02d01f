package compliance

import (
	"testing"
	"time"
)

// The time axis has at most nine labels, whatever the period.
func TestAxis(t *testing.T) {
	from := time.Date(2024, 1, 8, 8, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{time.Minute, 90 * time.Minute, 30 * time.Hour, 40 * 24 * time.Hour,
		3 * 365 * 24 * time.Hour, 76 * 365 * 24 * time.Hour, 280 * 365 * 24 * time.Hour} {
		ticks := axis(scale{from: from, to: from.Add(d), x0: chartLeft, width: plotWidth})
		if len(ticks) == 0 || len(ticks) > 9 {
			t.Errorf("%s: %d ticks", d, len(ticks))
		}
		for i := 1; i < len(ticks); i++ {
			if ticks[i].X-ticks[i-1].X < 60 {
				t.Errorf("%s: ticks %v and %v overlap", d, ticks[i-1], ticks[i])
			}
		}
	}
}
