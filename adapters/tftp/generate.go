package tftp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// The names the Generator answers (matched regardless of case).
const (
	// DefaultConfigName is the file a phone asks for when the server has
	// no SEP<MAC>.cnf.xml for it: an unknown phone on its way to
	// autoregistration.
	DefaultConfigName  = "XmlDefault.cnf.xml"
	deviceConfigSuffix = ".cnf.xml"
)

// Defaults for the zero fields of Settings and CallManager.
const (
	DefaultSCCPPort         = 2000
	DefaultSIPPort          = 5060
	DefaultSecuredSIPPort   = 5061
	DefaultDevicePool       = "Default"
	DefaultCallManagerGroup = "Default"
	DefaultDateTimeName     = "CMLocal"
	DefaultDateTemplate     = "M/D/Y"
	DefaultTimeZone         = "Greenwich Standard Time"
	// DefaultRegisterDelta is how long before its registration expires a
	// SIP phone registers again (sipStack timerRegisterDelta).
	DefaultRegisterDelta = 5 * time.Second
)

// CallManager is one member of the CallManager group phones are given.
type CallManager struct {
	// Host is where phones reach this CallManager (processNodeName): an IP
	// address or a name they can resolve. Required.
	Host string
	// Name is the CallManager's name (<name>); default Host.
	Name string
	// SCCPPort is the Skinny port (ethernetPhonePort); default 2000.
	SCCPPort int
	// SIPPort and SecuredSIPPort are the SIP ports (sipPort,
	// securedSipPort); default 5060 and 5061.
	SIPPort, SecuredSIPPort int
}

// DateTime is the device pool's date/time group.
type DateTime struct {
	Name         string   // default "CMLocal"
	DateTemplate string   // default "M/D/Y"
	TimeZone     string   // a Windows time zone name as Cisco firmware knows them; default "Greenwich Standard Time"
	NTPServers   []string // unicast NTP servers, none by default
}

// Load is one Device Defaults entry: the firmware a model runs with a
// protocol, as named in the files under tftp.files_dir (without the
// ".loads" or ".bin" extension), e.g. "SCCP41.9-4-2SR3-1S".
type Load struct {
	Model    string // catalogue name, "7961"
	Protocol domain.Protocol
	Name     string
}

// Settings are the inputs the generated files share: the registrar fills
// them from its configuration.
type Settings struct {
	// CallManagers is the autoregistration CallManager group, highest
	// priority first (priority 0, 1, ...). At least one.
	CallManagers []CallManager
	// DevicePool and CallManagerGroup name the pool and the group; default
	// "Default".
	DevicePool, CallManagerGroup string
	DateTime                     DateTime
	// Loads are the Device Defaults: the load each model runs for each
	// protocol. A model without one gets an empty <loadInformation>: it
	// keeps the firmware it has.
	Loads []Load
	// AutoRegistrationProtocol is the protocol dual-protocol models
	// autoregister with (the enterprise parameter): it chooses which load
	// XmlDefault.cnf.xml gives them. Default SCCP.
	AutoRegistrationProtocol domain.Protocol
	// MinExpires and MaxExpires are the SIP registrar's bounds on a
	// registration's expiry. Required for SIP phones' files.
	MinExpires, MaxExpires time.Duration
	// RegisterExpires is the expiry SIP phones ask for (timerRegisterExpires);
	// default MaxExpires. It must lie within [MinExpires, MaxExpires] and
	// above DefaultRegisterDelta, so the registrar neither answers 423 nor
	// shortens it.
	RegisterExpires time.Duration
}

// Device is what SEP<MAC>.cnf.xml says of one known device.
type Device struct {
	Name     string          // SEP<MAC>, upper-case hex
	Model    string          // catalogue name, "7961"
	Protocol domain.Protocol // SCCP or SIP
	DN       string          // directory number of line 1 ("" for none)
	// AuthName and AuthPassword are the SIP digest credentials of line 1
	// ("" for none).
	AuthName, AuthPassword string
}

// Devices is what the Generator asks the registrar: the device a name
// stands for. ok is false for a device the registrar does not know (the
// phone then gets "file not found" for SEP<MAC>.cnf.xml and asks for
// XmlDefault.cnf.xml). name is SEP and 12 upper-case hex digits.
type Devices interface {
	Device(ctx context.Context, name string) (d Device, ok bool, err error)
}

// DevicesFunc lets a function be Devices.
type DevicesFunc func(ctx context.Context, name string) (Device, bool, error)

func (f DevicesFunc) Device(ctx context.Context, name string) (Device, bool, error) {
	return f(ctx, name)
}

// Generator is the Files that makes the configuration files at request time,
// in memory: SEP<MAC>.cnf.xml for every device Devices knows, and
// XmlDefault.cnf.xml. Any other name is "no such file" (use Chain to fall
// back to a folder).
type Generator struct {
	settings   Settings
	devices    Devices
	xmlDefault []byte
}

// NewGenerator checks s, fills its defaults, and makes XmlDefault.cnf.xml
// once. devices may be nil: no SEP<MAC>.cnf.xml is then generated.
func NewGenerator(s Settings, devices Devices) (*Generator, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Generator{settings: s, devices: devices}
	if g.xmlDefault, err = g.defaultConfig(); err != nil {
		return nil, err
	}
	return g, nil
}

func (s Settings) withDefaults() (Settings, error) {
	if len(s.CallManagers) == 0 {
		return s, errors.New("tftp: Settings.CallManagers: at least one CallManager is needed")
	}
	cms := make([]CallManager, len(s.CallManagers))
	for i, cm := range s.CallManagers {
		if strings.TrimSpace(cm.Host) == "" {
			return s, fmt.Errorf("tftp: Settings.CallManagers[%d]: no Host", i)
		}
		cm.Name = cmp(cm.Name, cm.Host)
		cm.SCCPPort = cmpInt(cm.SCCPPort, DefaultSCCPPort)
		cm.SIPPort = cmpInt(cm.SIPPort, DefaultSIPPort)
		cm.SecuredSIPPort = cmpInt(cm.SecuredSIPPort, DefaultSecuredSIPPort)
		for _, p := range []int{cm.SCCPPort, cm.SIPPort, cm.SecuredSIPPort} {
			if p < 1 || p > 65535 {
				return s, fmt.Errorf("tftp: Settings.CallManagers[%d]: port %d out of range", i, p)
			}
		}
		cms[i] = cm
	}
	s.CallManagers = cms
	s.DevicePool = cmp(s.DevicePool, DefaultDevicePool)
	s.CallManagerGroup = cmp(s.CallManagerGroup, DefaultCallManagerGroup)
	s.DateTime.Name = cmp(s.DateTime.Name, DefaultDateTimeName)
	s.DateTime.DateTemplate = cmp(s.DateTime.DateTemplate, DefaultDateTemplate)
	s.DateTime.TimeZone = cmp(s.DateTime.TimeZone, DefaultTimeZone)
	if s.AutoRegistrationProtocol == "" {
		s.AutoRegistrationProtocol = domain.SCCP
	}
	if s.AutoRegistrationProtocol != domain.SCCP && s.AutoRegistrationProtocol != domain.SIP {
		return s, fmt.Errorf("tftp: Settings.AutoRegistrationProtocol %q: SCCP or SIP", s.AutoRegistrationProtocol)
	}
	seen := map[[2]string]bool{}
	for i, l := range s.Loads {
		m, ok := domain.LookupModel(l.Model)
		if !ok {
			return s, fmt.Errorf("tftp: Settings.Loads[%d]: model %q is not in the catalogue", i, l.Model)
		}
		if !m.Supports(l.Protocol) {
			return s, fmt.Errorf("tftp: Settings.Loads[%d]: the %s does not run %q", i, m.Product, l.Protocol)
		}
		k := [2]string{l.Model, string(l.Protocol)}
		if seen[k] {
			return s, fmt.Errorf("tftp: Settings.Loads[%d]: a second load for the %s over %s", i, l.Model, l.Protocol)
		}
		seen[k] = true
	}
	if s.MinExpires <= 0 || s.MaxExpires < s.MinExpires {
		return s, fmt.Errorf("tftp: Settings: MinExpires %v and MaxExpires %v: both positive, min <= max", s.MinExpires, s.MaxExpires)
	}
	if s.RegisterExpires == 0 {
		s.RegisterExpires = s.MaxExpires
	}
	if s.RegisterExpires < s.MinExpires || s.RegisterExpires > s.MaxExpires {
		return s, fmt.Errorf("tftp: Settings.RegisterExpires %v is outside the registrar's [%v, %v]", s.RegisterExpires, s.MinExpires, s.MaxExpires)
	}
	if s.RegisterExpires%time.Second != 0 || s.RegisterExpires <= DefaultRegisterDelta {
		return s, fmt.Errorf("tftp: Settings.RegisterExpires %v: whole seconds, above %v", s.RegisterExpires, DefaultRegisterDelta)
	}
	return s, nil
}

func cmp(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func cmpInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// Open answers SEP<MAC>.cnf.xml and XmlDefault.cnf.xml.
func (g *Generator) Open(ctx context.Context, name string, _ netip.AddrPort) (File, error) {
	if strings.EqualFold(name, DefaultConfigName) {
		return Bytes(g.xmlDefault), nil
	}
	dev, ok := DeviceConfigName(name)
	if !ok || g.devices == nil {
		return nil, fs.ErrNotExist
	}
	d, ok, err := g.devices.Device(ctx, dev)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", dev, err)
	}
	if !ok {
		return nil, fs.ErrNotExist
	}
	d.Name = dev
	b, err := g.DeviceConfig(d)
	if err != nil {
		return nil, err
	}
	return Bytes(b), nil
}

// DeviceConfigName reports whether name is SEP<MAC>.cnf.xml (regardless of
// case) and returns the device name, SEP and 12 upper-case hex digits.
func DeviceConfigName(name string) (device string, ok bool) {
	if len(name) != 15+len(deviceConfigSuffix) || !strings.EqualFold(name[15:], deviceConfigSuffix) {
		return "", false
	}
	dev := strings.ToUpper(name[:15])
	return dev, domain.ValidDeviceName(dev)
}

// DefaultConfig is XmlDefault.cnf.xml: the CallManager group and, for every
// catalogue model with an SCCP device type code N, <loadInformationN> with
// the Device Defaults load of the protocol the model autoregisters with.
// Models without such a code (SIP-only ones) are left out: the catalogue has
// no number for them.
func (g *Generator) DefaultConfig() []byte { return bytes.Clone(g.xmlDefault) }

func (g *Generator) defaultConfig() ([]byte, error) {
	doc := xmlDefault{CallManagerGroup: g.group()}
	for _, m := range domain.Catalogue() {
		if m.SCCPType == 0 {
			continue
		}
		p := g.settings.AutoRegistrationProtocol
		if !m.Supports(p) {
			p = m.Protocols[0]
		}
		doc.Loads = append(doc.Loads, xmlLoad{
			XMLName: xml.Name{Local: fmt.Sprintf("loadInformation%d", m.SCCPType)},
			Model:   "Cisco " + m.Name,
			Load:    g.load(m.Name, p),
		})
	}
	return stamp(&doc, &doc.VersionStamp)
}

// DeviceConfig is SEP<MAC>.cnf.xml for d: its protocol, the device pool
// (date/time, the CallManager group), the Device Defaults load for its
// model and protocol and, for SIP phones, the SIP profile with line 1 and
// the registration timers. Its versionStamp is a hash of everything else
// in the file: it changes when anything in the file changes.
func (g *Generator) DeviceConfig(d Device) ([]byte, error) {
	if !domain.ValidDeviceName(d.Name) {
		return nil, fmt.Errorf("tftp: device name %q is not SEP and 12 upper-case hex digits", d.Name)
	}
	if d.Protocol != domain.SCCP && d.Protocol != domain.SIP {
		return nil, fmt.Errorf("tftp: device %s: protocol %q: SCCP or SIP", d.Name, d.Protocol)
	}
	s := &g.settings
	doc := xmlDevice{
		FullConfig:     true,
		DeviceProtocol: string(d.Protocol),
		DevicePool: xmlDevicePool{
			Name: s.DevicePool,
			DateTimeSetting: xmlDateTime{
				Name:         s.DateTime.Name,
				DateTemplate: s.DateTime.DateTemplate,
				TimeZone:     s.DateTime.TimeZone,
			},
			CallManagerGroup: g.group(),
		},
		LoadInformation: g.load(d.Model, d.Protocol),
	}
	if len(s.DateTime.NTPServers) > 0 {
		ntps := &xmlNTPs{}
		for _, n := range s.DateTime.NTPServers {
			ntps.NTP = append(ntps.NTP, xmlNTP{Name: n, Mode: "Unicast"})
		}
		doc.DevicePool.DateTimeSetting.NTPs = ntps
	}
	if d.Protocol == domain.SIP {
		p := &xmlSIPProfile{
			SIPStack: xmlSIPStack{
				SIPInviteRetx:         6,
				SIPRetx:               10,
				TimerInviteExpires:    180,
				TimerRegisterExpires:  int(s.RegisterExpires / time.Second),
				TimerRegisterDelta:    int(DefaultRegisterDelta / time.Second),
				TimerKeepAliveExpires: 120,
				TimerSubscribeExpires: 120,
				TimerSubscribeDelta:   5,
				TimerT1:               500,
				TimerT2:               4000,
				MaxRedirects:          70,
				UserInfo:              "None",
			},
			PhoneLabel:      d.DN,
			VoIPControlPort: s.CallManagers[0].SIPPort,
		}
		p.SIPProxies.RegisterWithProxy = true
		if d.DN != "" {
			p.SIPLines = []xmlLine{{
				Button:       1,
				FeatureID:    9, // a line appearance
				FeatureLabel: d.DN,
				Proxy:        "USECALLMANAGER",
				Port:         s.CallManagers[0].SIPPort,
				Name:         d.DN,
				DisplayName:  d.DN,
				Contact:      d.DN,
				AuthName:     d.AuthName,
				AuthPassword: d.AuthPassword,
			}}
		}
		doc.SIPProfile = p
	}
	return stamp(&doc, &doc.VersionStamp)
}

func (g *Generator) group() xmlCMGroup {
	grp := xmlCMGroup{Name: g.settings.CallManagerGroup, TFTPDefault: true}
	for i, cm := range g.settings.CallManagers {
		grp.Members = append(grp.Members, xmlMember{
			Priority: i,
			CallManager: xmlCallManager{
				Name: cm.Name,
				Ports: xmlPorts{
					EthernetPhonePort: cm.SCCPPort,
					SIPPort:           cm.SIPPort,
					SecuredSIPPort:    cm.SecuredSIPPort,
				},
				ProcessNodeName: cm.Host,
			},
		})
	}
	return grp
}

func (g *Generator) load(model string, p domain.Protocol) string {
	for _, l := range g.settings.Loads {
		if l.Model == model && l.Protocol == p {
			return l.Name
		}
	}
	return ""
}

// stampPlaceholder holds the versionStamp's place while the rest is hashed:
// as long as the stamp itself.
const stampPlaceholder = "................"

// stamp marshals doc with *field set to a placeholder, hashes the result,
// and writes the first 16 hex digits of its SHA-256 in the placeholder's
// place: the stamp covers every other byte of the file.
func stamp(doc any, field *string) ([]byte, error) {
	*field = stampPlaceholder
	body, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tftp: marshal: %w", err)
	}
	out := make([]byte, 0, len(xml.Header)+len(body)+1)
	out = append(out, xml.Header...)
	out = append(out, body...)
	out = append(out, '\n')
	sum := sha256.Sum256(out)
	at := bytes.LastIndex(out, []byte(">"+stampPlaceholder+"<"))
	if at < 0 {
		return nil, errors.New("tftp: marshal: versionStamp not found")
	}
	hex.Encode(out[at+1:at+1+len(stampPlaceholder)], sum[:len(stampPlaceholder)/2])
	*field = string(out[at+1 : at+1+len(stampPlaceholder)])
	return out, nil
}

// The XML documents. Element names and nesting follow CallManager's files.

type xmlDevice struct {
	XMLName         xml.Name       `xml:"device"`
	FullConfig      bool           `xml:"fullConfig"`
	DeviceProtocol  string         `xml:"deviceProtocol"`
	DevicePool      xmlDevicePool  `xml:"devicePool"`
	SIPProfile      *xmlSIPProfile `xml:"sipProfile,omitempty"`
	LoadInformation string         `xml:"loadInformation"`
	VersionStamp    string         `xml:"versionStamp"`
}

type xmlDevicePool struct {
	Name             string      `xml:"name"`
	DateTimeSetting  xmlDateTime `xml:"dateTimeSetting"`
	CallManagerGroup xmlCMGroup  `xml:"callManagerGroup"`
}

type xmlDateTime struct {
	Name         string   `xml:"name"`
	DateTemplate string   `xml:"dateTemplate"`
	TimeZone     string   `xml:"timeZone"`
	NTPs         *xmlNTPs `xml:"ntps,omitempty"`
}

type xmlNTPs struct {
	NTP []xmlNTP `xml:"ntp"`
}

type xmlNTP struct {
	Name string `xml:"name"`
	Mode string `xml:"ntpMode"`
}

type xmlCMGroup struct {
	Name        string      `xml:"name"`
	TFTPDefault bool        `xml:"tftpDefault"`
	Members     []xmlMember `xml:"members>member"`
}

type xmlMember struct {
	Priority    int            `xml:"priority,attr"`
	CallManager xmlCallManager `xml:"callManager"`
}

type xmlCallManager struct {
	Name            string   `xml:"name"`
	Ports           xmlPorts `xml:"ports"`
	ProcessNodeName string   `xml:"processNodeName"`
}

type xmlPorts struct {
	EthernetPhonePort int `xml:"ethernetPhonePort"`
	SIPPort           int `xml:"sipPort"`
	SecuredSIPPort    int `xml:"securedSipPort"`
}

type xmlSIPProfile struct {
	SIPProxies struct {
		RegisterWithProxy bool `xml:"registerWithProxy"`
	} `xml:"sipProxies"`
	SIPStack        xmlSIPStack `xml:"sipStack"`
	PhoneLabel      string      `xml:"phoneLabel"`
	SIPLines        []xmlLine   `xml:"sipLines>line"`
	VoIPControlPort int         `xml:"voipControlPort"`
}

type xmlSIPStack struct {
	SIPInviteRetx         int    `xml:"sipInviteRetx"`
	SIPRetx               int    `xml:"sipRetx"`
	TimerInviteExpires    int    `xml:"timerInviteExpires"`
	TimerRegisterExpires  int    `xml:"timerRegisterExpires"`
	TimerRegisterDelta    int    `xml:"timerRegisterDelta"`
	TimerKeepAliveExpires int    `xml:"timerKeepAliveExpires"`
	TimerSubscribeExpires int    `xml:"timerSubscribeExpires"`
	TimerSubscribeDelta   int    `xml:"timerSubscribeDelta"`
	TimerT1               int    `xml:"timerT1"`
	TimerT2               int    `xml:"timerT2"`
	MaxRedirects          int    `xml:"maxRedirects"`
	RemotePartyID         bool   `xml:"remotePartyID"`
	UserInfo              string `xml:"userInfo"`
}

type xmlLine struct {
	Button       int    `xml:"button,attr"`
	FeatureID    int    `xml:"featureID"`
	FeatureLabel string `xml:"featureLabel"`
	Proxy        string `xml:"proxy"`
	Port         int    `xml:"port"`
	Name         string `xml:"name"`
	DisplayName  string `xml:"displayName"`
	Contact      string `xml:"contact"`
	AuthName     string `xml:"authName,omitempty"`
	AuthPassword string `xml:"authPassword,omitempty"`
}

type xmlDefault struct {
	XMLName          xml.Name   `xml:"Default"`
	CallManagerGroup xmlCMGroup `xml:"callManagerGroup"`
	Loads            []xmlLoad
	VersionStamp     string `xml:"versionStamp"`
}

// xmlLoad is <loadInformationN model="...">load</loadInformationN>: its
// element name is in XMLName.
type xmlLoad struct {
	XMLName xml.Name
	Model   string `xml:"model,attr"`
	Load    string `xml:",chardata"`
}
