package skinny

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unicode/utf8"
)

// MessageID identifies a Skinny message.
type MessageID uint32

// Message ids, named as Wireshark names the messages.
const (
	KeepAliveID              MessageID = 0x0000 // phone → CM
	RegisterID               MessageID = 0x0001 // phone → CM
	ForwardStatReqID         MessageID = 0x0009 // phone → CM
	SpeedDialStatReqID       MessageID = 0x000A // phone → CM
	LineStatReqID            MessageID = 0x000B // phone → CM
	ConfigStatReqID          MessageID = 0x000C // phone → CM
	TimeDateReqID            MessageID = 0x000D // phone → CM
	ButtonTemplateReqID      MessageID = 0x000E // phone → CM
	VersionReqID             MessageID = 0x000F // phone → CM
	CapabilitiesResID        MessageID = 0x0010 // phone → CM
	ServerReqID              MessageID = 0x0012 // phone → CM
	AlarmID                  MessageID = 0x0020 // phone → CM
	SoftKeySetReqID          MessageID = 0x0025 // phone → CM
	UnregisterID             MessageID = 0x0027 // phone → CM
	SoftKeyTemplateReqID     MessageID = 0x0028 // phone → CM
	RegisterAvailableLinesID MessageID = 0x002D // phone → CM
	RegisterAckID            MessageID = 0x0081 // CM → phone
	ForwardStatID            MessageID = 0x0090 // CM → phone
	SpeedDialStatID          MessageID = 0x0091 // CM → phone
	LineStatResID            MessageID = 0x0092 // CM → phone
	ConfigStatID             MessageID = 0x0093 // CM → phone
	DefineTimeDateID         MessageID = 0x0094 // CM → phone
	ButtonTemplateID         MessageID = 0x0097 // CM → phone
	VersionID                MessageID = 0x0098 // CM → phone
	CapabilitiesReqID        MessageID = 0x009B // CM → phone
	RegisterRejectID         MessageID = 0x009D // CM → phone
	ServerResID              MessageID = 0x009E // CM → phone
	ResetID                  MessageID = 0x009F // CM → phone
	KeepAliveAckID           MessageID = 0x0100 // CM → phone
	SoftKeyTemplateResID     MessageID = 0x0108 // CM → phone
	SoftKeySetResID          MessageID = 0x0109 // CM → phone
	UnregisterAckID          MessageID = 0x0118 // CM → phone
)

var messageNames = map[MessageID]string{
	KeepAliveID:              "KeepAliveMessage",
	RegisterID:               "RegisterMessage",
	ForwardStatReqID:         "ForwardStatReqMessage",
	SpeedDialStatReqID:       "SpeedDialStatReqMessage",
	LineStatReqID:            "LineStatReqMessage",
	ConfigStatReqID:          "ConfigStatReqMessage",
	TimeDateReqID:            "TimeDateReqMessage",
	ButtonTemplateReqID:      "ButtonTemplateReqMessage",
	VersionReqID:             "VersionReqMessage",
	CapabilitiesResID:        "CapabilitiesResMessage",
	ServerReqID:              "ServerReqMessage",
	AlarmID:                  "AlarmMessage",
	SoftKeySetReqID:          "SoftKeySetReqMessage",
	UnregisterID:             "UnregisterMessage",
	SoftKeyTemplateReqID:     "SoftKeyTemplateReqMessage",
	RegisterAvailableLinesID: "RegisterAvailableLinesMessage",
	RegisterAckID:            "RegisterAckMessage",
	ForwardStatID:            "ForwardStatMessage",
	SpeedDialStatID:          "SpeedDialStatMessage",
	LineStatResID:            "LineStatResMessage",
	ConfigStatID:             "ConfigStatMessage",
	DefineTimeDateID:         "DefineTimeDate",
	ButtonTemplateID:         "ButtonTemplateMessage",
	VersionID:                "VersionMessage",
	CapabilitiesReqID:        "CapabilitiesReqMessage",
	RegisterRejectID:         "RegisterRejectMessage",
	ServerResID:              "ServerResMessage",
	ResetID:                  "ResetMessage",
	KeepAliveAckID:           "KeepAliveAckMessage",
	SoftKeyTemplateResID:     "SoftKeyTemplateResMessage",
	SoftKeySetResID:          "SoftKeySetResMessage",
	UnregisterAckID:          "UnregisterAckMessage",
}

// String is the Wireshark name of a known message ("RegisterMessage"), else
// the id in hex.
func (id MessageID) String() string {
	if n, ok := messageNames[id]; ok {
		return n
	}
	return fmt.Sprintf("Message(%#04x)", uint32(id))
}

// Message is a Skinny message body.
type Message interface {
	// ID is the message id the body goes with.
	ID() MessageID
	// AppendBody appends the encoded body to dst.
	AppendBody(dst []byte) []byte
}

// ErrShortBody: a message body is too short for the fields the message
// must have.
var ErrShortBody = errors.New("message body too short")

// Decode decodes the body of a message with the given id. Unknown ids decode
// as Unknown. Bodies longer than the fields this package knows are accepted
// (newer firmware appends fields); bodies too short for a message's required
// fields return an error wrapping ErrShortBody that names the message, the
// body's length and the length it needs. The Message does not share body.
func Decode(id MessageID, body []byte) (Message, error) {
	d := decoder{b: body}
	var m Message
	switch id {
	case KeepAliveID:
		m = KeepAlive{}
	case KeepAliveAckID:
		m = KeepAliveAck{}
	case CapabilitiesReqID:
		m = CapabilitiesReq{}
	case ButtonTemplateReqID:
		m = ButtonTemplateReq{}
	case RegisterID:
		m = decodeRegister(&d)
	case UnregisterID:
		var u Unregister
		if d.rem() >= 4 {
			u.ReasonCode = d.u32()
		}
		m = u
	case LineStatReqID:
		d.need(4)
		m = LineStatReq{LineNumber: d.u32()}
	case CapabilitiesResID:
		m = decodeCapabilitiesRes(&d)
	case RegisterAckID:
		m = decodeRegisterAck(&d)
	case RegisterRejectID:
		d.need(1)
		m = RegisterReject{Text: d.str(min(d.rem(), rejectTextLen))}
	case UnregisterAckID:
		d.need(4)
		m = UnregisterAck{Status: UnregisterStatus(d.u32())}
	case LineStatResID:
		m = decodeLineStatRes(&d)
	case ButtonTemplateID:
		m = decodeButtonTemplate(&d)
	case VersionReqID:
		m = VersionReq{}
	case ServerReqID:
		m = ServerReq{}
	case ConfigStatReqID:
		m = ConfigStatReq{}
	case TimeDateReqID:
		m = TimeDateReq{}
	case SoftKeySetReqID:
		m = SoftKeySetReq{}
	case SoftKeyTemplateReqID:
		m = SoftKeyTemplateReq{}
	case ForwardStatReqID:
		d.need(4)
		m = ForwardStatReq{LineNumber: d.u32()}
	case SpeedDialStatReqID:
		d.need(4)
		m = SpeedDialStatReq{Number: d.u32()}
	case RegisterAvailableLinesID:
		d.need(4)
		m = RegisterAvailableLines{MaxLines: d.u32()}
	case AlarmID:
		m = decodeAlarm(&d)
	case VersionID:
		d.need(versionLen)
		m = Version{Load: d.str(versionLen)}
	case ServerResID:
		m = decodeServerRes(&d)
	case ResetID:
		d.need(4)
		m = Reset{Type: ResetType(d.u32())}
	case ConfigStatID:
		m = decodeConfigStat(&d)
	case DefineTimeDateID:
		m = decodeDefineTimeDate(&d)
	case ForwardStatID:
		m = decodeForwardStat(&d)
	case SpeedDialStatID:
		m = decodeSpeedDialStat(&d)
	case SoftKeyTemplateResID:
		m = decodeSoftKeyTemplateRes(&d)
	case SoftKeySetResID:
		m = decodeSoftKeySetRes(&d)
	default:
		return Unknown{MsgID: id, Body: append([]byte(nil), body...)}, nil
	}
	if d.short {
		return nil, fmt.Errorf("skinny: %s body of %d bytes, need at least %d: %w", id, len(body), d.want, ErrShortBody)
	}
	return m, nil
}

// Unknown is a message this package does not decode: its id and raw body.
type Unknown struct {
	MsgID MessageID
	Body  []byte
}

func (m Unknown) ID() MessageID                { return m.MsgID }
func (m Unknown) AppendBody(dst []byte) []byte { return append(dst, m.Body...) }

// KeepAlive (0x0000, phone → CM) has no body. CallManager answers with a
// KeepAliveAck; a phone that sends none for a few intervals is dropped.
type KeepAlive struct{}

func (KeepAlive) ID() MessageID                { return KeepAliveID }
func (KeepAlive) AppendBody(dst []byte) []byte { return dst }

// KeepAliveAck (0x0100, CM → phone) has no body.
type KeepAliveAck struct{}

func (KeepAliveAck) ID() MessageID                { return KeepAliveAckID }
func (KeepAliveAck) AppendBody(dst []byte) []byte { return dst }

// CapabilitiesReq (0x009B, CM → phone) has no body: it asks the phone for
// its media capabilities, which it sends in a CapabilitiesRes.
type CapabilitiesReq struct{}

func (CapabilitiesReq) ID() MessageID                { return CapabilitiesReqID }
func (CapabilitiesReq) AppendBody(dst []byte) []byte { return dst }

// ButtonTemplateReq (0x000E, phone → CM) has no body.
type ButtonTemplateReq struct{}

func (ButtonTemplateReq) ID() MessageID                { return ButtonTemplateReqID }
func (ButtonTemplateReq) AppendBody(dst []byte) []byte { return dst }

// Field sizes.
const (
	deviceNameLen      = 16
	dateTemplateLen    = 6
	rejectTextLen      = 32
	dirNumberLen       = 24
	displayNameLen     = 40
	textLabelLen       = 40
	firmwareLoadLen    = 32
	configStampLen     = 48
	macFieldLen        = 12 // a MAC address and 6 bytes of padding
	maxButtons         = 42
	capabilitySize     = 16
	lineStatResBaseLen = 4 + dirNumberLen + displayNameLen
)

// Sizes of the RegisterMessage bodies phones send.
const (
	// RegisterMinLen is the shortest body Decode accepts: the station id,
	// station IP and device type.
	RegisterMinLen = deviceNameLen + 4 + 4 + 4 + 4
	// RegisterShortLen is the original (protocol 3) body: up to maxStreams.
	// Old 7940/7960 firmware sends it.
	RegisterShortLen = RegisterMinLen + 4
	// RegisterBasicLen adds activeStreams, protocol version, phone
	// features and maxConferences. (Wireshark shows these fields only for
	// bodies longer than this; Decode reads every field a body holds whole.)
	RegisterBasicLen = RegisterShortLen + 4 + 1 + 1 + 2 + 4
	// RegisterLongLen is the body of newer firmware (7941/7961 and later):
	// it adds activeConferences, MAC address, address scopes, line count,
	// IPv6 address and firmware load name.
	RegisterLongLen = RegisterBasicLen + 4 + macFieldLen + 4 + 4 + 16 + 4 + firmwareLoadLen
	// RegisterFullLen adds the config version stamp. (Wireshark shows it
	// only for bodies of 188 bytes or more.)
	RegisterFullLen = RegisterLongLen + configStampLen
)

// Register (RegisterMessage 0x0001, phone → CM) asks to register the phone.
//
// Phones send bodies of different lengths: the fields past RegisterMinLen are
// zero when the phone did not send them. Length records the body length a
// decoded message had, and chooses the form an encoded one takes.
type Register struct {
	DeviceName string // "SEP0011223344AA": the station id's device name (16 bytes)
	// UserID is the station id's second word (Wireshark:
	// reserved_for_future_use; Cisco: stationUserId). Usually 0.
	UserID     uint32
	Instance   uint32     // station instance, usually 1 (0 on old firmware)
	StationIP  netip.Addr // the phone's IPv4 address; the zero Addr encodes as 0.0.0.0
	DeviceType uint32     // device type code: 7 for a 7960, 30018 for a 7961 ...
	MaxStreams uint32     // maximum concurrent RTP streams

	ActiveStreams   uint32
	ProtocolVersion uint8 // the Skinny protocol version the phone speaks (0: not sent)
	Unknown         uint8 // the byte after the protocol version
	PhoneFeatures   uint16
	MaxConferences  uint32

	ActiveConferences uint32
	MACAddress        [6]byte
	IPv4AddressScope  uint32
	MaxNumberOfLines  uint32
	StationIPv6       netip.Addr // the zero Addr encodes as ::
	IPv6AddressScope  uint32
	FirmwareLoadName  string // "SCCP41.9-4-2SR3-1S" (32 bytes)

	ConfigVersionStamp string // (48 bytes)

	// Length is the body length. Decode sets it. When encoding, 0 chooses
	// RegisterBasicLen, or RegisterLongLen / RegisterFullLen when fields of
	// those forms are set; another value truncates or zero-pads the body to
	// that length (RegisterShortLen for a 7960-style body).
	Length int
	// Trailing holds body bytes past RegisterFullLen. Encoding appends them.
	Trailing []byte
}

func (Register) ID() MessageID { return RegisterID }

func (m Register) AppendBody(dst []byte) []byte {
	start := len(dst)
	dst = appendString(dst, m.DeviceName, deviceNameLen, true)
	dst = le32(dst, m.UserID)
	dst = le32(dst, m.Instance)
	dst = appendIPv4(dst, m.StationIP)
	dst = le32(dst, m.DeviceType)
	dst = le32(dst, m.MaxStreams)
	dst = le32(dst, m.ActiveStreams)
	dst = append(dst, m.ProtocolVersion, m.Unknown)
	dst = binary.LittleEndian.AppendUint16(dst, m.PhoneFeatures)
	dst = le32(dst, m.MaxConferences)
	dst = le32(dst, m.ActiveConferences)
	dst = append(dst, m.MACAddress[:]...)
	dst = append(dst, make([]byte, macFieldLen-6)...)
	dst = le32(dst, m.IPv4AddressScope)
	dst = le32(dst, m.MaxNumberOfLines)
	dst = appendIPv6(dst, m.StationIPv6)
	dst = le32(dst, m.IPv6AddressScope)
	dst = appendString(dst, m.FirmwareLoadName, firmwareLoadLen, true)
	dst = appendString(dst, m.ConfigVersionStamp, configStampLen, true)

	n := m.Length
	if n <= 0 {
		switch {
		case m.ConfigVersionStamp != "":
			n = RegisterFullLen
		case m.ActiveConferences != 0 || m.MACAddress != [6]byte{} || m.IPv4AddressScope != 0 ||
			m.MaxNumberOfLines != 0 || (m.StationIPv6.IsValid() && !m.StationIPv6.IsUnspecified()) ||
			m.IPv6AddressScope != 0 || m.FirmwareLoadName != "":
			n = RegisterLongLen
		default:
			n = RegisterBasicLen
		}
	}
	if n < RegisterFullLen {
		return dst[:start+n]
	}
	dst = append(dst, m.Trailing...)
	if pad := start + n - len(dst); pad > 0 {
		dst = append(dst, make([]byte, pad)...)
	}
	return dst
}

func decodeRegister(d *decoder) Register {
	var m Register
	m.Length = d.rem()
	d.need(RegisterMinLen)
	if d.short {
		return m
	}
	m.DeviceName = d.str(deviceNameLen)
	m.UserID = d.u32()
	m.Instance = d.u32()
	m.StationIP = d.ipv4()
	m.DeviceType = d.u32()
	// The rest is optional: read each field the body holds whole.
	fields := []struct {
		size int
		read func()
	}{
		{4, func() { m.MaxStreams = d.u32() }},
		{4, func() { m.ActiveStreams = d.u32() }},
		{4, func() { m.ProtocolVersion, m.Unknown, m.PhoneFeatures = d.u8(), d.u8(), d.u16() }},
		{4, func() { m.MaxConferences = d.u32() }},
		{4, func() { m.ActiveConferences = d.u32() }},
		{macFieldLen, func() { copy(m.MACAddress[:], d.bytes(macFieldLen)) }},
		{4, func() { m.IPv4AddressScope = d.u32() }},
		{4, func() { m.MaxNumberOfLines = d.u32() }},
		{16, func() { m.StationIPv6 = netip.AddrFrom16([16]byte(d.bytes(16))) }},
		{4, func() { m.IPv6AddressScope = d.u32() }},
		{firmwareLoadLen, func() { m.FirmwareLoadName = d.str(firmwareLoadLen) }},
		{configStampLen, func() { m.ConfigVersionStamp = d.str(configStampLen) }},
	}
	for _, f := range fields {
		if d.rem() < f.size {
			return m
		}
		f.read()
	}
	if d.rem() > 0 {
		m.Trailing = append([]byte(nil), d.bytes(d.rem())...)
	}
	return m
}

// MAC returns the MAC address as a net.HardwareAddr.
func (m Register) MAC() net.HardwareAddr { return net.HardwareAddr(m.MACAddress[:]) }

// Unregister (UnregisterMessage 0x0027, phone → CM) ends the registration.
// Old phones send no body; newer ones a reason code.
type Unregister struct {
	ReasonCode uint32 // unRegReasonCode; encoded only when non-zero
}

func (Unregister) ID() MessageID { return UnregisterID }

func (m Unregister) AppendBody(dst []byte) []byte {
	if m.ReasonCode == 0 {
		return dst
	}
	return le32(dst, m.ReasonCode)
}

// LineStatReq (LineStatReqMessage 0x000B, phone → CM) asks for a line's
// directory number and labels.
type LineStatReq struct {
	LineNumber uint32 // 1 for the first line
}

func (LineStatReq) ID() MessageID                  { return LineStatReqID }
func (m LineStatReq) AppendBody(dst []byte) []byte { return le32(dst, m.LineNumber) }

// Capability is one entry of a CapabilitiesRes.
type Capability struct {
	PayloadCapability  uint32  // media payload type (4: G.711 µ-law, 2: G.711 A-law, 12: G.729 ...)
	MaxFramesPerPacket uint32  // milliseconds of media per packet
	Params             [8]byte // payload-specific parameters (a union in the protocol)
}

// CapabilitiesRes (CapabilitiesResMessage 0x0010, phone → CM) lists the
// phone's audio capabilities.
//
// Decoding is loose: Count is the count the phone claimed, Caps the entries
// the body actually held (at most Count).
type CapabilitiesRes struct {
	Count uint32 // encoding writes len(Caps) when Count is 0
	Caps  []Capability
}

func (CapabilitiesRes) ID() MessageID { return CapabilitiesResID }

func (m CapabilitiesRes) AppendBody(dst []byte) []byte {
	n := m.Count
	if n == 0 {
		n = uint32(len(m.Caps))
	}
	dst = le32(dst, n)
	for _, c := range m.Caps {
		dst = le32(dst, c.PayloadCapability)
		dst = le32(dst, c.MaxFramesPerPacket)
		dst = append(dst, c.Params[:]...)
	}
	return dst
}

func decodeCapabilitiesRes(d *decoder) CapabilitiesRes {
	var m CapabilitiesRes
	if d.rem() < 4 {
		return m // loose: an empty body means no capabilities
	}
	m.Count = d.u32()
	n := min(uint64(m.Count), uint64(d.rem()/capabilitySize))
	if n > 0 {
		m.Caps = make([]Capability, n)
		for i := range m.Caps {
			m.Caps[i].PayloadCapability = d.u32()
			m.Caps[i].MaxFramesPerPacket = d.u32()
			copy(m.Caps[i].Params[:], d.bytes(8))
		}
	}
	return m
}

// RegisterAck (RegisterAckMessage 0x0081, CM → phone) accepts a
// registration.
type RegisterAck struct {
	KeepAliveInterval uint32 // seconds between the phone's KeepAlives
	// DateTemplate is how the phone shows dates: six characters such as
	// "M/D/YA" (month/day/year, 12-hour clock) or "D.M.Y" + "24".
	DateTemplate               string
	SecondaryKeepAliveInterval uint32 // seconds between KeepAlives to a backup CM
	ProtocolVersion            uint8  // maxProtocolVer: the version the CM will speak
	Unknown                    uint8
	PhoneFeatures              uint16
}

func (RegisterAck) ID() MessageID { return RegisterAckID }

func (m RegisterAck) AppendBody(dst []byte) []byte {
	dst = le32(dst, m.KeepAliveInterval)
	dst = appendString(dst, m.DateTemplate, dateTemplateLen, false)
	dst = append(dst, 0, 0) // alignmentPadding
	dst = le32(dst, m.SecondaryKeepAliveInterval)
	dst = append(dst, m.ProtocolVersion, m.Unknown)
	return binary.LittleEndian.AppendUint16(dst, m.PhoneFeatures)
}

func decodeRegisterAck(d *decoder) RegisterAck {
	var m RegisterAck
	d.need(4 + dateTemplateLen + 2 + 4)
	if d.short {
		return m
	}
	m.KeepAliveInterval = d.u32()
	m.DateTemplate = d.str(dateTemplateLen)
	d.skip(2)
	m.SecondaryKeepAliveInterval = d.u32()
	if d.rem() >= 4 {
		m.ProtocolVersion = d.u8()
		m.Unknown = d.u8()
		m.PhoneFeatures = d.u16()
	}
	return m
}

// RegisterReject (RegisterRejectMessage 0x009D, CM → phone) refuses a
// registration with a text the phone may show.
type RegisterReject struct {
	Text string // at most 31 bytes are sent, NUL-terminated in a 32-byte field
}

func (RegisterReject) ID() MessageID { return RegisterRejectID }

func (m RegisterReject) AppendBody(dst []byte) []byte {
	return appendString(dst, m.Text, rejectTextLen, true)
}

// UnregisterStatus is an UnregisterAck's status.
type UnregisterStatus uint32

// Unregister statuses.
const (
	UnregisterOK    UnregisterStatus = 0
	UnregisterError UnregisterStatus = 1
	UnregisterNAK   UnregisterStatus = 2 // the CM refuses: the phone has calls
)

func (s UnregisterStatus) String() string {
	switch s {
	case UnregisterOK:
		return "Ok"
	case UnregisterError:
		return "Error"
	case UnregisterNAK:
		return "NAK"
	}
	return fmt.Sprintf("UnregisterStatus(%d)", uint32(s))
}

// UnregisterAck (UnregisterAckMessage 0x0118, CM → phone) answers an
// Unregister.
type UnregisterAck struct {
	Status UnregisterStatus
}

func (UnregisterAck) ID() MessageID                  { return UnregisterAckID }
func (m UnregisterAck) AppendBody(dst []byte) []byte { return le32(dst, uint32(m.Status)) }

// LineStatRes (LineStatResMessage 0x0092, CM → phone) gives a line's
// directory number and labels.
type LineStatRes struct {
	LineNumber                uint32
	DirNumber                 string // lineDirNumber: the DN (24 bytes)
	FullyQualifiedDisplayName string // caller id name (40 bytes)
	TextLabel                 string // the label next to the line button (40 bytes)
	DisplayOptions            uint32 // lineDisplayOptions bit mask
}

func (LineStatRes) ID() MessageID { return LineStatResID }

func (m LineStatRes) AppendBody(dst []byte) []byte {
	dst = le32(dst, m.LineNumber)
	dst = appendString(dst, m.DirNumber, dirNumberLen, true)
	dst = appendString(dst, m.FullyQualifiedDisplayName, displayNameLen, true)
	dst = appendString(dst, m.TextLabel, textLabelLen, true)
	return le32(dst, m.DisplayOptions)
}

func decodeLineStatRes(d *decoder) LineStatRes {
	var m LineStatRes
	d.need(lineStatResBaseLen) // old CMs sent no label and options
	if d.short {
		return m
	}
	m.LineNumber = d.u32()
	m.DirNumber = d.str(dirNumberLen)
	m.FullyQualifiedDisplayName = d.str(displayNameLen)
	if d.rem() >= textLabelLen {
		m.TextLabel = d.str(textLabelLen)
	}
	if d.rem() >= 4 {
		m.DisplayOptions = d.u32()
	}
	return m
}

// Button definitions (stimulus types) used in a ButtonTemplate.
const (
	ButtonLine      uint8 = 0x09
	ButtonSpeedDial uint8 = 0x02
	ButtonUndefined uint8 = 0xFF
)

// Button is one entry of a ButtonTemplate.
type Button struct {
	Instance   uint8 // instanceNumber: 1 for the first line
	Definition uint8 // buttonDefinition: ButtonLine, ...
}

// ButtonTemplate (ButtonTemplateMessage 0x0097, CM → phone) assigns the
// phone's buttons. The body always holds 42 entries; those past Count are
// sent as undefined.
type ButtonTemplate struct {
	Offset  uint32   // buttonOffset
	Total   uint32   // totalButtonCount; encoding writes len(Buttons) when 0
	Buttons []Button // at most 42; their number is buttonCount
}

func (ButtonTemplate) ID() MessageID { return ButtonTemplateID }

func (m ButtonTemplate) AppendBody(dst []byte) []byte {
	buttons := m.Buttons[:min(len(m.Buttons), maxButtons)]
	total := m.Total
	if total == 0 {
		total = uint32(len(buttons))
	}
	dst = le32(dst, m.Offset)
	dst = le32(dst, uint32(len(buttons)))
	dst = le32(dst, total)
	for i := range maxButtons {
		if i < len(buttons) {
			dst = append(dst, buttons[i].Instance, buttons[i].Definition)
		} else {
			dst = append(dst, 0, ButtonUndefined)
		}
	}
	return dst
}

func decodeButtonTemplate(d *decoder) ButtonTemplate {
	var m ButtonTemplate
	d.need(12)
	if d.short {
		return m
	}
	m.Offset = d.u32()
	count := d.u32()
	m.Total = d.u32()
	n := min(uint64(count), maxButtons, uint64(d.rem()/2))
	if n > 0 {
		m.Buttons = make([]Button, n)
		for i := range m.Buttons {
			m.Buttons[i] = Button{Instance: d.u8(), Definition: d.u8()}
		}
	}
	return m
}

// decoder reads little-endian fields from a body. Reads past the end yield
// zeros and set short; callers check rem() or need() first for optional
// fields.
type decoder struct {
	b     []byte
	off   int
	short bool
	want  int // the body length the fields asked for so far need
}

func (d *decoder) rem() int { return len(d.b) - d.off }

// need marks the body short unless n more bytes remain.
func (d *decoder) need(n int) {
	d.want = max(d.want, d.off+n)
	if d.rem() < n {
		d.short = true
	}
}

func (d *decoder) bytes(n int) []byte {
	d.want = max(d.want, d.off+n)
	if d.rem() < n {
		d.short = true
		d.off = len(d.b)
		return make([]byte, n)
	}
	b := d.b[d.off : d.off+n]
	d.off += n
	return b
}

func (d *decoder) skip(n int)  { d.bytes(n) }
func (d *decoder) u8() uint8   { return d.bytes(1)[0] }
func (d *decoder) u16() uint16 { return binary.LittleEndian.Uint16(d.bytes(2)) }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.bytes(4)) }
func (d *decoder) ipv4() netip.Addr {
	return netip.AddrFrom4([4]byte(d.bytes(4)))
}

// str reads a fixed-size field holding a NUL-terminated (or NUL-padded)
// string.
func (d *decoder) str(n int) string {
	b := d.bytes(n)
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return string(b)
}

func le32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }

// appendString appends s in an n-byte NUL-padded field. With terminate, at
// most n-1 bytes of s are kept so the field ends in NUL. s is cut at its
// first NUL, and not inside a UTF-8 sequence.
func appendString(dst []byte, s string, n int, terminate bool) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			s = s[:i]
			break
		}
	}
	limit := n
	if terminate {
		limit = n - 1
	}
	if len(s) > limit {
		cut := limit
		for k := 0; k < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); k++ {
			cut--
		}
		s = s[:cut]
	}
	dst = append(dst, s...)
	return append(dst, make([]byte, n-len(s))...)
}

func appendIPv4(dst []byte, a netip.Addr) []byte {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return append(dst, b[:]...)
	}
	return append(dst, 0, 0, 0, 0)
}

func appendIPv6(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(dst, make([]byte, 16)...)
	}
	b := a.As16()
	return append(dst, b[:]...)
}
