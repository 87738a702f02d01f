package skinny

import (
	"net/netip"
	"strconv"
	"testing"
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

	wire := make([]wireFrame, len(frames))
	for i, f := range frames {
		wire[i] = wireFrame{toPhone: f.toPhone, data: AppendFrame(nil, f.version, f.msg)}
	}
	pkts := tshark(t, wire)
	for i, f := range frames {
		p := pkts[i]
		t.Run(f.msg.ID().String(), func(t *testing.T) {
			if got, want := p.get(t, "skinny.messageId"), strconv.Itoa(int(f.msg.ID())); got != want {
				t.Errorf("messageId = %s, want %s", got, want)
			}
			if got, want := p.get(t, "skinny.data_length"), strconv.Itoa(len(wire[i].data)-8); got != want {
				t.Errorf("data_length = %s, want %s", got, want)
			}
			if m, ok := p["_ws.malformed"]; ok {
				t.Errorf("tshark finds the frame malformed: %v", m)
			}
			for field, want := range f.want {
				if got := p.get(t, field); got != want {
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
	p := tshark(t, []wireFrame{{data: frame}})[0]
	if got := p.get(t, "skinny.DeviceName"); got != r.DeviceName {
		t.Errorf("tshark device %q, we %q", got, r.DeviceName)
	}
	if got := p.get(t, "skinny.stationIpAddr"); got != r.StationIP.String() || r.StationIP != netip.MustParseAddr("192.168.10.21") {
		t.Errorf("tshark station IP %q, we %v", got, r.StationIP)
	}
	if r.DeviceType != 7 || p.get(t, "skinny.deviceType") != "0x00000007" {
		t.Errorf("device type %d", r.DeviceType)
	}
}
