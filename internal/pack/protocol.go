package pack

import "github.com/autoreg/autoreg/domain"

// Protocol codes: a record keeps its device's protocol in two bits.
const (
	NoProtocol    uint8 = iota // ""
	ProtocolSIP                // domain.SIP
	ProtocolSCCP               // domain.SCCP
	ProtocolOther              // any other, kept in Protocols by the record's key
	ProtocolMask  = 3
)

// Protocols codes the protocols of records keyed by number (see Names):
// SIP and SCCP, the protocols devices have, are codes alone; any other
// value is kept on the side, so it reads back exactly. The zero value is
// ready to use; it is not safe for concurrent use.
type Protocols struct {
	other map[uint64]domain.Protocol
}

// Code records p as the protocol of the record keyed k and returns the
// code the record keeps.
func (ps *Protocols) Code(k uint64, p domain.Protocol) uint8 {
	ps.Drop(k)
	switch p {
	case "":
		return NoProtocol
	case domain.SIP:
		return ProtocolSIP
	case domain.SCCP:
		return ProtocolSCCP
	}
	if ps.other == nil {
		ps.other = make(map[uint64]domain.Protocol)
	}
	ps.other[k] = p
	return ProtocolOther
}

// Protocol is the protocol of the record keyed k that keeps code.
func (ps *Protocols) Protocol(k uint64, code uint8) domain.Protocol {
	switch code & ProtocolMask {
	case ProtocolSIP:
		return domain.SIP
	case ProtocolSCCP:
		return domain.SCCP
	case ProtocolOther:
		return ps.other[k]
	}
	return ""
}

// Drop forgets what is kept on the side for the record keyed k.
func (ps *Protocols) Drop(k uint64) {
	if len(ps.other) > 0 {
		delete(ps.other, k)
	}
}

// Len is the number of protocols kept on the side.
func (ps *Protocols) Len() int { return len(ps.other) }
