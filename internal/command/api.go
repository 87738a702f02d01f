package command

import (
	"context"

	"github.com/autoreg/autoreg/domain"
)

// Registration is what a protocol adapter asks of the registrar when a
// phone registers (first time, refresh, or from a new address).
type Registration struct {
	Device   string          // SEP + 12 hex digits
	Model    string          // catalogue name ("7961"); "" when the adapter could not tell
	Protocol domain.Protocol // the protocol the phone is using
	Address  string          // where the phone is reachable: SIP contact URI, or SCCP peer ip:port
	Adapter  string          // "sip" or "sccp": part of the actor recorded in events
	Peer     string          // the transport peer's ip:port: part of the actor
	// CorrelationID ties the events to the request (SIP Call-ID, SCCP connection id).
	CorrelationID string
}

// Registered is what the phone is told on success.
type Registered struct {
	Device         string
	Model          string
	Protocol       domain.Protocol
	DN             string // directory number
	Partition      string
	ExternalNumber string // the range's external phone number mask applied to DN ("" without a mask)
	Pool           string // device pool
	Autoregistered bool   // true when this request autoregistered the device
	Moved          bool   // true when the device came from another address
	Changed        bool   // false for a refresh that wrote no event
}

// UnregisterReason says why a device's registration ended.
type UnregisterReason string

const (
	UnregisterRequested UnregisterReason = "requested"  // the phone asked (SIP Expires: 0, SCCP UnregisterReq)
	UnregisterExpired   UnregisterReason = "expired"    // SIP binding expired
	UnregisterKeepalive UnregisterReason = "keepalive"  // SCCP keepalives missed
	UnregisterConnLost  UnregisterReason = "connection" // SCCP TCP connection closed
)

// Unregistration is what an adapter reports when a device goes away.
type Unregistration struct {
	Device        string
	Reason        UnregisterReason
	Adapter       string
	Peer          string
	CorrelationID string
}

// Registrar is the registration side the protocol adapters call.
//
// Register returns a *domain.Rejection (errors.As) when the device may not
// register, an error wrapping eventstore.ErrUnavailable when the store cannot
// take the write now (tell the phone to come back), or another error.
// Both return only after the events they wrote are durable.
type Registrar interface {
	Register(ctx context.Context, r Registration) (Registered, error)
	Unregister(ctx context.Context, u Unregistration) error
}
