package projections

import (
	"encoding/binary"

	"github.com/autoreg/autoreg/domain"
)

// internSlots is the size of the Decoder's cache of strings: a
// direct-mapped table (a value replaces the one in its slot), so frequent
// values (models, partitions, pools, window ids, reasons) are shared while
// the memory the cache holds stays bounded. Short values are kept in the
// slot itself, so that a hit reads one place in memory; the table (160 KiB)
// stays in the processor's cache.
const internSlots = 1 << 12

// internSlot is a slot of the cache: the value, and its bytes when short.
type internSlot struct {
	n int8 // len(s) when s is in b, else -1
	b [23]byte
	s string
}

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
	strs []internSlot // internSlots
	f    fields
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{strs: make([]internSlot, internSlots)} }

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
	slot := &d.strs[quickHash(b)&(internSlots-1)]
	if len(b) <= len(slot.b) {
		if int(slot.n) == len(b) && string(slot.b[:len(b)]) == string(b) { // compared without allocating
			return slot.s
		}
		slot.n = int8(copy(slot.b[:], b))
	} else {
		if slot.n < 0 && slot.s == string(b) {
			return slot.s
		}
		slot.n = -1
	}
	slot.s = string(b)
	return slot.s
}

// quickHash hashes a string from its length and its first, middle and
// last eight bytes: enough to spread the values of a payload's fields
// (names and addresses that differ in a few digits).
func quickHash(b []byte) uint64 {
	n := len(b)
	var lo, mid, hi uint64
	if n >= 8 {
		lo = binary.LittleEndian.Uint64(b)
		hi = binary.LittleEndian.Uint64(b[n-8:])
		if n >= 16 {
			mid = binary.LittleEndian.Uint64(b[n/2-4:])
		}
	} else {
		for i := 0; i < n; i++ {
			lo |= uint64(b[i]) << (8 * i)
		}
	}
	h := lo*0x9E3779B97F4A7C15 ^ (mid*0xD6E8FEB86659FD93+hi)*0xC2B2AE3D27D4EB4F ^ uint64(n)
	h *= 0x165667B19E3779F9
	return h ^ h>>31
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
	fNode
	fAt // a time: the value is kept with its quotes
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
	case "node":
		return fNode
	case "at":
		return fAt
	}
	return -1
}

// fields holds the values of one payload's data object (views into the
// payload) and which keys were present (v[i] is stale unless bit i of seen
// is set).
type fields struct {
	v    [nFields][]byte
	seen uint32
}

// allowedKeys returns the keys each hot event type may carry (the domain's
// JSON tags); ok is false for the other types.
func allowedKeys(eventType string) (mask uint32, ok bool) {
	switch eventType {
	case domain.TypeDNAssigned:
		return 1<<fDN | 1<<fPartition | 1<<fDevice | 1<<fWindow, true
	case domain.TypeDNClaimed:
		return 1<<fDN | 1<<fPartition | 1<<fDevice | 1<<fBy, true
	case domain.TypeDNReleased:
		return 1<<fDN | 1<<fPartition | 1<<fDevice | 1<<fReason | 1<<fBy, true
	case domain.TypeDeviceAutoregistered:
		return 1<<fDevice | 1<<fModel | 1<<fProtocol | 1<<fDN | 1<<fPartition | 1<<fExternal | 1<<fPool | 1<<fCSS | 1<<fLoad | 1<<fAddress | 1<<fWindow | 1<<fNode, true
	case domain.TypeDeviceProvisioned:
		return 1<<fDevice | 1<<fModel | 1<<fProtocol | 1<<fDN | 1<<fPartition | 1<<fPool | 1<<fCSS | 1<<fDescription | 1<<fBy, true
	case domain.TypeDeviceRegistered:
		return 1<<fDevice | 1<<fProtocol | 1<<fAddress | 1<<fNode, true
	case domain.TypeDeviceMoved:
		return 1<<fDevice | 1<<fFrom | 1<<fTo | 1<<fNode, true
	case domain.TypeDeviceUnregistered:
		return 1<<fDevice | 1<<fReason, true
	case domain.TypeRegistrationRejected:
		return 1<<fDevice | 1<<fReason | 1<<fDetail | 1<<fModel | 1<<fProtocol | 1<<fAddress | 1<<fWindow | 1<<fAt, true
	case domain.TypeDeviceReconfigured:
		return 1<<fDevice | 1<<fPool | 1<<fCSS | 1<<fDN | 1<<fPartition | 1<<fDescription | 1<<fBy, true
	case domain.TypeDeviceDeleted:
		return 1<<fDevice | 1<<fBy, true
	case domain.TypeProtocolSet:
		return 1<<fProtocol | 1<<fBy, true
	}
	return 0, false
}

// fast decodes the hot event types. It returns nil when the payload is not
// in the exact shape domain.Encode writes, or the type is not a hot one.
func (d *Decoder) fast(eventType string, payload []byte) domain.Event {
	mask, ok := allowedKeys(eventType)
	if !ok {
		return nil
	}
	f := &d.f
	if !f.read(payload) || f.seen&^mask != 0 {
		return nil
	}
	s := func(i int) string {
		if f.seen&(1<<i) == 0 {
			return ""
		}
		return d.intern(f.v[i])
	}
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
			Pool: s(fPool), CSS: s(fCSS), Load: s(fLoad), Address: s(fAddress), Window: s(fWindow), Node: s(fNode)}
	case domain.TypeDeviceProvisioned:
		return domain.DeviceProvisioned{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, Model: s(fModel),
			Protocol: domain.Protocol(s(fProtocol)), DN: s(fDN), Partition: s(fPartition), Pool: s(fPool),
			CSS: s(fCSS), Description: s(fDescription), By: s(fBy)}
	case domain.TypeDeviceRegistered:
		return domain.DeviceRegistered{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)},
			Protocol: domain.Protocol(s(fProtocol)), Address: s(fAddress), Node: s(fNode)}
	case domain.TypeDeviceMoved:
		return domain.DeviceMoved{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, From: s(fFrom), To: s(fTo), Node: s(fNode)}
	case domain.TypeDeviceUnregistered:
		return domain.DeviceUnregistered{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)}, Reason: s(fReason)}
	case domain.TypeRegistrationRejected:
		e := domain.RegistrationRejected{DeviceEvent: domain.DeviceEvent{Device: s(fDevice)},
			Reason: domain.RejectReason(s(fReason)), Detail: s(fDetail), Model: s(fModel),
			Protocol: domain.Protocol(s(fProtocol)), Address: s(fAddress), Window: s(fWindow)}
		if f.seen&(1<<fAt) != 0 {
			// What encoding/json does for a time.Time: its UnmarshalJSON
			// on the quoted string.
			if e.At.UnmarshalJSON(f.v[fAt]) != nil {
				return nil
			}
		}
		return e
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
	f.seen = 0 // f.v[i] is meaningful only when bit i is set
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
		if i == fAt {
			v = s.b[s.i-len(v)-2 : s.i] // with its quotes
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
	if s.i < len(s.b) && s.b[s.i] == c { // domain.Encode writes no white space
		s.i++
		return true
	}
	s.skipWS()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plain marks the bytes a string may hold as they are: printable ASCII
// but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string of printable ASCII without escapes and returns its
// contents (a view into the payload).
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start, b := s.i, s.b
	i := start
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	s.i = i + 1
	return b[start:i], true
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
