package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// StateReport is the JSON of `replay state`: the cluster, the ranges and
// the devices as they were at an instant (see docs/replay.md).
type StateReport struct {
	At Time `json:"at"`
	// Position is the global position of the last event recorded at or
	// before At (0: none).
	Position         uint64          `json:"position"`
	Autoregistration AutoregReport   `json:"autoregistration"`
	Protocol         domain.Protocol `json:"protocol"`
	Security         string          `json:"security"`
	Cluster          ClusterReport   `json:"cluster"`
	Ranges           []RangeReport   `json:"ranges"`
	Devices          []DeviceReport  `json:"devices"`
}

// AutoregReport says whether autoregistration was open, and the window.
type AutoregReport struct {
	// Open: a window was open and its time was not up.
	Open bool `json:"open"`
	// Window is the window not yet closed by an event (null if none). Its
	// time may be up (Open is then false): the registrar's timer closes it.
	Window *OpenWindowReport `json:"window"`
}

// OpenWindowReport is the window open at the instant.
type OpenWindowReport struct {
	ID               string          `json:"id"`
	OpenedAt         Time            `json:"opened_at"`
	OpenedBy         string          `json:"opened_by"`
	OpenReason       string          `json:"open_reason"`
	Until            Time            `json:"until"`
	MaxRegistrations int             `json:"max_registrations"`
	Protocol         domain.Protocol `json:"protocol"`
	Registrations    int             `json:"registrations"`
}

// ClusterReport is the configuration autoregistration depends on.
type ClusterReport struct {
	CallManagers        []CallManagerReport `json:"callmanagers"`
	Groups              []GroupReport       `json:"groups"`
	Partitions          []string            `json:"partitions"`
	CallingSearchSpaces []CSSReport         `json:"calling_search_spaces"`
	DevicePools         []PoolReport        `json:"device_pools"`
	DefaultPool         string              `json:"default_pool"`
	AutoregCSS          string              `json:"autoreg_css"`
}

// CallManagerReport is one CallManager.
type CallManagerReport struct {
	Name           string `json:"name"`
	Description    string `json:"description"`
	AutoregEnabled bool   `json:"autoreg_enabled"`
}

// GroupReport is one CallManager group; Autoreg marks the Auto-registration
// CallManager Group.
type GroupReport struct {
	Name         string   `json:"name"`
	CallManagers []string `json:"callmanagers"`
	Autoreg      bool     `json:"autoreg"`
}

// CSSReport is a calling search space.
type CSSReport struct {
	Name       string   `json:"name"`
	Partitions []string `json:"partitions"`
}

// PoolReport is a device pool.
type PoolReport struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	CSS   string `json:"css"`
}

// RangeReport is an autoregistration range and its usage at the instant.
type RangeReport struct {
	Start     string `json:"start"`
	End       string `json:"end"`
	Partition string `json:"partition"`
	Mask      string `json:"mask"`
	Used      int    `json:"used"`
	Free      int    `json:"free"`
	// Next is the DN autoregistration would give next ("" if none is free).
	Next string `json:"next"`
	// Current: the range in force (the others were configured before it).
	Current bool `json:"current"`
}

// DeviceReport is a device that existed at the instant.
type DeviceReport struct {
	Name       string          `json:"name"`
	Model      string          `json:"model"`
	Protocol   domain.Protocol `json:"protocol"`
	DN         string          `json:"dn"`
	Partition  string          `json:"partition"`
	Pool       string          `json:"pool"`
	CSS        string          `json:"css"`
	Registered bool            `json:"registered"`
	Address    string          `json:"address"`
	// Window is the window it autoregistered in ("" if provisioned by hand).
	Window   string `json:"window"`
	LastSeen Time   `json:"last_seen"`
	// Node is the CallManager it was registered with then ("" when none).
	Node string `json:"node,omitempty"`
}

// State replays the events recorded at or before at and returns the state
// they left.
func State(ctx context.Context, env Env, at time.Time) (StateReport, error) {
	set := projections.NewSet()
	pos, err := env.Fold(ctx, at, set.Cluster, set.Assignment, set.Devices, set.Windows)
	if err != nil {
		return StateReport{}, err
	}
	return NewStateReport(at, pos, set), nil
}

// nothingBefore is the error of a state asked for before anything was
// recorded: it says when the first event was, or that the store is empty.
func nothingBefore(ctx context.Context, env Env, at time.Time) error {
	var first *eventstore.RecordedEvent
	err := env.Store.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error {
		first = &e
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	if first == nil {
		return errors.New("the store holds no events yet: there is no state to show")
	}
	return fmt.Errorf("nothing was recorded at or before %s UTC: the first event (position %d, %s) was recorded at %s UTC; give a later --at",
		Time(at), first.Position, first.Type, Time(first.RecordedAt))
}

// NewStateReport builds the report from read models.
func NewStateReport(at time.Time, pos uint64, set *projections.Set) StateReport {
	c := set.Cluster.State()
	r := StateReport{At: Time(at), Position: pos, Protocol: c.Protocol, Security: string(c.Security),
		Ranges: []RangeReport{}, Devices: []DeviceReport{}}
	if w := c.Window; w != nil {
		ow := &OpenWindowReport{ID: w.ID, OpenedAt: Time(w.OpenedAt), OpenedBy: w.By, OpenReason: w.Reason,
			Until: Time(w.Until), MaxRegistrations: w.MaxRegistrations, Protocol: w.Protocol}
		if win, ok := set.Windows.Get(w.ID); ok {
			ow.Registrations = len(win.Registrations)
		}
		r.Autoregistration.Window = ow
		r.Autoregistration.Open = w.Until.IsZero() || at.Before(w.Until)
	}
	r.Cluster = clusterReport(c)
	for _, g := range set.Assignment.Ranges() {
		r.Ranges = append(r.Ranges, RangeReport{Start: g.Start, End: g.End, Partition: g.Partition, Mask: g.Mask,
			Used: g.Used, Free: g.Free, Next: g.Next, Current: g.Current})
	}
	for _, d := range set.Devices.List() {
		r.Devices = append(r.Devices, DeviceReport{Name: d.Name, Model: d.Model, Protocol: d.Protocol, DN: d.DN,
			Partition: d.Partition, Pool: d.Pool, CSS: d.CSS, Registered: d.Registered, Address: d.Address,
			Window: d.Window, LastSeen: Time(d.LastSeen), Node: d.Node})
	}
	return r
}

func clusterReport(c domain.ClusterState) ClusterReport {
	r := ClusterReport{CallManagers: []CallManagerReport{}, Groups: []GroupReport{}, Partitions: []string{},
		CallingSearchSpaces: []CSSReport{}, DevicePools: []PoolReport{}, DefaultPool: c.DefaultPool, AutoregCSS: c.AutoregCSS}
	for _, n := range slices.Sorted(maps.Keys(c.CallManagers)) {
		cm := c.CallManagers[n]
		r.CallManagers = append(r.CallManagers, CallManagerReport{Name: n, Description: cm.Description, AutoregEnabled: !cm.AutoregDisabled})
	}
	for _, n := range slices.Sorted(maps.Keys(c.Groups)) {
		r.Groups = append(r.Groups, GroupReport{Name: n, CallManagers: slices.Clone(c.Groups[n]), Autoreg: n == c.AutoregGroup})
	}
	r.Partitions = append(r.Partitions, slices.Sorted(maps.Keys(c.Partitions))...)
	for _, n := range slices.Sorted(maps.Keys(c.CSS)) {
		r.CallingSearchSpaces = append(r.CallingSearchSpaces, CSSReport{Name: n, Partitions: slices.Clone(c.CSS[n])})
	}
	for _, n := range slices.Sorted(maps.Keys(c.Pools)) {
		p := c.Pools[n]
		r.DevicePools = append(r.DevicePools, PoolReport{Name: n, Group: p.Group, CSS: p.CSS})
	}
	return r
}

// WriteState writes the report in a format. CSV is the devices table.
func WriteState(w io.Writer, f Format, r StateReport) error {
	switch f {
	case JSON:
		return writeJSON(w, r)
	case CSV:
		c := newCSV(w, "name", "model", "protocol", "dn", "partition", "pool", "css", "registered", "address", "window", "last_seen")
		for _, d := range r.Devices {
			c.Write([]string{d.Name, d.Model, string(d.Protocol), d.DN, d.Partition, d.Pool, d.CSS,
				fmt.Sprint(d.Registered), d.Address, d.Window, ts(time.Time(d.LastSeen))})
		}
		c.Flush()
		return c.Error()
	}
	fmt.Fprintf(w, "State at %s UTC (events up to position %d)\n\n", r.At, r.Position)
	t := newTable(w)
	auto := "closed"
	if win := r.Autoregistration.Window; win != nil {
		state := "open"
		if !r.Autoregistration.Open {
			state = "time up"
		}
		auto = fmt.Sprintf("%s: window %s opened %s by %s (%q), %d phones", state, win.ID, win.OpenedAt, win.OpenedBy,
			win.OpenReason, win.Registrations)
		if !time.Time(win.Until).IsZero() {
			auto += ", until " + win.Until.String()
		}
		if win.MaxRegistrations > 0 {
			auto += fmt.Sprintf(", at most %d", win.MaxRegistrations)
		}
	}
	t.row("Autoregistration", auto)
	t.row("Protocol", string(r.Protocol))
	t.row("Security", r.Security)
	for _, g := range r.Cluster.Groups {
		if g.Autoreg {
			t.row("Autoreg group", fmt.Sprintf("%s %v", g.Name, g.CallManagers))
		}
	}
	var enabled []string
	for _, cm := range r.Cluster.CallManagers {
		if cm.AutoregEnabled {
			enabled = append(enabled, cm.Name)
		}
	}
	t.row("Autoreg enabled on", orDash(joinComma(enabled)))
	t.row("Default pool", orDash(r.Cluster.DefaultPool))
	t.row("Autoreg CSS", orDash(r.Cluster.AutoregCSS))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "RANGE", "PARTITION", "MASK", "USED", "FREE", "NEXT", "")
	for _, g := range r.Ranges {
		cur := ""
		if g.Current {
			cur = "current"
		}
		t.row(g.Start+"-"+g.End, orDash(g.Partition), orDash(g.Mask), itoa(g.Used), itoa(g.Free), orDash(g.Next), cur)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "DEVICE", "MODEL", "PROTOCOL", "DN", "PARTITION", "POOL", "REGISTERED", "ADDRESS", "WINDOW")
	for _, d := range r.Devices {
		t.row(d.Name, d.Model, string(d.Protocol), d.DN, orDash(d.Partition), d.Pool, yesNo(d.Registered), orDash(d.Address), orDash(d.Window))
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d devices\n", len(r.Devices))
	return err
}
