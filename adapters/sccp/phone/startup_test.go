package phone_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// readBurst reads n messages from the phone.
func readBurst(r *skinny.Reader, n int) ([]skinny.Message, error) {
	var ms []skinny.Message
	for range n {
		m, err := r.ReadMessage()
		if err != nil {
			return ms, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// A CallManager answering out of order, with unasked messages in between,
// and a template of two lines and a speed dial: the phone asks for each,
// and sorts the answers out.
func TestStart(t *testing.T) {
	cms := []skinny.ServerInfo{{Name: "cm1", Addr: netip.MustParseAddr("10.0.0.1"), Port: 2000}}
	buttons := skinny.ButtonTemplate{Buttons: []skinny.Button{{Instance: 1, Definition: skinny.ButtonLine}, {Instance: 1, Definition: skinny.ButtonSpeedDial},
		{Instance: 2, Definition: skinny.ButtonLine}}}
	keys := skinny.SoftKeyTemplateRes{Total: 1, Keys: []skinny.SoftKey{{Label: skinny.SoftKeyLabel(1), Event: 1}}}
	sets := skinny.SoftKeySetRes{Total: 1, Sets: []skinny.SoftKeySet{{TemplateIndex: [16]uint8{1}, InfoIndex: [16]uint16{301}}}}
	config := skinny.ConfigStat{DeviceName: "SEP0011223344AA", Instance: 1, ServerName: "cm1", Lines: 2, SpeedDials: 1}
	when := skinny.TimeDateOf(time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC))

	bursts := make(chan [][]skinny.Message, 1)
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(c, ack)
		first, err := readBurst(r, 6)
		if err != nil {
			return
		}
		send(c, config, skinny.CapabilitiesReq{}, sets, keys, skinny.Unknown{MsgID: 0x0099, Body: make([]byte, 32)},
			buttons, cms2res(cms), skinny.Version{Load: "SCCP41.8-5-4S"})
		second, err := readBurst(r, 8) // 2 × (LineStatReq, ForwardStatReq), SpeedDialStatReq, RegisterAvailableLines, TimeDateReq + CapabilitiesRes
		if err != nil {
			return
		}
		bursts <- [][]skinny.Message{first, second}
		send(c, when, skinny.SpeedDialStat{Number: 1, DirNumber: "5000", DisplayName: "Desk"},
			skinny.ForwardStat{LineNumber: 2}, skinny.LineStatRes{LineNumber: 2, DirNumber: "2002"},
			skinny.LineStatRes{LineNumber: 1, DirNumber: "2001"}, skinny.ForwardStat{LineNumber: 1})
		_, _ = r.ReadMessage()
	})
	var trace []string
	p, err := phone.DialConfig(ctxFor(t, 5*time.Second), addr, phone.Config{
		Name: "SEP0011223344AA", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true, Start: true,
		Trace: func(fromPhone bool, frame []byte) {
			id := skinny.MessageID(frame[8]) | skinny.MessageID(frame[9])<<8
			dir := "<"
			if fromPhone {
				dir = ">"
			}
			trace = append(trace, dir+id.String())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st := p.Startup()

	b := <-bursts
	wantFirst := []skinny.Message{skinny.VersionReq{}, skinny.ServerReq{}, skinny.ButtonTemplateReq{},
		skinny.SoftKeyTemplateReq{}, skinny.SoftKeySetReq{}, skinny.ConfigStatReq{}}
	if !reflect.DeepEqual(b[0], wantFirst) {
		t.Fatalf("first burst %#v", b[0])
	}
	var second []skinny.Message
	for _, m := range b[1] {
		if m.ID() != skinny.CapabilitiesResID {
			second = append(second, m)
		}
	}
	wantSecond := []skinny.Message{skinny.LineStatReq{LineNumber: 1}, skinny.ForwardStatReq{LineNumber: 1},
		skinny.LineStatReq{LineNumber: 2}, skinny.ForwardStatReq{LineNumber: 2}, skinny.SpeedDialStatReq{Number: 1},
		skinny.RegisterAvailableLines{MaxLines: 2}, skinny.TimeDateReq{}}
	if !reflect.DeepEqual(second, wantSecond) {
		t.Fatalf("second burst %#v", b[1])
	}

	want := phone.Startup{
		Load: "SCCP41.8-5-4S", CallManagers: cms, Buttons: skinny.ButtonTemplate{Total: 3, Buttons: buttons.Buttons},
		SoftKeys: keys, SoftKeySets: sets, Config: config,
		Lines:      []skinny.LineStatRes{{LineNumber: 2, DirNumber: "2002"}, {LineNumber: 1, DirNumber: "2001"}},
		Forwards:   []skinny.ForwardStat{{LineNumber: 2}, {LineNumber: 1}},
		SpeedDials: []skinny.SpeedDialStat{{Number: 1, DirNumber: "5000", DisplayName: "Desk"}},
		Time:       when,
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("startup\n got %+v\nwant %+v", st, want)
	}
	if st.DN() != "2002" { // the first LineStatRes that came
		t.Fatalf("DN %q", st.DN())
	}
	got := strings.Join(trace, " ")
	for _, w := range []string{">RegisterMessage <RegisterAckMessage >VersionReqMessage", "<CapabilitiesReqMessage",
		">CapabilitiesResMessage", "<Message(0x0099)", ">TimeDateReqMessage", "<DefineTimeDate"} {
		if !strings.Contains(got, w) {
			t.Errorf("trace %q lacks %q", got, w)
		}
	}
}

func cms2res(cms []skinny.ServerInfo) skinny.ServerRes { return skinny.ServerRes{Servers: cms} }

// An answer that never comes: Start fails with the context's error, naming
// what it still waited for.
func TestStartMissingAnswer(t *testing.T) {
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(c, ack)
		if _, err := readBurst(r, 6); err != nil {
			return
		}
		send(c, skinny.Version{}, skinny.ServerRes{}, skinny.ButtonTemplate{}, skinny.SoftKeySetRes{})
		_, _ = r.ReadMessage()
	})
	p, err := phone.Dial(ctxFor(t, 5*time.Second), addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Start(ctxFor(t, 200*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "SoftKeyTemplateResMessage, ConfigStatMessage") {
		t.Fatalf("err = %v", err)
	}
}

// WaitReset returns the Reset's type, dropping what comes before it.
func TestWaitReset(t *testing.T) {
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(c, ack, skinny.KeepAliveAck{}, skinny.Reset{Type: skinny.ResetRestart})
		_, _ = r.ReadMessage()
	})
	var mu sync.Mutex
	var frames [][]byte
	ctx := ctxFor(t, 5*time.Second)
	p, err := phone.DialConfig(ctx, addr, phone.Config{Name: "SEP0011223344AA", DeviceType: 7,
		Trace: func(fromPhone bool, frame []byte) {
			mu.Lock()
			defer mu.Unlock()
			frames = append(frames, bytes.Clone(frame))
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if typ, err := p.WaitReset(ctx); err != nil || typ != skinny.ResetRestart {
		t.Fatalf("got %v, %v", typ, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(frames) != 4 || !bytes.Equal(frames[3], skinny.Marshal(skinny.Reset{Type: skinny.ResetRestart})) {
		t.Fatalf("traced %x", frames)
	}
}
