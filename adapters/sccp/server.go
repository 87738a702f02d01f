// Package sccp is the SCCP (Skinny) adapter: a TCP server that lets Cisco IP
// phones register with the registrar the way they register with CallManager.
//
// A phone connects (port 2000), sends a RegisterMessage and, when the
// registrar accepts it, gets a RegisterAck and a CapabilitiesReq; it then
// asks for its button template and line status (the DN the registrar
// assigned) and keeps the connection alive with KeepAlives. The registration
// ends when the phone unregisters, misses its keepalives, or its connection
// drops; the server reports each to the registrar with the matching
// service.UnregisterReason.
//
// The wire codec is package skinny; package phone is the phone's side, for
// simulators and tests.
package sccp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/sccp/skinny"
	"github.com/autoreg/autoreg/internal/service"
)

// Defaults for the zero values of Config.
const (
	DefaultKeepAlive        = 30 * time.Second
	DefaultMissedKeepAlives = 3
	DefaultIdleTimeout      = 30 * time.Second
	DefaultMaxConns         = 20000
	DefaultDateTemplate     = "M/D/YA"
	DefaultWriteTimeout     = 10 * time.Second
	DefaultRegistrarTimeout = 10 * time.Second
)

// MaxProtocolVersion is the highest Skinny protocol version the server
// offers in a RegisterAck: the last before protocol 17 changed the header
// version and message layouts the server would have to speak.
const MaxProtocolVersion = 15

// lingerTimeout bounds how long a connection the server ends after a final
// message (RegisterReject, UnregisterAck) is drained before it is closed.
const lingerTimeout = time.Second

// Config configures a Server. Only Registrar is required.
type Config struct {
	// Registrar registers and unregisters the devices.
	Registrar service.Registrar
	// Logger receives one line per connection end (and per registration);
	// the zero Logger logs nothing.
	Logger zerolog.Logger
	// KeepAlive is the keepalive interval told to phones (rounded up to
	// whole seconds in the RegisterAck); default 30s.
	KeepAlive time.Duration
	// MissedKeepAlives is how many intervals may pass without any message
	// from a registered phone before its connection is closed and the
	// device unregistered with reason keepalive; default 3.
	MissedKeepAlives int
	// IdleTimeout bounds how long a connection may stay open without
	// registering, and how long a frame may take to arrive once its first
	// byte has; default 30s.
	IdleTimeout time.Duration
	// MaxConns bounds concurrent connections; more are accepted and
	// closed at once. Default 20000.
	MaxConns int
	// MaxFrame bounds a frame's data length; default skinny.DefaultMaxFrame.
	MaxFrame int
	// DateTemplate is sent in the RegisterAck; default "M/D/YA".
	DateTemplate string
	// WriteTimeout bounds each write to a phone; default 10s.
	WriteTimeout time.Duration
	// RegistrarTimeout bounds each Registrar call; default 10s.
	RegistrarTimeout time.Duration
}

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("sccp: server closed")

// Server is the SCCP server. Create it with NewServer.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	warnLog  zerolog.Logger // sampled, for floods (connection limit)
	idPrefix string
	sem      chan struct{} // connection slots

	// ctx is the parent of every connection's context; cancel is called
	// when the server stops hard (Serve's context ends, or Shutdown's
	// context expires).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // connection goroutines

	mu        sync.Mutex
	nextID    uint64
	listeners map[net.Listener]struct{}
	addr      net.Addr
	conns     map[*conn]struct{}
	devices   map[string]*deviceSlot
	shutdown  bool
}

// deviceSlot serialises the registrar calls for one device and records
// which connection holds its registration.
type deviceSlot struct {
	lock  chan struct{} // a mutex that waits with a context
	refs  int           // lockers holding or waiting, under Server.mu
	owner *conn         // under Server.mu
}

// NewServer returns a Server for cfg, with defaults for its zero fields.
func NewServer(cfg Config) *Server {
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.MissedKeepAlives <= 0 {
		cfg.MissedKeepAlives = DefaultMissedKeepAlives
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = skinny.DefaultMaxFrame
	}
	if cfg.DateTemplate == "" {
		cfg.DateTemplate = DefaultDateTemplate
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.RegistrarTimeout <= 0 {
		cfg.RegistrarTimeout = DefaultRegistrarTimeout
	}
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	ctx, cancel := context.WithCancel(context.Background())
	log := cfg.Logger.With().Str("adapter", "sccp").Logger()
	return &Server{
		cfg:       cfg,
		log:       log,
		warnLog:   log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second}),
		idPrefix:  "sccp-" + hex.EncodeToString(prefix[:]) + "-",
		sem:       make(chan struct{}, cfg.MaxConns),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		devices:   map[string]*deviceSlot{},
	}
}

// ListenAndServe listens on the TCP address addr (":2000") and serves it
// like Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sccp: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts phones' connections on ln and serves each on its own
// goroutine. It closes ln when it returns.
//
// Serve returns ErrServerClosed after Shutdown. When ctx ends, the server
// stops at once: the listener and every connection are closed, registrar
// calls in flight are cancelled, no unregistrations are reported, and Serve
// returns nil once the connections' goroutines have ended. Otherwise it
// returns the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.Registrar == nil {
		ln.Close()
		return errors.New("sccp: Config.Registrar is nil")
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	stop := context.AfterFunc(ctx, s.stopHard)
	defer stop()

	s.log.Info().Str("listen", ln.Addr().String()).Msg("sccp server listening")
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.wg.Wait()
				return nil
			}
			if s.isShutdown() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("sccp: accept: %w", err)
			}
			// Out of file descriptors and the like: wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.warnLog.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

// startConn serves nc on a new goroutine, or closes it when the server is at
// its connection limit or shutting down.
func (s *Server) startConn(nc net.Conn) {
	select {
	case s.sem <- struct{}{}:
	default:
		s.warnLog.Warn().Str("peer", nc.RemoteAddr().String()).Int("max_conns", s.cfg.MaxConns).
			Msg("connection limit reached: closing new connection")
		nc.Close()
		return
	}
	s.mu.Lock()
	if s.shutdown || s.ctx.Err() != nil {
		s.mu.Unlock()
		<-s.sem
		nc.Close()
		return
	}
	s.nextID++
	c := newConn(s, nc, fmt.Sprintf("%s%d", s.idPrefix, s.nextID))
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		c.serve()
	}()
}

// Addr is the address of the first listener Serve was given, nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) isShutdown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// Shutdown stops the server gracefully: it stops accepting, lets each
// connection finish the message it is handling, then closes the connections,
// reporting the registered devices' unregistration (reason connection) to
// the registrar. It returns when all that is done, or when ctx ends: then it
// closes what remains, cancels the registrar calls in flight and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.stop()
	}

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.stopHard()
		return ctx.Err()
	}
}

// stopHard closes the listeners and connections and cancels the
// connections' contexts.
func (s *Server) stopHard() {
	s.cancel()
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
}

// lockDevice takes the device's lock, which every registrar call for the
// device holds, so that a registration on a new connection and an
// unregistration from the old one are never reordered.
func (s *Server) lockDevice(ctx context.Context, device string) (unlock func(), err error) {
	s.mu.Lock()
	d := s.devices[device]
	if d == nil {
		d = &deviceSlot{lock: make(chan struct{}, 1)}
		s.devices[device] = d
	}
	d.refs++
	s.mu.Unlock()
	select {
	case d.lock <- struct{}{}:
		return func() {
			<-d.lock
			s.unref(device, d)
		}, nil
	case <-ctx.Done():
		s.unref(device, d)
		return nil, ctx.Err()
	}
}

func (s *Server) unref(device string, d *deviceSlot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.refs--
	if d.refs == 0 && d.owner == nil {
		delete(s.devices, device)
	}
}

// claim records c as the connection holding device's registration and
// returns the connection that held it before (nil if none or c). The caller
// holds the device's lock.
func (s *Server) claim(device string, c *conn) (previous *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device] // exists: the caller holds its lock
	previous = d.owner
	d.owner = c
	if previous == c {
		return nil
	}
	return previous
}

// owns reports whether c holds device's registration.
func (s *Server) owns(device string, c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	return d != nil && d.owner == c
}

// release forgets that c holds device's registration, if it does.
func (s *Server) release(device string, c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.devices[device]; d != nil && d.owner == c {
		d.owner = nil
		if d.refs == 0 {
			delete(s.devices, device)
		}
	}
}

// removeConn forgets a connection that has ended.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}
