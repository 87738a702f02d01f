package domain

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Protocol is the signalling protocol a phone registers with.
type Protocol string

const (
	SCCP Protocol = "SCCP"
	SIP  Protocol = "SIP"
)

// ParseProtocol accepts "sip" or "sccp" in any case.
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SCCP", "SKINNY":
		return SCCP, nil
	case "SIP":
		return SIP, nil
	}
	return "", fmt.Errorf("unknown protocol %q: use sip or sccp", s)
}

// Model is one entry of the device catalogue.
type Model struct {
	Name      string     // "7961"
	Product   string     // "Cisco IP Phone 7961"
	Protocols []Protocol // the protocols its firmware speaks
	// SCCPType is the device type code the phone sends in an SCCP
	// RegisterReq (0 when the model has no SCCP firmware).
	SCCPType uint32
}

// Supports reports whether the model speaks p.
func (m Model) Supports(p Protocol) bool {
	for _, q := range m.Protocols {
		if q == p {
			return true
		}
	}
	return false
}

// DualProtocol reports whether the model speaks both SIP and SCCP; such
// models autoregister only with the enterprise parameter's protocol.
func (m Model) DualProtocol() bool { return m.Supports(SIP) && m.Supports(SCCP) }

// catalogue is shipped with the project. SCCP device type codes are those
// Cisco phones send in RegisterReq (as Wireshark's Skinny dissector names them).
var catalogue = []Model{
	{"7902", "Cisco IP Phone 7902", []Protocol{SCCP}, 30008},
	{"7905", "Cisco IP Phone 7905", []Protocol{SCCP, SIP}, 20000},
	{"7906", "Cisco Unified IP Phone 7906", []Protocol{SCCP, SIP}, 369},
	{"7910", "Cisco IP Phone 7910", []Protocol{SCCP}, 6},
	{"7911", "Cisco Unified IP Phone 7911", []Protocol{SCCP, SIP}, 307},
	{"7912", "Cisco IP Phone 7912", []Protocol{SCCP, SIP}, 30007},
	{"7920", "Cisco Wireless IP Phone 7920", []Protocol{SCCP}, 30002},
	{"7935", "Cisco IP Conference Station 7935", []Protocol{SCCP}, 9},
	{"7936", "Cisco IP Conference Station 7936", []Protocol{SCCP}, 30019},
	{"7940", "Cisco IP Phone 7940", []Protocol{SCCP, SIP}, 8},
	{"7941", "Cisco Unified IP Phone 7941", []Protocol{SCCP, SIP}, 115},
	{"7942", "Cisco Unified IP Phone 7942", []Protocol{SCCP, SIP}, 434},
	{"7945", "Cisco Unified IP Phone 7945", []Protocol{SCCP, SIP}, 435},
	{"7960", "Cisco IP Phone 7960", []Protocol{SCCP, SIP}, 7},
	{"7961", "Cisco Unified IP Phone 7961", []Protocol{SCCP, SIP}, 30018},
	{"7962", "Cisco Unified IP Phone 7962", []Protocol{SCCP, SIP}, 404},
	{"7965", "Cisco Unified IP Phone 7965", []Protocol{SCCP, SIP}, 436},
	{"7970", "Cisco Unified IP Phone 7970", []Protocol{SCCP, SIP}, 30006},
	{"7971", "Cisco Unified IP Phone 7971", []Protocol{SCCP, SIP}, 119},
	{"7975", "Cisco Unified IP Phone 7975", []Protocol{SCCP, SIP}, 437},
	{"8961", "Cisco Unified IP Phone 8961", []Protocol{SIP}, 0},
	{"9951", "Cisco Unified IP Phone 9951", []Protocol{SIP}, 0},
	{"9971", "Cisco Unified IP Phone 9971", []Protocol{SIP}, 0},
}

var (
	byName     = map[string]Model{}
	bySCCPType = map[uint32]Model{}
)

func init() {
	for _, m := range catalogue {
		byName[m.Name] = m
		if m.SCCPType != 0 {
			bySCCPType[m.SCCPType] = m
		}
	}
}

// Catalogue returns every model, sorted by name.
func Catalogue() []Model {
	out := make([]Model, len(catalogue))
	copy(out, catalogue)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupModel finds a model by its catalogue name ("7961").
func LookupModel(name string) (Model, bool) {
	m, ok := byName[name]
	return m, ok
}

// ModelBySCCPType finds the model an SCCP device type code stands for.
func ModelBySCCPType(code uint32) (Model, bool) {
	m, ok := bySCCPType[code]
	return m, ok
}

var userAgentModel = regexp.MustCompile(`(?i)\bCisco[-_ ]?(?:CP|IP ?Phone ?|SIPIPPhone)?-?(\d{4})`)

// ModelFromUserAgent extracts the model from a SIP User-Agent such as
// "Cisco-CP7961G/9.4.2" (a 7961). It returns "" when no catalogue model is named.
func ModelFromUserAgent(ua string) string {
	m := userAgentModel.FindStringSubmatch(ua)
	if m == nil {
		return ""
	}
	if _, ok := byName[m[1]]; !ok {
		return ""
	}
	return m[1]
}

var deviceName = regexp.MustCompile(`^SEP[0-9A-F]{12}$`)

// DeviceNameFromMAC turns a MAC in any usual notation (001122AABBCC,
// 00:11:22:aa:bb:cc, 0011.22aa.bbcc) into the device name SEP001122AABBCC.
func DeviceNameFromMAC(mac string) (string, error) {
	s := strings.ToUpper(mac)
	s = strings.NewReplacer(":", "", "-", "", ".", "").Replace(s)
	name := "SEP" + s
	if !deviceName.MatchString(name) {
		return "", fmt.Errorf("%q is not a MAC address (12 hex digits)", mac)
	}
	return name, nil
}

// ValidDeviceName reports whether name is SEP followed by 12 upper-case hex digits.
func ValidDeviceName(name string) bool { return deviceName.MatchString(name) }

// DeviceMAC reads the 48-bit MAC of a valid device name (see
// ValidDeviceName); ok is false for any other string.
func DeviceMAC(name string) (mac uint64, ok bool) {
	if len(name) != 15 || name[:3] != "SEP" {
		return 0, false
	}
	for i := 3; i < 15; i++ {
		c := name[i]
		switch {
		case c >= '0' && c <= '9':
			mac = mac<<4 | uint64(c-'0')
		case c >= 'A' && c <= 'F':
			mac = mac<<4 | uint64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return mac, true
}

// AppendDeviceName appends the name of the device whose MAC is the low 48
// bits of mac: SEP and 12 upper-case hex digits.
func AppendDeviceName(b []byte, mac uint64) []byte {
	const digits = "0123456789ABCDEF"
	b = append(b, "SEP"...)
	for shift := 44; shift >= 0; shift -= 4 {
		b = append(b, digits[mac>>uint(shift)&0xF])
	}
	return b
}

// DeviceNameOfMAC is the name of the device whose MAC is the low 48 bits of mac.
func DeviceNameOfMAC(mac uint64) string {
	var b [15]byte
	return string(AppendDeviceName(b[:0], mac))
}
