package domain

import (
	"slices"
	"time"
)

// SecurityMode is the clusterwide security mode set through the CTL client.
type SecurityMode string

const (
	Nonsecure SecurityMode = "nonsecure"
	Mixed     SecurityMode = "mixed"
)

// CallManager is one server of the cluster.
type CallManager struct {
	Name            string
	Description     string
	AutoregDisabled bool // "Auto-registration Disabled on this Cisco CallManager"
	// Where phones reach it: its host (name or address), SIP and SCCP ports
	// (0: the protocol's default, 5060 and 2000).
	Host     string
	SIPPort  int
	SCCPPort int
}

// RoutePattern is a dialable pattern in a partition.
type RoutePattern struct {
	Pattern   string
	Partition string
	Block     bool
}

// DevicePool groups device settings.
type DevicePool struct {
	Name  string
	Group string // CallManager group
	CSS   string // calling search space
	// AutoregCSS is the pool's "Calling Search Space for Auto-registration":
	// the calling search space of the phones that autoregister into it.
	AutoregCSS string
	// SIPAuth is the SIP authentication profile of its devices.
	SIPAuth AuthProfile
}

// DeviceDefaults are the per-device-type settings autoregistration uses.
type DeviceDefaults struct {
	Model    string
	LoadSCCP string
	LoadSIP  string
	Pool     string
}

// Load returns the firmware load name for protocol p.
func (d DeviceDefaults) Load(p Protocol) string {
	if p == SIP {
		return d.LoadSIP
	}
	return d.LoadSCCP
}

// Window is an autoregistration window.
type Window struct {
	ID               string
	Reason           string
	By               string
	OpenedAt         time.Time
	Until            time.Time // zero: no maximum duration
	MaxRegistrations int       // 0: no maximum
	Protocol         Protocol
}

// ClusterState is the Cluster aggregate's state: the enterprise parameters,
// the topology the autoregistration depends on, and the current window.
//
// Evolve changes the state's maps in place; use Clone to keep an old state.
type ClusterState struct {
	Protocol       Protocol
	Security       SecurityMode
	CallManagers   map[string]CallManager
	Groups         map[string][]string // group -> CallManagers in order
	AutoregGroup   string
	Partitions     map[string]bool
	Patterns       []RoutePattern
	CSS            map[string][]string // calling search space -> partitions in order
	Pools          map[string]DevicePool
	DefaultPool    string
	DeviceDefaults map[string]DeviceDefaults
	AutoregCSS     string
	Window         *Window // nil when autoregistration is closed
	WindowsOpened  int     // how many windows were ever opened (ids are derived from it)
}

// NewCluster is the state before any event: autoregistration off, SCCP,
// nonsecure, nothing configured.
func NewCluster() ClusterState {
	return ClusterState{
		Protocol:       SCCP,
		Security:       Nonsecure,
		CallManagers:   map[string]CallManager{},
		Groups:         map[string][]string{},
		Partitions:     map[string]bool{},
		CSS:            map[string][]string{},
		Pools:          map[string]DevicePool{},
		DeviceDefaults: map[string]DeviceDefaults{},
	}
}

// Clone returns a deep copy.
func (s ClusterState) Clone() ClusterState {
	c := s
	c.CallManagers = cloneMap(s.CallManagers)
	c.Groups = make(map[string][]string, len(s.Groups))
	for k, v := range s.Groups {
		c.Groups[k] = slices.Clone(v)
	}
	c.Partitions = cloneMap(s.Partitions)
	c.Patterns = slices.Clone(s.Patterns)
	c.CSS = make(map[string][]string, len(s.CSS))
	for k, v := range s.CSS {
		c.CSS[k] = slices.Clone(v)
	}
	c.Pools = cloneMap(s.Pools)
	c.DeviceDefaults = cloneMap(s.DeviceDefaults)
	if s.Window != nil {
		w := *s.Window
		c.Window = &w
	}
	return c
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// AutoregEnabledCallManagers lists, sorted, the CallManagers whose
// autoregistration is enabled.
func (s ClusterState) AutoregEnabledCallManagers() []string {
	var out []string
	for name, cm := range s.CallManagers {
		if !cm.AutoregDisabled {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// AutoregCallManager is the CallManager that takes autoregistrations: the
// first of the Auto-registration CallManager Group, when autoregistration
// is enabled on it ("" otherwise: none does).
func (s ClusterState) AutoregCallManager() string {
	members := s.Groups[s.AutoregGroup]
	if len(members) == 0 {
		return ""
	}
	if cm, ok := s.CallManagers[members[0]]; ok && !cm.AutoregDisabled {
		return cm.Name
	}
	return ""
}

// AutoregCSSFor is the calling search space a phone autoregistered into
// pool gets: the pool's Calling Search Space for Auto-registration; for the
// cluster default pool without one, the cluster's; otherwise none (the
// phone uses its pool's calling search space).
func (s ClusterState) AutoregCSSFor(pool string) string {
	p := s.Pools[pool]
	if p.AutoregCSS != "" {
		return p.AutoregCSS
	}
	if pool == s.DefaultPool {
		return s.AutoregCSS
	}
	return ""
}

// EffectiveCSS is the calling search space a device dials with: its own,
// else its device pool's.
func (s ClusterState) EffectiveCSS(css, pool string) string {
	if css != "" {
		return css
	}
	return s.Pools[pool].CSS
}

// InGroupOf reports whether node is one of the CallManagers of pool's group.
func (s ClusterState) InGroupOf(pool, node string) bool {
	return slices.Contains(s.Groups[s.Pools[pool].Group], node)
}

// PoolFor is the device pool an autoregistered device of this model lands in:
// the one its Device Defaults name, else the cluster default pool.
func (s ClusterState) PoolFor(model string) string {
	if d, ok := s.DeviceDefaults[model]; ok && d.Pool != "" {
		return d.Pool
	}
	return s.DefaultPool
}

// EvolveCluster applies one cluster event.
func EvolveCluster(s ClusterState, e Event) ClusterState {
	switch e := e.(type) {
	case ProtocolSet:
		s.Protocol = e.Protocol
	case SecurityModeSet:
		s.Security = e.Mode
	case CallManagerConfigured:
		s.CallManagers[e.Name] = CallManager{Name: e.Name, Description: e.Description, AutoregDisabled: e.AutoregDisabled,
			Host: e.Host, SIPPort: e.SIPPort, SCCPPort: e.SCCPPort}
	case CallManagerRemoved:
		delete(s.CallManagers, e.Name)
	case GroupConfigured:
		s.Groups[e.Name] = slices.Clone(e.CallManagers)
	case GroupRemoved:
		delete(s.Groups, e.Name)
		if s.AutoregGroup == e.Name {
			s.AutoregGroup = ""
		}
	case AutoregGroupSet:
		s.AutoregGroup = e.Group
	case PartitionAdded:
		s.Partitions[e.Name] = true
	case PartitionRemoved:
		delete(s.Partitions, e.Name)
	case RoutePatternAdded:
		s.Patterns = append(s.Patterns, RoutePattern{Pattern: e.Pattern, Partition: e.Partition, Block: e.Block})
	case RoutePatternRemoved:
		s.Patterns = slices.DeleteFunc(s.Patterns, func(p RoutePattern) bool {
			return p.Pattern == e.Pattern && p.Partition == e.Partition
		})
	case CSSConfigured:
		s.CSS[e.Name] = slices.Clone(e.Partitions)
	case CSSRemoved:
		delete(s.CSS, e.Name)
	case DevicePoolConfigured:
		s.Pools[e.Name] = DevicePool{Name: e.Name, Group: e.Group, CSS: e.CSS, AutoregCSS: e.AutoregCSS, SIPAuth: e.SIPAuth}
	case DevicePoolRemoved:
		delete(s.Pools, e.Name)
	case DefaultPoolSet:
		s.DefaultPool = e.Pool
	case DeviceDefaultsSet:
		s.DeviceDefaults[e.Model] = DeviceDefaults{Model: e.Model, LoadSCCP: e.LoadSCCP, LoadSIP: e.LoadSIP, Pool: e.Pool}
	case AutoregCSSSet:
		s.AutoregCSS = e.CSS
	case WindowOpened:
		s.Window = &Window{ID: e.Window, Reason: e.Reason, By: e.By, OpenedAt: e.At, Until: e.Until,
			MaxRegistrations: e.MaxRegistrations, Protocol: e.Protocol}
		s.WindowsOpened++
	case WindowClosed:
		if s.Window != nil && s.Window.ID == e.Window {
			s.Window = nil
		}
	}
	return s
}
