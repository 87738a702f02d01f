package skinny

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var (
	cm1 = ServerInfo{Name: "cm1.example.net", Addr: netip.MustParseAddr("10.0.0.1"), Port: 2000}
	cm2 = ServerInfo{Name: "cm2", Addr: netip.MustParseAddr("192.168.1.2"), Port: 2443}

	// The 7961's start-up alarm, as the phone-boot-sequence corpus has it.
	bootAlarm = Alarm{Severity: AlarmInformational, Text: "Name=SEP0007EB3E7166 Load=SCCP41.9-4-2SR3-1S", Param1: 0, Param2: 0x04}
)

// u16s encodes little-endian 16-bit values.
func u16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(v), byte(v>>8))
	}
	return b
}

// TestStationRoundTrip encodes each message of the conversation after
// registration, checks the exact body, and decodes it back.
func TestStationRoundTrip(t *testing.T) {
	set := SoftKeySet{TemplateIndex: [16]uint8{1, 2, 5}, InfoIndex: [16]uint16{301, 302, 305}}
	tests := []struct {
		name string
		msg  Message
		body []byte
	}{
		{"VersionReq", VersionReq{}, nil},
		{"ServerReq", ServerReq{}, nil},
		{"ConfigStatReq", ConfigStatReq{}, nil},
		{"TimeDateReq", TimeDateReq{}, nil},
		{"SoftKeySetReq", SoftKeySetReq{}, nil},
		{"SoftKeyTemplateReq", SoftKeyTemplateReq{}, nil},
		{"ForwardStatReq", ForwardStatReq{LineNumber: 1}, le(1)},
		{"SpeedDialStatReq", SpeedDialStatReq{Number: 3}, le(3)},
		{"RegisterAvailableLines", RegisterAvailableLines{MaxLines: 6}, le(6)},
		{"Alarm", bootAlarm, cat(le(2), pad(bootAlarm.Text, 80), le(0), le(4))},
		{"Version", Version{Load: "P00308010200"}, pad("P00308010200", 16)},
		{"Version empty", Version{}, make([]byte, 16)},
		{"ServerRes", ServerRes{Servers: []ServerInfo{cm1, cm2}}, cat(
			pad("cm1.example.net", 48), pad("cm2", 48), make([]byte, 3*48),
			le(2000), le(2443), make([]byte, 3*4),
			[]byte{10, 0, 0, 1}, []byte{192, 168, 1, 2}, make([]byte, 3*4))},
		{"ServerRes empty", ServerRes{}, make([]byte, 280)},
		{"Reset", Reset{Type: ResetReset}, le(1)},
		{"Restart", Reset{Type: ResetRestart}, le(2)},
		{"ConfigStat", ConfigStat{DeviceName: "SEP00112233AABB", Instance: 1, UserName: "SEP00112233AABB",
			ServerName: "cm1", Lines: 1}, cat(pad("SEP00112233AABB", 16), le(0), le(1),
			pad("SEP00112233AABB", 40), pad("cm1", 40), le(1), le(0))},
		{"DefineTimeDate", DefineTimeDate{Year: 2024, Month: 3, DayOfWeek: 2, Day: 5, Hour: 14, Minute: 7,
			Second: 9, Millisecond: 250, SystemTime: 1709647629}, cat(le(2024), le(3), le(2), le(5), le(14), le(7),
			le(9), le(250), le(1709647629))},
		{"ForwardStat empty", ForwardStat{LineNumber: 1}, cat(le(0), le(1), le(0), make([]byte, 24), le(0),
			make([]byte, 24), le(0), make([]byte, 24))},
		{"ForwardStat all", ForwardStat{ActiveForward: 1, LineNumber: 2, ForwardAllActive: 1, ForwardAllNumber: "5000"},
			cat(le(1), le(2), le(1), pad("5000", 24), le(0), make([]byte, 24), le(0), make([]byte, 24))},
		{"SpeedDialStat empty", SpeedDialStat{Number: 1}, cat(le(1), make([]byte, 24+40))},
		{"SpeedDialStat", SpeedDialStat{Number: 2, DirNumber: "5001", DisplayName: "Help desk"},
			cat(le(2), pad("5001", 24), pad("Help desk", 40))},
		{"SoftKeyTemplateRes", SoftKeyTemplateRes{Total: 2, Keys: []SoftKey{
			{Label: SoftKeyLabel(1), Event: SoftKeyRedial}, {Label: "Dial", Event: 201}}},
			cat(le(0), le(2), le(2), pad("\x80\x01", 16), le(1), pad("Dial", 16), le(201), make([]byte, 30*20))},
		{"SoftKeySetRes", SoftKeySetRes{Total: 1, Sets: []SoftKeySet{set}},
			cat(le(0), le(1), le(1), []byte{1, 2, 5}, make([]byte, 13), u16s(301, 302, 305), make([]byte, 26),
				make([]byte, 15*48))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.msg.AppendBody(nil)
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Fatalf("body\n got %x\nwant %x", body, tt.body)
			}
			if tt.body == nil && len(body) != 0 {
				t.Fatalf("body %x, want none", body)
			}
			got, err := Decode(tt.msg.ID(), body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, tt.msg)
			}
			f, err := NewReader(bytes.NewReader(Marshal(tt.msg)), 0).ReadFrame()
			if err != nil || f.ID != tt.msg.ID() || !bytes.Equal(f.Body, body) {
				t.Fatalf("ReadFrame = %+v, %v", f, err)
			}
		})
	}
}

// TestDecodePhoneRequests decodes what phones send: bodies of the right
// size, truncated ones (a clear error naming the message and the length it
// needs) and oversized ones (the known fields; newer firmware appends).
func TestDecodePhoneRequests(t *testing.T) {
	tests := []struct {
		name string
		id   MessageID
		body []byte
		want Message
		err  string // substring of the error; "" for none
	}{
		{"VersionReq", VersionReqID, nil, VersionReq{}, ""},
		{"VersionReq with a body", VersionReqID, le(0), VersionReq{}, ""},
		{"ServerReq", ServerReqID, nil, ServerReq{}, ""},
		{"ConfigStatReq", ConfigStatReqID, nil, ConfigStatReq{}, ""},
		{"TimeDateReq", TimeDateReqID, nil, TimeDateReq{}, ""},
		{"TimeDateReq with padding", TimeDateReqID, []byte{0}, TimeDateReq{}, ""},
		{"SoftKeySetReq", SoftKeySetReqID, nil, SoftKeySetReq{}, ""},
		{"SoftKeyTemplateReq", SoftKeyTemplateReqID, nil, SoftKeyTemplateReq{}, ""},
		{"ForwardStatReq", ForwardStatReqID, le(2), ForwardStatReq{LineNumber: 2}, ""},
		{"ForwardStatReq oversized", ForwardStatReqID, cat(le(2), le(99)), ForwardStatReq{LineNumber: 2}, ""},
		{"ForwardStatReq empty", ForwardStatReqID, nil, nil, "ForwardStatReqMessage body of 0 bytes, need at least 4"},
		{"ForwardStatReq truncated", ForwardStatReqID, []byte{1, 0, 0}, nil, "ForwardStatReqMessage body of 3 bytes, need at least 4"},
		{"SpeedDialStatReq", SpeedDialStatReqID, le(1), SpeedDialStatReq{Number: 1}, ""},
		{"SpeedDialStatReq truncated", SpeedDialStatReqID, []byte{1}, nil, "SpeedDialStatReqMessage body of 1 bytes, need at least 4"},
		{"RegisterAvailableLines", RegisterAvailableLinesID, le(6), RegisterAvailableLines{MaxLines: 6}, ""},
		{"RegisterAvailableLines truncated", RegisterAvailableLinesID, []byte{6, 0}, nil,
			"RegisterAvailableLinesMessage body of 2 bytes, need at least 4"},
		{"Alarm", AlarmID, bootAlarm.AppendBody(nil), bootAlarm, ""},
		{"Alarm oversized", AlarmID, cat(bootAlarm.AppendBody(nil), []byte("more")), bootAlarm, ""},
		{"Alarm without parameters", AlarmID, cat(le(1), pad("Lost contact", 80)),
			Alarm{Severity: AlarmWarning, Text: "Lost contact"}, ""},
		{"Alarm with a short text", AlarmID, cat(le(7), []byte("disk")), Alarm{Severity: AlarmMajor, Text: "disk"}, ""},
		{"Alarm severity only", AlarmID, le(0), Alarm{Severity: AlarmCritical}, ""},
		{"Alarm text of 80 bytes", AlarmID, cat(le(2), bytes.Repeat([]byte{'x'}, 80), le(3), le(4)),
			Alarm{Severity: AlarmInformational, Text: strings.Repeat("x", 80), Param1: 3, Param2: 4}, ""},
		{"Alarm truncated", AlarmID, []byte{2, 0, 0}, nil, "AlarmMessage body of 3 bytes, need at least 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.id, tt.body)
			if tt.err != "" {
				if !errors.Is(err, ErrShortBody) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrShortBody with %q", err, tt.err)
				}
				if got != nil {
					t.Fatalf("a failed Decode returned %#v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestDecodeCMAnswersLengths decodes every prefix of each fixed-size
// answer: all shorter than the body fail with a clear error, the body and
// longer ones decode to the message.
func TestDecodeCMAnswersLengths(t *testing.T) {
	for _, m := range []Message{
		Version{Load: "SCCP41.9-4-2S"},
		ServerRes{Servers: []ServerInfo{cm1}},
		Reset{Type: ResetRestart},
		ConfigStat{DeviceName: "SEP00112233AABB", Instance: 1, ServerName: "cm1", Lines: 1},
		TimeDateOf(time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)),
		ForwardStat{LineNumber: 1},
		SpeedDialStat{Number: 1},
	} {
		body := m.AppendBody(nil)
		for n := 0; n < len(body); n++ {
			_, err := Decode(m.ID(), body[:n])
			want := fmt.Sprintf("%v body of %d bytes, need at least %d", m.ID(), n, len(body))
			if !errors.Is(err, ErrShortBody) || !strings.Contains(err.Error(), want) {
				t.Fatalf("%v, %d of %d bytes: err = %v, want %q", m.ID(), n, len(body), err, want)
			}
		}
		for _, extra := range [][]byte{nil, {0}, make([]byte, 40)} {
			got, err := Decode(m.ID(), cat(body, extra))
			if err != nil || !reflect.DeepEqual(got, m) {
				t.Fatalf("%v with %d extra bytes: %#v, %v", m.ID(), len(extra), got, err)
			}
		}
	}
}

// The soft key template and sets are read as far as their counts and the
// body go, like the button template: a huge count allocates nothing.
func TestDecodeSoftKeysLoose(t *testing.T) {
	for _, id := range []MessageID{SoftKeyTemplateResID, SoftKeySetResID} {
		if _, err := Decode(id, le(0)); !errors.Is(err, ErrShortBody) {
			t.Fatalf("%v of 4 bytes: err = %v", id, err)
		}
	}
	m, err := Decode(SoftKeyTemplateResID, cat(le(0), le(0xFFFFFFFF), le(40), pad("\x80\x02", 16), le(2), []byte{1, 2}))
	if err != nil {
		t.Fatal(err)
	}
	if k := m.(SoftKeyTemplateRes); k.Total != 40 || len(k.Keys) != 1 || k.Keys[0] != (SoftKey{Label: SoftKeyLabel(2), Event: 2}) {
		t.Fatalf("got %+v", k)
	}
	m, err = Decode(SoftKeySetResID, cat(le(0), le(3), le(3), make([]byte, 48), make([]byte, 47)))
	if err != nil || len(m.(SoftKeySetRes).Sets) != 1 {
		t.Fatalf("got %+v, %v", m, err)
	}
	// More keys or sets than the body holds are cut when encoding.
	many := SoftKeyTemplateRes{Keys: make([]SoftKey, 40)}
	if n := len(many.AppendBody(nil)); n != softKeyTemplateLen {
		t.Fatalf("template of 40 keys encodes in %d bytes", n)
	}
	sets := SoftKeySetRes{Sets: make([]SoftKeySet, 20)}
	if b := sets.AppendBody(nil); len(b) != softKeySetResLen || b[4] != MaxSoftKeySets || b[8] != MaxSoftKeySets {
		t.Fatalf("20 sets encode as %d bytes, count %d", len(b), b[4])
	}
}

func TestServerResSlots(t *testing.T) {
	// More than five servers: the first five are sent.
	six := ServerRes{Servers: []ServerInfo{cm1, cm2, cm1, cm2, cm1, cm2}}
	m, err := Decode(ServerResID, six.AppendBody(nil))
	if err != nil || !reflect.DeepEqual(m.(ServerRes).Servers, six.Servers[:5]) {
		t.Fatalf("got %+v, %v", m, err)
	}
	// An unused slot before a used one keeps its place.
	gap := ServerRes{Servers: []ServerInfo{{Addr: netip.IPv4Unspecified()}, cm2}}
	m, err = Decode(ServerResID, gap.AppendBody(nil))
	if err != nil || !reflect.DeepEqual(m, gap) {
		t.Fatalf("got %+v, %v", m, err)
	}
	// Names are cut to leave a NUL terminator.
	long := ServerRes{Servers: []ServerInfo{{Name: strings.Repeat("n", 60)}}}
	m, _ = Decode(ServerResID, long.AppendBody(nil))
	if got := m.(ServerRes).Servers[0].Name; got != strings.Repeat("n", 47) {
		t.Fatalf("name %q", got)
	}
}

func TestVersionLoadLength(t *testing.T) {
	if !VersionFits("SCCP41.8-5-4S") || VersionFits("SCCP41.9-4-2SR3-1S") {
		t.Fatal("VersionFits")
	}
	m, _ := Decode(VersionID, Version{Load: "SCCP41.9-4-2SR3-1S"}.AppendBody(nil))
	if got := m.(Version).Load; got != "SCCP41.9-4-2SR3" {
		t.Fatalf("load %q", got)
	}
}

func TestTimeDateOf(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CEST", 2*3600)
	}
	at := time.Date(2024, 7, 14, 9, 30, 15, 999e6, paris) // a Sunday, 07:30:15 UTC
	got := TimeDateOf(at)
	want := DefineTimeDate{Year: 2024, Month: 7, DayOfWeek: 0, Day: 14, Hour: 9, Minute: 30, Second: 15,
		Millisecond: 999, SystemTime: uint32(at.Unix())}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !got.Time().Equal(at.Truncate(time.Second)) || got.Time().Hour() != 7 {
		t.Fatalf("Time() = %v", got.Time())
	}
}

func TestAlarmSeverity(t *testing.T) {
	if AlarmMajor.String() != "Major" || AlarmSeverity(99).String() != "AlarmSeverity(99)" {
		t.Fatal(AlarmMajor.String(), AlarmSeverity(99).String())
	}
	for s, problem := range map[AlarmSeverity]bool{AlarmCritical: true, AlarmWarning: true, AlarmMajor: true,
		AlarmMinor: true, AlarmMarginal: true, AlarmInformational: false, AlarmTraceInfo: false, AlarmUnknown: false} {
		if s.Problem() != problem {
			t.Errorf("%v.Problem() = %v", s, !problem)
		}
	}
	if ResetRestart.String() != "RESTART" || ResetType(9).String() != "ResetType(9)" {
		t.Fatal(ResetRestart.String())
	}
}

// TestBadBodyLosesNothing reads a stream in which one request is truncated
// and one oversized, whole and a byte at a time: the Reader stays in step
// (every frame comes out whole), the bad body's Decode fails alone, and the
// oversized one decodes.
func TestBadBodyLosesNothing(t *testing.T) {
	stream := cat(
		Marshal(VersionReq{}),
		AppendRawFrame(nil, 0, ForwardStatReqID, []byte{1, 0}), // truncated
		Marshal(SpeedDialStatReq{Number: 1}),
		AppendRawFrame(nil, 0, AlarmID, cat(bootAlarm.AppendBody(nil), make([]byte, 20))), // oversized
		Marshal(TimeDateReq{}),
	)
	// nil stands for the frame whose body does not decode.
	want := []Message{VersionReq{}, nil, SpeedDialStatReq{Number: 1}, bootAlarm, TimeDateReq{}}
	for how, rd := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
	} {
		r := NewReader(rd, 0)
		var got []Message
		for {
			m, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrShortBody) || !strings.Contains(err.Error(), "ForwardStatReqMessage body of 2 bytes, need at least 4") {
					t.Fatalf("%s: %v", how, err)
				}
				got = append(got, nil)
				continue
			}
			got = append(got, m)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %#v\nwant %#v", how, got, want)
		}
	}
}
