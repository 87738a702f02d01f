package replay

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

// WindowReport is one autoregistration window in the JSON of `replay
// windows` (see docs/replay.md).
type WindowReport struct {
	ID               string `json:"id"`
	OpenedAt         Time   `json:"opened_at"`
	OpenedBy         string `json:"opened_by"`
	OpenReason       string `json:"open_reason"`
	Until            Time   `json:"until"`             // the maximum duration's end; null: none
	MaxRegistrations int    `json:"max_registrations"` // 0: no limit
	// ClosedAt is null while the window is open; the other close fields
	// are then "".
	ClosedAt    Time   `json:"closed_at"`
	ClosedBy    string `json:"closed_by"`
	CloseReason string `json:"close_reason"`
	CloseCause  string `json:"close_cause"`
	// Protocol is the Auto Registration Phone Protocol when the window
	// opened; ProtocolChanges lists the changes made while it was open.
	Protocol         domain.Protocol             `json:"protocol"`
	ProtocolChanges  []ProtocolChangeReport      `json:"protocol_changes"`
	Registrations    []RegistrationReport        `json:"registrations"`
	Rejected         int                         `json:"rejected"`
	RejectedByReason map[domain.RejectReason]int `json:"rejected_by_reason"`
}

// ProtocolChangeReport is a change of the protocol parameter inside a window.
type ProtocolChangeReport struct {
	At       Time            `json:"at"`
	Protocol domain.Protocol `json:"protocol"`
	By       string          `json:"by"`
}

// RegistrationReport is a device autoregistered in a window.
type RegistrationReport struct {
	Device   string          `json:"device"`
	Model    string          `json:"model"`
	Protocol domain.Protocol `json:"protocol"`
	DN       string          `json:"dn"`
	At       Time            `json:"at"`
	// Node is the CallManager it autoregistered with ("" when the
	// registrar played none).
	Node string `json:"node,omitempty"`
}

// NewWindowReport turns a window of the read model into its report.
func NewWindowReport(w projections.Window) WindowReport {
	r := WindowReport{ID: w.ID, OpenedAt: Time(w.OpenedAt), OpenedBy: w.OpenedBy, OpenReason: w.OpenReason,
		Until: Time(w.Until), MaxRegistrations: w.MaxRegistrations, Protocol: w.Protocol, Rejected: w.Rejected,
		ProtocolChanges: []ProtocolChangeReport{}, Registrations: []RegistrationReport{},
		RejectedByReason: map[domain.RejectReason]int{}}
	if !w.Open {
		r.ClosedAt, r.ClosedBy, r.CloseReason, r.CloseCause = Time(w.ClosedAt), w.ClosedBy, w.CloseReason, string(w.CloseCause)
	}
	for _, c := range w.ProtocolChanges {
		r.ProtocolChanges = append(r.ProtocolChanges, ProtocolChangeReport{At: Time(c.At), Protocol: c.Protocol, By: c.By})
	}
	for _, g := range w.Registrations {
		r.Registrations = append(r.Registrations, RegistrationReport{Device: g.Device, Model: g.Model, Protocol: g.Protocol, DN: g.DN, At: Time(g.At), Node: g.Node})
	}
	for k, v := range w.RejectedBy {
		r.RejectedByReason[k] = v
	}
	return r
}

// WindowsResult is what `replay windows` found.
type WindowsResult struct {
	Windows []WindowReport
	// RejectedWhileClosed summarises the refusals recorded while no window
	// was open (over the whole history).
	RejectedWhileClosed projections.Rejections
}

// Windows replays the store and returns the windows open at some instant
// of iv, in the order they were opened.
func Windows(ctx context.Context, env Env, iv Interval) (WindowsResult, error) {
	ws := projections.NewWindows()
	if _, err := env.Fold(ctx, time.Time{}, ws); err != nil {
		return WindowsResult{}, err
	}
	res := WindowsResult{Windows: []WindowReport{}, RejectedWhileClosed: ws.RejectedWhileClosed()}
	for _, w := range ws.Between(iv.Since, iv.Until) {
		res.Windows = append(res.Windows, NewWindowReport(w))
	}
	return res, nil
}

// WriteWindows writes the result in a format.
func WriteWindows(w io.Writer, f Format, res WindowsResult) error {
	switch f {
	case JSON:
		return writeJSON(w, res.Windows)
	case CSV:
		c := newCSV(w, "id", "opened_at", "opened_by", "open_reason", "until", "max_registrations",
			"closed_at", "closed_by", "close_reason", "close_cause", "protocol", "protocol_changes", "registrations", "rejected")
		for _, r := range res.Windows {
			c.Write([]string{r.ID, ts(time.Time(r.OpenedAt)), r.OpenedBy, r.OpenReason, ts(time.Time(r.Until)),
				itoa(r.MaxRegistrations), ts(time.Time(r.ClosedAt)), r.ClosedBy, r.CloseReason, r.CloseCause,
				string(r.Protocol), itoa(len(r.ProtocolChanges)), itoa(len(r.Registrations)), itoa(r.Rejected)})
		}
		c.Flush()
		return c.Error()
	}
	t := newTable(w, "WINDOW", "OPENED", "BY", "REASON", "CLOSED", "BY", "CAUSE", "PROTOCOL", "PHONES", "REFUSED")
	regs := 0
	for _, r := range res.Windows {
		closed, by, cause := "open", "-", "-"
		if !time.Time(r.ClosedAt).IsZero() {
			closed, by, cause = r.ClosedAt.String(), r.ClosedBy, r.CloseCause
		}
		proto := string(r.Protocol)
		for _, c := range r.ProtocolChanges {
			proto += ">" + string(c.Protocol)
		}
		t.row(r.ID, r.OpenedAt.String(), r.OpenedBy, r.OpenReason, closed, by, cause, proto,
			itoa(len(r.Registrations)), itoa(r.Rejected))
		regs += len(r.Registrations)
	}
	if err := t.flush(); err != nil {
		return err
	}
	closed := res.RejectedWhileClosed
	reasons := make([]string, 0, len(closed.ByReason))
	for k, v := range closed.ByReason {
		reasons = append(reasons, string(k)+" "+itoa(v))
	}
	slices.Sort(reasons)
	line := "\n" + itoa(len(res.Windows)) + " windows, " + itoa(regs) + " phones autoregistered; " +
		itoa(closed.Count) + " registrations refused while closed (whole history"
	if len(reasons) > 0 {
		line += ": " + joinComma(reasons)
	}
	_, err := io.WriteString(w, line+")\n")
	return err
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}
