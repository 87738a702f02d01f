package projections

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// Window is one autoregistration window: who opened it, why and when, how
// it ended, the protocol parameter while it was open, the devices that
// autoregistered in it and the registrations it refused.
type Window struct {
	ID               string
	OpenedAt         time.Time
	OpenedBy         string
	OpenReason       string
	Until            time.Time // the maximum duration's end (zero: none)
	MaxRegistrations int       // 0: no maximum
	OpenPosition     uint64
	// Open: no close was recorded yet.
	Open        bool
	ClosedAt    time.Time
	ClosedBy    string
	CloseReason string
	CloseCause  domain.CloseCause
	// ClosePosition is the global position of the close (0 while open).
	ClosePosition uint64
	// Protocol is the Auto Registration Phone Protocol when the window
	// opened; ProtocolChanges the changes made while it was open.
	Protocol        domain.Protocol
	ProtocolChanges []ProtocolChange
	Registrations   []Registration
	// Rejected counts the refusals recorded while the window was open,
	// RejectedBy by reason.
	Rejected   int
	RejectedBy map[domain.RejectReason]int
}

// ProtocolChange is a change of the Auto Registration Phone Protocol.
type ProtocolChange struct {
	Position uint64
	At       time.Time
	Protocol domain.Protocol
	By       string
}

// Registration is a device autoregistered in a window.
type Registration struct {
	Position uint64
	At       time.Time
	Device   string
	Model    string
	Protocol domain.Protocol
	DN       string
	Node     string // the CallManager it autoregistered with
}

// Rejections summarises refused registrations.
type Rejections struct {
	Count    int
	ByReason map[domain.RejectReason]int
	// Devices counts the refusals of each device.
	Devices map[string]int
}

func (r Rejections) clone() Rejections {
	return Rejections{Count: r.Count, ByReason: maps.Clone(r.ByReason), Devices: maps.Clone(r.Devices)}
}

// Windows is the read model of autoregistration windows.
type Windows struct {
	mu      sync.RWMutex
	pos     uint64
	windows []*Window
	byID    map[string]*Window
	open    *Window // nil when autoregistration is closed
	closed  Rejections
	// protocol is the Auto Registration Phone Protocol now.
	protocol domain.Protocol
}

// NewWindows returns an empty Windows.
func NewWindows() *Windows {
	return &Windows{byID: make(map[string]*Window), protocol: domain.SCCP,
		closed: Rejections{ByReason: map[domain.RejectReason]int{}, Devices: map[string]int{}}}
}

// Reset implements Projection.
func (w *Windows) Reset() {
	fresh := NewWindows()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pos, w.windows, w.byID, w.open, w.closed, w.protocol =
		fresh.pos, fresh.windows, fresh.byID, fresh.open, fresh.closed, fresh.protocol
}

// Checkpoint implements Projection.
func (w *Windows) Checkpoint() uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.pos
}

// Wants implements Selective.
func (w *Windows) Wants(eventType string) bool {
	switch eventType {
	case domain.TypeWindowOpened, domain.TypeWindowClosed, domain.TypeProtocolSet,
		domain.TypeDeviceAutoregistered, domain.TypeRegistrationRejected:
		return true
	}
	return false
}

// Apply implements Projection.
func (w *Windows) Apply(e *Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pos = e.Position
	switch p := e.Payload.(type) {
	case domain.DeviceAutoregistered:
		win := w.open
		if win == nil || win.ID != p.Window {
			win = w.byID[p.Window] // recorded outside its window: keep it with its window anyway
		}
		if win != nil {
			win.Registrations = append(win.Registrations, Registration{Position: e.Position, At: utc(e.RecordedAt),
				Device: p.Device, Model: p.Model, Protocol: p.Protocol, DN: p.DN, Node: p.Node})
		}
	case domain.RegistrationRejected:
		if win := w.open; win != nil {
			win.Rejected++
			if win.RejectedBy == nil {
				win.RejectedBy = make(map[domain.RejectReason]int, 2)
			}
			win.RejectedBy[p.Reason]++
		} else {
			w.closed.Count++
			w.closed.ByReason[p.Reason]++
			w.closed.Devices[p.Device]++
		}
	case domain.WindowOpened:
		win := &Window{ID: p.Window, OpenedAt: utc(p.At), OpenedBy: p.By, OpenReason: p.Reason,
			Until: utc(p.Until), MaxRegistrations: p.MaxRegistrations, OpenPosition: e.Position,
			Open: true, Protocol: p.Protocol}
		w.windows = append(w.windows, win)
		w.byID[p.Window] = win
		w.open = win
	case domain.WindowClosed:
		win := w.byID[p.Window]
		if win == nil {
			return
		}
		win.Open = false
		win.ClosedAt, win.ClosedBy, win.CloseReason, win.CloseCause = utc(p.At), p.By, p.Reason, p.Cause
		win.ClosePosition = e.Position
		if w.open == win {
			w.open = nil
		}
	case domain.ProtocolSet:
		w.protocol = p.Protocol
		if win := w.open; win != nil {
			win.ProtocolChanges = append(win.ProtocolChanges, ProtocolChange{Position: e.Position,
				At: utc(e.RecordedAt), Protocol: p.Protocol, By: p.By})
		}
	}
}

func (win *Window) clone() Window {
	c := *win
	c.ProtocolChanges = slices.Clone(win.ProtocolChanges)
	c.Registrations = slices.Clone(win.Registrations)
	c.RejectedBy = maps.Clone(win.RejectedBy)
	return c
}

// List returns every window in the order they were opened.
func (w *Windows) List() []Window {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Window, len(w.windows))
	for i, win := range w.windows {
		out[i] = win.clone()
	}
	return out
}

// Between returns the windows open at some instant of [since, until]
// (a zero bound is no bound), in the order they were opened. A window
// still open is open until the end of time.
func (w *Windows) Between(since, until time.Time) []Window {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var out []Window
	for _, win := range w.windows {
		if !until.IsZero() && win.OpenedAt.After(until) {
			continue
		}
		if !since.IsZero() && !win.Open && win.ClosedAt.Before(since) {
			continue
		}
		out = append(out, win.clone())
	}
	return out
}

// Get returns one window by id.
func (w *Windows) Get(id string) (Window, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	win, ok := w.byID[id]
	if !ok {
		return Window{}, false
	}
	return win.clone(), true
}

// Current returns the open window, if autoregistration is open.
func (w *Windows) Current() (Window, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.open == nil {
		return Window{}, false
	}
	return w.open.clone(), true
}

// RejectedWhileClosed summarises the registrations refused while no window
// was open (rogue devices, phones plugged in too early or too late).
func (w *Windows) RejectedWhileClosed() Rejections {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed.clone()
}

// Protocol is the Auto Registration Phone Protocol now.
func (w *Windows) Protocol() domain.Protocol {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.protocol
}
