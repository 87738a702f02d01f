package domain

import (
	"errors"
	"time"
)

// Errors a command can be refused with. They are wrapped with a sentence that
// says what was wrong and, where the administrator can act, what to do.
var (
	ErrInvalid        = errors.New("invalid command")
	ErrNotFound       = errors.New("not found")
	ErrInUse          = errors.New("in use")
	ErrWindowOpen     = errors.New("autoregistration is already open")
	ErrWindowClosed   = errors.New("autoregistration is closed")
	ErrMixedMode      = errors.New("cluster security is in mixed mode")
	ErrRangeDisabled  = errors.New("autoregistration range is disabled")
	ErrRangeExhausted = errors.New("autoregistration range exhausted")
	ErrMisconfigured  = errors.New("autoregistration is misconfigured")
	ErrDNInUse        = errors.New("directory number in use")
)

// SystemActor names changes the registrar makes by itself (a window whose
// time is up, a registration limit reached).
const SystemActor = "system"

// Command is anything the aggregates decide on. Each command names the
// aggregates it reads, so the caller knows which stream versions the
// decision depends on.
type Command interface {
	// Needs reports which aggregates the decision reads.
	Needs() Needs
}

// Needs lists the aggregates a command reads; Device names the device.
type Needs struct {
	Cluster bool
	Range   bool
	Device  string
}

// ---- Administrative commands (each names who gives it in By) ---------------

type (
	SetProtocol struct {
		Protocol Protocol
		By       string
	}
	SetSecurityMode struct {
		Mode SecurityMode
		By   string
	}
	// ConfigureCallManager adds or changes a CallManager. Autoregistration
	// stays disabled on it unless AutoregEnabled says otherwise, as the
	// "Auto-registration Disabled on this Cisco CallManager" box is checked
	// by default.
	ConfigureCallManager struct {
		Name           string
		Description    string
		AutoregEnabled bool
		// Where phones reach it (optional): host, SIP and SCCP ports.
		Host              string
		SIPPort, SCCPPort int
		By                string
	}
	RemoveCallManager struct{ Name, By string }
	ConfigureGroup    struct {
		Name         string
		CallManagers []string
		By           string
	}
	RemoveGroup     struct{ Name, By string }
	SetAutoregGroup struct{ Group, By string }
	AddPartition    struct{ Name, Description, By string }
	RemovePartition struct{ Name, By string }
	AddRoutePattern struct {
		Pattern, Partition string
		Block              bool
		Description, By    string
	}
	RemoveRoutePattern struct{ Pattern, Partition, By string }
	ConfigureCSS       struct {
		Name       string
		Partitions []string
		By         string
	}
	RemoveCSS     struct{ Name, By string }
	ConfigurePool struct {
		Name, Group, CSS, AutoregCSS string
		// SIPAuth is the pool's SIP authentication profile.
		SIPAuth AuthProfile
		By      string
	}
	RemovePool        struct{ Name, By string }
	SetDefaultPool    struct{ Pool, By string }
	SetDeviceDefaults struct{ Model, LoadSCCP, LoadSIP, Pool, By string }
	SetAutoregCSS     struct{ CSS, By string }
	// OpenWindow opens autoregistration. For and Max are optional limits.
	OpenWindow struct {
		Reason string
		For    time.Duration
		Max    int
		By     string
	}
	CloseWindow struct{ Reason, By string }
	// ExpireWindow closes the open window if its time is up (the registrar's
	// timer sends it; it is a no-op otherwise).
	ExpireWindow   struct{}
	ConfigureRange struct{ Start, End, Partition, Mask, By string }
	// ProvisionDevice adds a device by hand, with its DN.
	ProvisionDevice struct {
		Device, Model string
		Protocol      Protocol
		DN, Partition string
		Pool, CSS     string
		Description   string
		By            string
	}
	// ReconfigureDevice changes a device; empty fields stay as they are.
	ReconfigureDevice struct {
		Device        string
		Pool, CSS     string
		DN, Partition string
		Description   string
		By            string
	}
	DeleteDevice struct{ Device, By string }
	// ResetDevice asks a device to reset (Restart: restart) and fetch its
	// configuration again.
	ResetDevice struct {
		Device  string
		Restart bool
		By      string
	}
)

// ---- Commands from the protocol adapters -----------------------------------

// Register: a phone registers (first time, refresh, or from a new address).
type Register struct {
	Device   string
	Model    string // catalogue name, "" if unknown
	Protocol Protocol
	Address  string
	// Node is the CallManager the phone registers with ("" when the
	// registrar plays no particular one).
	Node string
	// Credential, for a SIP device, is what it is issued if it
	// autoregisters (the command side fills it; zero: none).
	Credential Credential
}

// Unregister: a phone's registration ended.
type Unregister struct {
	Device string
	Reason string
	// Node is the CallManager that saw the registration end: a device
	// registered with another one since is left alone.
	Node string
}

var (
	clusterOnly  = Needs{Cluster: true}
	clusterRange = Needs{Cluster: true, Range: true}
)

func (SetProtocol) Needs() Needs          { return clusterOnly }
func (SetSecurityMode) Needs() Needs      { return clusterOnly }
func (ConfigureCallManager) Needs() Needs { return clusterOnly }
func (RemoveCallManager) Needs() Needs    { return clusterOnly }
func (ConfigureGroup) Needs() Needs       { return clusterOnly }
func (RemoveGroup) Needs() Needs          { return clusterOnly }
func (SetAutoregGroup) Needs() Needs      { return clusterOnly }
func (AddPartition) Needs() Needs         { return clusterOnly }
func (RemovePartition) Needs() Needs      { return clusterRange }
func (AddRoutePattern) Needs() Needs      { return clusterOnly }
func (RemoveRoutePattern) Needs() Needs   { return clusterOnly }
func (ConfigureCSS) Needs() Needs         { return clusterOnly }
func (RemoveCSS) Needs() Needs            { return clusterOnly }
func (ConfigurePool) Needs() Needs        { return clusterOnly }
func (RemovePool) Needs() Needs           { return clusterOnly }
func (SetDefaultPool) Needs() Needs       { return clusterOnly }
func (SetDeviceDefaults) Needs() Needs    { return clusterOnly }
func (SetAutoregCSS) Needs() Needs        { return clusterOnly }
func (OpenWindow) Needs() Needs           { return clusterRange }
func (CloseWindow) Needs() Needs          { return clusterRange }
func (ExpireWindow) Needs() Needs         { return clusterRange }
func (ConfigureRange) Needs() Needs       { return clusterRange }
func (c ProvisionDevice) Needs() Needs    { return Needs{Cluster: true, Range: true, Device: c.Device} }
func (c ReconfigureDevice) Needs() Needs  { return Needs{Cluster: true, Range: true, Device: c.Device} }
func (c DeleteDevice) Needs() Needs       { return Needs{Range: true, Device: c.Device} }
func (c ResetDevice) Needs() Needs        { return Needs{Device: c.Device} }
func (c Register) Needs() Needs           { return Needs{Cluster: true, Range: true, Device: c.Device} }
func (c Unregister) Needs() Needs         { return Needs{Device: c.Device} }
