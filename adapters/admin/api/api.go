// Package api holds the JSON types of the registrar's admin HTTP API, shared
// by the server (package admin) and the Go client (package client). It
// imports only the standard library.
//
// Field names are the wire names documented in docs/admin-api.md. Protocols
// are written "SIP" or "SCCP" and read in any case; security modes are
// "mixed" or "nonsecure"; times are RFC 3339; durations are Go duration
// strings ("30m", "1h30m").
//
// It imports the standard library only.
package api

import (
	"encoding/json"
	"time"
)

// Error codes in the "code" field of an error body. They are stable: scripts
// may match on them.
const (
	CodeBadRequest     = "bad_request"  // 400: the body or query is malformed (unknown field, wrong type)
	CodeInvalid        = "invalid"      // 400: the domain refused the values
	CodeUnauthorized   = "unauthorized" // 401: no token, or a wrong one
	CodeForbidden      = "forbidden"    // 403: a read-only token asked for a change
	CodeNotFound       = "not_found"    // 404
	CodeMethod         = "method_not_allowed"
	CodeTooLarge       = "too_large" // 413: the body is over the limit
	CodeUnsupported    = "unsupported_media_type"
	CodeTooMany        = "too_many_requests" // 429: too many failed logins from this address
	CodeInUse          = "in_use"            // 409
	CodeWindowOpen     = "window_open"       // 409
	CodeWindowClosed   = "window_closed"     // 409
	CodeMixedMode      = "mixed_mode"        // 409
	CodeRangeDisabled  = "range_disabled"    // 409
	CodeRangeExhausted = "range_exhausted"   // 409
	CodeMisconfigured  = "misconfigured"     // 409
	CodeDNInUse        = "dn_in_use"         // 409
	CodeConflict       = "conflict"          // 409: concurrent changes kept colliding; retry
	CodeUnavailable    = "unavailable"       // 503: the event store cannot take writes now; retry
	CodeInternal       = "internal"          // 500
)

// Error is the body of every error response.
type Error struct {
	// Error says what went wrong and, where the caller can act, what to do.
	Error string `json:"error"`
	// Code is one of the Code constants.
	Code string `json:"code"`
}

// ---- Requests --------------------------------------------------------------

// OpenWindow is the body of POST /v1/autoreg/open.
type OpenWindow struct {
	Reason string `json:"reason"`
	// For is the window's maximum duration (Go duration string); "" or "0s": none.
	For string `json:"for,omitempty"`
	// Max is the maximum number of autoregistrations; 0: none.
	Max int `json:"max,omitempty"`
}

// CloseWindow is the body of POST /v1/autoreg/close.
type CloseWindow struct {
	Reason string `json:"reason"`
}

// SetProtocol is the body of PUT /v1/autoreg/protocol.
type SetProtocol struct {
	Protocol string `json:"protocol"` // "sip" or "sccp", any case
}

// SetSecurity is the body of PUT /v1/security.
type SetSecurity struct {
	Mode string `json:"mode"` // "mixed" or "nonsecure"
}

// SetAutoregCSS is the body of PUT /v1/autoreg/css.
type SetAutoregCSS struct {
	CSS string `json:"css"` // "" clears it
}

// PutCallManager is the body of PUT /v1/callmanagers/{name}.
type PutCallManager struct {
	Description string `json:"description,omitempty"`
	// AutoregEnabled unchecks "Auto-registration Disabled on this Cisco
	// CallManager" (it is checked, autoregistration disabled, by default).
	AutoregEnabled bool `json:"autoreg_enabled"`
	// Where phones reach it (optional): host, SIP and SCCP ports.
	Host     string `json:"host,omitempty"`
	SIPPort  int    `json:"sip_port,omitempty"`
	SCCPPort int    `json:"sccp_port,omitempty"`
}

// PutGroup is the body of PUT /v1/groups/{name}.
type PutGroup struct {
	CallManagers []string `json:"callmanagers"` // in priority order
	// Autoreg true flags the group as the Auto-registration CallManager
	// Group (which unflags the others). Omitted leaves the flag where it is.
	// false on the flagged group is refused: flag another group instead.
	Autoreg *bool `json:"autoreg,omitempty"`
}

// PutPartition is the (optional) body of PUT /v1/partitions/{name}.
type PutPartition struct {
	Description string `json:"description,omitempty"`
}

// AddPattern is the body of POST /v1/patterns.
type AddPattern struct {
	Pattern     string `json:"pattern"`
	Partition   string `json:"partition"`
	Block       bool   `json:"block,omitempty"`
	Description string `json:"description,omitempty"`
}

// PutCSS is the body of PUT /v1/css/{name}.
type PutCSS struct {
	Partitions []string `json:"partitions"` // in search order
}

// PutPool is the body of PUT /v1/pools/{name}.
type PutPool struct {
	Group string `json:"group"`
	CSS   string `json:"css,omitempty"`
	// AutoregCSS is the pool's Calling Search Space for Auto-registration.
	AutoregCSS string `json:"autoreg_css,omitempty"`
	// SIPAuth is the SIP authentication profile of the pool's phones:
	// digest (default), digest-always or none.
	SIPAuth string `json:"sip_auth,omitempty"`
}

// SetDefaultPool is the body of PUT /v1/default-pool.
type SetDefaultPool struct {
	Pool string `json:"pool"`
}

// PutDeviceDefaults is the body of PUT /v1/device-defaults/{model}.
type PutDeviceDefaults struct {
	LoadSCCP string `json:"load_sccp,omitempty"`
	LoadSIP  string `json:"load_sip,omitempty"`
	Pool     string `json:"pool,omitempty"`
}

// PutRange is the body of PUT /v1/range. Start equal to End disables
// autoregistration, as on the CallManager page.
type PutRange struct {
	Start     string `json:"start"`
	End       string `json:"end"`
	Partition string `json:"partition,omitempty"`
	Mask      string `json:"mask,omitempty"`
}

// ProvisionDevice is the body of POST /v1/devices.
type ProvisionDevice struct {
	Name        string `json:"name"` // SEP + 12 hex digits
	Model       string `json:"model"`
	Protocol    string `json:"protocol,omitempty"`  // default: the cluster's, if the model speaks it
	DN          string `json:"dn"`                  // directory number
	Partition   string `json:"partition,omitempty"` // default: the range's
	Pool        string `json:"pool,omitempty"`      // default: the cluster default pool
	CSS         string `json:"css,omitempty"`
	Description string `json:"description,omitempty"`
}

// ReconfigureDevice is the body of PATCH /v1/devices/{name}; empty fields
// stay as they are.
type ReconfigureDevice struct {
	Pool        string `json:"pool,omitempty"`
	CSS         string `json:"css,omitempty"`
	DN          string `json:"dn,omitempty"`
	Partition   string `json:"partition,omitempty"`
	Description string `json:"description,omitempty"`
}

// ---- Responses -------------------------------------------------------------

// Result is the answer to every change.
type Result struct {
	// Changed is false when the request asked for what already was (no event).
	Changed bool `json:"changed"`
	// Events names the events written, in order.
	Events []string `json:"events,omitempty"`
	// Position is the store's global position of the last event written.
	Position uint64 `json:"position,omitempty"`
	// Device is the device after a device change.
	Device *Device `json:"device,omitempty"`
	// Window is the window after POST /v1/autoreg/open.
	Window *Window `json:"window,omitempty"`
	// Reset says, after POST /v1/devices/{name}/reset, whether the phone
	// was told (SCCP Reset on its connection, SIP NOTIFY check-sync to its
	// contact), and why not.
	Reset *ResetOutcome `json:"reset,omitempty"`
}

// ResetDevice is the body of POST /v1/devices/{name}/reset (optional).
type ResetDevice struct {
	// Restart asks for a restart (reload the configuration) rather than a
	// reset (reboot).
	Restart bool `json:"restart,omitempty"`
}

// ResetOutcome is whether a reset reached the phone.
type ResetOutcome struct {
	Delivered bool   `json:"delivered"`
	Detail    string `json:"detail,omitempty"`
}

// Window is an autoregistration window.
type Window struct {
	ID               string    `json:"id"`
	Reason           string    `json:"reason"`
	By               string    `json:"by"`
	OpenedAt         time.Time `json:"opened_at"`
	Until            time.Time `json:"until,omitzero"` // zero: no maximum duration
	MaxRegistrations int       `json:"max_registrations,omitempty"`
	Protocol         string    `json:"protocol"` // the protocol parameter when it opened
}

// Range is the autoregistration range of directory numbers.
type Range struct {
	Start     string `json:"start"`
	End       string `json:"end"`
	Partition string `json:"partition"`
	Mask      string `json:"mask,omitempty"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Open                  bool    `json:"open"`
	Window                *Window `json:"window"` // null when closed
	RegistrationsInWindow int     `json:"registrations_in_window"`
	Protocol              string  `json:"protocol"`
	Security              string  `json:"security"`
	Range                 Range   `json:"range"`
	DNsLeft               int     `json:"dns_left"`
	Devices               int     `json:"devices"`
	Registered            int     `json:"registered"`
	// Problem says why autoregistration could not be opened now ("" if it could).
	Problem string `json:"problem"`
}

// Device is one device.
type Device struct {
	Name           string `json:"name"`
	Model          string `json:"model"`
	Protocol       string `json:"protocol"`
	DN             string `json:"dn"`
	Partition      string `json:"partition"`
	ExternalNumber string `json:"external_number,omitempty"`
	Pool           string `json:"pool"`
	CSS            string `json:"css,omitempty"`
	Description    string `json:"description,omitempty"`
	Autoregistered bool   `json:"autoregistered"`
	Window         string `json:"window,omitempty"` // the window it autoregistered in
	Registered     bool   `json:"registered"`
	Address        string `json:"address,omitempty"`
	// EffectiveCSS is the calling search space it dials with: its own
	// (css), else its device pool's.
	EffectiveCSS string `json:"effective_css,omitempty"`
	// Node is the CallManager it is registered with now ("" when none).
	Node string `json:"node"`
	// OutsideGroup: registered with a CallManager outside its device
	// pool's group (accepted, as CallManager does, and flagged).
	OutsideGroup bool `json:"outside_group,omitempty"`
	// Status is registered, unregistered or rejected (never registered,
	// only refused); StatusReason says why when it is not registered.
	Status       string `json:"status"`
	StatusReason string `json:"status_reason,omitempty"`
	// LastSeen is the last time the device itself reached the registrar
	// with an effect recorded (it autoregistered, registered, moved, was
	// refused or unregistered); absent if it never did. A SIP refresh that
	// changes nothing records nothing.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Expires is when a SIP phone's registration ends unless refreshed,
	// and Transport the transport of its contact (UDP, TCP, TLS), as the
	// registrar it is registered with holds them (absent otherwise).
	Expires   time.Time `json:"expires,omitzero"`
	Transport string    `json:"transport,omitempty"`
	// Credentials is "digest" when the device holds SIP digest
	// credentials, absent when it has none.
	Credentials string `json:"credentials,omitempty"`
}

// Credentials is the body of GET /v1/devices/{name}/credentials: a SIP
// device's digest credentials, as its configuration file carries them.
type Credentials struct {
	Device string `json:"device"`
	// Status is active (the device must authenticate as its profile
	// says), none (never issued, or disabled) or not_required (its pool's
	// profile is none).
	Status   string `json:"status"`
	Profile  string `json:"profile"` // its pool's: digest, digest-always, none
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Realm    string `json:"realm,omitempty"`
}

// Devices is the body of GET /v1/devices.
type Devices struct {
	Devices []Device `json:"devices"` // sorted by name unless the query says otherwise
	// Total is how many devices the query selects, over every page.
	Total int `json:"total"`
	// Offset and Limit echo the page asked for (Limit 0: all).
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// DeviceQuery is the query of GET /v1/devices: zero fields select
// everything; the zero DeviceQuery lists every device by name.
type DeviceQuery struct {
	Status   string `json:"status,omitempty"`   // registered or unregistered
	Pool     string `json:"pool,omitempty"`     // exactly this device pool
	Model    string `json:"model,omitempty"`    // exactly this model
	Protocol string `json:"protocol,omitempty"` // sip or sccp
	Window   string `json:"window,omitempty"`   // autoregistered in this window
	Node     string `json:"node,omitempty"`     // registered now with this CallManager
	// Since: last seen at or after this time (RFC 3339), or within this
	// duration before now ("1h").
	Since string `json:"since,omitempty"`
	// Q: a substring, in any case, of the name, the DN or the address.
	Q string `json:"q,omitempty"`
	// Sort: name (default), dn, model, protocol, pool, status, last_seen or
	// address; a leading "-" reverses it.
	Sort   string `json:"sort,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Limit  int    `json:"limit,omitempty"` // 0: all (at most MaxDevicePage when given)
}

// MaxDevicePage is the largest limit GET /v1/devices takes.
const MaxDevicePage = 5000

// MayDial is the body of GET /v1/devices/{name}/may-dial.
type MayDial struct {
	Allowed   bool   `json:"allowed"`
	CSS       string `json:"css"`
	Partition string `json:"partition"`
	Match     string `json:"match"`
	Reason    string `json:"reason"`
}

// CallManager is a server of the cluster.
type CallManager struct {
	Name           string `json:"name"`
	Description    string `json:"description,omitempty"`
	AutoregEnabled bool   `json:"autoreg_enabled"`
	Host           string `json:"host,omitempty"`
	SIPPort        int    `json:"sip_port,omitempty"`
	SCCPPort       int    `json:"sccp_port,omitempty"`
}

// Node is one CallManager as GET /v1/nodes shows it: where phones reach
// it, whether a registrar process serves it now, and how many devices are
// registered with it.
type Node struct {
	CallManager
	// Autoreg: the CallManager that takes autoregistrations (first of the
	// flagged group, autoregistration enabled).
	Autoreg bool `json:"autoreg"`
	Up      bool `json:"up"`
	// Process says which process serves it (pid, host, addresses, since).
	Process string `json:"process,omitempty"`
	Devices int    `json:"devices"` // registered with it now
}

// Nodes is the body of GET /v1/nodes.
type Nodes struct {
	Nodes []Node `json:"nodes"`
}

// Group is a CallManager group.
type Group struct {
	Name         string   `json:"name"`
	CallManagers []string `json:"callmanagers"`
	Autoreg      bool     `json:"autoreg"`
}

// Pattern is a route pattern.
type Pattern struct {
	Pattern   string `json:"pattern"`
	Partition string `json:"partition"`
	Block     bool   `json:"block,omitempty"`
}

// CSS is a calling search space.
type CSS struct {
	Name       string   `json:"name"`
	Partitions []string `json:"partitions"`
}

// Pool is a device pool.
type Pool struct {
	Name       string `json:"name"`
	Group      string `json:"group"`
	CSS        string `json:"css,omitempty"`
	AutoregCSS string `json:"autoreg_css,omitempty"`
	SIPAuth    string `json:"sip_auth"` // digest, digest-always or none
}

// DeviceDefaults are one model's Device Defaults.
type DeviceDefaults struct {
	Model    string `json:"model"`
	LoadSCCP string `json:"load_sccp,omitempty"`
	LoadSIP  string `json:"load_sip,omitempty"`
	Pool     string `json:"pool,omitempty"`
}

// Cluster is the body of GET /v1/cluster: the whole configuration. Lists
// are sorted by name (patterns keep their order of creation).
type Cluster struct {
	Protocol       string           `json:"protocol"`
	Security       string           `json:"security"`
	CallManagers   []CallManager    `json:"callmanagers"`
	Groups         []Group          `json:"groups"`
	AutoregGroup   string           `json:"autoreg_group"`
	Partitions     []string         `json:"partitions"`
	Patterns       []Pattern        `json:"patterns"`
	CSS            []CSS            `json:"css"`
	Pools          []Pool           `json:"pools"`
	DefaultPool    string           `json:"default_pool"`
	DeviceDefaults []DeviceDefaults `json:"device_defaults"`
	AutoregCSS     string           `json:"autoreg_css"`
	Range          Range            `json:"range"`
	Window         *Window          `json:"window"` // null when closed
}

// Event is one stored event, as GET /v1/devices/{name}/history shows it.
type Event struct {
	Position   uint64    `json:"position"`
	Version    uint64    `json:"version"`
	Type       string    `json:"type"`
	RecordedAt time.Time `json:"recorded_at"`
	Actor      string    `json:"actor"`
	// Data is the event's payload (docs/replay.md lists them by type).
	Data json.RawMessage `json:"data"`
}

// History is the body of GET /v1/devices/{name}/history: the events of the
// device's stream, oldest first.
type History struct {
	Device string  `json:"device"`
	Events []Event `json:"events"`
}

// WindowReport is one window of GET /v1/windows: who opened it, why, how
// it ended, what registered in it.
type WindowReport struct {
	ID               string    `json:"id"`
	OpenedAt         time.Time `json:"opened_at"`
	OpenedBy         string    `json:"opened_by"`
	OpenReason       string    `json:"open_reason"`
	Until            time.Time `json:"until,omitzero"`
	MaxRegistrations int       `json:"max_registrations,omitempty"`
	Open             bool      `json:"open"`
	ClosedAt         time.Time `json:"closed_at,omitzero"`
	ClosedBy         string    `json:"closed_by,omitempty"`
	CloseReason      string    `json:"close_reason,omitempty"`
	// CloseCause: admin, duration_elapsed, max_registrations,
	// range_exhausted, security_mixed, ...
	CloseCause string `json:"close_cause,omitempty"`
	Protocol   string `json:"protocol"`
	// ProtocolChanges counts the protocol parameter's changes while it was
	// open (the guide's batch advice: none).
	ProtocolChanges int `json:"protocol_changes"`
	Registrations   int `json:"registrations"`
	// RegistrationsByProtocol counts them by protocol.
	RegistrationsByProtocol map[string]int `json:"registrations_by_protocol"`
	Rejected                int            `json:"rejected"`
}

// Windows is the body of GET /v1/windows, oldest first.
type Windows struct {
	Windows []WindowReport `json:"windows"`
	// Report says whether GET /audit/report (the compliance report in
	// HTML) is served.
	Report bool `json:"report"`
}
