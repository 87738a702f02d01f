package projections_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// naiveQuery answers a DeviceQuery the obvious way, over every Device: what
// Devices.Query must agree with.
func naiveQuery(all []projections.Device, q projections.DeviceQuery) projections.DevicePage {
	var sel []projections.Device
	text := strings.ToUpper(q.Text)
	for _, d := range all {
		switch {
		case q.Status == projections.Registered && !d.Registered,
			q.Status == projections.Unregistered && d.Registered,
			q.Pool != "" && d.Pool != q.Pool,
			q.Model != "" && d.Model != q.Model,
			q.Window != "" && d.Window != q.Window,
			q.Node != "" && (d.Node != q.Node || !d.Registered),
			q.Protocol != "" && d.Protocol != q.Protocol,
			!q.Since.IsZero() && (d.LastSeen.IsZero() || d.LastSeen.Before(q.Since)):
			continue
		}
		if text != "" && !strings.Contains(d.Name, text) && !strings.Contains(d.DN, text) && !strings.Contains(strings.ToUpper(d.Address), text) {
			continue
		}
		sel = append(sel, d)
	}
	key := func(d projections.Device) (int64, string) {
		switch q.Sort {
		case projections.SortDN:
			return int64(len(d.DN)), d.DN
		case projections.SortModel:
			return 0, d.Model
		case projections.SortProtocol:
			return 0, string(d.Protocol)
		case projections.SortPool:
			return 0, d.Pool
		case projections.SortStatus:
			if d.Registered {
				return 0, ""
			}
			return 1, ""
		case projections.SortLastSeen:
			if d.LastSeen.IsZero() {
				return -1 << 63, ""
			}
			return d.LastSeen.UnixNano(), ""
		case projections.SortAddress:
			return 0, d.Address
		}
		return 0, d.Name
	}
	slices.SortFunc(sel, func(a, b projections.Device) int {
		an, as := key(a)
		bn, bs := key(b)
		c := cmp.Or(cmp.Compare(an, bn), strings.Compare(as, bs))
		if q.Desc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.Name, b.Name))
	})
	page := projections.DevicePage{Total: len(sel), Devices: []projections.Device{}}
	lo := min(q.Offset, len(sel))
	hi := len(sel)
	if q.Limit > 0 {
		hi = min(lo+q.Limit, hi)
	}
	page.Devices = append(page.Devices, sel[lo:hi]...)
	return page
}

// Devices.Query agrees with the obvious answer over every Device, for
// every filter, sort, direction and page, on a generated history; the zero
// query is List.
func TestDeviceQuery(t *testing.T) {
	events := recorded(t, generated(t, 30_000))
	// The generated phones stay registered: unregister every third device
	// seen, so that both statuses are exercised.
	seen := map[string]bool{}
	last := events[len(events)-1]
	for _, e := range slices.Clone(events) {
		name, ok := domain.DeviceFromStream(e.Stream)
		if !ok || seen[name] || e.Type != domain.TypeDeviceAutoregistered {
			continue
		}
		seen[name] = true
		if len(seen)%3 != 0 {
			continue
		}
		_, data, err := domain.Encode(domain.DeviceUnregistered{DeviceEvent: domain.DeviceEvent{Device: name}, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		v := uint64(0)
		for _, o := range events {
			if o.Stream == e.Stream {
				v = o.Version + 1
			}
		}
		last.Position++
		last.RecordedAt = last.RecordedAt.Add(time.Second)
		events = append(events, eventstore.RecordedEvent{Position: last.Position, Stream: e.Stream, Version: v,
			Type: domain.TypeDeviceUnregistered, Data: data, RecordedAt: last.RecordedAt})
	}
	reader := projections.NewReader(headedSource{sliceSource(events)}, nil)
	ctx := context.Background()
	if _, err := reader.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := reader.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 200 {
		t.Fatalf("the history has only %d devices", len(all))
	}
	// Values that occur, and times in the middle of the history.
	pick := func(f func(projections.Device) string) string {
		counts := map[string]int{}
		for _, d := range all {
			counts[f(d)]++
		}
		best, n := "", 0
		for v, c := range counts {
			if v != "" && (c > n || c == n && v < best) {
				best, n = v, c
			}
		}
		return best
	}
	pool := pick(func(d projections.Device) string { return d.Pool })
	model := pick(func(d projections.Device) string { return d.Model })
	window := pick(func(d projections.Device) string { return d.Window })
	node := pick(func(d projections.Device) string { return d.Node })
	mid := all[len(all)/2].LastSeen
	if mid.IsZero() {
		mid = events[len(events)/2].RecordedAt
	}
	dnPart := all[len(all)/3].DN[1:3]

	filters := []projections.DeviceQuery{
		{},
		{Status: projections.Registered},
		{Status: projections.Unregistered},
		{Pool: pool},
		{Pool: "NoSuchPool"},
		{Model: model, Status: projections.Registered},
		{Window: window},
		{Node: node},
		{Node: node, Protocol: domain.SIP},
		{Protocol: domain.SIP},
		{Protocol: domain.SCCP, Pool: pool},
		{Since: mid},
		{Text: "a1"},
		{Text: dnPart},
		{Text: all[7].Name[3:9]},
	}
	pages := []struct{ offset, limit int }{{0, 0}, {0, 10}, {5, 10}, {0, 1}, {40, 25}, {len(all) - 3, 10}, {len(all) + 5, 10}, {10, 0}}
	n := 0
	for _, f := range filters {
		for _, sort := range append([]projections.DeviceSort{""}, projections.DeviceSorts...) {
			for _, desc := range []bool{false, true} {
				for _, p := range pages {
					q := f
					q.Sort, q.Desc, q.Offset, q.Limit = sort, desc, p.offset, p.limit
					got, err := reader.QueryDevices(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					want := naiveQuery(all, q)
					if got.Total != want.Total {
						t.Fatalf("%+v: total %d, want %d", q, got.Total, want.Total)
					}
					if diff := gocmp.Diff(names(want.Devices), names(got.Devices)); diff != "" {
						t.Fatalf("%+v (-want +got):\n%s", q, diff)
					}
					if len(got.Devices) > 0 && !gocmp.Equal(want.Devices[0], got.Devices[0]) {
						t.Fatalf("%+v: first device %+v, want %+v", q, got.Devices[0], want.Devices[0])
					}
					n++
				}
			}
		}
	}
	zero, _ := reader.QueryDevices(ctx, projections.DeviceQuery{})
	if diff := gocmp.Diff(all, zero.Devices); diff != "" || zero.Total != len(all) {
		t.Errorf("the zero query is not List (total %d of %d):\n%s", zero.Total, len(all), diff)
	}
	// The filters select something, or the comparisons prove little.
	for _, f := range filters[:14] {
		if f.Pool == "NoSuchPool" {
			continue
		}
		if p, _ := reader.QueryDevices(ctx, f); p.Total == 0 || p.Total == len(all) && f != (projections.DeviceQuery{}) {
			t.Errorf("filter %+v selects %d of %d devices", f, p.Total, len(all))
		}
	}
	t.Logf("%d queries over %d devices", n, len(all))

	// A page costs allocations for its own devices, not for every device
	// (List builds them all).
	for _, sort := range []projections.DeviceSort{projections.SortName, projections.SortPool, projections.SortLastSeen} {
		q := projections.DeviceQuery{Sort: sort, Offset: 20, Limit: 20}
		page := testing.AllocsPerRun(5, func() { _, _ = reader.QueryDevices(ctx, q) })
		list := testing.AllocsPerRun(5, func() { _, _ = reader.Devices(ctx) })
		if page > list/20 {
			t.Errorf("a page of 20 sorted by %s makes %.0f allocations, a list of %d devices %.0f", sort, page, len(all), list)
		}
	}
}

func names(ds []projections.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

func TestDeviceQueryRefusesBadValues(t *testing.T) {
	for _, q := range []projections.DeviceQuery{
		{Status: "online"}, {Sort: "colour"}, {Offset: -1}, {Limit: -5},
	} {
		if err := q.Validate(); err == nil {
			t.Errorf("%+v: accepted", q)
		} else if !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%+v: %v does not wrap ErrInvalid", q, err)
		}
	}
}
