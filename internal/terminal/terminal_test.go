package terminal_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/autoreg/autoreg/internal/terminal"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"batch done":             "batch done",
		"a\tb\nc\rd":             "a b c d",
		"\x1b[2J\x1b[Hall clear": `\x1b[2J\x1b[Hall clear`,
		"caf\u00e9 \u0085":       `café \u0085`,
		"":                       "",
	} {
		if got := terminal.Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := terminal.NewWriter(&b)
	if n, err := fmt.Fprintf(w, "Reason:\t%s\n", "\x1b]0;owned\x07done\rcafé\xff"); n != len("Reason:\t\x1b]0;owned\x07done\rcafé\xff\n") || err != nil {
		t.Fatalf("wrote %d, %v: the caller's bytes are reported written", n, err)
	}
	want := "Reason:\t\\x1b]0;owned\\adone\\rcafé\\xff\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
