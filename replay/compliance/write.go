package compliance

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/autoreg/autoreg/replay"

	"github.com/autoreg/autoreg/internal/terminal"
)

// The report's formats.
const (
	Text = replay.Text
	JSON = replay.JSON
	CSV  = replay.CSV
	HTML = replay.Format("html")
)

// Write writes the report in a format.
func Write(w io.Writer, f replay.Format, r *Report) error {
	switch f {
	case JSON:
		return WriteJSON(w, r)
	case CSV:
		return WriteCSV(w, r)
	case HTML:
		return WriteHTML(w, r)
	}
	return WriteText(w, r)
}

// WriteJSON writes the report as indented JSON (docs/compliance.md).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// CSVHeader is the header row of the CSV report: one row per finding,
// evidence lists separated by spaces, times in RFC 3339.
var CSVHeader = []string{"severity", "check", "title", "message", "windows", "devices", "times", "positions"}

// WriteCSV writes one row per finding.
func WriteCSV(w io.Writer, r *Report) error {
	c := csv.NewWriter(w)
	c.Write(CSVHeader)
	for _, f := range r.Findings {
		c.Write([]string{string(f.Severity), string(f.Check), f.Title, f.Message,
			strings.Join(f.Evidence.Windows, " "), strings.Join(f.Evidence.Devices, " "),
			joinTimes(f.Evidence.Times, rfc3339, " "), joinPositions(f.Evidence.Positions, " ")})
	}
	c.Flush()
	return c.Error()
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func joinTimes(ts []replay.Time, format func(time.Time) string, sep string) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = format(time.Time(t))
	}
	return strings.Join(s, sep)
}

func joinPositions(ps []uint64, sep string) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.FormatUint(p, 10)
	}
	return strings.Join(s, sep)
}

// WriteText writes the report for people: the findings grouped by severity,
// then the windows.
func WriteText(w io.Writer, r *Report) error {
	// Findings quote the store (windows' reasons, who opened them): their
	// control characters are shown escaped, not sent to the terminal.
	ew := &errWriter{w: terminal.NewWriter(w)}
	ew.printf("Compliance report\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  period\t%s to %s\n", when(time.Time(r.Period.Since)), when(time.Time(r.Period.Until)))
	fmt.Fprintf(tw, "  store\t%s (events 1 to %d)\n", r.Store, r.LastPosition)
	fmt.Fprintf(tw, "  policy\t%s\n", r.Policy)
	if r.Anchor != nil {
		fmt.Fprintf(tw, "  anchor\tlast verified checkpoint at position %d (%s), signed by key %s (%d checkpoint(s) in %s); %d event(s) after it covered by integrity only\n",
			r.Anchor.LastPosition, r.Anchor.LastTime, strings.Join(r.Anchor.Keys, ", "), r.Anchor.Checkpoints, r.Anchor.Log, r.Anchor.EventsAfter)
	}
	fmt.Fprintf(tw, "  summary\t%d critical, %d warning, %d info\n", r.Summary.Critical, r.Summary.Warning, r.Summary.Info)
	tw.Flush()
	for _, sev := range Severities {
		var fs []Finding
		for _, f := range r.Findings {
			if f.Severity == sev {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		ew.printf("\n%s (%d)\n", strings.ToUpper(string(sev)), len(fs))
		for _, f := range fs {
			ew.printf("\n  [%s] %s\n", f.Check, f.Title)
			ew.printf("    %s\n", f.Message)
			ev := f.Evidence
			if len(ev.Windows) > 0 {
				ew.printf("    windows:   %s\n", strings.Join(ev.Windows, ", "))
			}
			if len(ev.Devices) > 0 {
				ew.printf("    devices:   %s\n", strings.Join(ev.Devices, ", "))
			}
			if len(ev.Times) > 0 {
				ew.printf("    times:     %s\n", joinTimes(ev.Times, when, ", "))
			}
			if len(ev.Positions) > 0 {
				ew.printf("    positions: %s\n", joinPositions(ev.Positions, ", "))
			}
		}
	}
	if len(r.Findings) == 0 {
		ew.printf("\nNo findings.\n")
	}
	ew.printf("\nWINDOWS (%d)\n\n", len(r.Windows))
	if len(r.Windows) > 0 {
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  WINDOW\tOPENED\tBY\tOPEN FOR\tCLOSED\tPROTOCOL\tPHONES\tREFUSED\tCHECKS")
		for _, x := range r.Windows {
			closed := x.CloseCause
			switch {
			case x.OpenAtEnd:
				closed = "still open"
			case closed == "":
				closed = "time up"
			}
			proto := string(x.Protocol)
			for _, c := range x.ProtocolChanges {
				proto += ">" + string(c.Protocol)
			}
			checks := make([]string, len(x.Checks))
			for i, c := range x.Checks {
				checks[i] = string(c)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", x.ID, when(time.Time(x.OpenedAt)), x.OpenedBy,
				span(time.Duration(x.DurationSeconds)*time.Second), closed, proto, x.Registrations, x.Rejected,
				orDash(strings.Join(checks, " ")))
		}
		tw.Flush()
	}
	return ew.err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) { fmt.Fprintf(e, format, a...) }
