package replay

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/autoreg/autoreg/internal/terminal"
)

// Format is how a command writes its answer.
type Format string

// The formats. JSONL (one JSON object a line) is for the events command.
const (
	Text  Format = "text"
	JSON  Format = "json"
	JSONL Format = "jsonl"
	CSV   Format = "csv"
)

// ParseFormat checks a --format value against the formats a command offers.
func ParseFormat(s string, offered ...Format) (Format, error) {
	names := make([]string, len(offered))
	for i, f := range offered {
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
		names[i] = string(f)
	}
	return "", usagef("--format %q: use %s", s, strings.Join(names, ", "))
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns for people.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, terminal.Printable(c))
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// csvWriter writes a header row then records.
func newCSV(w io.Writer, header ...string) *csv.Writer {
	c := csv.NewWriter(w)
	c.Write(header)
	return c
}

// ts formats an instant for JSON and CSV: RFC 3339 in UTC, with the
// fraction of a second only when there is one; "" for the zero time.
func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// tsText formats an instant for people: UTC, to the second.
func tsText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// csvW writes CSV records.
type csvW struct{ c *csv.Writer }

func newCSVW(w io.Writer, header ...string) *csvW { return &csvW{c: newCSV(w, header...)} }
func (c *csvW) write(rec ...string)               { c.c.Write(rec) }
func (c *csvW) flush()                            { c.c.Flush() }
func (c *csvW) err() error                        { return c.c.Error() }

// Time is an instant in the JSON output: RFC 3339 in UTC, null when zero.
type Time time.Time

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(ts(time.Time(t)))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var v time.Time
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = Time(v.UTC())
	return nil
}

func (t Time) t() time.Time { return time.Time(t) }

// Equal reports whether t and u are the same instant.
func (t Time) Equal(u Time) bool { return time.Time(t).Equal(time.Time(u)) }

// String formats t for people.
func (t Time) String() string { return tsText(time.Time(t)) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func itoa(n int) string { return fmt.Sprint(n) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
