package domain

import "fmt"

// RejectReason names why a device may not register. The values are stable:
// they appear in events, metrics and protocol replies.
type RejectReason string

const (
	RejectWindowClosed   RejectReason = "window_closed"
	RejectWrongProtocol  RejectReason = "wrong_protocol"
	RejectRangeExhausted RejectReason = "range_exhausted"
	RejectMixedMode      RejectReason = "mixed_mode"
	RejectUnknownModel   RejectReason = "unknown_model"
	RejectRangeDisabled  RejectReason = "range_disabled"
	// RejectNotAutoregNode: an unknown phone reached a CallManager other
	// than the autoregistration one (the phone shows "Registration
	// Rejected: Error DBConfig", as with CallManager).
	RejectNotAutoregNode RejectReason = "not_autoreg_callmanager"
)

// RejectReasons lists every reason, for metrics and reports.
var RejectReasons = []RejectReason{
	RejectWindowClosed, RejectWrongProtocol, RejectRangeExhausted,
	RejectMixedMode, RejectUnknownModel, RejectRangeDisabled, RejectNotAutoregNode,
}

// Rejection is the error a registration gets when the device may not
// register. Match it with errors.As; Reason is stable, Detail is for people.
type Rejection struct {
	Device string
	Reason RejectReason
	Detail string
}

func (r *Rejection) Error() string {
	if r.Detail == "" {
		return fmt.Sprintf("%s may not register: %s", r.Device, r.Reason)
	}
	return fmt.Sprintf("%s may not register: %s", r.Device, r.Detail)
}

// Short is a phone-sized text (it fits SCCP's 32-byte reject text).
func (r *Rejection) Short() string {
	switch r.Reason {
	case RejectWindowClosed:
		return "Autoregistration closed"
	case RejectWrongProtocol:
		return "Wrong protocol for autoreg"
	case RejectRangeExhausted:
		return "DN range exhausted"
	case RejectMixedMode:
		return "Cluster in mixed mode"
	case RejectUnknownModel:
		return "Unknown device model"
	case RejectRangeDisabled:
		return "Autoregistration disabled"
	case RejectNotAutoregNode:
		return "Error DBConfig"
	}
	return string(r.Reason)
}
