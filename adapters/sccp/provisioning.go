package sccp

import (
	"net/netip"
	"time"
)

// Provisioning gives the server what a registered phone asks for after its
// RegisterAck, beyond the DN the registrar assigned: its firmware load, the
// CallManagers it may register with, and its time zone. The registrar wires
// it from its read models (Device Defaults, the device pool's CallManager
// group, the date/time group).
//
// The server calls it on a connection's goroutine for each request, so it
// must answer from memory, quickly, and be safe for concurrent use. It is
// optional (Config.Provisioning); see each method for what a nil one
// answers.
type Provisioning interface {
	// Load is the firmware load Device Defaults gives the model (domain
	// model name, "7961") over SCCP, sent in the VersionMessage; "" sends
	// an empty one (the phone keeps its load). A VersionMessage holds 15
	// bytes of it.
	Load(device, model string) string
	// CallManagers lists, in order of preference, the CallManagers of the
	// device's pool, sent in the ServerResMessage (at most five; the
	// first also names the server in the ConfigStatMessage). None lists
	// this server alone: its address as the phone reached it.
	CallManagers(device string) []CallManager
	// Location is the device's time zone, in which the DefineTimeDate
	// gives the date and time of day; nil means UTC.
	Location(device string) *time.Location
}

// CallManager is a server a phone may register with.
type CallManager struct {
	// Name is what the phone shows for it (at most 47 bytes are sent).
	Name string
	// Addr is its IPv4 address and SCCP port; a zero port means 2000. A
	// phone speaking the basic protocol takes no IPv6 address: one is sent
	// as 0.0.0.0.
	Addr netip.AddrPort
}

// DefaultSCCPPort is the SCCP port of a CallManager whose address has none.
const DefaultSCCPPort = 2000
