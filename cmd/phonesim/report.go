package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// writeJSON writes r as one JSON document; without phones, the phones
// array is left out.
func writeJSON(w io.Writer, r *Result, phones bool) error {
	out := *r
	if !phones {
		out.Phones = nil
	}
	type summary struct {
		Result
		Phones []Phone `json:"phones,omitempty"`
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if phones {
		return enc.Encode(out)
	}
	return enc.Encode(summary{Result: out})
}

// writeText writes r for people: the counts, then a table of the phones.
func writeText(w io.Writer, r *Result, phones bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	total := len(r.Phones)
	fmt.Fprintf(tw, "registered:\t%d\n", r.Registered)
	fmt.Fprintf(tw, "rejected:\t%d%s\n", sum(r.Rejected), breakdown(r.Rejected))
	fmt.Fprintf(tw, "errors:\t%d%s\n", r.Errors, breakdown(r.ErrorKinds))
	if r.Unregistered > 0 {
		fmt.Fprintf(tw, "unregistered:\t%d\n", r.Unregistered)
	}
	if r.Lost > 0 {
		fmt.Fprintf(tw, "lost:\t%d (failed after registering)\n", r.Lost)
	}
	fmt.Fprintf(tw, "elapsed:\t%s for %d %s (%.1f answers/s)\n", msText(r.ElapsedMS), total, plural(total, "phone"), r.Rate)
	if r.Registered+sum(r.Rejected) > 0 {
		fmt.Fprintf(tw, "latency:\tp50 %s, p90 %s, p99 %s, max %s\n",
			msText(r.Latency.P50), msText(r.Latency.P90), msText(r.Latency.P99), msText(r.Latency.Max))
	}
	if phones && total > 0 {
		fmt.Fprintln(tw)
		booted := slices.ContainsFunc(r.Phones, func(p Phone) bool { return p.Config != "" })
		if booted {
			fmt.Fprintln(tw, "DEVICE\tMODEL\tPROTOCOL\tDN\tCONFIG\tLOAD\tRESULT")
		} else {
			fmt.Fprintln(tw, "DEVICE\tMODEL\tPROTOCOL\tDN\tRESULT")
		}
		for _, p := range r.Phones {
			cols := []string{p.Device, p.Model, p.Protocol, orDash(p.DN)}
			if booted {
				cols = append(cols, orDash(p.Config), orDash(p.Load))
			}
			fmt.Fprintln(tw, strings.Join(append(cols, outcome(p)), "\t"))
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// outcome is a phone's RESULT column.
func outcome(p Phone) string {
	var b strings.Builder
	b.WriteString(p.Result)
	if p.Reason != "" {
		b.WriteString(": " + p.Reason)
	}
	if p.Result == ResultError && p.Detail != "" && p.Detail != p.Reason {
		b.WriteString(" (" + p.Detail + ")")
	}
	if p.Resets > 0 {
		fmt.Fprintf(&b, ", reset %d %s", p.Resets, plural(p.Resets, "time"))
	}
	if p.Unregistered {
		b.WriteString(", unregistered")
	}
	if p.Lost != "" {
		b.WriteString(", lost: " + p.Lost)
	}
	return b.String()
}

// breakdown renders counts by key, " (a: 1, b: 2)", most frequent first.
func breakdown(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// msText renders milliseconds as a duration: 1.234ms, 12ms, 1.5s.
func msText(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
