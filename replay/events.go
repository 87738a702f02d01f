package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// EventReport is one event in the output of `replay events` (see
// docs/replay.md).
type EventReport struct {
	Position   uint64          `json:"position"`
	Stream     string          `json:"stream"`
	Version    uint64          `json:"version"`
	Type       string          `json:"type"`
	RecordedAt Time            `json:"recorded_at"`
	Actor      string          `json:"actor"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data"`
}

// EventsFilter selects events; zero fields select everything.
type EventsFilter struct {
	Stream string // exactly this stream
	// Types are event types or patterns (path.Match: "device.*").
	Types []string
	Interval
}

// ParseTypes splits a --type value: comma-separated types or patterns.
func ParseTypes(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	known := domain.EventTypes()
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if _, err := path.Match(t, ""); err != nil {
			return nil, usagef("--type %q: bad pattern: %v", t, err)
		}
		ok := false
		for _, k := range known {
			if m, _ := path.Match(t, k); m {
				ok = true
				break
			}
		}
		if !ok {
			return nil, usagef("--type %q matches no event type (see `replay events --help`)", t)
		}
		out = append(out, t)
	}
	return out, nil
}

func (f EventsFilter) match(e eventstore.RecordedEvent) bool {
	if f.Stream != "" && e.Stream != f.Stream {
		return false
	}
	if len(f.Types) > 0 {
		ok := false
		for _, t := range f.Types {
			if m, _ := path.Match(t, e.Type); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return f.Since.IsZero() || !e.RecordedAt.Before(f.Since)
}

// Events reads the events the filter selects, in order, and calls fn for
// each with its report and decoded payload (nil for another program's
// events). Reading stops after --until.
func Events(ctx context.Context, env Env, f EventsFilter, fn func(EventReport, domain.Event) error) error {
	dec := projections.NewDecoder()
	bar := env.progress(ctx, "events")
	defer bar.Done()
	each := func(e eventstore.RecordedEvent) error {
		bar.Update(e.Position)
		if !f.Until.IsZero() && e.RecordedAt.After(f.Until) {
			return errStop
		}
		if !f.match(e) {
			return nil
		}
		return report(dec, e, fn)
	}
	var err error
	tr, typed := env.Store.(typedReader)
	switch {
	case f.Stream != "":
		err = env.Store.ReadStream(ctx, f.Stream, 0, each)
	case typed && len(f.Types) > 0:
		// Only the events of these types: the store filters them.
		var types []string
		for _, t := range domain.EventTypes() {
			for _, pat := range f.Types {
				if m, _ := path.Match(pat, t); m {
					types = append(types, t)
					break
				}
			}
		}
		err = tr.ReadTypes(ctx, types, each)
	default:
		err = env.Store.ReadAll(ctx, 1, each)
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// report calls fn with the report of e and its decoded payload (nil for
// another program's events).
func report(dec *projections.Decoder, e eventstore.RecordedEvent, fn func(EventReport, domain.Event) error) error {
	var payload domain.Event
	if strings.HasPrefix(e.Stream, domain.StreamPrefix) {
		p, err := dec.Decode(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("event at position %d: %w", e.Position, err)
		}
		payload = p
	}
	return fn(EventReport{Position: e.Position, Stream: e.Stream, Version: e.Version, Type: e.Type,
		RecordedAt: Time(e.RecordedAt), Actor: actorOf(e.Metadata, payload), ID: e.ID,
		Data: json.RawMessage(dataOf(e.Data))}, payload)
}

// Follow calls fn, as they are appended, for the events the filter selects
// (its Until aside), until ctx ends; it then returns nil. Without f.Since
// it starts at the end of the log (only new events); with it, the events
// stored since then come first.
func Follow(ctx context.Context, env Env, f EventsFilter, fn func(EventReport, domain.Event) error) error {
	from := uint64(1)
	if f.Since.IsZero() {
		head, err := env.Store.Head(ctx)
		if err != nil {
			return err
		}
		from = head + 1
	}
	dec := projections.NewDecoder()
	err := env.Store.Subscribe(ctx, from, func(e eventstore.RecordedEvent) error {
		if !f.match(e) {
			return nil
		}
		return report(dec, e, fn)
	})
	if ctx.Err() != nil {
		return nil // interrupted: the end of a follow
	}
	return err
}

// EventWriter writes events in a format as they come.
type EventWriter struct {
	w      *bufio.Writer
	f      Format
	n      int
	table  *table
	csv    *csvW
	follow bool // each event is flushed as it is written; text is not aligned in a table
}

// NewFollowWriter starts the output of a follow: each event goes out as
// soon as it is written; text is one line an event in fixed columns (a
// table cannot be aligned before its last row). JSON (an array) cannot be
// followed: use JSONL.
func NewFollowWriter(w io.Writer, f Format) *EventWriter {
	ew := &EventWriter{w: bufio.NewWriterSize(w, 1<<16), f: f, follow: true}
	switch f {
	case CSV:
		ew.csv = newCSVW(ew.w, "position", "stream", "version", "type", "recorded_at", "actor", "id", "data")
	case Text:
		fmt.Fprintf(ew.w, followLine, "POSITION", "RECORDED", "STREAM", "TYPE", "ACTOR", "WHAT")
	}
	ew.w.Flush()
	return ew
}

// followLine is a line of text of a follow.
const followLine = "%-9s %-23s %-16s %-34s %-22s %s\n"

// NewEventWriter starts the output.
func NewEventWriter(w io.Writer, f Format) *EventWriter {
	ew := &EventWriter{w: bufio.NewWriterSize(w, 1<<16), f: f}
	switch f {
	case JSON:
		ew.w.WriteString("[")
	case CSV:
		ew.csv = newCSVW(ew.w, "position", "stream", "version", "type", "recorded_at", "actor", "id", "data")
	case Text:
		ew.table = newTable(ew.w, "POSITION", "RECORDED", "STREAM", "TYPE", "ACTOR", "WHAT")
	}
	return ew
}

// Write writes one event.
func (ew *EventWriter) Write(r EventReport, payload domain.Event) error {
	ew.n++
	switch ew.f {
	case JSON, JSONL:
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if ew.f == JSON {
			if ew.n > 1 {
				ew.w.WriteString(",")
			}
			ew.w.WriteString("\n  ")
		}
		ew.w.Write(b)
		if ew.f == JSONL {
			ew.w.WriteByte('\n')
		}
	case CSV:
		ew.csv.write(fmt.Sprint(r.Position), r.Stream, fmt.Sprint(r.Version), r.Type, ts(r.RecordedAt.t()), r.Actor, r.ID, string(r.Data))
	default:
		what := string(r.Data)
		if payload != nil {
			what = Describe(payload)
		}
		stream := r.Stream
		if d, ok := domain.DeviceFromStream(stream); ok {
			stream = d
		} else {
			stream = strings.TrimPrefix(stream, domain.StreamPrefix)
		}
		if ew.follow {
			fmt.Fprintf(ew.w, followLine, fmt.Sprint(r.Position), r.RecordedAt.String(), stream, r.Type, orDash(r.Actor),
				strings.NewReplacer("\t", " ", "\n", " ").Replace(what))
			break
		}
		ew.table.row(fmt.Sprint(r.Position), r.RecordedAt.String(), stream, r.Type, orDash(r.Actor), what)
		if ew.n%512 == 0 {
			return ew.table.flush()
		}
	}
	if ew.follow {
		if ew.csv != nil {
			ew.csv.flush()
			if err := ew.csv.err(); err != nil {
				return err
			}
		}
		return ew.w.Flush()
	}
	return nil
}

// Close ends the output.
func (ew *EventWriter) Close() error {
	switch ew.f {
	case JSON:
		if ew.n > 0 {
			ew.w.WriteString("\n")
		}
		ew.w.WriteString("]\n")
	case CSV:
		ew.csv.flush()
		if err := ew.csv.err(); err != nil {
			return err
		}
	case Text:
		if ew.table != nil {
			if err := ew.table.flush(); err != nil {
				return err
			}
		}
	}
	return ew.w.Flush()
}
