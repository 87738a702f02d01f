// Package terminal keeps what the registrar's tools print for people from
// driving the terminal: text from the store or the API (a window's reason,
// a device's description) may hold control characters, and an escape
// sequence sent raw can rewrite the screen an auditor reads.
//
// It imports nothing of the project.
package terminal

import (
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable is s for one cell of a table: tabs and line breaks become
// spaces, other control characters are shown escaped (\x1b, \u0085).
func Printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			b.WriteString(escaped(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func escaped(r rune) string {
	q := strconv.QuoteRune(r) // '\x1b', '\u0085'
	return q[1 : len(q)-1]
}

// Writer passes text to w with its control characters escaped, tabs and
// line feeds excepted (a tabwriter's columns, the lines): for output built
// with Fprintf from values that may hold anything.
type Writer struct{ w io.Writer }

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write implements io.Writer. It reports len(p) written when w took all
// of the escaped text.
func (t *Writer) Write(p []byte) (int, error) {
	clean := true
	for _, c := range p {
		if (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return t.w.Write(p)
	}
	n := len(p)
	var b strings.Builder
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(p[0]), 16))
		case r == '\t' || r == '\n' || !unicode.IsControl(r):
			b.Write(p[:size])
		default:
			b.WriteString(escaped(r))
		}
		p = p[size:]
	}
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return n, nil
}
