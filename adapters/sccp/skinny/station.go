package skinny

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// This file holds the messages of the conversation that follows a
// registration: the phone asks for its firmware load, servers, soft keys,
// configuration, forwards, speed dials and the time, reports alarms, and the
// CallManager may reset it. Layouts are those of the basic protocol (header
// version 0, protocol versions below 17), as Wireshark's Skinny dissector and
// chan-sccp's sccp_protocol.h define them.

// Field sizes and counts of the conversation's messages.
const (
	versionLen     = 16 // VersionMessage.version
	serverNameLen  = 48 // ServerResMessage.server[].ServerName
	softKeyLblLen  = 16 // softKeyLabel
	alarmTextLen   = 80 // AlarmMessage.text
	configNameLen  = 40 // ConfigStatMessage.userName and serverName
	softKeySetKeys = 16 // keys per soft key set

	// MaxServers is the number of CallManagers a ServerRes holds.
	MaxServers = 5
	// MaxSoftKeys is the number of soft keys a SoftKeyTemplateRes holds.
	MaxSoftKeys = 32
	// MaxSoftKeySets is the number of soft key sets a SoftKeySetRes holds.
	MaxSoftKeySets = 16

	// Body lengths of the fixed-size messages.
	versionBodyLen       = versionLen
	serverResBodyLen     = MaxServers * (serverNameLen + 4 + 4)
	configStatBodyLen    = deviceNameLen + 4 + 4 + configNameLen + configNameLen + 4 + 4
	defineTimeDateLen    = 9 * 4
	forwardStatBodyLen   = 3*4 + dirNumberLen + 4 + dirNumberLen + 4 + dirNumberLen
	speedDialStatBodyLen = 4 + dirNumberLen + displayNameLen
	alarmBodyLen         = 4 + alarmTextLen + 4 + 4
	softKeySize          = softKeyLblLen + 4
	softKeySetSize       = softKeySetKeys + 2*softKeySetKeys
	softKeyTemplateLen   = 12 + MaxSoftKeys*softKeySize
	softKeySetResLen     = 12 + MaxSoftKeySets*softKeySetSize
)

// Requests without a body. Phones send none; Decode ignores any body.

// ConfigStatReq (ConfigStatReqMessage 0x000C, phone → CM) asks for the
// phone's configuration: a ConfigStat answers.
type ConfigStatReq struct{}

func (ConfigStatReq) ID() MessageID                { return ConfigStatReqID }
func (ConfigStatReq) AppendBody(dst []byte) []byte { return dst }

// TimeDateReq (TimeDateReqMessage 0x000D, phone → CM) asks for the date and
// time: a DefineTimeDate answers. It is the last request of a phone's
// start-up.
type TimeDateReq struct{}

func (TimeDateReq) ID() MessageID                { return TimeDateReqID }
func (TimeDateReq) AppendBody(dst []byte) []byte { return dst }

// VersionReq (VersionReqMessage 0x000F, phone → CM) asks for the firmware
// load the phone should run: a Version answers.
type VersionReq struct{}

func (VersionReq) ID() MessageID                { return VersionReqID }
func (VersionReq) AppendBody(dst []byte) []byte { return dst }

// ServerReq (ServerReqMessage 0x0012, phone → CM) asks for the CallManagers
// the phone may register with: a ServerRes answers.
type ServerReq struct{}

func (ServerReq) ID() MessageID                { return ServerReqID }
func (ServerReq) AppendBody(dst []byte) []byte { return dst }

// SoftKeySetReq (SoftKeySetReqMessage 0x0025, phone → CM) asks for the soft
// key sets: a SoftKeySetRes answers.
type SoftKeySetReq struct{}

func (SoftKeySetReq) ID() MessageID                { return SoftKeySetReqID }
func (SoftKeySetReq) AppendBody(dst []byte) []byte { return dst }

// SoftKeyTemplateReq (SoftKeyTemplateReqMessage 0x0028, phone → CM) asks for
// the soft key template: a SoftKeyTemplateRes answers.
type SoftKeyTemplateReq struct{}

func (SoftKeyTemplateReq) ID() MessageID                { return SoftKeyTemplateReqID }
func (SoftKeyTemplateReq) AppendBody(dst []byte) []byte { return dst }

// ForwardStatReq (ForwardStatReqMessage 0x0009, phone → CM) asks for a line's
// call forwards: a ForwardStat answers.
type ForwardStatReq struct {
	LineNumber uint32 // 1 for the first line
}

func (ForwardStatReq) ID() MessageID                  { return ForwardStatReqID }
func (m ForwardStatReq) AppendBody(dst []byte) []byte { return le32(dst, m.LineNumber) }

// SpeedDialStatReq (SpeedDialStatReqMessage 0x000A, phone → CM) asks for a
// speed dial: a SpeedDialStat answers.
type SpeedDialStatReq struct {
	Number uint32 // speedDialNumber: 1 for the first speed dial
}

func (SpeedDialStatReq) ID() MessageID                  { return SpeedDialStatReqID }
func (m SpeedDialStatReq) AppendBody(dst []byte) []byte { return le32(dst, m.Number) }

// RegisterAvailableLines (RegisterAvailableLinesMessage 0x002D, phone → CM)
// tells how many lines the phone can show. Nothing answers it.
type RegisterAvailableLines struct {
	MaxLines uint32 // maxNumOfAvailLines
}

func (RegisterAvailableLines) ID() MessageID                  { return RegisterAvailableLinesID }
func (m RegisterAvailableLines) AppendBody(dst []byte) []byte { return le32(dst, m.MaxLines) }

// AlarmSeverity is an Alarm's severity.
type AlarmSeverity uint32

// Alarm severities (Wireshark's DeviceAlarmSeverity).
const (
	AlarmCritical      AlarmSeverity = 0
	AlarmWarning       AlarmSeverity = 1
	AlarmInformational AlarmSeverity = 2
	AlarmUnknown       AlarmSeverity = 4
	AlarmMajor         AlarmSeverity = 7
	AlarmMinor         AlarmSeverity = 8
	AlarmMarginal      AlarmSeverity = 10
	AlarmTraceInfo     AlarmSeverity = 20
)

var alarmSeverityNames = map[AlarmSeverity]string{
	AlarmCritical:      "Critical",
	AlarmWarning:       "Warning",
	AlarmInformational: "Informational",
	AlarmUnknown:       "Unknown",
	AlarmMajor:         "Major",
	AlarmMinor:         "Minor",
	AlarmMarginal:      "Marginal",
	AlarmTraceInfo:     "TraceInfo",
}

func (s AlarmSeverity) String() string {
	if n, ok := alarmSeverityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("AlarmSeverity(%d)", uint32(s))
}

// Problem reports whether the severity says something went wrong (Critical,
// Major, Minor, Marginal, Warning) rather than informs.
func (s AlarmSeverity) Problem() bool {
	switch s {
	case AlarmCritical, AlarmMajor, AlarmMinor, AlarmMarginal, AlarmWarning:
		return true
	}
	return false
}

// Alarm (AlarmMessage 0x0020, phone → CM) reports an event: at start-up a
// phone tells its name, load and why it last restarted ("Name=SEP... Load=...
// Last=Reset-Reset").
//
// Decoding needs the severity; the text and parameters are read as far as
// the body holds them. Encoding writes the whole 92-byte body.
type Alarm struct {
	Severity AlarmSeverity
	Text     string // at most 79 bytes are sent, in an 80-byte field
	Param1   uint32
	Param2   uint32
}

func (Alarm) ID() MessageID { return AlarmID }

func (m Alarm) AppendBody(dst []byte) []byte {
	dst = le32(dst, uint32(m.Severity))
	dst = appendString(dst, m.Text, alarmTextLen, true)
	dst = le32(dst, m.Param1)
	return le32(dst, m.Param2)
}

func decodeAlarm(d *decoder) Alarm {
	var m Alarm
	d.need(4)
	if d.short {
		return m
	}
	m.Severity = AlarmSeverity(d.u32())
	m.Text = d.str(min(d.rem(), alarmTextLen))
	if d.rem() >= 4 {
		m.Param1 = d.u32()
	}
	if d.rem() >= 4 {
		m.Param2 = d.u32()
	}
	return m
}

// Version (VersionMessage 0x0098, CM → phone) names the firmware load the
// phone should run: its model's load in Device Defaults.
type Version struct {
	// Load is the load name; the field holds 16 bytes, of which at most
	// 15 are sent (a longer name is cut).
	Load string
}

func (Version) ID() MessageID { return VersionID }

func (m Version) AppendBody(dst []byte) []byte {
	return appendString(dst, m.Load, versionLen, true)
}

// VersionFits reports whether a load name travels whole in a Version.
func VersionFits(load string) bool { return len(load) < versionLen }

// ServerInfo is one CallManager of a ServerRes.
type ServerInfo struct {
	Name string     // ServerName: at most 47 bytes are sent
	Addr netip.Addr // IPv4 address; the zero Addr encodes as 0.0.0.0
	Port uint32     // serverTcpListenPort: the SCCP port, usually 2000
}

func (s ServerInfo) empty() bool {
	return s.Name == "" && s.Port == 0 && (!s.Addr.IsValid() || s.Addr == netip.IPv4Unspecified())
}

// ServerRes (ServerResMessage 0x009E, CM → phone) lists the CallManagers the
// phone may register with, in order of preference. The body always holds
// MaxServers slots (names, then ports, then addresses); unused ones are
// zero. Decoding keeps the slots up to the last used one.
type ServerRes struct {
	Servers []ServerInfo // at most MaxServers are sent
}

func (ServerRes) ID() MessageID { return ServerResID }

func (m ServerRes) AppendBody(dst []byte) []byte {
	servers := m.Servers[:min(len(m.Servers), MaxServers)]
	slot := func(i int) ServerInfo {
		if i < len(servers) {
			return servers[i]
		}
		return ServerInfo{}
	}
	for i := range MaxServers {
		dst = appendString(dst, slot(i).Name, serverNameLen, true)
	}
	for i := range MaxServers {
		dst = le32(dst, slot(i).Port)
	}
	for i := range MaxServers {
		dst = appendIPv4(dst, slot(i).Addr)
	}
	return dst
}

func decodeServerRes(d *decoder) ServerRes {
	var m ServerRes
	d.need(serverResBodyLen)
	if d.short {
		return m
	}
	var s [MaxServers]ServerInfo
	for i := range s {
		s[i].Name = d.str(serverNameLen)
	}
	for i := range s {
		s[i].Port = d.u32()
	}
	for i := range s {
		s[i].Addr = d.ipv4()
	}
	n := MaxServers
	for n > 0 && s[n-1].empty() {
		n--
	}
	if n > 0 {
		m.Servers = append([]ServerInfo(nil), s[:n]...)
	}
	return m
}

// ResetType is what a Reset asks of the phone.
type ResetType uint32

// Reset types.
const (
	ResetReset       ResetType = 1 // power-cycle: the phone reboots and fetches its configuration
	ResetRestart     ResetType = 2 // re-register without rebooting
	ResetApplyConfig ResetType = 3 // apply a changed configuration (newer firmware)
)

func (t ResetType) String() string {
	switch t {
	case ResetReset:
		return "RESET"
	case ResetRestart:
		return "RESTART"
	case ResetApplyConfig:
		return "APPLY_CONFIG"
	}
	return fmt.Sprintf("ResetType(%d)", uint32(t))
}

// Reset (Reset 0x009F, CM → phone) resets or restarts the phone.
type Reset struct {
	Type ResetType
}

func (Reset) ID() MessageID                  { return ResetID }
func (m Reset) AppendBody(dst []byte) []byte { return le32(dst, uint32(m.Type)) }

// ConfigStat (ConfigStatMessage 0x0093, CM → phone) answers a ConfigStatReq
// with the phone's station id, user and server names, and how many lines
// and speed dials it has.
type ConfigStat struct {
	DeviceName string // 16 bytes
	UserID     uint32 // the station id's second word (Wireshark: reserved_for_future_use)
	Instance   uint32
	UserName   string // 40 bytes
	ServerName string // 40 bytes
	Lines      uint32 // numberOfLines
	SpeedDials uint32 // numberOfSpeedDials
}

func (ConfigStat) ID() MessageID { return ConfigStatID }

func (m ConfigStat) AppendBody(dst []byte) []byte {
	dst = appendString(dst, m.DeviceName, deviceNameLen, true)
	dst = le32(dst, m.UserID)
	dst = le32(dst, m.Instance)
	dst = appendString(dst, m.UserName, configNameLen, true)
	dst = appendString(dst, m.ServerName, configNameLen, true)
	dst = le32(dst, m.Lines)
	return le32(dst, m.SpeedDials)
}

func decodeConfigStat(d *decoder) ConfigStat {
	var m ConfigStat
	d.need(configStatBodyLen)
	if d.short {
		return m
	}
	m.DeviceName = d.str(deviceNameLen)
	m.UserID = d.u32()
	m.Instance = d.u32()
	m.UserName = d.str(configNameLen)
	m.ServerName = d.str(configNameLen)
	m.Lines = d.u32()
	m.SpeedDials = d.u32()
	return m
}

// DefineTimeDate (DefineTimeDate 0x0094, CM → phone) sets the phone's clock:
// the date and time of day as the phone shows them (its time zone's), and
// the UTC time in seconds since 1970.
type DefineTimeDate struct {
	Year, Month, DayOfWeek, Day       uint32 // month 1-12, day of week 0 (Sunday)-6
	Hour, Minute, Second, Millisecond uint32
	SystemTime                        uint32 // seconds since 1970-01-01 UTC
}

// TimeDateOf is the DefineTimeDate for t, shown in t's location.
func TimeDateOf(t time.Time) DefineTimeDate {
	return DefineTimeDate{
		Year:        uint32(t.Year()),
		Month:       uint32(t.Month()),
		DayOfWeek:   uint32(t.Weekday()),
		Day:         uint32(t.Day()),
		Hour:        uint32(t.Hour()),
		Minute:      uint32(t.Minute()),
		Second:      uint32(t.Second()),
		Millisecond: uint32(t.Nanosecond() / int(time.Millisecond)),
		SystemTime:  uint32(t.Unix()),
	}
}

// Time is the instant SystemTime gives.
func (m DefineTimeDate) Time() time.Time { return time.Unix(int64(m.SystemTime), 0).UTC() }

func (DefineTimeDate) ID() MessageID { return DefineTimeDateID }

func (m DefineTimeDate) AppendBody(dst []byte) []byte {
	for _, v := range [...]uint32{m.Year, m.Month, m.DayOfWeek, m.Day, m.Hour, m.Minute, m.Second,
		m.Millisecond, m.SystemTime} {
		dst = le32(dst, v)
	}
	return dst
}

func decodeDefineTimeDate(d *decoder) DefineTimeDate {
	var m DefineTimeDate
	d.need(defineTimeDateLen)
	if d.short {
		return m
	}
	for _, p := range [...]*uint32{&m.Year, &m.Month, &m.DayOfWeek, &m.Day, &m.Hour, &m.Minute, &m.Second,
		&m.Millisecond, &m.SystemTime} {
		*p = d.u32()
	}
	return m
}

// ForwardStat (ForwardStatMessage 0x0090, CM → phone) gives a line's call
// forwards. A line with no forward gets zeros but its line number.
type ForwardStat struct {
	ActiveForward         uint32 // non-zero when any forward is active
	LineNumber            uint32
	ForwardAllActive      uint32
	ForwardAllNumber      string // 24 bytes
	ForwardBusyActive     uint32
	ForwardBusyNumber     string // 24 bytes
	ForwardNoAnswerActive uint32
	ForwardNoAnswerNumber string // 24 bytes
}

func (ForwardStat) ID() MessageID { return ForwardStatID }

func (m ForwardStat) AppendBody(dst []byte) []byte {
	dst = le32(dst, m.ActiveForward)
	dst = le32(dst, m.LineNumber)
	dst = le32(dst, m.ForwardAllActive)
	dst = appendString(dst, m.ForwardAllNumber, dirNumberLen, true)
	dst = le32(dst, m.ForwardBusyActive)
	dst = appendString(dst, m.ForwardBusyNumber, dirNumberLen, true)
	dst = le32(dst, m.ForwardNoAnswerActive)
	return appendString(dst, m.ForwardNoAnswerNumber, dirNumberLen, true)
}

func decodeForwardStat(d *decoder) ForwardStat {
	var m ForwardStat
	d.need(forwardStatBodyLen)
	if d.short {
		return m
	}
	m.ActiveForward = d.u32()
	m.LineNumber = d.u32()
	m.ForwardAllActive = d.u32()
	m.ForwardAllNumber = d.str(dirNumberLen)
	m.ForwardBusyActive = d.u32()
	m.ForwardBusyNumber = d.str(dirNumberLen)
	m.ForwardNoAnswerActive = d.u32()
	m.ForwardNoAnswerNumber = d.str(dirNumberLen)
	return m
}

// SpeedDialStat (SpeedDialStatMessage 0x0091, CM → phone) gives a speed
// dial's number and label; an unknown speed dial gets empty ones.
type SpeedDialStat struct {
	Number      uint32 // speedDialNumber, as asked
	DirNumber   string // 24 bytes
	DisplayName string // 40 bytes
}

func (SpeedDialStat) ID() MessageID { return SpeedDialStatID }

func (m SpeedDialStat) AppendBody(dst []byte) []byte {
	dst = le32(dst, m.Number)
	dst = appendString(dst, m.DirNumber, dirNumberLen, true)
	return appendString(dst, m.DisplayName, displayNameLen, true)
}

func decodeSpeedDialStat(d *decoder) SpeedDialStat {
	var m SpeedDialStat
	d.need(speedDialStatBodyLen)
	if d.short {
		return m
	}
	m.Number = d.u32()
	m.DirNumber = d.str(dirNumberLen)
	m.DisplayName = d.str(displayNameLen)
	return m
}

// SoftKeyLabel is the label of a soft key the phone names itself, in its
// own language: "\x80" then the label's number (1 Redial, 2 NewCall ...),
// as CallManager sends them.
func SoftKeyLabel(label uint8) string { return string([]byte{0x80, label}) }

// Soft key events, which are also the numbers of their built-in labels
// (Wireshark's SoftKeyEvent).
const (
	SoftKeyRedial       uint32 = 1
	SoftKeyNewCall      uint32 = 2
	SoftKeyHold         uint32 = 3
	SoftKeyTransfer     uint32 = 4
	SoftKeyCfwdAll      uint32 = 5
	SoftKeyCfwdBusy     uint32 = 6
	SoftKeyCfwdNoAnswer uint32 = 7
	SoftKeyBackSpace    uint32 = 8
	SoftKeyEndCall      uint32 = 9
	SoftKeyResume       uint32 = 10
	SoftKeyAnswer       uint32 = 11
	SoftKeyInfo         uint32 = 12
	SoftKeyConfrn       uint32 = 13
	SoftKeyPark         uint32 = 14
	SoftKeyJoin         uint32 = 15
	SoftKeyMeetMe       uint32 = 16
	SoftKeyPickUp       uint32 = 17
	SoftKeyGrpPickup    uint32 = 18
)

// SoftKey is one entry of a SoftKeyTemplateRes.
type SoftKey struct {
	Label string // softKeyLabel: a text, or a SoftKeyLabel (16 bytes)
	Event uint32 // softKeyEvent the phone sends when the key is pressed
}

// SoftKeyTemplateRes (SoftKeyTemplateResMessage 0x0108, CM → phone) defines
// the soft keys. The body always holds MaxSoftKeys entries; those past the
// count are zero. Decoding reads the entries the count claims and the body
// holds.
type SoftKeyTemplateRes struct {
	Offset uint32    // softKeyOffset
	Total  uint32    // totalSoftKeyCount; encoding writes len(Keys) when 0
	Keys   []SoftKey // at most MaxSoftKeys; their number is softKeyCount
}

func (SoftKeyTemplateRes) ID() MessageID { return SoftKeyTemplateResID }

func (m SoftKeyTemplateRes) AppendBody(dst []byte) []byte {
	keys := m.Keys[:min(len(m.Keys), MaxSoftKeys)]
	total := m.Total
	if total == 0 {
		total = uint32(len(keys))
	}
	dst = le32(dst, m.Offset)
	dst = le32(dst, uint32(len(keys)))
	dst = le32(dst, total)
	for i := range MaxSoftKeys {
		var k SoftKey
		if i < len(keys) {
			k = keys[i]
		}
		dst = appendString(dst, k.Label, softKeyLblLen, true)
		dst = le32(dst, k.Event)
	}
	return dst
}

func decodeSoftKeyTemplateRes(d *decoder) SoftKeyTemplateRes {
	var m SoftKeyTemplateRes
	d.need(12)
	if d.short {
		return m
	}
	m.Offset = d.u32()
	count := d.u32()
	m.Total = d.u32()
	n := min(uint64(count), MaxSoftKeys, uint64(d.rem()/softKeySize))
	if n > 0 {
		m.Keys = make([]SoftKey, n)
		for i := range m.Keys {
			m.Keys[i].Label = d.str(softKeyLblLen)
			m.Keys[i].Event = d.u32()
		}
	}
	return m
}

// SoftKeySet is one entry of a SoftKeySetRes: the keys shown in one call
// state (0 on hook, 1 connected, 2 on hold, 3 ring in, 4 off hook ...).
type SoftKeySet struct {
	// TemplateIndex lists the keys, left to right, as 1-based indexes into
	// the SoftKeyTemplateRes; 0 is an empty key.
	TemplateIndex [softKeySetKeys]uint8
	// InfoIndex is each key's help text (CallManager: 300 + the key's
	// template index).
	InfoIndex [softKeySetKeys]uint16
}

// SoftKeySetRes (SoftKeySetResMessage 0x0109, CM → phone) defines the soft
// key sets. The body always holds MaxSoftKeySets entries; those past the
// count are zero. Decoding reads the entries the count claims and the body
// holds.
type SoftKeySetRes struct {
	Offset uint32       // softKeySetOffset
	Total  uint32       // totalSoftKeySetCount; encoding writes len(Sets) when 0
	Sets   []SoftKeySet // at most MaxSoftKeySets; their number is softKeySetCount
}

func (SoftKeySetRes) ID() MessageID { return SoftKeySetResID }

func (m SoftKeySetRes) AppendBody(dst []byte) []byte {
	sets := m.Sets[:min(len(m.Sets), MaxSoftKeySets)]
	total := m.Total
	if total == 0 {
		total = uint32(len(sets))
	}
	dst = le32(dst, m.Offset)
	dst = le32(dst, uint32(len(sets)))
	dst = le32(dst, total)
	for i := range MaxSoftKeySets {
		var s SoftKeySet
		if i < len(sets) {
			s = sets[i]
		}
		dst = append(dst, s.TemplateIndex[:]...)
		for _, v := range s.InfoIndex {
			dst = binary.LittleEndian.AppendUint16(dst, v)
		}
	}
	return dst
}

func decodeSoftKeySetRes(d *decoder) SoftKeySetRes {
	var m SoftKeySetRes
	d.need(12)
	if d.short {
		return m
	}
	m.Offset = d.u32()
	count := d.u32()
	m.Total = d.u32()
	n := min(uint64(count), MaxSoftKeySets, uint64(d.rem()/softKeySetSize))
	if n > 0 {
		m.Sets = make([]SoftKeySet, n)
		for i := range m.Sets {
			copy(m.Sets[i].TemplateIndex[:], d.bytes(softKeySetKeys))
			for k := range m.Sets[i].InfoIndex {
				m.Sets[i].InfoIndex[k] = d.u16()
			}
		}
	}
	return m
}
