package replay

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress draws a progress bar on a terminal during a long replay: after
// a second, or at once for more than 200,000 events. On anything but a
// terminal it draws nothing.
type Progress struct {
	w       io.Writer
	label   string
	total   uint64
	start   time.Time
	last    time.Time
	shown   bool
	enabled bool
	count   uint64
}

// progressThreshold is the size of a replay that gets a bar at once.
const progressThreshold = 200_000

// IsTerminal reports whether w is a file that is a terminal (a character device).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// NewProgress returns a Progress writing to w if enabled (w is a terminal),
// for a replay of total events (0: unknown).
func NewProgress(w io.Writer, enabled bool, label string, total uint64) *Progress {
	now := time.Now()
	return &Progress{w: w, label: label, total: total, start: now, last: now, enabled: enabled && w != nil}
}

// Update reports that the replay reached position pos. It is cheap enough
// to call for every event.
func (p *Progress) Update(pos uint64) {
	if p == nil || !p.enabled {
		return
	}
	p.count++
	if p.count&4095 != 0 {
		return
	}
	now := time.Now()
	if !p.shown && p.total <= progressThreshold && now.Sub(p.start) < time.Second {
		return
	}
	if p.shown && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.shown = now, true
	p.draw(pos, now)
}

func (p *Progress) draw(pos uint64, now time.Time) {
	rate := float64(p.count) / max(now.Sub(p.start).Seconds(), 1e-9)
	const width = 30
	bar := ""
	if p.total > 0 {
		done := min(int(float64(pos)/float64(p.total)*width), width)
		bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("#", done), strings.Repeat(".", width-done),
			min(100, float64(pos)/float64(p.total)*100))
	}
	total := "?"
	if p.total > 0 {
		total = group(p.total)
	}
	fmt.Fprintf(p.w, "\r%s %s%s / %s events  %s events/s\x1b[K", p.label, bar, group(pos), total, group(uint64(rate)))
}

// Done clears the bar.
func (p *Progress) Done() {
	if p == nil || !p.shown {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K")
	p.shown = false
}

// group writes n with thousands separators.
func group(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
