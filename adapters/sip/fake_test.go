package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/internal/command"
)

// fakeRegistrar records the calls and hands out directory numbers.
type fakeRegistrar struct {
	mu       sync.Mutex
	regs     []command.Registration
	unregs   []command.Unregistration
	dns      map[string]string
	addrs    map[string]string
	nextDN   int
	regErr   error         // returned by Register when set
	unregErr error         // returned by Unregister when set
	delay    time.Duration // Register waits this long
	unregCh  chan command.Unregistration
}

func newFakeRegistrar() *fakeRegistrar {
	return &fakeRegistrar{
		dns:     make(map[string]string),
		addrs:   make(map[string]string),
		nextDN:  1000,
		unregCh: make(chan command.Unregistration, 1024),
	}
}

func (f *fakeRegistrar) Register(ctx context.Context, r command.Registration) (command.Registered, error) {
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return command.Registered{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs = append(f.regs, r)
	if f.regErr != nil {
		return command.Registered{}, f.regErr
	}
	dn, known := f.dns[r.Device]
	if !known {
		f.nextDN++
		dn = fmt.Sprint(f.nextDN)
		f.dns[r.Device] = dn
	}
	moved := known && f.addrs[r.Device] != r.Address
	changed := !known || moved
	f.addrs[r.Device] = r.Address
	return command.Registered{
		Device: r.Device, Model: r.Model, Protocol: r.Protocol, DN: dn,
		Autoregistered: !known, Moved: moved, Changed: changed,
	}, nil
}

func (f *fakeRegistrar) Unregister(ctx context.Context, u command.Unregistration) error {
	f.mu.Lock()
	f.unregs = append(f.unregs, u)
	err := f.unregErr
	f.mu.Unlock()
	if err == nil {
		select {
		case f.unregCh <- u:
		default:
		}
	}
	return err
}

func (f *fakeRegistrar) registrations() []command.Registration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]command.Registration(nil), f.regs...)
}

func (f *fakeRegistrar) unregistrations() []command.Unregistration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]command.Unregistration(nil), f.unregs...)
}

func (f *fakeRegistrar) set(fn func(f *fakeRegistrar)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// testLogger logs to the test at debug level.
func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// newTestServer makes a server with a fake registrar; adjust tweaks the
// config.
func newTestServer(t testing.TB, adjust func(*Config)) (*Server, *fakeRegistrar) {
	t.Helper()
	reg := newFakeRegistrar()
	cfg := Config{Registrar: reg, Logger: testLogger(t), Host: "autoreg.test"}
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx) // ends the workers; Shutdown may run twice
	})
	return s, reg
}

// served is a server listening on UDP and TCP on 127.0.0.1.
type served struct {
	*Server
	reg     *fakeRegistrar
	udpAddr *net.UDPAddr
	tcpAddr *net.TCPAddr
}

func serve(t *testing.T, adjust func(*Config)) *served {
	t.Helper()
	s, reg := newTestServer(t, adjust)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- s.ServeUDP(context.Background(), pc) }()
	go func() { errs <- s.ServeTCP(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range 2 {
			if err := <-errs; err != ErrServerClosed {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
	})
	return &served{Server: s, reg: reg, udpAddr: pc.LocalAddr().(*net.UDPAddr), tcpAddr: ln.Addr().(*net.TCPAddr)}
}

var testPeer = netip.MustParseAddrPort("192.0.2.10:5060")
