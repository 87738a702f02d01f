package compliance

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/replay"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"when":  func(t replay.Time) string { return when(time.Time(t)) },
	"upper": func(s Severity) string { return strings.ToUpper(string(s)) },
	"span":  func(secs int64) string { return span(time.Duration(secs) * time.Second) },
	"positions": func(ps []uint64) string {
		return joinPositions(ps, ", ")
	},
	"times": func(ts []replay.Time) string { return joinTimes(ts, when, ", ") },
	"f":     func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).Parse(htmlSource))

// The geometry of the charts (SVG user units).
const (
	chartWidth  = 1100.0
	chartLeft   = 70.0
	chartRight  = 20.0
	plotWidth   = chartWidth - chartLeft - chartRight
	rowLabel    = 170.0 // the detail rows' label column
	rowPlot     = chartWidth - rowLabel - 150
	rowHeight   = 30.0
	maxRows     = 60   // detail rows at most
	maxTableRow = 2000 // rows of the windows table at most
)

// htmlView is what the template shows.
type htmlView struct {
	*Report
	Sections []htmlSection
	Overview overview
	Rows     []detailRow
	// RowsNote says which windows the detail rows show, when not all.
	RowsNote string
	RowsH    float64
	Table    []Window
	// TableNote says how many windows the table leaves out.
	TableNote string
	MaxDur    string
	Checks    []Check
}

type htmlSection struct {
	Severity Severity
	Findings []Finding
}

// overview is the period's timeline: a bar per window, ticks for the
// registrations per protocol.
type overview struct {
	Bars  []bar
	Ticks []tick
	Axis  []axisTick
	Empty bool
}

type bar struct {
	X, Y, W, H float64
	Class      string // the worst severity of its findings, or "ok"
	Title      string
}

type tick struct {
	X, Y1, Y2 float64
	Class     string // sccp or sip
}

type axisTick struct {
	X      float64
	Label  string
	Anchor string // text-anchor: middle, or start/end near the edges
}

// detailRow is one window on its own scale: its span, the policy's maximum
// duration, its registrations and protocol changes.
type detailRow struct {
	Y          float64
	Label      string
	Sub        string
	BarW       float64
	Class      string
	MaxX       float64 // the policy's maximum duration; < 0 when off the scale
	Ticks      []tick
	Switches   []float64
	Right      string
	Title      string
	OpenAtEnd  bool
	EndLabelX  float64
	PlotOffset float64
}

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and SVG, no script, no external resource; every value is escaped by
// html/template.
func WriteHTML(w io.Writer, r *Report) error {
	pol := r.pol
	if pol == nil {
		pol = DefaultPolicy()
	}
	v := htmlView{Report: r, Checks: Checks, MaxDur: span(pol.Checks.WindowTooLong.MaxDuration)}
	for _, s := range Severities {
		sec := htmlSection{Severity: s}
		for _, f := range r.Findings {
			if f.Severity == s {
				sec.Findings = append(sec.Findings, f)
			}
		}
		if len(sec.Findings) > 0 {
			v.Sections = append(v.Sections, sec)
		}
	}
	worst := map[string]Severity{}
	for _, f := range r.Findings {
		for _, id := range f.Evidence.Windows {
			if f.Severity.Rank() > worst[id].Rank() {
				worst[id] = f.Severity
			}
		}
	}
	class := func(id string) string {
		if s, ok := worst[id]; ok {
			return string(s)
		}
		return "ok"
	}
	v.Overview = r.overview(class)
	v.Rows, v.RowsNote = r.detailRows(class, worst, pol.Checks.WindowTooLong.MaxDuration)
	v.RowsH = float64(len(v.Rows))*rowHeight + 10
	v.Table = r.Windows
	if len(v.Table) > maxTableRow {
		v.TableNote = fmt.Sprintf("The table shows the last %d of the %d windows; the JSON report lists them all.", maxTableRow, len(r.Windows))
		v.Table = v.Table[len(v.Table)-maxTableRow:]
	}
	return htmlTemplate.Execute(w, v)
}

// scale maps instants of [from, to] onto [x0, x0+width].
type scale struct {
	from, to  time.Time
	x0, width float64
}

func (s scale) x(t time.Time) float64 {
	span := s.to.Sub(s.from)
	if span <= 0 {
		return s.x0
	}
	f := float64(t.Sub(s.from)) / float64(span)
	return s.x0 + s.width*math.Min(math.Max(f, 0), 1)
}

func (r *Report) overview(class func(string) string) overview {
	from, to := time.Time(r.Period.Since), time.Time(r.Period.Until)
	for _, w := range r.Windows { // windows opened before --since start the chart
		if t := time.Time(w.OpenedAt); from.IsZero() || t.Before(from) {
			from = t
		}
	}
	if from.IsZero() || !to.After(from) {
		from = to.Add(-time.Hour)
	}
	sc := scale{from: from, to: to, x0: chartLeft, width: plotWidth}
	var ov overview
	ov.Empty = len(r.Windows) == 0
	most := 1
	for _, w := range r.Windows {
		most = max(most, w.Registrations)
	}
	for _, w := range r.Windows {
		x1, x2 := sc.x(time.Time(w.OpenedAt)), sc.x(time.Time(w.End))
		h := 14 + 46*math.Sqrt(float64(w.Registrations)/float64(most))
		ov.Bars = append(ov.Bars, bar{X: x1, Y: 90 - h, W: math.Max(x2-x1, 2), H: h, Class: class(w.ID),
			Title: fmt.Sprintf("%s: opened %s by %s, %s, %d phones", w.ID, when(time.Time(w.OpenedAt)), w.OpenedBy,
				span(time.Duration(w.DurationSeconds)*time.Second), w.Registrations)})
	}
	// Registrations, binned by pixel column, per protocol.
	type binKey struct {
		px  int
		sip bool
	}
	bins := map[binKey]int{}
	top := 1
	for _, w := range r.Windows {
		for _, g := range r.regs[w.ID] {
			k := binKey{px: int(sc.x(g.At)), sip: g.Protocol == domain.SIP}
			bins[k]++
			top = max(top, bins[k])
		}
	}
	keys := make([]binKey, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b binKey) int {
		return cmp.Or(cmp.Compare(a.px, b.px), cmp.Compare(fmt.Sprint(a.sip), fmt.Sprint(b.sip)))
	})
	for _, k := range keys {
		h := 6 + 18*math.Log1p(float64(bins[k]))/math.Log1p(float64(top))
		base, cl := 125.0, "sccp"
		if k.sip {
			base, cl = 155.0, "sip"
		}
		ov.Ticks = append(ov.Ticks, tick{X: float64(k.px) + 0.5, Y1: base - h, Y2: base, Class: cl})
	}
	ov.Axis = axis(sc)
	return ov
}

// axis picks about eight round instants to label.
func axis(sc scale) []axisTick {
	total := sc.to.Sub(sc.from)
	steps := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
		3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour,
		14 * 24 * time.Hour, 30 * 24 * time.Hour, 91 * 24 * time.Hour, 182 * 24 * time.Hour, 365 * 24 * time.Hour}
	const year = 365 * 24 * time.Hour
	step := time.Duration(0)
	for _, s := range steps {
		if total/s <= 8 {
			step = s
			break
		}
	}
	if step == 0 { // decades: whole years
		step = ((total/8)/year + 1) * year
	}
	layout := "2006-01-02"
	switch {
	case step < 24*time.Hour && total < 24*time.Hour:
		layout = "15:04"
	case step < 24*time.Hour:
		layout = "01-02 15:04"
	}
	var out []axisTick
	for t := sc.from.Truncate(step); !t.After(sc.to); t = t.Add(step) {
		if t.Before(sc.from) {
			continue
		}
		x, anchor := sc.x(t), "middle"
		switch {
		case x < sc.x0+35:
			anchor = "start"
		case x > sc.x0+sc.width-35:
			anchor = "end"
		}
		out = append(out, axisTick{X: x, Label: t.UTC().Format(layout), Anchor: anchor})
	}
	return out
}

// detailRows draws up to maxRows windows each on its own scale: those
// with the worst findings first, then the latest; shown in opening order.
func (r *Report) detailRows(class func(string) string, worst map[string]Severity, maxDur time.Duration) ([]detailRow, string) {
	ws := slices.Clone(r.Windows)
	note := ""
	if len(ws) > maxRows {
		slices.SortStableFunc(ws, func(a, b Window) int {
			return cmp.Or(cmp.Compare(worst[b.ID].Rank(), worst[a.ID].Rank()),
				time.Time(b.OpenedAt).Compare(time.Time(a.OpenedAt)))
		})
		ws = ws[:maxRows]
		slices.SortFunc(ws, func(a, b Window) int { return time.Time(a.OpenedAt).Compare(time.Time(b.OpenedAt)) })
		note = fmt.Sprintf("%d of the %d windows: those with the most serious findings, then the latest.", maxRows, len(r.Windows))
	}
	var rows []detailRow
	for i, w := range ws {
		open, end := time.Time(w.OpenedAt), time.Time(w.End)
		right := open.Add(maxDur)
		if end.After(right) {
			right = end
		}
		right = open.Add(time.Duration(float64(right.Sub(open)) * 1.05))
		sc := scale{from: open, to: right, x0: 0, width: rowPlot}
		y := float64(i) * rowHeight
		row := detailRow{Y: y, Label: w.ID, Sub: time.Time(w.OpenedAt).UTC().Format("2006-01-02 15:04"),
			BarW: math.Max(sc.x(end), 2), Class: class(w.ID), MaxX: sc.x(open.Add(maxDur)), OpenAtEnd: w.OpenAtEnd,
			PlotOffset: rowLabel,
			Right:      fmt.Sprintf("%s · %d phones", span(time.Duration(w.DurationSeconds)*time.Second), w.Registrations),
			Title: fmt.Sprintf("%s opened %s by %s (%s); %d SCCP, %d SIP phones", w.ID, when(open), w.OpenedBy, w.OpenReason,
				w.RegistrationsByProtocol[domain.SCCP], w.RegistrationsByProtocol[domain.SIP])}
		if w.OpenAtEnd {
			row.Right += " · open"
		}
		row.EndLabelX = rowPlot + 8
		seen := map[[2]int]bool{}
		for _, g := range r.regs[w.ID] {
			px := int(sc.x(g.At))
			sip := 0
			if g.Protocol == domain.SIP {
				sip = 1
			}
			if seen[[2]int{px, sip}] {
				continue
			}
			seen[[2]int{px, sip}] = true
			t := tick{X: float64(px) + 0.5, Y1: 4, Y2: 13, Class: "sccp"}
			if sip == 1 {
				t.Y1, t.Y2, t.Class = 13, 22, "sip"
			}
			row.Ticks = append(row.Ticks, t)
		}
		for _, pc := range w.ProtocolChanges {
			row.Switches = append(row.Switches, sc.x(time.Time(pc.At)))
		}
		rows = append(rows, row)
	}
	return rows, note
}
