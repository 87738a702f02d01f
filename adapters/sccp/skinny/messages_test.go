package skinny

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// unhex decodes hex with spaces and newlines.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pad returns s NUL-padded to n bytes.
func pad(s string, n int) []byte { return append([]byte(s), make([]byte, n-len(s))...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func le(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

var (
	phoneIP      = netip.MustParseAddr("10.1.2.3")
	register7960 = Register{
		DeviceName: "SEP00112233AABB", Instance: 1, StationIP: phoneIP,
		DeviceType: 7, MaxStreams: 5, Length: RegisterShortLen,
	}
	register7961 = Register{
		DeviceName: "SEP00112233AABC", Instance: 1, StationIP: phoneIP,
		DeviceType: 30018, MaxStreams: 5, ProtocolVersion: 11, PhoneFeatures: 0x8000,
		MaxConferences: 1, MACAddress: [6]byte{0x00, 0x11, 0x22, 0x33, 0xAA, 0xBC},
		IPv4AddressScope: 1, MaxNumberOfLines: 6, StationIPv6: netip.IPv6Unspecified(),
		FirmwareLoadName: "SCCP41.9-4-2SR3-1S", Length: RegisterLongLen,
	}
)

// TestMessageRoundTrip encodes each message, checks the exact body bytes,
// and decodes them back to the same message.
func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		body []byte
	}{
		{"KeepAlive", KeepAlive{}, nil},
		{"KeepAliveAck", KeepAliveAck{}, nil},
		{"CapabilitiesReq", CapabilitiesReq{}, nil},
		{"ButtonTemplateReq", ButtonTemplateReq{}, nil},
		{"Register 7960 short", register7960, cat(
			pad("SEP00112233AABB", 16), le(0), le(1), []byte{10, 1, 2, 3}, le(7), le(5))},
		{"Register basic", Register{
			DeviceName: "SEP00112233AABB", Instance: 1, StationIP: phoneIP, DeviceType: 8,
			MaxStreams: 5, ActiveStreams: 0, ProtocolVersion: 5, Unknown: 0, PhoneFeatures: 0x0010,
			MaxConferences: 1, Length: RegisterBasicLen}, cat(
			pad("SEP00112233AABB", 16), le(0), le(1), []byte{10, 1, 2, 3}, le(8), le(5),
			le(0), []byte{5, 0, 0x10, 0x00}, le(1))},
		{"Register 7961 long", register7961, cat(
			pad("SEP00112233AABC", 16), le(0), le(1), []byte{10, 1, 2, 3}, le(30018), le(5),
			le(0), []byte{11, 0, 0x00, 0x80}, le(1),
			le(0), []byte{0x00, 0x11, 0x22, 0x33, 0xAA, 0xBC, 0, 0, 0, 0, 0, 0}, le(1), le(6),
			make([]byte, 16), le(0), pad("SCCP41.9-4-2SR3-1S", 32))},
		{"Register full with trailing", func() Register {
			r := register7961
			r.ConfigVersionStamp = "{1a2b3c4d-0000-1111-2222-333344445555}"
			r.Trailing = []byte{1, 2, 3, 4}
			r.Length = RegisterFullLen + 4
			return r
		}(), nil},
		{"Unregister old", Unregister{}, nil},
		{"Unregister with reason", Unregister{ReasonCode: 1}, le(1)},
		{"LineStatReq", LineStatReq{LineNumber: 1}, le(1)},
		{"CapabilitiesRes", CapabilitiesRes{Count: 2, Caps: []Capability{
			{PayloadCapability: 4, MaxFramesPerPacket: 40},
			{PayloadCapability: 12, MaxFramesPerPacket: 60, Params: [8]byte{1, 2, 3, 4}},
		}}, cat(le(2), le(4), le(40), make([]byte, 8), le(12), le(60), []byte{1, 2, 3, 4, 0, 0, 0, 0})},
		{"RegisterAck", RegisterAck{KeepAliveInterval: 30, DateTemplate: "M/D/YA",
			SecondaryKeepAliveInterval: 60, ProtocolVersion: 11},
			cat(le(30), []byte("M/D/YA"), []byte{0, 0}, le(60), []byte{11, 0, 0, 0})},
		{"RegisterReject", RegisterReject{Text: "Unknown device model"}, pad("Unknown device model", 32)},
		{"UnregisterAck", UnregisterAck{Status: UnregisterError}, le(1)},
		{"LineStatRes", LineStatRes{LineNumber: 1, DirNumber: "1000",
			FullyQualifiedDisplayName: "1000", TextLabel: "Line 1", DisplayOptions: 0xF},
			cat(le(1), pad("1000", 24), pad("1000", 40), pad("Line 1", 40), le(0xF))},
		{"ButtonTemplate", ButtonTemplate{Total: 1, Buttons: []Button{{1, ButtonLine}}},
			cat(le(0), le(1), le(1), []byte{1, 9}, bytes.Repeat([]byte{0, 0xFF}, 41))},
		{"Unknown", Unknown{MsgID: 0x0122, Body: []byte{1, 2, 3}}, []byte{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.msg.AppendBody(nil)
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Fatalf("body\n got %x\nwant %x", body, tt.body)
			}
			got, err := Decode(tt.msg.ID(), body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, tt.msg)
			}
			frame := Marshal(tt.msg)
			if len(frame) != HeaderLen+len(body) || !bytes.Equal(frame[HeaderLen:], body) {
				t.Fatalf("frame %x does not carry body %x", frame, body)
			}
			f, err := NewReader(bytes.NewReader(frame), 0).ReadFrame()
			if err != nil || f.ID != tt.msg.ID() || f.Version != BasicVersion || !bytes.Equal(f.Body, body) {
				t.Fatalf("ReadFrame = %+v, %v", f, err)
			}
		})
	}
}

func TestMarshalKeepAlive(t *testing.T) {
	want := unhex(t, "04000000 00000000 00000000")
	if got := Marshal(KeepAlive{}); !bytes.Equal(got, want) {
		t.Fatalf("KeepAlive frame = %x, want %x", got, want)
	}
	want = unhex(t, "04000000 11000000 00010000")
	if got := AppendFrame(nil, V17Version, KeepAliveAck{}); !bytes.Equal(got, want) {
		t.Fatalf("v17 KeepAliveAck frame = %x, want %x", got, want)
	}
}

// TestDecodeRegisterLengths decodes every body length from the minimum to
// past the full form: fields are filled in as far as the body holds them.
func TestDecodeRegisterLengths(t *testing.T) {
	full := register7961
	full.ConfigVersionStamp = "stamp"
	full.Length = RegisterFullLen
	body := full.AppendBody(nil)
	for n := 0; n <= len(body); n++ {
		m, err := Decode(RegisterID, body[:n])
		if n < RegisterMinLen {
			if !errors.Is(err, ErrShortBody) {
				t.Fatalf("%d bytes: err = %v, want ErrShortBody", n, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		r := m.(Register)
		if r.DeviceName != full.DeviceName || r.DeviceType != full.DeviceType || r.Length != n {
			t.Fatalf("%d bytes: %+v", n, r)
		}
		if wantVer := n >= RegisterShortLen+8; (r.ProtocolVersion == 11) != wantVer {
			t.Fatalf("%d bytes: protocol version %d", n, r.ProtocolVersion)
		}
		if wantFW := n >= RegisterLongLen; (r.FirmwareLoadName != "") != wantFW {
			t.Fatalf("%d bytes: firmware %q", n, r.FirmwareLoadName)
		}
		again := r.AppendBody(nil)
		if len(again) != n {
			t.Fatalf("%d bytes: re-encoded to %d", n, len(again))
		}
		if m2, err := Decode(RegisterID, again); err != nil || !reflect.DeepEqual(m2, r) {
			t.Fatalf("%d bytes: re-decoded %+v, %v\nwant %+v", n, m2, err, r)
		}
	}
}

func TestDecodeShortBodies(t *testing.T) {
	for _, id := range []MessageID{RegisterID, LineStatReqID, RegisterAckID,
		UnregisterAckID, LineStatResID, ButtonTemplateID} {
		if _, err := Decode(id, []byte{1, 2}); !errors.Is(err, ErrShortBody) {
			t.Errorf("%v with 2 bytes: err = %v, want ErrShortBody", id, err)
		}
	}
	if _, err := Decode(RegisterRejectID, nil); !errors.Is(err, ErrShortBody) {
		t.Errorf("empty RegisterReject: err = %v, want ErrShortBody", err)
	}
	// Messages with optional or no bodies accept short ones, and a
	// RegisterReject any text.
	for _, id := range []MessageID{KeepAliveID, UnregisterID, CapabilitiesResID, ButtonTemplateReqID, RegisterRejectID} {
		if _, err := Decode(id, []byte{1, 2}); err != nil {
			t.Errorf("%v with 2 bytes: %v", id, err)
		}
	}
}

func TestDecodeCapabilitiesResLoose(t *testing.T) {
	// The count claims 18 capabilities, the body holds one and a half.
	body := cat(le(18), le(4), le(40), make([]byte, 8), le(2), le(20))
	m, err := Decode(CapabilitiesResID, body)
	if err != nil {
		t.Fatal(err)
	}
	c := m.(CapabilitiesRes)
	if c.Count != 18 || len(c.Caps) != 1 || c.Caps[0].PayloadCapability != 4 {
		t.Fatalf("got %+v", c)
	}
	// A huge count allocates nothing beyond the body.
	m, err = Decode(CapabilitiesResID, le(0xFFFFFFFF))
	if err != nil || len(m.(CapabilitiesRes).Caps) != 0 {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestStringFields(t *testing.T) {
	// Texts are cut to leave a NUL terminator, not inside a UTF-8 sequence.
	long := strings.Repeat("x", 30) + "é!"
	b := RegisterReject{Text: long}.AppendBody(nil)
	if len(b) != 32 || b[31] != 0 {
		t.Fatalf("body %q", b)
	}
	m, _ := Decode(RegisterRejectID, b)
	if got := m.(RegisterReject).Text; got != strings.Repeat("x", 30) {
		t.Fatalf("text %q", got)
	}
	// The date template fills its six bytes.
	b = RegisterAck{DateTemplate: "D.M.Y24"}.AppendBody(nil)
	if string(b[4:10]) != "D.M.Y2" {
		t.Fatalf("date template %q", b[4:10])
	}
	// A string stops at its first NUL.
	m, _ = Decode(LineStatResID, cat(le(1), pad("12\x0034", 24), pad("", 40)))
	if got := m.(LineStatRes).DirNumber; got != "12" {
		t.Fatalf("DN %q", got)
	}
}

func TestMessageIDString(t *testing.T) {
	if s := RegisterAckID.String(); s != "RegisterAckMessage" {
		t.Fatal(s)
	}
	if s := MessageID(0x1234).String(); s != "Message(0x1234)" {
		t.Fatal(s)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
