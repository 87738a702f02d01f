package domain

import "time"

// RejectionInterval: a device's rejections are recorded at most once per
// reason in this interval, so a phone rebooting in a loop cannot flood the log.
const RejectionInterval = time.Minute

// DeviceState is the Device aggregate's state.
type DeviceState struct {
	Name           string
	Exists         bool // provisioned or autoregistered, and not deleted
	Deleted        bool
	Model          string
	Protocol       Protocol
	DN             string
	Partition      string
	Pool           string
	CSS            string
	Description    string
	Autoregistered bool
	Window         string // the window it autoregistered in
	Registered     bool
	Address        string
	// Node is the CallManager it is registered with ("" when none, or
	// when the registrar played no particular one).
	Node string
	// Credentialed: it holds digest credentials (issued and not disabled).
	Credentialed bool
	// LastRejected remembers when each rejection reason was last recorded.
	LastRejected map[RejectReason]time.Time
}

// NewDevice is a device never seen.
func NewDevice(name string) DeviceState { return DeviceState{Name: name} }

// Clone returns a deep copy.
func (s DeviceState) Clone() DeviceState {
	c := s
	if s.LastRejected != nil {
		c.LastRejected = cloneMap(s.LastRejected)
	}
	return c
}

// EvolveDevice applies one device event. at is when the event was recorded;
// it only matters for rejections recorded without their own time.
func EvolveDevice(s DeviceState, e Event, at time.Time) DeviceState {
	switch e := e.(type) {
	case DeviceAutoregistered:
		s = DeviceState{Name: e.Device, Exists: true, Model: e.Model, Protocol: e.Protocol,
			DN: e.DN, Partition: e.Partition, Pool: e.Pool, CSS: e.CSS, Autoregistered: true,
			Window: e.Window, Registered: true, Address: e.Address, Node: e.Node, LastRejected: s.LastRejected}
	case DeviceProvisioned:
		s = DeviceState{Name: e.Device, Exists: true, Model: e.Model, Protocol: e.Protocol,
			DN: e.DN, Partition: e.Partition, Pool: e.Pool, CSS: e.CSS, Description: e.Description,
			LastRejected: s.LastRejected}
	case DeviceRegistered:
		s.Registered, s.Address, s.Node = true, e.Address, e.Node
	case DeviceMoved:
		s.Registered, s.Address, s.Node = true, e.To, e.Node
	case DeviceUnregistered:
		s.Registered, s.Node = false, ""
	case RegistrationRejected:
		if s.LastRejected == nil {
			s.LastRejected = map[RejectReason]time.Time{}
		}
		if !e.At.IsZero() {
			at = e.At
		}
		s.LastRejected[e.Reason] = at
	case DeviceReconfigured:
		if e.Pool != "" {
			s.Pool = e.Pool
			s.CSS = e.CSS // a new pool brings its own calling search space unless one is given
		} else if e.CSS != "" {
			s.CSS = e.CSS
		}
		if e.DN != "" {
			s.DN = e.DN
		}
		if e.Partition != "" {
			s.Partition = e.Partition
		}
		if e.Description != "" {
			s.Description = e.Description
		}
	case DeviceCredentialsIssued:
		s.Credentialed = true
	case DeviceCredentialsDisabled:
		s.Credentialed = false
	case DeviceDeleted:
		s = DeviceState{Name: s.Name, Deleted: true, LastRejected: s.LastRejected}
	}
	return s
}
