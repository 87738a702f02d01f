// Package phone is the phone's side of SCCP (Skinny): it connects to a
// registrar (or a CallManager), registers as a Cisco IP phone and exchanges
// the messages a registered phone does. The phone simulator and the
// adapter's tests use it.
//
// A session:
//
//	p, err := phone.Dial(ctx, "cm.example.net:2000", "SEP0011223344AA", 30018) // a 7961
//	var rej *phone.RejectedError
//	if errors.As(err, &rej) {
//		// the registrar said no: rej.Text is what the phone would show
//	}
//	if err != nil { ... }
//	defer p.Close()
//	dn, err := p.DN(ctx)          // the directory number, from a LineStatReq
//	st, err := p.Start(ctx)       // or the whole start-up: load, servers, soft keys, lines, time ...
//	go p.Run(ctx)                 // keepalives at the interval the RegisterAck gave
//	...
//	err = p.Unregister(ctx)       // UnregisterMessage, UnregisterAck, close
//
// Every exchange takes a context: its deadline bounds the exchange and its
// cancellation interrupts it. A Phone is safe for concurrent use; exchanges
// are serialised. Messages the server sends unasked are handled as a phone
// does: a CapabilitiesReq is answered with a CapabilitiesRes, anything else
// an exchange is not waiting for is dropped.
//
// It imports the codec (skinny) only.
package phone

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// Config describes the phone Dial registers.
type Config struct {
	// Name is the device name, "SEP" and the MAC address in 12 upper-case
	// hex digits.
	Name string
	// DeviceType is the SCCP device type code: 7 for a 7960, 8 for a 7940,
	// 30018 for a 7961, 115 for a 7941 ... (domain.Model.SCCPType).
	DeviceType uint32
	// ProtocolVersion is the Skinny protocol version the phone announces.
	// 0 sends the original short RegisterMessage body of old 7940/7960
	// firmware, which has no version.
	ProtocolVersion uint8
	// LongRegister sends the long RegisterMessage body of newer firmware
	// (MAC address, line count, firmware load name) instead of the basic
	// one. It needs a ProtocolVersion.
	LongRegister bool
	// FirmwareLoadName goes in the long body; default "SCCP41.9-4-2SR3-1S".
	FirmwareLoadName string
	// StationIP is the address the phone reports; default the local
	// address of the connection (0.0.0.0 when that is not IPv4).
	StationIP netip.Addr
	// MaxFrame bounds the frames the phone accepts; default
	// skinny.DefaultMaxFrame.
	MaxFrame int
	// Dialer dials the connection; default a zero net.Dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}
	// Start makes DialConfig hold the start-up conversation (Start) once
	// registered, as a phone does before it is usable; Startup then gives
	// what the phone learned. A failed conversation fails DialConfig.
	Start bool
	// Trace, when set, is called with every frame the phone sends
	// (fromPhone) and receives, whole (header and body), on the goroutine
	// of the exchange. The frame is only valid during the call.
	Trace func(fromPhone bool, frame []byte)
}

// ErrRejected matches (errors.Is) a RejectedError.
var ErrRejected = errors.New("registration rejected")

// RejectedError is Dial's error when the server answers the registration
// with a RegisterReject.
type RejectedError struct {
	Device string
	Text   string // the reject text, as a phone would show it
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("phone %s: registration rejected: %q", e.Device, e.Text)
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// UnregisterError is Unregister's error when the server's UnregisterAck does
// not say Ok. The phone stays registered and connected.
type UnregisterError struct {
	Device string
	Status skinny.UnregisterStatus
}

func (e *UnregisterError) Error() string {
	return fmt.Sprintf("phone %s: unregister refused: status %v", e.Device, e.Status)
}

// ResetError is what KeepAlive (and so Run) returns when the server sent a
// Reset since the last one: the phone should do what Type says (reboot and
// fetch its configuration again, or re-register) rather than go on. Other
// exchanges drop a Reset, as a phone busy starting up does.
type ResetError struct {
	Device string
	Type   skinny.ResetType
}

func (e *ResetError) Error() string {
	return fmt.Sprintf("phone %s: the server sent Reset (%v)", e.Device, e.Type)
}

// Phone is a registered phone's connection.
type Phone struct {
	name  string
	nc    net.Conn
	ack   skinny.RegisterAck
	trace func(fromPhone bool, frame []byte)

	mu      sync.Mutex // serialises exchanges; guards r, wbuf, rbuf, startup and reset
	r       *skinny.Reader
	wbuf    []byte
	rbuf    []byte // a received frame, for trace
	startup Startup
	reset   *ResetError // a Reset no KeepAlive has reported yet

	dmu  sync.Mutex // guards op and deadline changes
	op   uint64     // counts exchanges, so a late cancellation hits none
	once sync.Once
	cerr error
}

// Dial connects to addr and registers the phone name with the given device
// type, sending the basic RegisterMessage of protocol version 5 (what a
// 7940/7960 with SCCP 8 firmware sends). See DialConfig.
func Dial(ctx context.Context, addr, name string, deviceType uint32) (*Phone, error) {
	return DialConfig(ctx, addr, Config{Name: name, DeviceType: deviceType, ProtocolVersion: 5})
}

// DialConfig connects to addr and registers the phone cfg describes. It
// returns the Phone once the server has acknowledged the registration; a
// RegisterReject is a *RejectedError (errors.Is(err, ErrRejected)) and the
// connection is closed.
func DialConfig(ctx context.Context, addr string, cfg Config) (*Phone, error) {
	p, err := DialStandby(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	if err := p.Register(ctx, cfg); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// DialStandby connects to addr as a phone connects to its standby
// CallManager (the next in its list): without registering. KeepAlive (or
// RunEvery) keeps the connection open; Register makes it the phone's
// CallManager when the one it is registered with fails.
func DialStandby(ctx context.Context, addr string, cfg Config) (*Phone, error) {
	dialer := cfg.Dialer
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("phone %s: %w", cfg.Name, err)
	}
	return &Phone{name: cfg.Name, nc: nc, r: skinny.NewReader(nc, cfg.MaxFrame), trace: cfg.Trace}, nil
}

// Register registers the phone cfg describes on p's connection (a
// standby connection taking over). A RegisterReject is a *RejectedError;
// the connection stays open.
func (p *Phone) Register(ctx context.Context, cfg Config) error {
	m, err := p.exchange(ctx, registerMessage(cfg, p.nc.LocalAddr()), skinny.RegisterAckID, skinny.RegisterRejectID)
	if err != nil {
		return err
	}
	if rej, ok := m.(skinny.RegisterReject); ok {
		return &RejectedError{Device: cfg.Name, Text: rej.Text}
	}
	p.ack = m.(skinny.RegisterAck)
	if cfg.Start {
		if _, err := p.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// registerMessage builds the RegisterMessage cfg describes.
func registerMessage(cfg Config, local net.Addr) skinny.Register {
	ip := cfg.StationIP
	if !ip.IsValid() {
		if ap, err := netip.ParseAddrPort(local.String()); err == nil && ap.Addr().Unmap().Is4() {
			ip = ap.Addr().Unmap()
		}
	}
	m := skinny.Register{
		DeviceName:      cfg.Name,
		Instance:        1,
		StationIP:       ip,
		DeviceType:      cfg.DeviceType,
		MaxStreams:      5,
		ProtocolVersion: cfg.ProtocolVersion,
		MaxConferences:  1,
	}
	switch {
	case cfg.ProtocolVersion == 0:
		m.MaxConferences = 0
		m.Length = skinny.RegisterShortLen
	case cfg.LongRegister:
		if mac, err := hex.DecodeString(strings.TrimPrefix(cfg.Name, "SEP")); err == nil && len(mac) == 6 {
			copy(m.MACAddress[:], mac)
		}
		m.IPv4AddressScope = 1
		m.MaxNumberOfLines = 1
		m.FirmwareLoadName = cfg.FirmwareLoadName
		if m.FirmwareLoadName == "" {
			m.FirmwareLoadName = "SCCP41.9-4-2SR3-1S"
		}
		m.Length = skinny.RegisterLongLen
	default:
		m.Length = skinny.RegisterBasicLen
	}
	return m
}

// Name is the phone's device name.
func (p *Phone) Name() string { return p.name }

// Ack is the RegisterAck the server sent.
func (p *Phone) Ack() skinny.RegisterAck { return p.ack }

// KeepAliveInterval is the keepalive interval the RegisterAck gave (at least
// one second).
func (p *Phone) KeepAliveInterval() time.Duration {
	return time.Duration(max(p.ack.KeepAliveInterval, 1)) * time.Second
}

// LocalAddr is the phone's end of the connection.
func (p *Phone) LocalAddr() net.Addr { return p.nc.LocalAddr() }

// KeepAlive sends a KeepAlive and waits for the KeepAliveAck.
func (p *Phone) KeepAlive(ctx context.Context) error {
	_, err := p.exchange(ctx, skinny.KeepAlive{}, skinny.KeepAliveAckID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.reset; r != nil {
		p.reset = nil
		return r
	}
	return nil
}

// LineStat asks for a line's status (LineStatReq) and returns the answer.
// Lines count from 1.
func (p *Phone) LineStat(ctx context.Context, line uint32) (skinny.LineStatRes, error) {
	m, err := p.exchange(ctx, skinny.LineStatReq{LineNumber: line}, skinny.LineStatResID)
	if err != nil {
		return skinny.LineStatRes{}, err
	}
	return m.(skinny.LineStatRes), nil
}

// DN returns the directory number of the phone's first line.
func (p *Phone) DN(ctx context.Context) (string, error) {
	res, err := p.LineStat(ctx, 1)
	return res.DirNumber, err
}

// ButtonTemplate asks for the phone's button template.
func (p *Phone) ButtonTemplate(ctx context.Context) (skinny.ButtonTemplate, error) {
	m, err := p.exchange(ctx, skinny.ButtonTemplateReq{}, skinny.ButtonTemplateID)
	if err != nil {
		return skinny.ButtonTemplate{}, err
	}
	return m.(skinny.ButtonTemplate), nil
}

// Unregister sends an UnregisterMessage and waits for the UnregisterAck.
// When the server says Ok, the connection is closed; otherwise the error is
// an *UnregisterError and the phone stays registered.
func (p *Phone) Unregister(ctx context.Context) error {
	m, err := p.exchange(ctx, skinny.Unregister{}, skinny.UnregisterAckID)
	if err != nil {
		return err
	}
	if st := m.(skinny.UnregisterAck).Status; st != skinny.UnregisterOK {
		return &UnregisterError{Device: p.name, Status: st}
	}
	return p.Close()
}

// Run sends a KeepAlive every KeepAliveInterval and checks each is
// acknowledged within the interval, until ctx ends (it returns nil) or an
// exchange fails (it returns the error; the phone is then best closed).
func (p *Phone) Run(ctx context.Context) error { return p.RunEvery(ctx, p.KeepAliveInterval()) }

// RunEvery is Run at the interval every (a standby connection's, which no
// RegisterAck told).
func (p *Phone) RunEvery(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		kctx, cancel := context.WithTimeout(ctx, every)
		err := p.KeepAlive(kctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// Send sends m without waiting for an answer.
func (p *Phone) Send(ctx context.Context, m skinny.Message) error {
	_, err := p.exchange(ctx, m)
	return err
}

// Expect waits for a message with one of the ids and returns it, dropping
// others (and answering a CapabilitiesReq) meanwhile.
func (p *Phone) Expect(ctx context.Context, ids ...skinny.MessageID) (skinny.Message, error) {
	return p.exchange(ctx, nil, ids...)
}

// Close closes the connection without unregistering: to the server, the
// phone's connection dropped.
func (p *Phone) Close() error {
	p.once.Do(func() {
		p.cerr = p.nc.Close()
	})
	return p.cerr
}

// exchange sends out (if not nil), then, if ids are given, reads until a
// message with one of them arrives and returns it.
func (p *Phone) exchange(ctx context.Context, out skinny.Message, ids ...skinny.MessageID) (skinny.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("phone %s: %w", p.name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	done := p.bind(ctx)
	defer done()

	if out != nil {
		if err := p.write(out); err != nil {
			return nil, p.fail(ctx, fmt.Sprintf("sending %v", out.ID()), err)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	for {
		m, err := p.next(ctx, fmt.Sprint(ids))
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if m.ID() == id {
				return m, nil
			}
		}
		if err := p.unasked(ctx, m); err != nil {
			return nil, err
		}
	}
}

// next reads the next message. waiting says what for, in errors.
func (p *Phone) next(ctx context.Context, waiting string) (skinny.Message, error) {
	f, err := p.r.ReadFrame()
	if err != nil {
		return nil, p.fail(ctx, "waiting for "+waiting, err)
	}
	if p.trace != nil {
		p.rbuf = skinny.AppendRawFrame(p.rbuf[:0], f.Version, f.ID, f.Body)
		p.trace(false, p.rbuf)
	}
	m, err := skinny.Decode(f.ID, f.Body)
	if err != nil {
		return nil, fmt.Errorf("phone %s: waiting for %s: %w", p.name, waiting, err)
	}
	return m, nil
}

// unasked handles a message no exchange waits for: a CapabilitiesReq is
// answered, a Reset kept for KeepAlive to report, anything else dropped.
func (p *Phone) unasked(ctx context.Context, m skinny.Message) error {
	switch m := m.(type) {
	case skinny.CapabilitiesReq:
		if err := p.write(capabilities); err != nil {
			return p.fail(ctx, "sending CapabilitiesRes", err)
		}
	case skinny.Reset:
		p.reset = &ResetError{Device: p.name, Type: m.Type}
	}
	return nil
}

// capabilities is the answer to a CapabilitiesReq: G.711 µ-law and A-law,
// G.729, 20 ms frames.
var capabilities = skinny.CapabilitiesRes{Caps: []skinny.Capability{
	{PayloadCapability: 4, MaxFramesPerPacket: 40},
	{PayloadCapability: 2, MaxFramesPerPacket: 40},
	{PayloadCapability: 11, MaxFramesPerPacket: 60},
}}

// write sends messages in one write, as a phone sends its requests back to
// back.
func (p *Phone) write(msgs ...skinny.Message) error {
	p.wbuf = p.wbuf[:0]
	for _, m := range msgs {
		start := len(p.wbuf)
		p.wbuf = skinny.AppendFrame(p.wbuf, skinny.BasicVersion, m)
		if p.trace != nil {
			p.trace(true, p.wbuf[start:])
		}
	}
	_, err := p.nc.Write(p.wbuf)
	return err
}

// fail words an I/O error, preferring the context's error when the context
// interrupted it.
func (p *Phone) fail(ctx context.Context, doing string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("phone %s: %s: %w", p.name, doing, cerr)
	}
	var ne net.Error
	if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		// The connection's deadline (ctx's) fired before ctx's own timer.
		return fmt.Errorf("phone %s: %s: %w", p.name, doing, context.DeadlineExceeded)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("phone %s: %s: connection closed by server: %w", p.name, doing, err)
	}
	return fmt.Errorf("phone %s: %s: %w", p.name, doing, err)
}

// bind makes ctx's deadline and cancellation the connection's for one
// exchange; the returned func unbinds it.
func (p *Phone) bind(ctx context.Context) (unbind func()) {
	p.dmu.Lock()
	p.op++
	op := p.op
	d, _ := ctx.Deadline() // zero: no deadline
	_ = p.nc.SetDeadline(d)
	p.dmu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		p.dmu.Lock()
		defer p.dmu.Unlock()
		if p.op == op {
			_ = p.nc.SetDeadline(time.Unix(1, 0))
		}
	})
	return func() {
		stop()
		p.dmu.Lock()
		p.op++
		_ = p.nc.SetDeadline(time.Time{})
		p.dmu.Unlock()
	}
}
