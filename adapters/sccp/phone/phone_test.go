package phone_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// fakeCM accepts one connection and runs handle on it.
func fakeCM(t *testing.T, handle func(c net.Conn, r *skinny.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		handle(c, skinny.NewReader(c, 0))
	}()
	return ln.Addr().String()
}

func send(c net.Conn, msgs ...skinny.Message) {
	var b []byte
	for _, m := range msgs {
		b = skinny.AppendFrame(b, 0, m)
	}
	_, _ = c.Write(b)
}

var ack = skinny.RegisterAck{KeepAliveInterval: 1, DateTemplate: "D.M.Y", SecondaryKeepAliveInterval: 2, ProtocolVersion: 5}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRegisterForms(t *testing.T) {
	tests := []struct {
		name string
		cfg  phone.Config
		len  int
	}{
		{"7960 short", phone.Config{Name: "SEP0011223344AA", DeviceType: 7}, skinny.RegisterShortLen},
		{"basic", phone.Config{Name: "SEP0011223344AA", DeviceType: 8, ProtocolVersion: 5}, skinny.RegisterBasicLen},
		{"long", phone.Config{Name: "SEP0011223344AA", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true,
			StationIP: netip.MustParseAddr("192.0.2.7")}, skinny.RegisterLongLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan skinny.Register, 1)
			addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
				m, err := r.ReadMessage()
				if err != nil {
					return
				}
				got <- m.(skinny.Register)
				send(c, ack)
			})
			p, err := phone.DialConfig(ctxFor(t, 5*time.Second), addr, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Ack() != ack || p.KeepAliveInterval() != time.Second {
				t.Fatalf("ack %+v", p.Ack())
			}
			r := <-got
			if r.Length != tt.len || r.DeviceName != tt.cfg.Name || r.DeviceType != tt.cfg.DeviceType ||
				r.ProtocolVersion != tt.cfg.ProtocolVersion || r.Instance != 1 {
				t.Fatalf("register %+v", r)
			}
			wantIP := netip.MustParseAddr("127.0.0.1")
			if tt.cfg.StationIP.IsValid() {
				wantIP = tt.cfg.StationIP
			}
			if r.StationIP != wantIP {
				t.Fatalf("station IP %v, want %v", r.StationIP, wantIP)
			}
			if tt.cfg.LongRegister && (r.MACAddress != [6]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0xAA} || r.FirmwareLoadName == "") {
				t.Fatalf("long register %+v", r)
			}
		})
	}
}

func TestReject(t *testing.T) {
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err == nil {
			send(c, skinny.RegisterReject{Text: "Autoregistration closed"})
		}
	})
	_, err := phone.Dial(ctxFor(t, 5*time.Second), addr, "SEP0011223344AA", 7)
	var rej *phone.RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, phone.ErrRejected) || rej.Text != "Autoregistration closed" ||
		rej.Device != "SEP0011223344AA" {
		t.Fatalf("err = %v", err)
	}
}

// The phone answers a CapabilitiesReq while it waits for something else, and
// drops messages nobody waits for.
func TestUnsolicitedMessages(t *testing.T) {
	gotCaps := make(chan skinny.CapabilitiesRes, 1)
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(c, ack, skinny.CapabilitiesReq{}, skinny.Unknown{MsgID: 0x0094, Body: make([]byte, 36)})
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			switch m := m.(type) {
			case skinny.CapabilitiesRes:
				gotCaps <- m
			case skinny.KeepAlive:
				send(c, skinny.KeepAliveAck{})
			}
		}
	})
	ctx := ctxFor(t, 5*time.Second)
	p, err := phone.Dial(ctx, addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.KeepAlive(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-gotCaps:
		if len(c.Caps) == 0 {
			t.Fatalf("capabilities %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no CapabilitiesRes")
	}
}

// An exchange the server does not answer ends with the context's error, and
// the phone can go on afterwards.
func TestExchangeDeadlineAndCancel(t *testing.T) {
	release := make(chan struct{})
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(c, ack)
		n := 0
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if _, ok := m.(skinny.KeepAlive); ok {
				if n++; n <= 2 {
					continue // the first two go unanswered
				}
				<-release
				// Half a frame, a pause, the rest: the phone reassembles it.
				b := skinny.Marshal(skinny.KeepAliveAck{})
				_, _ = c.Write(b[:5])
				time.Sleep(50 * time.Millisecond)
				_, _ = c.Write(b[5:])
			}
		}
	})
	p, err := phone.Dial(ctxFor(t, 5*time.Second), addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	start := time.Now()
	err = p.KeepAlive(ctxFor(t, 100*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := p.KeepAlive(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}

	close(release)
	if err := p.KeepAlive(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
}

func TestRun(t *testing.T) {
	var keepalives atomic.Int32
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(c, ack) // keepalive interval 1s
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if _, ok := m.(skinny.KeepAlive); ok {
				keepalives.Add(1)
				send(c, skinny.KeepAliveAck{})
			}
		}
	})
	p, err := phone.Dial(ctxFor(t, 5*time.Second), addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(ctxFor(t, 2300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n := keepalives.Load(); n < 1 || n > 3 {
		t.Fatalf("%d keepalives in 2.3s at 1s", n)
	}
}

// Run returns the error when the server goes away.
func TestRunServerGone(t *testing.T) {
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err == nil {
			send(c, ack)
		}
	})
	p, err := phone.Dial(ctxFor(t, 5*time.Second), addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(ctxFor(t, 5*time.Second)); err == nil {
		t.Fatal("Run = nil with the server gone")
	}
}

func TestUnregisterRefused(t *testing.T) {
	addr := fakeCM(t, func(c net.Conn, r *skinny.Reader) {
		if _, err := r.ReadMessage(); err != nil {
			return
		}
		send(c, ack)
		if _, err := r.ReadMessage(); err == nil {
			send(c, skinny.UnregisterAck{Status: skinny.UnregisterNAK})
		}
		_, _ = r.ReadMessage()
	})
	ctx := ctxFor(t, 5*time.Second)
	p, err := phone.Dial(ctx, addr, "SEP0011223344AA", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var ue *phone.UnregisterError
	if err := p.Unregister(ctx); !errors.As(err, &ue) || ue.Status != skinny.UnregisterNAK {
		t.Fatalf("err = %v", err)
	}
}
