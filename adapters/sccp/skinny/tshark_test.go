package skinny

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp/skinny/skinnytest"
)

// TestTsharkDissectsOurFrames writes the frames our encoder produces into a
// pcap and checks Wireshark's Skinny dissector reads every field back as we
// meant it.
func TestTsharkDissectsOurFrames(t *testing.T) {
	long := register7961
	full := register7961
	full.ConfigVersionStamp = "{8fe0a1c2-stamp}"
	full.Length = 188 // tshark shows configVersionStamp only for data lengths > 191

	frames := []struct {
		toPhone bool
		version uint32
		msg     Message
		want    map[string]string // skinny.* field → value tshark shows
	}{
		{false, BasicVersion, register7960, map[string]string{
			"skinny.data_length":   "40",
			"skinny.DeviceName":    "SEP00112233AABB",
			"skinny.instance":      "1",
			"skinny.stationIpAddr": "10.1.2.3",
			"skinny.deviceType":    "0x00000007",
			"skinny.maxStreams":    "5",
		}},
		{false, BasicVersion, long, map[string]string{
			"skinny.data_length":      strconv.Itoa(4 + RegisterLongLen),
			"skinny.DeviceName":       "SEP00112233AABC",
			"skinny.deviceType":       "0x00007542", // 30018
			"skinny.protocolVer":      "11",
			"skinny.maxConferences":   "1",
			"skinny.macAddress":       "00:11:22:33:aa:bc",
			"skinny.maxNumberOfLines": "6",
			"skinny.firmwareLoadName": "SCCP41.9-4-2SR3-1S",
		}},
		{false, V17Version, full, map[string]string{
			"skinny.hdr_version":        "0x00000011",
			"skinny.configVersionStamp": "{8fe0a1c2-stamp}",
			"skinny.ipV4AddressScope":   "1",
		}},
		{true, BasicVersion, RegisterAck{KeepAliveInterval: 30, DateTemplate: "M/D/YA",
			SecondaryKeepAliveInterval: 60, ProtocolVersion: 11}, map[string]string{
			"skinny.messageId":                  "129",
			"skinny.keepAliveInterval":          "30",
			"skinny.dateTemplate":               "M/D/YA",
			"skinny.alignmentPadding":           "0",
			"skinny.secondaryKeepAliveInterval": "60",
			"skinny.maxProtocolVer":             "11",
		}},
		{true, BasicVersion, CapabilitiesReq{}, map[string]string{
			"skinny.messageId":   "155",
			"skinny.data_length": "4",
		}},
		{true, BasicVersion, RegisterReject{Text: "Autoregistration disabled"}, map[string]string{
			"skinny.messageId":   "157",
			"skinny.data_length": "36",
			"skinny.text":        "Autoregistration disabled",
		}},
		{false, BasicVersion, KeepAlive{}, map[string]string{"skinny.messageId": "0"}},
		{true, BasicVersion, KeepAliveAck{}, map[string]string{"skinny.messageId": "256"}},
		{false, BasicVersion, LineStatReq{LineNumber: 1}, map[string]string{
			"skinny.messageId":  "11",
			"skinny.lineNumber": "1",
		}},
		{true, BasicVersion, LineStatRes{LineNumber: 1, DirNumber: "1000", FullyQualifiedDisplayName: "Auto 1000",
			TextLabel: "1000", DisplayOptions: 15}, map[string]string{
			"skinny.messageId":                     "146",
			"skinny.lineNumber":                    "1",
			"skinny.lineDirNumber":                 "1000",
			"skinny.lineFullyQualifiedDisplayName": "Auto 1000",
			"skinny.lineTextLabel":                 "1000",
			"skinny.lineDisplayOptions":            "15",
		}},
		{false, BasicVersion, ButtonTemplateReq{}, map[string]string{"skinny.messageId": "14"}},
		{true, BasicVersion, ButtonTemplate{Buttons: []Button{{1, ButtonLine}}}, map[string]string{
			"skinny.messageId":        "151",
			"skinny.buttonCount":      "1",
			"skinny.totalButtonCount": "1",
			"skinny.instanceNumber":   "1",
			"skinny.buttonDefinition": "0x09",
		}},
		{false, BasicVersion, CapabilitiesRes{Caps: []Capability{{PayloadCapability: 4, MaxFramesPerPacket: 40}}},
			map[string]string{
				"skinny.messageId":          "16",
				"skinny.capCount":           "1",
				"skinny.payloadCapability":  "0x00000004",
				"skinny.maxFramesPerPacket": "40",
			}},
		{false, BasicVersion, Unregister{}, map[string]string{"skinny.messageId": "39"}},
		{true, BasicVersion, UnregisterAck{Status: UnregisterOK}, map[string]string{
			"skinny.messageId": "280",
			"skinny.status":    "0x00000000",
		}},
	}

	wire := make([]skinnytest.Frame, len(frames))
	for i, f := range frames {
		wire[i] = skinnytest.Frame{ToPhone: f.toPhone, Data: AppendFrame(nil, f.version, f.msg)}
	}
	pkts := skinnytest.Dissect(t, wire)
	for i, f := range frames {
		p := pkts[i]
		t.Run(f.msg.ID().String(), func(t *testing.T) {
			if got, want := p.Get(t, "skinny.messageId"), strconv.Itoa(int(f.msg.ID())); got != want {
				t.Errorf("messageId = %s, want %s", got, want)
			}
			if got, want := p.Get(t, "skinny.data_length"), strconv.Itoa(len(wire[i].Data)-8); got != want {
				t.Errorf("data_length = %s, want %s", got, want)
			}
			if m, ok := p["_ws.malformed"]; ok {
				t.Errorf("tshark finds the frame malformed: %v", m)
			}
			for field, want := range f.want {
				if got := p.Get(t, field); got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
		})
	}
}

// TestTsharkAgreesOnShortRegister checks a 7960's short RegisterMessage, as
// a phone sends it (not as we encode it), decodes as tshark decodes it.
func TestTsharkAgreesOnShortRegister(t *testing.T) {
	frame := unhex(t, `28000000 00000000 01000000
		53455030303037454233453731363400 00000000 01000000
		c0a80a15 07000000 05000000`)
	m, err := NewReader(bytesReader(frame), 0).ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	r := m.(Register)
	p := skinnytest.Dissect(t, []skinnytest.Frame{{Data: frame}})[0]
	if got := p.Get(t, "skinny.DeviceName"); got != r.DeviceName {
		t.Errorf("tshark device %q, we %q", got, r.DeviceName)
	}
	if got := p.Get(t, "skinny.stationIpAddr"); got != r.StationIP.String() || r.StationIP != netip.MustParseAddr("192.168.10.21") {
		t.Errorf("tshark station IP %q, we %v", got, r.StationIP)
	}
	if r.DeviceType != 7 || p.Get(t, "skinny.deviceType") != "0x00000007" {
		t.Errorf("device type %d", r.DeviceType)
	}
}

// TestTsharkDissectsStation checks, field by field, that Wireshark's Skinny
// dissector reads the messages of the conversation after registration as we
// mean them: the answers we send and the requests phones send.
func TestTsharkDissectsStation(t *testing.T) {
	zeros := func(n int, v string) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	hex16 := func(s string) string { // a 16-byte label field as tshark's raw value
		b := make([]byte, 16)
		copy(b, s)
		return hex.EncodeToString(b)
	}
	setIdx := append([]string{"0x01", "0x02", "0x05"}, zeros(13, "0x00")...)
	setIdx = append(setIdx, append([]string{"0x03", "0x09"}, zeros(14, "0x00")...)...)
	setInfo := append([]string{"0x012d", "0x012e", "0x0131"}, zeros(13, "0x0000")...)
	setInfo = append(setInfo, append([]string{"0x012f", "0x0135"}, zeros(14, "0x0000")...)...)
	frames := []struct {
		toPhone bool
		msg     Message
		want    map[string][]string // skinny.* field → every value tshark shows, in order
	}{
		{false, VersionReq{}, nil},
		{true, Version{Load: "SCCP41.8-5-4S"}, map[string][]string{"skinny.versionStr": {"SCCP41.8-5-4S"}}},
		{false, ServerReq{}, nil},
		{true, ServerRes{Servers: []ServerInfo{cm1, cm2}}, map[string][]string{
			"skinny.ServerName":          {"cm1.example.net", "cm2", "", "", ""},
			"skinny.serverTcpListenPort": {"2000", "2443", "0", "0", "0"},
			"skinny.stationIpAddr":       {"10.0.0.1", "192.168.1.2", "0.0.0.0", "0.0.0.0", "0.0.0.0"},
		}},
		{false, SoftKeyTemplateReq{}, nil},
		{true, SoftKeyTemplateRes{Keys: []SoftKey{{SoftKeyLabel(1), SoftKeyRedial}, {SoftKeyLabel(2), SoftKeyNewCall},
			{"Dial", 201}}}, map[string][]string{
			"skinny.softKeyOffset":      {"0"},
			"skinny.softKeyCount":       {"3"},
			"skinny.totalSoftKeyCount":  {"3"},
			"skinny.softKeyLabel@value": {hex16("\x80\x01"), hex16("\x80\x02"), hex16("Dial")},
			"skinny.softKeyEvent":       {"0x00000001", "0x00000002", "0x000000c9"},
		}},
		{false, SoftKeySetReq{}, nil},
		{true, SoftKeySetRes{Sets: []SoftKeySet{
			{TemplateIndex: [16]uint8{1, 2, 5}, InfoIndex: [16]uint16{301, 302, 305}},
			{TemplateIndex: [16]uint8{3, 9}, InfoIndex: [16]uint16{303, 309}},
		}}, map[string][]string{
			"skinny.softKeySetOffset":     {"0"},
			"skinny.softKeySetCount":      {"2"},
			"skinny.totalSoftKeySetCount": {"2"},
			"skinny.softKeyTemplateIndex": setIdx,
			"skinny.softKeyInfoIndex":     setInfo,
		}},
		{false, ConfigStatReq{}, nil},
		{true, ConfigStat{DeviceName: "SEP00112233AABB", Instance: 1, UserName: "SEP00112233AABB", ServerName: "cm1",
			Lines: 1, SpeedDials: 2}, map[string][]string{
			"skinny.DeviceName":              {"SEP00112233AABB"},
			"skinny.reserved.for.future.use": {"0"},
			"skinny.instance":                {"1"},
			"skinny.userName":                {"SEP00112233AABB"},
			"skinny.serverName":              {"cm1"},
			"skinny.numberOfLines":           {"1"},
			"skinny.numberOfSpeedDials":      {"2"},
		}},
		{false, ForwardStatReq{LineNumber: 1}, map[string][]string{"skinny.lineNumber": {"1"}}},
		{true, ForwardStat{ActiveForward: 1, LineNumber: 1, ForwardAllActive: 1, ForwardAllNumber: "5000"},
			map[string][]string{
				"skinny.activeForward":          {"1"},
				"skinny.lineNumber":             {"1"},
				"skinny.forwardAllActive":       {"1"},
				"skinny.forwardAllDirnum":       {"5000"},
				"skinny.forwardBusyActive":      {"0"},
				"skinny.forwardBusyDirnum":      {""},
				"skinny.forwardNoAnswerActive":  {"0"},
				"skinny.forwardNoAnswerlDirnum": {""},
			}},
		{false, SpeedDialStatReq{Number: 1}, map[string][]string{"skinny.speedDialNumber": {"1"}}},
		{true, SpeedDialStat{Number: 1, DirNumber: "5001", DisplayName: "Help desk"}, map[string][]string{
			"skinny.speedDialNumber":      {"1"},
			"skinny.speedDialDirNumber":   {"5001"},
			"skinny.speedDialDisplayName": {"Help desk"},
		}},
		{false, RegisterAvailableLines{MaxLines: 6}, map[string][]string{"skinny.maxNumOfAvailLines": {"6"}}},
		{false, TimeDateReq{}, nil},
		{true, TimeDateOf(time.Date(2024, 7, 14, 9, 30, 15, 999e6, time.FixedZone("CEST", 2*3600))), map[string][]string{
			"skinny.wYear":         {"2024"},
			"skinny.wMonth":        {"7"},
			"skinny.wDayOfWeek":    {"0"},
			"skinny.wDay":          {"14"},
			"skinny.wHour":         {"9"},
			"skinny.wMinute":       {"30"},
			"skinny.wSecond":       {"15"},
			"skinny.wMilliseconds": {"999"},
			"skinny.systemTime":    {"1720942215"},
		}},
		{false, bootAlarm, map[string][]string{
			"skinny.alarmSeverity": {"0x00000002"},
			"skinny.text":          {bootAlarm.Text},
			"skinny.parm1":         {"0"},
			"skinny.parm2":         {"4"},
		}},
		{true, Reset{Type: ResetReset}, map[string][]string{"skinny.resetType": {"0x00000001"}}},
		{true, Reset{Type: ResetRestart}, map[string][]string{"skinny.resetType": {"0x00000002"}}},
	}

	wire := make([]skinnytest.Frame, len(frames))
	for i, f := range frames {
		wire[i] = skinnytest.Frame{ToPhone: f.toPhone, Data: Marshal(f.msg)}
	}
	pkts := skinnytest.Dissect(t, wire)
	for i, f := range frames {
		p := pkts[i]
		t.Run(fmt.Sprintf("%d %v", i, f.msg.ID()), func(t *testing.T) {
			if got, want := p.Get(t, "skinny.messageId"), strconv.Itoa(int(f.msg.ID())); got != want {
				t.Errorf("messageId = %s, want %s", got, want)
			}
			if got, want := p.Get(t, "skinny.data_length"), strconv.Itoa(len(wire[i].Data)-8); got != want {
				t.Errorf("data_length = %s, want %s", got, want)
			}
			if got := p.Get(t, "skinny.hdr_version"); got != "0x00000000" {
				t.Errorf("hdr_version = %s", got)
			}
			if m, ok := p["_ws.malformed"]; ok {
				t.Errorf("tshark finds the frame malformed: %v", m)
			}
			for field, want := range f.want {
				if got := p[field]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
		})
	}
}
