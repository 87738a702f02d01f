package sccp_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/adapters/sccp/skinny"
	"github.com/autoreg/autoreg/adapters/sccp/skinny/skinnytest"
)

// fakeProvisioning answers from fixed data and records what it was asked.
type fakeProvisioning struct {
	loads map[string]string // model → load
	cms   []sccp.CallManager
	loc   *time.Location

	mu    sync.Mutex
	calls []string
}

func (f *fakeProvisioning) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeProvisioning) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeProvisioning) Load(device, model string) string {
	f.record("load " + device + " " + model)
	return f.loads[model]
}

func (f *fakeProvisioning) CallManagers(device string) []sccp.CallManager {
	f.record("callmanagers " + device)
	return f.cms
}

func (f *fakeProvisioning) Location(device string) *time.Location {
	f.record("location " + device)
	return f.loc
}

// frameLog collects the frames a phone traces.
type frameLog struct {
	mu     sync.Mutex
	frames []skinnytest.Frame
}

func (l *frameLog) trace(fromPhone bool, frame []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frames = append(l.frames, skinnytest.Frame{ToPhone: !fromPhone, Data: bytes.Clone(frame)})
}

func (l *frameLog) all() []skinnytest.Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]skinnytest.Frame(nil), l.frames...)
}

var (
	newYork = func() *time.Location {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return time.FixedZone("EST", -5*3600)
		}
		return loc
	}()
	provisioned = func() *fakeProvisioning {
		return &fakeProvisioning{
			loads: map[string]string{"7961": "SCCP41.8-5-4S", "7960": "P00308010200"},
			cms: []sccp.CallManager{
				{Name: "CM_pub", Addr: netip.MustParseAddrPort("10.1.1.10:2000")},
				{Name: "CM_sub1", Addr: netip.MustParseAddrPort("10.1.1.11:0")}, // no port: 2000
				{Name: "CM_sub2", Addr: netip.MustParseAddrPort("10.1.1.12:2443")},
			},
			loc: newYork,
		}
	}
)

// The soft keys the server defines, by event: the template and the keys of
// the on-hook, connected and ring-in sets.
var (
	wantTemplate = []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	wantOnHook   = []uint8{1, 2, 5, 17, 18} // Redial NewCall CfwdAll PickUp GrpPickup
	wantConnect  = []uint8{3, 9, 4, 13, 14} // Hold EndCall Transfer Confrn Park
	wantRingIn   = []uint8{11, 9}           // Answer EndCall
)

// setKeys is a soft key set's template indexes up to the first empty key.
func setKeys(s skinny.SoftKeySet) []uint8 {
	var k []uint8
	for _, i := range s.TemplateIndex {
		if i == 0 {
			break
		}
		k = append(k, i)
	}
	return k
}

// checkTimeDate checks a DefineTimeDate shows its SystemTime in loc, and
// that SystemTime lies within [before, after] (seconds).
func checkTimeDate(t *testing.T, td skinny.DefineTimeDate, loc *time.Location, before, after time.Time) {
	t.Helper()
	at := time.Unix(int64(td.SystemTime), int64(td.Millisecond)*int64(time.Millisecond)).In(loc)
	want := skinny.TimeDateOf(at)
	if td != want {
		t.Fatalf("DefineTimeDate %+v\nwant %+v (%v)", td, want, at)
	}
	if at.Before(before.Truncate(time.Second)) || at.After(after) {
		t.Fatalf("time %v not within [%v, %v]", at, before, after)
	}
}

// A 7961 holds the whole start-up conversation over TCP: every request is
// answered from the registration and the Provisioning port, and tshark
// reads every frame the server sent as meant.
func TestStartupConversation(t *testing.T) {
	prov := provisioned()
	ts := startServer(t, sccp.Config{Provisioning: prov})
	ctx := testCtx(t)
	var trace frameLog
	before := time.Now()
	p, err := phone.DialConfig(ctx, ts.addr, phone.Config{
		Name: "SEP00112233AABB", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true,
		Trace: trace.trace,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st, err := p.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if !reflect.DeepEqual(p.Startup(), st) {
		t.Fatal("Startup() differs from what Start returned")
	}

	if st.Load != "SCCP41.8-5-4S" {
		t.Errorf("load %q", st.Load)
	}
	wantCMs := []skinny.ServerInfo{
		{Name: "CM_pub", Addr: netip.MustParseAddr("10.1.1.10"), Port: 2000},
		{Name: "CM_sub1", Addr: netip.MustParseAddr("10.1.1.11"), Port: 2000},
		{Name: "CM_sub2", Addr: netip.MustParseAddr("10.1.1.12"), Port: 2443},
	}
	if !reflect.DeepEqual(st.CallManagers, wantCMs) {
		t.Errorf("CallManagers %+v\nwant %+v", st.CallManagers, wantCMs)
	}
	if b := st.Buttons.Buttons; len(b) != 1 || b[0] != (skinny.Button{Instance: 1, Definition: skinny.ButtonLine}) {
		t.Errorf("buttons %+v", st.Buttons)
	}
	var events []uint32
	for i, k := range st.SoftKeys.Keys {
		events = append(events, k.Event)
		if k.Label != skinny.SoftKeyLabel(uint8(k.Event)) {
			t.Errorf("soft key %d: label %q for event %d", i+1, k.Label, k.Event)
		}
	}
	if !reflect.DeepEqual(events, wantTemplate) || st.SoftKeys.Total != uint32(len(wantTemplate)) {
		t.Errorf("soft key template %+v", st.SoftKeys)
	}
	sets := st.SoftKeySets.Sets
	if len(sets) != 11 || st.SoftKeySets.Total != 11 {
		t.Fatalf("%d soft key sets (total %d)", len(sets), st.SoftKeySets.Total)
	}
	if !reflect.DeepEqual(setKeys(sets[0]), wantOnHook) || !reflect.DeepEqual(setKeys(sets[1]), wantConnect) ||
		!reflect.DeepEqual(setKeys(sets[3]), wantRingIn) {
		t.Errorf("sets: on hook %v, connected %v, ring in %v", setKeys(sets[0]), setKeys(sets[1]), setKeys(sets[3]))
	}
	for i, s := range sets {
		for k, idx := range s.TemplateIndex {
			if want := uint16(0); idx != 0 {
				want = 300 + uint16(idx)
				if int(idx) > len(wantTemplate) {
					t.Errorf("set %d key %d: template index %d beyond the template", i, k, idx)
				}
				if s.InfoIndex[k] != want {
					t.Errorf("set %d key %d: info index %d, want %d", i, k, s.InfoIndex[k], want)
				}
			}
		}
	}
	wantConfig := skinny.ConfigStat{DeviceName: "SEP00112233AABB", Instance: 1, UserName: "SEP00112233AABB",
		ServerName: "CM_pub", Lines: 1}
	if st.Config != wantConfig {
		t.Errorf("ConfigStat %+v", st.Config)
	}
	if len(st.Lines) != 1 || st.DN() != "1000" || st.Lines[0].LineNumber != 1 {
		t.Errorf("lines %+v", st.Lines)
	}
	if !reflect.DeepEqual(st.Forwards, []skinny.ForwardStat{{LineNumber: 1}}) {
		t.Errorf("forwards %+v", st.Forwards)
	}
	if !reflect.DeepEqual(st.SpeedDials, []skinny.SpeedDialStat{{Number: 1}}) {
		t.Errorf("speed dials %+v", st.SpeedDials)
	}
	checkTimeDate(t, st.Time, newYork, before, after)

	got := strings.Join(prov.asked(), "; ")
	for _, want := range []string{"load SEP00112233AABB 7961", "callmanagers SEP00112233AABB", "location SEP00112233AABB"} {
		if !strings.Contains(got, want) {
			t.Errorf("Provisioning asked %q, not %q", got, want)
		}
	}
	// The phone is still registered and served.
	if err := p.KeepAlive(ctx); err != nil {
		t.Fatal(err)
	}

	checkWithTshark(t, trace.all(), st)
}

// checkWithTshark has tshark dissect a start-up conversation's frames and
// checks the server's answers field by field against what the phone
// decoded.
func checkWithTshark(t *testing.T, frames []skinnytest.Frame, st phone.Startup) {
	t.Helper()
	pkts := skinnytest.Dissect(t, frames)
	seen := map[int]bool{}
	for i, p := range pkts {
		if m, ok := p["_ws.malformed"]; ok {
			t.Errorf("frame %d: tshark finds it malformed: %v", i, m)
		}
		if got, want := p.Get(t, "skinny.data_length"), strconv.Itoa(len(frames[i].Data)-8); got != want {
			t.Errorf("frame %d: data_length %s, want %s", i, got, want)
		}
		if !frames[i].ToPhone {
			continue
		}
		id, _ := strconv.Atoi(p.Get(t, "skinny.messageId"))
		seen[id] = true
		check := func(field string, want ...string) {
			t.Helper()
			if got := p[field]; !reflect.DeepEqual(got, want) {
				t.Errorf("%v: tshark shows %s = %q, want %q", skinny.MessageID(id), field, got, want)
			}
		}
		switch skinny.MessageID(id) {
		case skinny.VersionID:
			check("skinny.versionStr", st.Load)
		case skinny.ServerResID:
			var names, ports, addrs []string
			for k := range skinny.MaxServers {
				s := skinny.ServerInfo{Addr: netip.IPv4Unspecified()}
				if k < len(st.CallManagers) {
					s = st.CallManagers[k]
				}
				names = append(names, s.Name)
				ports = append(ports, fmt.Sprint(s.Port))
				addrs = append(addrs, s.Addr.String())
			}
			check("skinny.ServerName", names...)
			check("skinny.serverTcpListenPort", ports...)
			check("skinny.stationIpAddr", addrs...)
		case skinny.ButtonTemplateID:
			check("skinny.totalButtonCount", "1")
			check("skinny.instanceNumber", "1")
			check("skinny.buttonDefinition", "0x09")
		case skinny.SoftKeyTemplateResID:
			n := strconv.Itoa(len(st.SoftKeys.Keys))
			check("skinny.softKeyCount", n)
			check("skinny.totalSoftKeyCount", n)
			var events, labels []string
			for _, k := range st.SoftKeys.Keys {
				events = append(events, fmt.Sprintf("0x%08x", k.Event))
				label := make([]byte, 16)
				copy(label, k.Label)
				labels = append(labels, hex.EncodeToString(label))
			}
			check("skinny.softKeyEvent", events...)
			check("skinny.softKeyLabel@value", labels...)
		case skinny.SoftKeySetResID:
			n := strconv.Itoa(len(st.SoftKeySets.Sets))
			check("skinny.softKeySetCount", n)
			check("skinny.totalSoftKeySetCount", n)
			var idx, info []string
			for _, s := range st.SoftKeySets.Sets {
				for k := range s.TemplateIndex {
					idx = append(idx, fmt.Sprintf("0x%02x", s.TemplateIndex[k]))
				}
				for k := range s.InfoIndex {
					info = append(info, fmt.Sprintf("0x%04x", s.InfoIndex[k]))
				}
			}
			check("skinny.softKeyTemplateIndex", idx...)
			check("skinny.softKeyInfoIndex", info...)
		case skinny.ConfigStatID:
			check("skinny.DeviceName", st.Config.DeviceName)
			check("skinny.instance", "1")
			check("skinny.userName", st.Config.UserName)
			check("skinny.serverName", st.Config.ServerName)
			check("skinny.numberOfLines", "1")
			check("skinny.numberOfSpeedDials", "0")
		case skinny.LineStatResID:
			check("skinny.lineNumber", "1")
			check("skinny.lineDirNumber", st.DN())
		case skinny.ForwardStatID:
			check("skinny.lineNumber", "1")
			check("skinny.activeForward", "0")
			check("skinny.forwardAllDirnum", "")
		case skinny.SpeedDialStatID:
			check("skinny.speedDialNumber", "1")
			check("skinny.speedDialDirNumber", "")
		case skinny.DefineTimeDateID:
			tm := st.Time
			check("skinny.wYear", fmt.Sprint(tm.Year))
			check("skinny.wMonth", fmt.Sprint(tm.Month))
			check("skinny.wDayOfWeek", fmt.Sprint(tm.DayOfWeek))
			check("skinny.wDay", fmt.Sprint(tm.Day))
			check("skinny.wHour", fmt.Sprint(tm.Hour))
			check("skinny.wMinute", fmt.Sprint(tm.Minute))
			check("skinny.wSecond", fmt.Sprint(tm.Second))
			check("skinny.systemTime", fmt.Sprint(tm.SystemTime))
		}
	}
	for _, id := range []skinny.MessageID{skinny.RegisterAckID, skinny.CapabilitiesReqID, skinny.VersionID,
		skinny.ServerResID, skinny.ButtonTemplateID, skinny.SoftKeyTemplateResID, skinny.SoftKeySetResID,
		skinny.ConfigStatID, skinny.LineStatResID, skinny.ForwardStatID, skinny.SpeedDialStatID,
		skinny.DefineTimeDateID} {
		if !seen[int(id)] {
			t.Errorf("tshark saw no %v from the server", id)
		}
	}
}

// Without Provisioning the server answers an empty load, itself as the only
// CallManager (as the phone reached it) and UTC; DialConfig with Start holds
// the conversation at once, as phones do.
func TestStartupDefaults(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ctx := testCtx(t)
	before := time.Now()
	p, err := phone.DialConfig(ctx, ts.addr, phone.Config{Name: "SEP00112233AABC", DeviceType: 7, Start: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st := p.Startup()
	server := netip.MustParseAddrPort(ts.addr)
	if st.Load != "" || !reflect.DeepEqual(st.CallManagers, []skinny.ServerInfo{
		{Name: server.Addr().String(), Addr: server.Addr(), Port: uint32(server.Port())}}) {
		t.Fatalf("load %q, CallManagers %+v", st.Load, st.CallManagers)
	}
	if st.Config.ServerName != server.Addr().String() || st.DN() != "1000" {
		t.Fatalf("ConfigStat %+v, DN %q", st.Config, st.DN())
	}
	checkTimeDate(t, st.Time, time.UTC, before, time.Now())
}

// A load longer than a VersionMessage holds is sent cut, and the cut is
// logged.
func TestStartupLongLoad(t *testing.T) {
	prov := provisioned()
	prov.loads["7961"] = "SCCP41.9-4-2SR3-1S"
	ts := startServer(t, sccp.Config{Provisioning: prov})
	ctx := testCtx(t)
	p, err := phone.DialConfig(ctx, ts.addr, phone.Config{
		Name: "SEP00112233AABB", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true, Start: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.Startup().Load; got != "SCCP41.9-4-2SR3" {
		t.Fatalf("load %q", got)
	}
	if len(ts.logs.lines(t, map[string]string{"load": "SCCP41.9-4-2SR3-1S", "level": "debug"})) != 1 {
		t.Fatalf("no log line for the cut load:\n%s", ts.logs)
	}
}

// The requests of the start-up are ignored before a registration; the
// connection goes on.
func TestStartupBeforeRegistration(t *testing.T) {
	ts := startServer(t, sccp.Config{Provisioning: provisioned()})
	c := dialRaw(t, ts.addr)
	var out []byte
	for _, m := range []skinny.Message{skinny.VersionReq{}, skinny.ServerReq{}, skinny.SoftKeyTemplateReq{},
		skinny.SoftKeySetReq{}, skinny.ConfigStatReq{}, skinny.ForwardStatReq{LineNumber: 1},
		skinny.SpeedDialStatReq{Number: 1}, skinny.RegisterAvailableLines{MaxLines: 6}, skinny.TimeDateReq{},
		skinny.KeepAlive{}} {
		out = skinny.AppendFrame(out, 0, m)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	want := skinny.Marshal(skinny.KeepAliveAck{}) // the first and only answer
	if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	if n := len(ts.logs.lines(t, map[string]string{"message": "request before registration: ignored"})); n != 9 {
		t.Fatalf("%d requests logged as ignored:\n%s", n, ts.logs)
	}
}

// A registered phone's truncated request ends its connection as bad input,
// the log saying what was wrong; the device is unregistered.
func TestStartupTruncatedRequest(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ctx := testCtx(t)
	p, err := phone.Dial(ctx, ts.addr, "SEP00112233AABB", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(ctx, skinny.Unknown{MsgID: skinny.ForwardStatReqID, Body: []byte{1, 0}}); err != nil {
		t.Fatal(err)
	}
	if u := ts.reg.waitUnregister(t, 5*time.Second); u.Device != "SEP00112233AABB" {
		t.Fatalf("unregistration %+v", u)
	}
	lines := ts.logs.lines(t, map[string]string{"message": "bad input: closing connection"})
	if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0]["error"]), "ForwardStatReqMessage body of 2 bytes, need at least 4") {
		t.Fatalf("log:\n%s", ts.logs)
	}
}

// Alarms are logged with their text, at info or warn after registration
// (debug before it and beyond ten on a connection), and each reaches
// Config.Alarm.
func TestAlarm(t *testing.T) {
	type alarm struct {
		device string
		a      skinny.Alarm
	}
	var mu sync.Mutex
	var got []alarm
	ts := startServer(t, sccp.Config{Alarm: func(device string, a skinny.Alarm) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, alarm{device, a})
	}})
	ctx := testCtx(t)

	// Before registration: counted, logged at debug.
	c := dialRaw(t, ts.addr)
	early := skinny.Alarm{Severity: skinny.AlarmInformational, Text: "Name=SEP00112233AABC Load=P00308010200 Last=Initialized"}
	if _, err := c.Write(append(skinny.Marshal(early), skinny.Marshal(skinny.KeepAlive{})...)); err != nil {
		t.Fatal(err)
	}
	readN(t, c, 12) // the KeepAliveAck: the alarm was handled

	p, err := phone.Dial(ctx, ts.addr, "SEP00112233AABB", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	boot := skinny.Alarm{Severity: skinny.AlarmInformational, Text: "Name=SEP00112233AABB Load=P00308010200 Last=Reset-Reset",
		Param1: 0, Param2: 4}
	lost := skinny.Alarm{Severity: skinny.AlarmMajor, Text: "TCP-timeout", Param1: 7}
	for _, a := range []skinny.Alarm{boot, lost} {
		if err := p.Send(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 { // ten more: the last two at debug
		if err := p.Send(ctx, skinny.Alarm{Severity: skinny.AlarmTraceInfo, Text: fmt.Sprintf("trace %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.KeepAlive(ctx); err != nil { // answered after all the alarms were handled
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 13 || got[0] != (alarm{"", early}) || got[1] != (alarm{"SEP00112233AABB", boot}) ||
		got[2] != (alarm{"SEP00112233AABB", lost}) {
		t.Fatalf("Alarm hook got %+v", got)
	}
	check := func(text, level string) {
		t.Helper()
		lines := ts.logs.lines(t, map[string]string{"message": "phone alarm", "text": text})
		if len(lines) != 1 || lines[0]["level"] != level {
			t.Errorf("alarm %q: log lines %v, want one at %s", text, lines, level)
		}
	}
	check(early.Text, "debug")
	check(boot.Text, "info")
	check(lost.Text, "warn")
	check("trace 7", "info")
	check("trace 8", "debug")
	check("trace 9", "debug")
	lines := ts.logs.lines(t, map[string]string{"message": "phone alarm", "text": lost.Text})
	if len(lines) == 1 && (lines[0]["severity"] != "Major" || lines[0]["param1"] != float64(7) ||
		lines[0]["device"] != "SEP00112233AABB") {
		t.Errorf("alarm line %v", lines[0])
	}
}

// Reset sends a Reset (reset or restart) on the device's connection; a
// device without one gets an error naming it.
func TestReset(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ctx := testCtx(t)
	p, err := phone.Dial(ctx, ts.addr, "SEP00112233AABB", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	for _, restart := range []bool{false, true} {
		if err := ts.srv.Reset("SEP00112233AABB", restart); err != nil {
			t.Fatal(err)
		}
		typ, err := p.WaitReset(ctx)
		want := skinny.ResetReset
		if restart {
			want = skinny.ResetRestart
		}
		if err != nil || typ != want {
			t.Fatalf("restart %v: got %v, %v", restart, typ, err)
		}
	}
	if n := len(ts.logs.lines(t, map[string]string{"message": "reset sent", "device": "SEP00112233AABB"})); n != 2 {
		t.Fatalf("%d reset lines:\n%s", n, ts.logs)
	}

	err = ts.srv.Reset("SEP0000000000FF", false)
	if !errors.Is(err, sccp.ErrNotConnected) || !strings.Contains(err.Error(), "SEP0000000000FF") {
		t.Fatalf("err = %v", err)
	}

	// The phone obeys: it drops the connection, and is gone.
	p.Close()
	ts.reg.waitUnregister(t, 5*time.Second)
	if err := ts.srv.Reset("SEP00112233AABB", true); !errors.Is(err, sccp.ErrNotConnected) {
		t.Fatalf("after the phone left: err = %v", err)
	}
}

// A Reset written while the connection answers a burst of requests does
// not interleave with the answers: the phone reads every frame whole.
func TestResetDuringStartup(t *testing.T) {
	ts := startServer(t, sccp.Config{Provisioning: provisioned()})
	ctx := testCtx(t)
	var mu sync.Mutex
	resets := 0
	p, err := phone.DialConfig(ctx, ts.addr, phone.Config{
		Name: "SEP00112233AABB", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true,
		Trace: func(fromPhone bool, frame []byte) {
			if !fromPhone && len(frame) >= 12 && skinny.MessageID(frame[8])|skinny.MessageID(frame[9])<<8 == skinny.ResetID {
				mu.Lock()
				resets++
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Resets keep coming until the conversations are over.
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := ts.srv.Reset("SEP00112233AABB", true); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	for range 5 {
		if _, err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	n := <-sent
	for { // the resets the conversations did not read
		mu.Lock()
		r := resets
		mu.Unlock()
		if r == n {
			break
		}
		if _, err := p.WaitReset(ctx); err != nil {
			t.Fatalf("%d of %d resets read: %v", r, n, err)
		}
	}
}

// A phone holding its registration learns of a Reset at its next
// KeepAlive, which reports it once, with its type.
func TestResetReachesAHeldPhone(t *testing.T) {
	ts := startServer(t, sccp.Config{Provisioning: provisioned()})
	ctx := testCtx(t)
	p, err := phone.DialConfig(ctx, ts.addr, phone.Config{Name: "SEP00112233AABB", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.KeepAlive(ctx); err != nil {
		t.Fatalf("keepalive before any reset: %v", err)
	}
	if err := ts.srv.Reset("SEP00112233AABB", false); err != nil {
		t.Fatal(err)
	}
	var re *phone.ResetError
	if err := p.KeepAlive(ctx); !errors.As(err, &re) || re.Type != skinny.ResetReset || re.Device != "SEP00112233AABB" {
		t.Fatalf("keepalive after a reset: %v, want a *phone.ResetError of type RESET", err)
	}
	if err := p.KeepAlive(ctx); err != nil {
		t.Fatalf("the reset was reported twice: %v", err)
	}
}

// The answers come in the order of the requests, each in one frame, when a
// raw client sends the whole start-up in one write.
func TestStartupPipelined(t *testing.T) {
	ts := startServer(t, sccp.Config{Provisioning: provisioned()})
	c := dialRaw(t, ts.addr)
	reg := skinny.Register{DeviceName: "SEP00112233AABB", Instance: 1, StationIP: netip.MustParseAddr("127.0.0.1"),
		DeviceType: 7, MaxStreams: 5, ProtocolVersion: 5, Length: skinny.RegisterBasicLen}
	var out []byte
	for _, m := range []skinny.Message{reg, skinny.VersionReq{}, skinny.ServerReq{}, skinny.ButtonTemplateReq{},
		skinny.SoftKeyTemplateReq{}, skinny.SoftKeySetReq{}, skinny.ConfigStatReq{}, skinny.LineStatReq{LineNumber: 1},
		skinny.ForwardStatReq{LineNumber: 1}, skinny.SpeedDialStatReq{Number: 1}, skinny.RegisterAvailableLines{MaxLines: 1},
		skinny.TimeDateReq{}, skinny.KeepAlive{}} {
		out = skinny.AppendFrame(out, 0, m)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	want := []skinny.MessageID{skinny.RegisterAckID, skinny.CapabilitiesReqID, skinny.VersionID, skinny.ServerResID,
		skinny.ButtonTemplateID, skinny.SoftKeyTemplateResID, skinny.SoftKeySetResID, skinny.ConfigStatID,
		skinny.LineStatResID, skinny.ForwardStatID, skinny.SpeedDialStatID, skinny.DefineTimeDateID, skinny.KeepAliveAckID}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := skinny.NewReader(c, 0)
	for i, id := range want {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if m.ID() != id {
			t.Fatalf("answer %d: %v, want %v", i, m.ID(), id)
		}
		if v, ok := m.(skinny.Version); ok && v.Load != "P00308010200" {
			t.Fatalf("7960 load %q", v.Load)
		}
	}
}
