// Package pack stores the per-device strings that the registrar holds once
// per device (device names, directory numbers, addresses) as numbers, so
// that the records holding them are free of pointers: smaller, and nothing
// for the garbage collector to scan.
//
// Every form has a fallback for a value that does not pack exactly (a
// device name that is not SEP + 12 upper-case hex digits, a DN that is not
// a digit string, an address that is not an IPv4 address and port as
// netip writes them): the value is kept as a string on the side, and reads
// give back exactly what was stored.
//
// It is the one place of the packing: one coding of a MAC (the domain's
// device name), of a DN (DN), of an IPv4 address and port (Addr,
// AddrPort), and the compact set of DNs in use (DNSet). It imports the
// domain only; the command side, the read side and the SIP adapter use it.
package pack

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/autoreg/autoreg/domain"
)

// Spilled is the packed value of a field whose string is kept on the side
// (see Field). No packed form uses bit 63.
const Spilled uint64 = 1 << 63

// ---- Device names ----------------------------------------------------------

// MAC reads the 48-bit MAC of a device name of the canonical form: SEP
// followed by 12 upper-case hex digits (domain.DeviceMAC).
func MAC(name string) (uint64, bool) { return domain.DeviceMAC(name) }

// DeviceName is the name of the device with MAC mac: SEP + 12 upper-case
// hex digits.
func DeviceName(mac uint64) string { return domain.DeviceNameOfMAC(mac) }

// Names numbers device names: a canonical name (see MAC) is its MAC; any
// other name gets a number of its own, with bit 63 set, kept for the life
// of the Names (such names are not valid device names, so few ever reach
// a read model). The zero Names is ready to use; it is not safe for
// concurrent use.
type Names struct {
	ids   map[string]uint64
	names []string
}

// Key returns name's number, numbering name if it is new.
func (n *Names) Key(name string) uint64 {
	if mac, ok := MAC(name); ok {
		return mac
	}
	if k, ok := n.ids[name]; ok {
		return k
	}
	if n.ids == nil {
		n.ids = make(map[string]uint64)
	}
	k := Spilled | uint64(len(n.names))
	n.names = append(n.names, name)
	n.ids[name] = k
	return k
}

// Lookup returns name's number if it has one.
func (n *Names) Lookup(name string) (uint64, bool) {
	if mac, ok := MAC(name); ok {
		return mac, true
	}
	k, ok := n.ids[name]
	return k, ok
}

// Name returns the name numbered k.
func (n *Names) Name(k uint64) string {
	if k&Spilled == 0 {
		return DeviceName(k)
	}
	if i := k &^ Spilled; i < uint64(len(n.names)) {
		return n.names[i]
	}
	return ""
}

// ---- Directory numbers -----------------------------------------------------

// maxDigits is the longest digit string DN packs: "1" followed by 18
// digits is below 2^61.
const maxDigits = 18

// DN packs a digit string of at most 18 digits (leading zeros kept) as the
// number written "1" followed by its digits; "" is 0.
func DN(s string) (uint64, bool) {
	if s == "" {
		return 0, true
	}
	if len(s) > maxDigits {
		return 0, false
	}
	v := uint64(1)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// DNString is the digit string DN packed as v.
func DNString(v uint64) string {
	if v == 0 {
		return ""
	}
	var b [maxDigits + 1]byte
	i := len(b)
	for ; v >= 10; v /= 10 { // every digit but the leading 1
		i--
		b[i] = byte('0' + v%10)
	}
	return string(b[i:])
}

// ---- Addresses -------------------------------------------------------------

// addrV4 marks a packed IPv4 address and port (bits 0-15 the port, 16-47
// the address).
const addrV4 uint64 = 1 << 48

// Addr packs an IPv4 address and port written as netip writes them
// ("10.0.0.1:5060": no leading zeros); "" is 0.
func Addr(s string) (uint64, bool) {
	if s == "" {
		return 0, true
	}
	var ip uint64
	i := 0
	for part := range 4 {
		n, next, ok := decimal(s, i, 3)
		if !ok || n > 255 {
			return 0, false
		}
		sep := byte('.')
		if part == 3 {
			sep = ':'
		}
		if next >= len(s) || s[next] != sep {
			return 0, false
		}
		ip, i = ip<<8|n, next+1
	}
	port, end, ok := decimal(s, i, 5)
	if !ok || end != len(s) || port > 65535 {
		return 0, false
	}
	return addrV4 | ip<<16 | port, true
}

// decimal reads the number written at s[i:] in at most max digits, without
// a leading zero (but "0"), and returns it and the index after it.
func decimal(s string, i, max int) (n uint64, end int, ok bool) {
	end = i
	for end < len(s) && end-i < max && s[end] >= '0' && s[end] <= '9' {
		n = n*10 + uint64(s[end]-'0')
		end++
	}
	if end == i || end-i > 1 && s[i] == '0' {
		return 0, i, false
	}
	return n, end, true
}

// AddrPort packs an IPv4 address and port (not an IPv4-mapped IPv6 one)
// as Addr packs its text; ok is false for any other.
func AddrPort(p netip.AddrPort) (uint64, bool) {
	if !p.Addr().Is4() {
		return 0, false
	}
	a := p.Addr().As4()
	ip := uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
	return addrV4 | ip<<16 | uint64(p.Port()), true
}

// AddrPortOf is the address AddrPort (or Addr) packed as v; the zero
// AddrPort for 0.
func AddrPortOf(v uint64) netip.AddrPort {
	if v&addrV4 == 0 {
		return netip.AddrPort{}
	}
	return addrPort(v)
}

// AddrString is the address Addr packed as v.
func AddrString(v uint64) string {
	if v&addrV4 == 0 {
		return ""
	}
	return addrPort(v).String()
}

func addrPort(v uint64) netip.AddrPort {
	ip := uint32(v >> 16)
	a := netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
	return netip.AddrPortFrom(a, uint16(v))
}

// ---- Fields ----------------------------------------------------------------

// Kind is a packed form of strings.
type Kind uint8

const (
	// DNs are directory numbers (see DN).
	DNs Kind = iota + 1
	// Addrs are device addresses: an IPv4 address and port (see Addr) with
	// whatever comes before and after it, such as a contact URI
	// "sip:00BE00000001@10.0.0.1:5060;transport=UDP" (see Field.address).
	Addrs
	// Rare are strings usually empty (descriptions, ...): only "" packs.
	Rare
)

// Field is one string field of records keyed as Names keys them, of a
// Kind: a record holds the packed value Set returns, and the strings that
// do not pack are kept here, by record key. It is not safe for concurrent
// use.
type Field struct {
	kind  Kind
	spill map[uint64]string
	forms *Forms // Addrs
}

// NewField returns a Field of kind k.
func NewField(k Kind) Field {
	f := Field{kind: k}
	if k == Addrs {
		f.forms = new(Forms)
	}
	return f
}

// Set returns the value a record keyed key holds for s.
func (f *Field) Set(key uint64, s string) uint64 {
	v, ok := uint64(0), s == ""
	if !ok {
		switch f.kind {
		case DNs:
			v, ok = DN(s)
		case Addrs:
			v, ok = f.forms.Pack(key, s)
		}
	}
	if ok {
		if len(f.spill) > 0 {
			delete(f.spill, key)
		}
		return v
	}
	if f.spill == nil {
		f.spill = make(map[uint64]string)
	}
	f.spill[key] = s
	return Spilled
}

// Get returns the string of the record keyed key holding v.
func (f *Field) Get(key, v uint64) string {
	switch {
	case v == 0:
		return ""
	case v == Spilled:
		return f.spill[key]
	case f.kind == DNs:
		return DNString(v)
	case f.kind == Addrs:
		return f.forms.String(key, v)
	}
	return ""
}

// Drop forgets the spilled string of a record dropped.
func (f *Field) Drop(key uint64) {
	if len(f.spill) > 0 {
		delete(f.spill, key)
	}
}

// Len is the number of strings kept on the side.
func (f *Field) Len() int { return len(f.spill) }

// Forms packs addresses (see Addrs) for records keyed as Names keys them,
// numbering the forms of address met. It is safe for concurrent use; the
// zero Forms is ready to use.
type Forms struct {
	mu    sync.RWMutex
	forms []form // from 1
	ids   map[form]uint64
	last  atomic.Pointer[lastForm] // the form last packed: most are the same
}

type lastForm struct {
	form
	id uint64
}

// A form is what an address holds around its IPv4 address and port:
// pre + user + address + suf, where user is "" or the device's name or
// MAC followed by "@". Forms repeat across devices; at most maxForms are
// kept, any other address is spilled.
type form struct {
	pre, suf string
	user     uint8 // 0: none; userMAC: the 12 hex digits; userName: SEP + them
}

const (
	userMAC = 1 + iota
	userName

	formShift = 48 // an address's form number is in bits 48-62
	maxForms  = 1<<15 - 1
)

// Pack packs s for the record keyed key: its form's number, its IPv4
// address and port (see Addr); ok is false when s does not pack ("" does
// not).
func (f *Forms) Pack(key uint64, s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var fm form
	start := 0
	if at := strings.IndexByte(s, '@'); at >= 0 {
		if key&Spilled != 0 {
			return 0, false // no MAC to stand for the user
		}
		head := s[:at]
		var name [15]byte
		macName(&name, key)
		switch {
		case len(head) >= 15 && head[len(head)-15:] == string(name[:]):
			fm.pre, fm.user = head[:len(head)-15], userName
		case len(head) >= 12 && head[len(head)-12:] == string(name[3:]):
			fm.pre, fm.user = head[:len(head)-12], userMAC
		default:
			return 0, false
		}
		start = at + 1
	} else if s[0] < '0' || s[0] > '9' {
		start = strings.IndexByte(s, ':') + 1 // after the scheme
		fm.pre = s[:start]
	}
	end := start
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.' || s[end] == ':') {
		end++
	}
	ap, ok := Addr(s[start:end])
	if !ok || ap == 0 {
		return 0, false
	}
	fm.suf = s[end:]
	if l := f.last.Load(); l != nil && l.form == fm {
		return l.id<<formShift | ap&(1<<formShift-1), true
	}
	id, ok := f.number(fm)
	if !ok {
		return 0, false
	}
	return id<<formShift | ap&(1<<formShift-1), true
}

// number returns fm's number, numbering it if it is new and the forms are
// not too many already.
func (f *Forms) number(fm form) (uint64, bool) {
	f.mu.RLock()
	id, ok := f.ids[fm]
	if ok {
		fm = f.forms[id]
	}
	f.mu.RUnlock()
	if !ok {
		f.mu.Lock()
		defer f.mu.Unlock()
		if id, ok = f.ids[fm]; !ok {
			if len(f.forms) > maxForms {
				return 0, false
			}
			if f.ids == nil {
				f.ids = make(map[form]uint64)
				f.forms = []form{{}}
			}
			// The table keeps its own copy: s may be part of a larger
			// string, or of a buffer that its owner reuses.
			fm.pre, fm.suf = strings.Clone(fm.pre), strings.Clone(fm.suf)
			id = uint64(len(f.forms))
			f.forms = append(f.forms, fm)
			f.ids[fm] = id
		} else {
			fm = f.forms[id]
		}
	}
	f.last.Store(&lastForm{fm, id})
	return id, true
}

// String is the address packed as v for the record keyed key.
func (f *Forms) String(key, v uint64) string {
	var buf [96]byte
	return string(f.AppendTo(buf[:0], key, v))
}

// AppendTo appends the address packed as v for the record keyed key to b.
func (f *Forms) AppendTo(b []byte, key, v uint64) []byte {
	id := v >> formShift
	f.mu.RLock()
	if id == 0 || id >= uint64(len(f.forms)) {
		f.mu.RUnlock()
		return b
	}
	fm := f.forms[id]
	f.mu.RUnlock()
	b = append(b, fm.pre...)
	var name [15]byte
	macName(&name, key)
	switch fm.user {
	case userName:
		b = append(append(b, name[:]...), '@')
	case userMAC:
		b = append(append(b, name[3:]...), '@')
	}
	b = addrPort(v).AppendTo(b)
	return append(b, fm.suf...)
}

// macName writes the device name of mac into b.
func macName(b *[15]byte, mac uint64) { domain.AppendDeviceName(b[:0], mac) }
