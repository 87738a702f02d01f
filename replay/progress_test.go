package replay

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true, "replay", 1_000_000)
	for pos := uint64(1); pos <= 300_000; pos++ {
		p.Update(pos)
	}
	p.Done()
	out := b.String()
	if !strings.Contains(out, "replay [") || !strings.Contains(out, "/ 1,000,000 events") || !strings.Contains(out, "events/s") ||
		!strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("bar: %q", out)
	}

	// A short replay on a terminal, or any replay elsewhere: nothing.
	b.Reset()
	p = NewProgress(&b, true, "replay", 1000)
	for pos := uint64(1); pos <= 1000; pos++ {
		p.Update(pos)
	}
	p.Done()
	q := NewProgress(&b, false, "replay", 1_000_000)
	for pos := uint64(1); pos <= 300_000; pos++ {
		q.Update(pos)
	}
	q.Done()
	var nilBar *Progress
	nilBar.Update(1)
	nilBar.Done()
	if b.Len() != 0 {
		t.Errorf("drew %q", b.String())
	}
	if g := group(1234567); g != "1,234,567" {
		t.Errorf("group: %s", g)
	}
}
