package replay

import (
	"bytes"
	"testing"
)

// A window's reason can hold anything an administrator typed, escape
// sequences included: a text table shows them escaped, never raw.
func TestTableShowsControlCharactersEscaped(t *testing.T) {
	var b bytes.Buffer
	tab := newTable(&b, "ID", "REASON")
	tab.row("W1", "batch\x1b[2J\x1b]0;owned\x07 done\r\nnext\tline\u0085")
	if err := tab.flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if bytes.ContainsFunc(b.Bytes()[:len(out)-1], func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f || r == 0x85 }) {
		t.Fatalf("control characters reached the output: %q", out)
	}
	want := `batch\x1b[2J\x1b]0;owned\a done  next line\u0085`
	if !bytes.Contains(b.Bytes(), []byte(want)) {
		t.Fatalf("output %q does not show %q", out, want)
	}
}
