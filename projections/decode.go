package projections

import (
	"github.com/autoreg/autoreg/domain"
)

// internLimit bounds the Decoder's table of interned strings. When it is
// full the table is emptied and refills with the values still in use, so
// frequent values (models, partitions, pools, window ids, reasons) stay
// shared while the memory the table holds stays bounded.
const internLimit = 1 << 16

// Decoder turns stored payloads into domain events, fast.
//
// The events the registrar writes by the million (DN assignments, device
// registrations, rejections) are read by a small scanner that accepts
// exactly the JSON domain.Encode writes: the envelope, then the event's
// fields as plain strings. Their strings are interned, so the values that
// repeat (models, partitions, window ids) cost no allocation. Anything else
// (another event type, an escape sequence, a non-ASCII byte, an unknown
// key, a null, a malformed payload) goes to domain.Decode, which is the
// authority: Decode always returns what domain.Decode returns.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	strs map[string]string
	f    fields
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{strs: make(map[string]string, 256)} }

// Decode decodes one stored payload of the given event type.
func (d *Decoder) Decode(eventType string, payload []byte) (domain.Event, error) {
	if e := d.fast(eventType, payload); e != nil {
		return e, nil
	}
	return domain.Decode(eventType, payload)
}

// intern returns b as a string, shared with earlier equal values.
func (d *Decoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if len(d.strs) >= internLimit {
		clear(d.strs)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// The string fields of the hot events, by JSON key.
const (
	fDevice = iota
	fDN
	fPartition
	fWindow
	fBy
	fReason
	fModel
	fProtocol
	fAddress
	fPool
	fCSS
	fLoad
	fExternal
	fDescription
	fDetail
	fFrom
	fTo
	nFields
)

func fieldOf(key []byte) int {
	switch string(key) {
	case "device":
		return fDevice
	case "dn":
		return fDN
	case "partition":
		return fPartition
	case "window":
		return fWindow
	case "by":
		return fBy
	case "reason":
		return fReason
	case "model":
		return fModel
	case "protocol":
		return fProtocol
	case "address":
		return fAddress
	case "pool":
		return fPool
	case "css":
		return fCSS
	case "load":
		return fLoad
	case "external_number":
		return fExternal
	case "description":
		return fDescription
	case "detail":
		return fDetail
	case "from":
		return fFrom
	case "to":
		return fTo
	}
	return -1
}

// fields holds the values of one payload's data object (views into the
// payload) and which keys were present.
type fields struct {
	v    [nFields][]byte
	seen uint32
}

func fieldMask(fs ...int) uint32 {
	var m uint32
	for _, f := range fs {
		m |= 1 << f
	}
	return m
}

// The keys each hot event type may carry (domain's JSON tags).
var allowed = map[string]uint32{
	domain.TypeDNAssigned:           fieldMask(fDN, fPartition, fDevice, fWindow),
	domain.TypeDNClaimed:            fieldMask(fDN, fPartition, fDevice, fBy),
	domain.TypeDNReleased:           fieldMask(fDN, fPartition, fDevice, fReason, fBy),
	domain.TypeDeviceAutoregistered: fieldMask(fDevice, fModel, fProtocol, fDN, fPartition, fExternal, fPool, fCSS, fLoad, fAddress, fWindow),
	domain.TypeDeviceProvisioned:    fieldMask(fDevice, fModel, fProtocol, fDN, fPartition, fPool, fCSS, fDescription, fBy),
	domain.TypeDeviceRegistered:     fieldMask(fDevice, fProtocol, fAddress),
	domain.TypeDeviceMoved:          fieldMask(fDevice, fFrom, fTo),
	domain.TypeDeviceUnregistered:   fieldMask(fDevice, fReason),
	domain.TypeRegistrationRejected: fieldMask(fDevice, fReason, fDetail, fModel, fProtocol, fAddress, fWindow),
	domain.TypeDeviceReconfigured:   fieldMask(fDevice, fPool, fCSS, fDN, fPartition, fDescription, fBy),
	domain.TypeDeviceDeleted:        fieldMask(fDevice, fBy),
	domain.TypeProtocolSet:          fieldMask(fProtocol, fBy),
}

// fast decodes the hot event types. It returns nil when the payload is not
// in the exact shape domain.Encode writes, or the type is not a hot one.
func (d *Decoder) fast(eventType string, payload []byte) domain.Event {
	mask, ok := allowed[eventType]
	if !ok {
		return nil
	}
	f := &d.f
	if !f.read(payload) || f.seen&^mask != 0 {
		return nil
	}
	s := func(i int) string { return d.intern(f.v[i]) }
	switch eventType {
	case domain.TypeDNAssigned:
		return domain.DNAssigned{DN: s(fDN), Partition: s(fPartition), Device: s(fDevice), Window: s(fWindow)}
	case domain.TypeDNClaimed:
		return domain.DNClaimed{DN: s(fDN), Partition: s(fPartition), Device: s(fDevice), By: s(fBy)}
	case domain.TypeDNReleased:
		return domain.DNReleased{DN: s(fDN), Partition: s(fPartition), Device: s(fDevice), Reason: s(fReason), By: s(fBy)}
	case domain.TypeDeviceAutoregistered:
		return domain.DeviceAutoregistered{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, Model: s(fModel),
			Protocol: domain.Protocol(s(fProtocol)), DN: s(fDN), Partition: s(fPartition), ExternalNumber: s(fExternal),
			Pool: s(fPool), CSS: s(fCSS), Load: s(fLoad), Address: s(fAddress), Window: s(fWindow)}
	case domain.TypeDeviceProvisioned:
		return domain.DeviceProvisioned{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, Model: s(fModel),
			Protocol: domain.Protocol(s(fProtocol)), DN: s(fDN), Partition: s(fPartition), Pool: s(fPool),
			CSS: s(fCSS), Description: s(fDescription), By: s(fBy)}
	case domain.TypeDeviceRegistered:
		return domain.DeviceRegistered{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)},
			Protocol: domain.Protocol(s(fProtocol)), Address: s(fAddress)}
	case domain.TypeDeviceMoved:
		return domain.DeviceMoved{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, From: s(fFrom), To: s(fTo)}
	case domain.TypeDeviceUnregistered:
		return domain.DeviceUnregistered{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, Reason: s(fReason)}
	case domain.TypeRegistrationRejected:
		return domain.RegistrationRejected{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)},
			Reason: domain.RejectReason(s(fReason)), Detail: s(fDetail), Model: s(fModel),
			Protocol: domain.Protocol(s(fProtocol)), Address: s(fAddress), Window: s(fWindow)}
	case domain.TypeDeviceReconfigured:
		return domain.DeviceReconfigured{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, Pool: s(fPool),
			CSS: s(fCSS), DN: s(fDN), Partition: s(fPartition), Description: s(fDescription), By: s(fBy)}
	case domain.TypeDeviceDeleted:
		return domain.DeviceDeleted{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, By: s(fBy)}
	case domain.TypeProtocolSet:
		return domain.ProtocolSet{Protocol: domain.Protocol(s(fProtocol)), By: s(fBy)}
	}
	return nil
}

// read scans the envelope {"schema_version":N,"data":{...}} into f; every
// key of data must be a known field holding a plain string. It reports
// false (and the caller falls back to domain.Decode) on anything else.
func (f *fields) read(p []byte) bool {
	f.v = [nFields][]byte{}
	f.seen = 0
	s := scanner{b: p}
	if !s.byte('{') {
		return false
	}
	version, hasData := -1, false
	for first := true; ; first = false {
		if s.byte('}') {
			break
		}
		if !first && !s.byte(',') {
			return false
		}
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		switch string(key) {
		case "schema_version":
			if version >= 0 {
				return false
			}
			if version, ok = s.uint(); !ok {
				return false
			}
		case "data":
			if hasData || !f.object(&s) {
				return false
			}
			hasData = true
		default:
			return false
		}
	}
	return s.skipWS() == len(p) && version >= 1 && version <= domain.SchemaVersion && hasData
}

// object reads {"key":"value",...} into f.
func (f *fields) object(s *scanner) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		i := fieldOf(k)
		if i < 0 {
			return false
		}
		v, ok := s.str()
		if !ok {
			return false
		}
		f.v[i] = v
		f.seen |= 1 << i
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// scanner is a minimal JSON reader for the flat objects of plain strings
// domain.Encode writes.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) skipWS() int {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return s.i
		}
	}
	return s.i
}

// byte consumes c (after white space) if it is next.
func (s *scanner) byte(c byte) bool {
	s.skipWS()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes and returns its
// contents (a view into the payload).
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// uint reads a small non-negative integer written without sign, fraction,
// exponent or leading zeros.
func (s *scanner) uint() (int, bool) {
	s.skipWS()
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		if s.i-start >= 9 {
			return 0, false
		}
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	return n, true
}
