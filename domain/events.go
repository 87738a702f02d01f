package domain

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// Stream names. Every stream of the project starts with StreamPrefix, so a
// store shared with other software can filter on it.
const (
	StreamPrefix  = "autoreg-"
	ClusterStream = StreamPrefix + "cluster"
	RangeStream   = StreamPrefix + "dnrange"
	devicePrefix  = StreamPrefix + "device-"
)

// DeviceStream is the stream of one device.
func DeviceStream(name string) string { return devicePrefix + name }

// DeviceFromStream returns the device name of a device stream.
func DeviceFromStream(stream string) (string, bool) {
	if len(stream) > len(devicePrefix) && stream[:len(devicePrefix)] == devicePrefix {
		return stream[len(devicePrefix):], true
	}
	return "", false
}

// Event is a fact the domain decided. Type is its stable, explicit name
// (never the Go type's name); Stream is the aggregate's stream it belongs to.
type Event interface {
	EventType() string
	Stream() string
}

// SchemaVersion is written beside every payload. Decoding accepts it and
// older versions listed per event.
const SchemaVersion = 1

// ---- Cluster events --------------------------------------------------------

// ProtocolSet: the enterprise parameter Auto Registration Phone Protocol changed.
type ProtocolSet struct {
	Protocol Protocol `json:"protocol"`
	By       string   `json:"by"`
}

// SecurityModeSet: the clusterwide security mode changed.
type SecurityModeSet struct {
	Mode SecurityMode `json:"mode"`
	By   string       `json:"by"`
}

// CallManagerConfigured: a CallManager was added or changed.
type CallManagerConfigured struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// AutoregDisabled is the page's "Auto-registration Disabled on this
	// Cisco CallManager" check box (set by default).
	AutoregDisabled bool   `json:"autoreg_disabled"`
	Host            string `json:"host,omitempty"`
	SIPPort         int    `json:"sip_port,omitempty"`
	SCCPPort        int    `json:"sccp_port,omitempty"`
	By              string `json:"by"`
}

// CallManagerRemoved: a CallManager was deleted.
type CallManagerRemoved struct {
	Name string `json:"name"`
	By   string `json:"by"`
}

// GroupConfigured: a CallManager group was added or changed.
type GroupConfigured struct {
	Name         string   `json:"name"`
	CallManagers []string `json:"callmanagers"` // in priority order
	By           string   `json:"by"`
}

// GroupRemoved: a CallManager group was deleted.
type GroupRemoved struct {
	Name string `json:"name"`
	By   string `json:"by"`
}

// AutoregGroupSet: this group is now the Auto-registration Cisco CallManager
// Group (which clears the flag on every other group).
type AutoregGroupSet struct {
	Group string `json:"group"`
	By    string `json:"by"`
}

// PartitionAdded / PartitionRemoved.
type PartitionAdded struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	By          string `json:"by"`
}

type PartitionRemoved struct {
	Name string `json:"name"`
	By   string `json:"by"`
}

// RoutePatternAdded: a route pattern in a partition. Block patterns match
// but refuse the call.
type RoutePatternAdded struct {
	Pattern     string `json:"pattern"`
	Partition   string `json:"partition"`
	Block       bool   `json:"block,omitempty"`
	Description string `json:"description,omitempty"`
	By          string `json:"by"`
}

type RoutePatternRemoved struct {
	Pattern   string `json:"pattern"`
	Partition string `json:"partition"`
	By        string `json:"by"`
}

// CSSConfigured: a calling search space, an ordered list of partitions.
type CSSConfigured struct {
	Name       string   `json:"name"`
	Partitions []string `json:"partitions"`
	By         string   `json:"by"`
}

type CSSRemoved struct {
	Name string `json:"name"`
	By   string `json:"by"`
}

// DevicePoolConfigured: a device pool (its CallManager group and calling search space).
type DevicePoolConfigured struct {
	Name       string `json:"name"`
	Group      string `json:"group"`
	CSS        string `json:"css,omitempty"`
	AutoregCSS string `json:"autoreg_css,omitempty"`
	// SIPAuth is the pool's SIP authentication profile ("": digest).
	SIPAuth AuthProfile `json:"sip_auth,omitempty"`
	By      string      `json:"by"`
}

type DevicePoolRemoved struct {
	Name string `json:"name"`
	By   string `json:"by"`
}

// DefaultPoolSet: the cluster default device pool.
type DefaultPoolSet struct {
	Pool string `json:"pool"`
	By   string `json:"by"`
}

// DeviceDefaultsSet: Device Defaults for one device type.
type DeviceDefaultsSet struct {
	Model    string `json:"model"`
	LoadSCCP string `json:"load_sccp,omitempty"` // firmware load name for SCCP
	LoadSIP  string `json:"load_sip,omitempty"`  // firmware load name for SIP
	Pool     string `json:"pool,omitempty"`      // default device pool
	By       string `json:"by"`
}

// AutoregCSSSet: the calling search space autoregistered devices get.
type AutoregCSSSet struct {
	CSS string `json:"css"`
	By  string `json:"by"`
}

// WindowOpened: an administrator opened autoregistration.
type WindowOpened struct {
	Window           string    `json:"window"`
	Reason           string    `json:"reason"`
	By               string    `json:"by"`
	At               time.Time `json:"at"`
	Until            time.Time `json:"until,omitzero"`              // zero: no maximum duration
	MaxRegistrations int       `json:"max_registrations,omitempty"` // 0: no maximum
	Protocol         Protocol  `json:"protocol"`                    // the protocol parameter when opened
}

// CloseCause says why a window closed.
type CloseCause string

const (
	CloseByAdmin           CloseCause = "admin"
	CloseDurationElapsed   CloseCause = "duration_elapsed"
	CloseRegistrationLimit CloseCause = "registration_limit"
	CloseRangeExhausted    CloseCause = "range_exhausted"
	CloseSecurityMixed     CloseCause = "security_mixed"
	CloseRangeDisabled     CloseCause = "range_disabled"
	// CloseMisconfigured: an administrator changed the cluster so that it no
	// longer meets the autoregistration rules (the CallManager, its group,
	// the default pool): the window closed with the change.
	CloseMisconfigured CloseCause = "cluster_misconfigured"
)

// WindowClosed: autoregistration closed, by an administrator or by itself.
type WindowClosed struct {
	Window        string     `json:"window"`
	Cause         CloseCause `json:"cause"`
	Reason        string     `json:"reason"` // the administrator's text, or a sentence saying why
	By            string     `json:"by"`     // the administrator, or "system"
	At            time.Time  `json:"at"`
	Registrations int        `json:"registrations"` // devices autoregistered in the window
}

// ---- DNRange events --------------------------------------------------------

// RangeConfigured: the autoregistration range. Start equal to End disables
// autoregistration, as on the CallManager page.
type RangeConfigured struct {
	Start     string `json:"start"`
	End       string `json:"end"`
	Partition string `json:"partition"`
	Mask      string `json:"mask,omitempty"` // external phone number mask
	By        string `json:"by"`
}

// DNAssigned: autoregistration gave a DN of the range to a device.
type DNAssigned struct {
	DN        string `json:"dn"`
	Partition string `json:"partition"`
	Device    string `json:"device"`
	Window    string `json:"window"`
}

// DNClaimed: an administrator gave a device a DN (provisioned or reconfigured).
type DNClaimed struct {
	DN        string `json:"dn"`
	Partition string `json:"partition"`
	Device    string `json:"device"`
	By        string `json:"by"`
}

// DNReleased: a DN is free again (its device was deleted or given another DN).
type DNReleased struct {
	DN        string `json:"dn"`
	Partition string `json:"partition"`
	Device    string `json:"device"`
	Reason    string `json:"reason"`
	By        string `json:"by"`
}

// RangeExhausted: a device asked for a DN and none was left.
type RangeExhausted struct {
	Start  string `json:"start"`
	End    string `json:"end"`
	Window string `json:"window,omitempty"`
	Device string `json:"device"`
}

// ---- Device events ---------------------------------------------------------

// DeviceEvent is embedded by every device event; Device names the stream.
type DeviceEvent struct {
	Device string `json:"device"`
}

func (d DeviceEvent) Stream() string { return DeviceStream(d.Device) }

// DeviceAutoregistered: an unknown device autoregistered and got a DN.
type DeviceAutoregistered struct {
	DeviceEvent
	Model          string   `json:"model"`
	Protocol       Protocol `json:"protocol"`
	DN             string   `json:"dn"`
	Partition      string   `json:"partition"`
	ExternalNumber string   `json:"external_number,omitempty"`
	Pool           string   `json:"pool"`
	CSS            string   `json:"css,omitempty"`
	Load           string   `json:"load,omitempty"` // firmware load from Device Defaults
	Address        string   `json:"address"`
	Window         string   `json:"window"`
	Node           string   `json:"node,omitempty"` // the CallManager it registered with
}

// DeviceProvisioned: an administrator added a device by hand.
type DeviceProvisioned struct {
	DeviceEvent
	Model       string   `json:"model"`
	Protocol    Protocol `json:"protocol"`
	DN          string   `json:"dn"`
	Partition   string   `json:"partition"`
	Pool        string   `json:"pool"`
	CSS         string   `json:"css,omitempty"`
	Description string   `json:"description,omitempty"`
	By          string   `json:"by"`
}

// DeviceRegistered: a known device registered (again).
type DeviceRegistered struct {
	DeviceEvent
	Protocol Protocol `json:"protocol"`
	Address  string   `json:"address"`
	Node     string   `json:"node,omitempty"` // the CallManager it registered with
}

// DeviceMoved: a registered device came back from a new address; its DN stays.
type DeviceMoved struct {
	DeviceEvent
	From string `json:"from"`
	To   string `json:"to"`
	Node string `json:"node,omitempty"` // the CallManager it registered with
}

// DeviceUnregistered: the device's registration ended.
type DeviceUnregistered struct {
	DeviceEvent
	Reason string `json:"reason"`
}

// RegistrationRejected: a device was refused. At most one per device and
// reason per RejectionInterval.
type RegistrationRejected struct {
	DeviceEvent
	Reason   RejectReason `json:"reason"`
	Detail   string       `json:"detail"`
	Model    string       `json:"model,omitempty"`
	Protocol Protocol     `json:"protocol,omitempty"`
	Address  string       `json:"address,omitempty"`
	Window   string       `json:"window,omitempty"`
	At       time.Time    `json:"at"`
}

// DeviceReconfigured: an administrator changed a device. Empty fields are unchanged.
type DeviceReconfigured struct {
	DeviceEvent
	Pool        string `json:"pool,omitempty"`
	CSS         string `json:"css,omitempty"`
	DN          string `json:"dn,omitempty"`
	Partition   string `json:"partition,omitempty"`
	Description string `json:"description,omitempty"`
	By          string `json:"by"`
}

// DeviceDeleted: an administrator deleted the device; its DN is free.
type DeviceDeleted struct {
	DeviceEvent
	By string `json:"by"`
}

// DeviceResetRequested: an administrator asked the device to reset (reboot)
// or, with Restart, to restart (reload its configuration without a
// reboot), so that it fetches its configuration again and registers with
// its device pool's CallManagers (after checklist step 8, say).
type DeviceResetRequested struct {
	DeviceEvent
	Restart bool   `json:"restart,omitempty"`
	By      string `json:"by"`
}

// ---- Registry --------------------------------------------------------------

// Event names: stable, explicit, never derived from Go type names.
const (
	TypeProtocolSet               = "cluster.protocol_set"
	TypeSecurityModeSet           = "cluster.security_mode_set"
	TypeCallManagerConfigured     = "cluster.callmanager_configured"
	TypeCallManagerRemoved        = "cluster.callmanager_removed"
	TypeGroupConfigured           = "cluster.group_configured"
	TypeGroupRemoved              = "cluster.group_removed"
	TypeAutoregGroupSet           = "cluster.autoreg_group_set"
	TypePartitionAdded            = "cluster.partition_added"
	TypePartitionRemoved          = "cluster.partition_removed"
	TypeRoutePatternAdded         = "cluster.route_pattern_added"
	TypeRoutePatternRemoved       = "cluster.route_pattern_removed"
	TypeCSSConfigured             = "cluster.css_configured"
	TypeCSSRemoved                = "cluster.css_removed"
	TypeDevicePoolConfigured      = "cluster.device_pool_configured"
	TypeDevicePoolRemoved         = "cluster.device_pool_removed"
	TypeDefaultPoolSet            = "cluster.default_pool_set"
	TypeDeviceDefaultsSet         = "cluster.device_defaults_set"
	TypeAutoregCSSSet             = "cluster.autoreg_css_set"
	TypeWindowOpened              = "autoregistration.window_opened"
	TypeWindowClosed              = "autoregistration.window_closed"
	TypeRangeConfigured           = "dnrange.configured"
	TypeDNAssigned                = "dnrange.dn_assigned"
	TypeDNClaimed                 = "dnrange.dn_claimed"
	TypeDNReleased                = "dnrange.dn_released"
	TypeRangeExhausted            = "dnrange.exhausted"
	TypeDeviceAutoregistered      = "device.autoregistered"
	TypeDeviceProvisioned         = "device.provisioned"
	TypeDeviceRegistered          = "device.registered"
	TypeDeviceMoved               = "device.moved"
	TypeDeviceUnregistered        = "device.unregistered"
	TypeRegistrationRejected      = "device.registration_rejected"
	TypeDeviceReconfigured        = "device.reconfigured"
	TypeDeviceDeleted             = "device.deleted"
	TypeDeviceResetRequested      = "device.reset_requested"
	TypeDeviceCredentialsIssued   = "device.credentials_issued"
	TypeDeviceCredentialsDisabled = "device.credentials_disabled"

	TypeRejectionsSuppressed = "registrar.rejections_suppressed"
)

func (ProtocolSet) EventType() string           { return TypeProtocolSet }
func (SecurityModeSet) EventType() string       { return TypeSecurityModeSet }
func (CallManagerConfigured) EventType() string { return TypeCallManagerConfigured }
func (CallManagerRemoved) EventType() string    { return TypeCallManagerRemoved }
func (GroupConfigured) EventType() string       { return TypeGroupConfigured }
func (GroupRemoved) EventType() string          { return TypeGroupRemoved }
func (AutoregGroupSet) EventType() string       { return TypeAutoregGroupSet }
func (PartitionAdded) EventType() string        { return TypePartitionAdded }
func (PartitionRemoved) EventType() string      { return TypePartitionRemoved }
func (RoutePatternAdded) EventType() string     { return TypeRoutePatternAdded }
func (RoutePatternRemoved) EventType() string   { return TypeRoutePatternRemoved }
func (CSSConfigured) EventType() string         { return TypeCSSConfigured }
func (CSSRemoved) EventType() string            { return TypeCSSRemoved }
func (DevicePoolConfigured) EventType() string  { return TypeDevicePoolConfigured }
func (DevicePoolRemoved) EventType() string     { return TypeDevicePoolRemoved }
func (DefaultPoolSet) EventType() string        { return TypeDefaultPoolSet }
func (DeviceDefaultsSet) EventType() string     { return TypeDeviceDefaultsSet }
func (AutoregCSSSet) EventType() string         { return TypeAutoregCSSSet }
func (WindowOpened) EventType() string          { return TypeWindowOpened }
func (WindowClosed) EventType() string          { return TypeWindowClosed }
func (RangeConfigured) EventType() string       { return TypeRangeConfigured }
func (DNAssigned) EventType() string            { return TypeDNAssigned }
func (DNClaimed) EventType() string             { return TypeDNClaimed }
func (DNReleased) EventType() string            { return TypeDNReleased }
func (RangeExhausted) EventType() string        { return TypeRangeExhausted }
func (DeviceAutoregistered) EventType() string  { return TypeDeviceAutoregistered }
func (DeviceProvisioned) EventType() string     { return TypeDeviceProvisioned }
func (DeviceRegistered) EventType() string      { return TypeDeviceRegistered }
func (DeviceMoved) EventType() string           { return TypeDeviceMoved }
func (DeviceUnregistered) EventType() string    { return TypeDeviceUnregistered }
func (RegistrationRejected) EventType() string  { return TypeRegistrationRejected }
func (DeviceReconfigured) EventType() string    { return TypeDeviceReconfigured }
func (DeviceDeleted) EventType() string         { return TypeDeviceDeleted }
func (DeviceResetRequested) EventType() string  { return TypeDeviceResetRequested }

func (RejectionsSuppressed) EventType() string { return TypeRejectionsSuppressed }

var registry = map[string]func() Event{
	TypeProtocolSet:           func() Event { return &ProtocolSet{} },
	TypeSecurityModeSet:       func() Event { return &SecurityModeSet{} },
	TypeCallManagerConfigured: func() Event { return &CallManagerConfigured{} },
	TypeCallManagerRemoved:    func() Event { return &CallManagerRemoved{} },
	TypeGroupConfigured:       func() Event { return &GroupConfigured{} },
	TypeGroupRemoved:          func() Event { return &GroupRemoved{} },
	TypeAutoregGroupSet:       func() Event { return &AutoregGroupSet{} },
	TypePartitionAdded:        func() Event { return &PartitionAdded{} },
	TypePartitionRemoved:      func() Event { return &PartitionRemoved{} },
	TypeRoutePatternAdded:     func() Event { return &RoutePatternAdded{} },
	TypeRoutePatternRemoved:   func() Event { return &RoutePatternRemoved{} },
	TypeCSSConfigured:         func() Event { return &CSSConfigured{} },
	TypeCSSRemoved:            func() Event { return &CSSRemoved{} },
	TypeDevicePoolConfigured:  func() Event { return &DevicePoolConfigured{} },
	TypeDevicePoolRemoved:     func() Event { return &DevicePoolRemoved{} },
	TypeDefaultPoolSet:        func() Event { return &DefaultPoolSet{} },
	TypeDeviceDefaultsSet:     func() Event { return &DeviceDefaultsSet{} },
	TypeAutoregCSSSet:         func() Event { return &AutoregCSSSet{} },
	TypeWindowOpened:          func() Event { return &WindowOpened{} },
	TypeWindowClosed:          func() Event { return &WindowClosed{} },
	TypeRangeConfigured:       func() Event { return &RangeConfigured{} },
	TypeDNAssigned:            func() Event { return &DNAssigned{} },
	TypeDNClaimed:             func() Event { return &DNClaimed{} },
	TypeDNReleased:            func() Event { return &DNReleased{} },
	TypeRangeExhausted:        func() Event { return &RangeExhausted{} },
	TypeDeviceAutoregistered:  func() Event { return &DeviceAutoregistered{} },
	TypeDeviceProvisioned:     func() Event { return &DeviceProvisioned{} },
	TypeDeviceRegistered:      func() Event { return &DeviceRegistered{} },
	TypeDeviceMoved:           func() Event { return &DeviceMoved{} },
	TypeDeviceUnregistered:    func() Event { return &DeviceUnregistered{} },
	TypeRegistrationRejected:  func() Event { return &RegistrationRejected{} },
	TypeDeviceReconfigured:    func() Event { return &DeviceReconfigured{} },
	TypeDeviceDeleted:         func() Event { return &DeviceDeleted{} },
	TypeDeviceResetRequested:  func() Event { return &DeviceResetRequested{} },

	TypeRejectionsSuppressed: func() Event { return &RejectionsSuppressed{} },

	TypeDeviceCredentialsIssued:   func() Event { return &DeviceCredentialsIssued{} },
	TypeDeviceCredentialsDisabled: func() Event { return &DeviceCredentialsDisabled{} },
}

// EventTypes lists every registered event name.
func EventTypes() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	return out
}

// envelope is the JSON payload: the event's fields beside a schema version.
type envelope struct {
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
}

// Encode turns an event into its name and JSON payload.
func Encode(e Event) (string, []byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	// The envelope, as json.Marshal(envelope{...}) writes it, without
	// compacting data again (json.Marshal's output is compact already).
	b := make([]byte, 0, len(data)+40)
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, '}')
	return e.EventType(), b, nil
}

// UnknownEventError: a stored event has a name this version does not know.
type UnknownEventError struct{ Type string }

func (e *UnknownEventError) Error() string { return fmt.Sprintf("unknown event type %q", e.Type) }

// Decode turns a stored name and payload back into an event (a value, not a
// pointer). Unknown names and malformed payloads are errors that say which.
func Decode(eventType string, payload []byte) (Event, error) {
	mk, ok := registry[eventType]
	if !ok {
		return nil, &UnknownEventError{Type: eventType}
	}
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("decode %s: malformed payload: %w", eventType, err)
	}
	if env.SchemaVersion < 1 || env.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("decode %s: schema_version %d not supported (this build reads 1..%d)", eventType, env.SchemaVersion, SchemaVersion)
	}
	if len(env.Data) == 0 {
		return nil, fmt.Errorf("decode %s: payload has no data", eventType)
	}
	p := mk()
	if err := json.Unmarshal(env.Data, p); err != nil {
		return nil, fmt.Errorf("decode %s: malformed payload: %w", eventType, err)
	}
	return deref(p), nil
}

func deref(p Event) Event {
	return reflect.ValueOf(p).Elem().Interface().(Event)
}

// Stream places each cluster event on the cluster's stream.
func (ProtocolSet) Stream() string           { return ClusterStream }
func (SecurityModeSet) Stream() string       { return ClusterStream }
func (CallManagerConfigured) Stream() string { return ClusterStream }
func (CallManagerRemoved) Stream() string    { return ClusterStream }
func (GroupConfigured) Stream() string       { return ClusterStream }
func (GroupRemoved) Stream() string          { return ClusterStream }
func (AutoregGroupSet) Stream() string       { return ClusterStream }
func (PartitionAdded) Stream() string        { return ClusterStream }
func (PartitionRemoved) Stream() string      { return ClusterStream }
func (RoutePatternAdded) Stream() string     { return ClusterStream }
func (RoutePatternRemoved) Stream() string   { return ClusterStream }
func (CSSConfigured) Stream() string         { return ClusterStream }
func (CSSRemoved) Stream() string            { return ClusterStream }
func (DevicePoolConfigured) Stream() string  { return ClusterStream }
func (DevicePoolRemoved) Stream() string     { return ClusterStream }
func (DefaultPoolSet) Stream() string        { return ClusterStream }
func (DeviceDefaultsSet) Stream() string     { return ClusterStream }
func (AutoregCSSSet) Stream() string         { return ClusterStream }
func (WindowOpened) Stream() string          { return ClusterStream }
func (WindowClosed) Stream() string          { return ClusterStream }

// Stream places each range event on the range's stream.
func (RangeConfigured) Stream() string { return RangeStream }
func (DNAssigned) Stream() string      { return RangeStream }
func (DNClaimed) Stream() string       { return RangeStream }
func (DNReleased) Stream() string      { return RangeStream }
func (RangeExhausted) Stream() string  { return RangeStream }
