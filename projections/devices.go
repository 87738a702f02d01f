package projections

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// Device is what the Devices read model knows of one device.
type Device struct {
	Name string
	// Exists: autoregistered or provisioned, and not deleted since.
	Exists  bool
	Deleted bool
	Model   string
	// Protocol is the protocol the device is configured for.
	Protocol    domain.Protocol
	DN          string
	Partition   string
	Pool        string
	CSS         string
	Description string
	Load        string // firmware load given at autoregistration
	Registered  bool
	Address     string // last known address
	// Autoregistered: the device got its DN from autoregistration, in
	// Window, at AutoregisteredAt.
	Autoregistered   bool
	Window           string
	AutoregisteredAt time.Time
	// ProvisionedBy names the administrator who added the device by hand.
	ProvisionedBy string
	// FirstSeen and LastSeen: the first and last time the device itself
	// reached the registrar (autoregistered, registered, moved, refused or
	// unregistered); zero if it never did.
	FirstSeen time.Time
	LastSeen  time.Time
	// Rejections counts the refusals recorded for the device; the last
	// one's reason and time follow.
	Rejections     int
	LastRejection  domain.RejectReason
	LastRejectedAt time.Time
	// Position is the global position of the device's last event.
	Position uint64
}

// Devices is the read model of every device ever seen: those that exist,
// those deleted, and rogue devices that were only ever refused.
type Devices struct {
	mu      sync.RWMutex
	pos     uint64
	devices map[string]*Device
	exist   int
	regd    int
}

// NewDevices returns an empty Devices.
func NewDevices() *Devices { return &Devices{devices: make(map[string]*Device)} }

// Reset implements Projection.
func (d *Devices) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pos, d.devices, d.exist, d.regd = 0, make(map[string]*Device), 0, 0
}

// Checkpoint implements Projection.
func (d *Devices) Checkpoint() uint64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pos
}

func (d *Devices) get(name string) *Device {
	v, ok := d.devices[name]
	if !ok {
		v = &Device{Name: name}
		d.devices[name] = v
	}
	return v
}

// Wants implements Selective: the devices' events.
func (d *Devices) Wants(eventType string) bool {
	return len(eventType) > 7 && eventType[:7] == "device."
}

// Apply implements Projection.
func (d *Devices) Apply(e *Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pos = e.Position
	var v *Device
	seen := true
	switch p := e.Payload.(type) {
	case domain.DeviceAutoregistered:
		v = d.get(p.Device)
		d.count(v, -1)
		*v = Device{Name: v.Name, Exists: true, Model: p.Model, Protocol: p.Protocol, DN: p.DN,
			Partition: p.Partition, Pool: p.Pool, CSS: p.CSS, Load: p.Load, Registered: true, Address: p.Address,
			Autoregistered: true, Window: p.Window, AutoregisteredAt: utc(e.RecordedAt),
			FirstSeen: v.FirstSeen, Rejections: v.Rejections, LastRejection: v.LastRejection, LastRejectedAt: v.LastRejectedAt}
	case domain.DeviceProvisioned:
		v = d.get(p.Device)
		d.count(v, -1)
		*v = Device{Name: v.Name, Exists: true, Model: p.Model, Protocol: p.Protocol, DN: p.DN,
			Partition: p.Partition, Pool: p.Pool, CSS: p.CSS, Description: p.Description, ProvisionedBy: p.By,
			Address: v.Address, FirstSeen: v.FirstSeen, LastSeen: v.LastSeen,
			Rejections: v.Rejections, LastRejection: v.LastRejection, LastRejectedAt: v.LastRejectedAt}
		seen = false
	case domain.DeviceRegistered:
		v = d.get(p.Device)
		d.count(v, -1)
		v.Registered, v.Address = true, p.Address
	case domain.DeviceMoved:
		v = d.get(p.Device)
		d.count(v, -1)
		v.Registered, v.Address = true, p.To
	case domain.DeviceUnregistered:
		v = d.get(p.Device)
		d.count(v, -1)
		v.Registered = false
	case domain.RegistrationRejected:
		v = d.get(p.Device)
		d.count(v, -1)
		v.Rejections++
		v.LastRejection, v.LastRejectedAt = p.Reason, utc(e.RecordedAt)
		if !v.Exists && p.Address != "" {
			v.Address = p.Address
		}
		if !v.Exists && p.Model != "" {
			v.Model = p.Model
		}
	case domain.DeviceReconfigured:
		v = d.get(p.Device)
		d.count(v, -1)
		if p.Pool != "" {
			v.Pool, v.CSS = p.Pool, p.CSS
		} else if p.CSS != "" {
			v.CSS = p.CSS
		}
		if p.DN != "" {
			v.DN = p.DN
		}
		if p.Partition != "" {
			v.Partition = p.Partition
		}
		if p.Description != "" {
			v.Description = p.Description
		}
		seen = false
	case domain.DeviceDeleted:
		v = d.get(p.Device)
		d.count(v, -1)
		*v = Device{Name: v.Name, Deleted: true, Model: v.Model, Address: v.Address,
			FirstSeen: v.FirstSeen, LastSeen: v.LastSeen,
			Rejections: v.Rejections, LastRejection: v.LastRejection, LastRejectedAt: v.LastRejectedAt}
		seen = false
	default:
		return
	}
	if seen {
		at := utc(e.RecordedAt)
		if v.FirstSeen.IsZero() {
			v.FirstSeen = at
		}
		v.LastSeen = at
	}
	v.Position = e.Position
	d.count(v, +1)
}

// count adds v's contribution to the totals.
func (d *Devices) count(v *Device, sign int) {
	if v.Exists {
		d.exist += sign
		if v.Registered {
			d.regd += sign
		}
	}
}

// Get returns one device (found false if it was never seen).
func (d *Devices) Get(name string) (Device, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	v, ok := d.devices[name]
	if !ok {
		return Device{}, false
	}
	return *v, true
}

// List returns the devices that exist, sorted by name.
func (d *Devices) List() []Device {
	return d.filter(func(v *Device) bool { return v.Exists })
}

// All returns every device ever seen (deleted and refused ones too), sorted by name.
func (d *Devices) All() []Device {
	return d.filter(func(*Device) bool { return true })
}

func (d *Devices) filter(keep func(*Device) bool) []Device {
	d.mu.RLock()
	out := make([]Device, 0, d.exist)
	for _, v := range d.devices {
		if keep(v) {
			out = append(out, *v)
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Counts returns how many devices exist and how many of them are registered.
func (d *Devices) Counts() (exist, registered int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.exist, d.regd
}
