package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// ErrNoDevice: the store holds no event about the device.
var ErrNoDevice = errors.New("no such device")

// DeviceHistory is the JSON of `replay device` (see docs/replay.md).
type DeviceHistory struct {
	Device  string            `json:"device"`
	State   DeviceStateReport `json:"state"`
	History []HistoryEntry    `json:"history"`
}

// DeviceStateReport is what the device is after its last event.
type DeviceStateReport struct {
	Exists           bool            `json:"exists"`
	Deleted          bool            `json:"deleted"`
	Model            string          `json:"model"`
	Protocol         domain.Protocol `json:"protocol"`
	DN               string          `json:"dn"`
	Partition        string          `json:"partition"`
	Pool             string          `json:"pool"`
	CSS              string          `json:"css"`
	Description      string          `json:"description"`
	Registered       bool            `json:"registered"`
	Address          string          `json:"address"`
	Autoregistered   bool            `json:"autoregistered"`
	Window           string          `json:"window"`
	AutoregisteredAt Time            `json:"autoregistered_at"`
	FirstSeen        Time            `json:"first_seen"`
	LastSeen         Time            `json:"last_seen"`
	Rejections       int             `json:"rejections"`
}

// HistoryEntry is one event of a device's history: an event of its stream,
// or a DN event of the range naming it.
type HistoryEntry struct {
	Position   uint64          `json:"position"`
	RecordedAt Time            `json:"recorded_at"`
	Stream     string          `json:"stream"`
	Type       string          `json:"type"`
	Actor      string          `json:"actor"`
	Summary    string          `json:"summary"`
	Data       json.RawMessage `json:"data"`
}

// DeviceName accepts a device name (SEP and 12 hex digits, any case) or a
// MAC address in any usual notation.
func DeviceName(arg string) (string, error) {
	if n := strings.ToUpper(strings.TrimSpace(arg)); domain.ValidDeviceName(n) {
		return n, nil
	}
	if n, err := domain.DeviceNameFromMAC(arg); err == nil {
		return n, nil
	}
	return "", usagef("%q is not a device name (SEP followed by the 12 hex digits of the MAC) or a MAC address", arg)
}

// Device returns the whole history of one device: the events of its
// stream and the DN assignments, claims and releases naming it, in order.
func Device(ctx context.Context, env Env, name string) (DeviceHistory, error) {
	dec := projections.NewDecoder()
	type item struct {
		rec     eventstore.RecordedEvent
		payload domain.Event
	}
	var mine, dns []item
	err := env.Store.ReadStream(ctx, domain.DeviceStream(name), 0, func(e eventstore.RecordedEvent) error {
		p, err := dec.Decode(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("event at position %d: %w", e.Position, err)
		}
		mine = append(mine, item{e, p})
		return nil
	})
	if err != nil {
		return DeviceHistory{}, err
	}
	err = env.Store.ReadStream(ctx, domain.RangeStream, 0, func(e eventstore.RecordedEvent) error {
		switch e.Type {
		case domain.TypeDNAssigned, domain.TypeDNClaimed, domain.TypeDNReleased, domain.TypeRangeExhausted:
		default:
			return nil
		}
		p, err := dec.Decode(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("event at position %d: %w", e.Position, err)
		}
		var dev string
		switch p := p.(type) {
		case domain.DNAssigned:
			dev = p.Device
		case domain.DNClaimed:
			dev = p.Device
		case domain.DNReleased:
			dev = p.Device
		case domain.RangeExhausted:
			dev = p.Device
		}
		if dev == name {
			dns = append(dns, item{e, p})
		}
		return nil
	})
	if err != nil {
		return DeviceHistory{}, err
	}
	if len(mine) == 0 && len(dns) == 0 {
		return DeviceHistory{}, fmt.Errorf("%w: the store holds no event about %s", ErrNoDevice, name)
	}
	h := DeviceHistory{Device: name, History: []HistoryEntry{}}
	devs := projections.NewDevices()
	r := projections.NewRunner(nil, devs)
	for i, j := 0, 0; i < len(mine) || j < len(dns); {
		var it item
		if j >= len(dns) || (i < len(mine) && mine[i].rec.Position < dns[j].rec.Position) {
			it, i = mine[i], i+1
			if err := r.Apply(it.rec); err != nil {
				return DeviceHistory{}, err
			}
		} else {
			it, j = dns[j], j+1
		}
		h.History = append(h.History, HistoryEntry{Position: it.rec.Position, RecordedAt: Time(it.rec.RecordedAt),
			Stream: it.rec.Stream, Type: it.rec.Type, Actor: actorOf(it.rec.Metadata, it.payload),
			Summary: Describe(it.payload), Data: json.RawMessage(dataOf(it.rec.Data))})
	}
	if d, ok := devs.Get(name); ok {
		h.State = DeviceStateReport{Exists: d.Exists, Deleted: d.Deleted, Model: d.Model, Protocol: d.Protocol,
			DN: d.DN, Partition: d.Partition, Pool: d.Pool, CSS: d.CSS, Description: d.Description,
			Registered: d.Registered, Address: d.Address, Autoregistered: d.Autoregistered, Window: d.Window,
			AutoregisteredAt: Time(d.AutoregisteredAt), FirstSeen: Time(d.FirstSeen), LastSeen: Time(d.LastSeen),
			Rejections: d.Rejections}
	}
	return h, nil
}

// WriteDevice writes a device's history in a format; CSV is the history.
func WriteDevice(w io.Writer, f Format, h DeviceHistory) error {
	switch f {
	case JSON:
		return writeJSON(w, h)
	case CSV:
		c := newCSV(w, "position", "recorded_at", "stream", "type", "actor", "summary", "data")
		for _, e := range h.History {
			c.Write([]string{fmt.Sprint(e.Position), ts(time.Time(e.RecordedAt)), e.Stream, e.Type, e.Actor, e.Summary, string(e.Data)})
		}
		c.Flush()
		return c.Error()
	}
	s := h.State
	state := "never existed (refused only)"
	switch {
	case s.Exists && s.Registered:
		state = "registered"
	case s.Exists:
		state = "not registered"
	case s.Deleted:
		state = "deleted"
	}
	fmt.Fprintf(w, "%s: %s\n", h.Device, state)
	t := newTable(w)
	if s.Exists {
		t.row("  model", fmt.Sprintf("%s over %s", s.Model, s.Protocol))
		t.row("  DN", fmt.Sprintf("%s in %s", s.DN, orDash(s.Partition)))
		t.row("  pool", fmt.Sprintf("%s (CSS %s)", s.Pool, orDash(s.CSS)))
		t.row("  address", orDash(s.Address))
	}
	if s.Autoregistered || s.Window != "" {
		t.row("  autoregistered", fmt.Sprintf("in %s at %s", s.Window, s.AutoregisteredAt))
	}
	t.row("  seen", fmt.Sprintf("%s to %s", s.FirstSeen, s.LastSeen))
	if s.Rejections > 0 {
		t.row("  refused", fmt.Sprintf("%d times", s.Rejections))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "POSITION", "RECORDED", "TYPE", "ACTOR", "WHAT")
	for _, e := range h.History {
		t.row(fmt.Sprint(e.Position), e.RecordedAt.String(), e.Type, orDash(e.Actor), e.Summary)
	}
	return t.flush()
}
