// Package sccp is the SCCP (Skinny) adapter: a TCP server that lets Cisco IP
// phones register with the registrar the way they register with CallManager.
//
// A phone connects (port 2000), sends a RegisterMessage and, when the
// registrar accepts it, gets a RegisterAck and a CapabilitiesReq; it then
// asks for its firmware load, servers, button template, soft keys,
// configuration, line status (the DN the registrar assigned), forwards,
// speed dials and the time (the answers' data come from Config.Provisioning)
// and keeps the connection alive with KeepAlives. The registration
// ends when the phone unregisters, misses its keepalives, or its connection
// drops; the server reports each to the registrar with the matching
// command.UnregisterReason.
//
// Floods are bounded per source IP address: at most MaxConnsPerSource
// connections (MaxConns in all), and a token bucket (SourceRate,
// SourceBurst) for the registrations that reach the registrar, beyond which
// a phone gets RegisterReject "Registrar busy, try again" before the
// registrar is called; devices Config.Known says the registrar knows are
// exempt, so rogue devices sharing a known phone's address cannot lock it
// out (what a known name may write is bounded by the registrar instead:
// moves.go). A connection that has not registered within IdleTimeout, or stalls
// that long in the middle of a frame, is closed. Refusals are logged once
// per burst with counts, and the ends of connections that never registered
// one by one only for the first few of each interval.
//
// The wire codec is package skinny; package phone is the phone's side, for
// simulators and tests.
//
// It is an adapter: it imports the command side's port (command.Registrar
// and its errors), the domain, and its own codec (skinny); never the store
// or the read side.
package sccp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/autoreg/autoreg/adapters/internal/limit"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/sccp/skinny"
	"github.com/autoreg/autoreg/internal/command"
)

// Defaults for the zero values of Config.
const (
	DefaultKeepAlive          = 30 * time.Second
	DefaultMissedKeepAlives   = 3
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMaxConns           = 20000
	DefaultDateTemplate       = "M/D/YA"
	DefaultWriteTimeout       = 10 * time.Second
	DefaultRegistrarTimeout   = 10 * time.Second
	DefaultMaxConnsPerSource  = 200
	DefaultSourceRate         = 10
	DefaultSourceBurst        = 100
	DefaultRefusalLogInterval = 10 * time.Second
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
	Registrar command.Registrar
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

	// MaxConnsPerSource bounds the connections open at once from one
	// source IP address; more are closed as soon as accepted. Default 200
	// (phones have an address each; SCCP seldom crosses a NAT); negative:
	// no bound.
	MaxConnsPerSource int
	// SourceRate is how many registrations a second one source IP address
	// may have reach the registrar, on average, for devices that are not
	// known (see Known); SourceBurst how many at once. Beyond them the phone
	// gets a RegisterReject "Registrar busy, try again" at once, before the
	// registrar is called. A re-registration on a registered connection, and
	// a device Known says the registrar knows, are never refused for their
	// source's sake. Defaults 10/s and 100; a negative SourceRate turns the
	// limit off.
	SourceRate  float64
	SourceBurst int
	// TrustedSources are addresses neither limit applies to. Default none.
	TrustedSources []netip.Prefix
	// Known reports whether the registrar knows a device (SEP<MAC>). Called
	// only for registrations the rate limit would refuse.
	Known func(device string) bool
	// Refused, when set, is called for every connection or registration
	// refused by a limit, with the reason: "connections" (MaxConns),
	// "connections_per_source", "rate_limited". For metrics.
	Refused func(reason string)
	// RefusalLogInterval is how often a burst of refusals is summed up in
	// one log line. Default 10s.
	RefusalLogInterval time.Duration

	// Provisioning answers what a registered phone asks after its
	// RegisterAck (firmware load, CallManagers, time zone); nil answers an
	// empty load, this server alone and UTC. See Provisioning.
	Provisioning Provisioning
	// Alarm, when set, is called for every AlarmMessage a phone sends,
	// with the device it registered as ("" before registration). For
	// metrics; the server logs alarms itself.
	Alarm func(device string, alarm skinny.Alarm)
}

// maxEndLinesPerInterval is how many connections that never registered get
// a log line of their own each RefusalLogInterval; the rest are counted.
const maxEndLinesPerInterval = 20

// Reasons given to Config.Refused.
const (
	refusedConns          = "connections"
	refusedConnsPerSource = "connections_per_source"
	refusedRateLimited    = "rate_limited"
	// refusedHeldAlive: the device is registered on another connection
	// that was heard from within the keepalive interval.
	refusedHeldAlive = "registered_elsewhere"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("sccp: server closed")

// Server is the SCCP server. Create it with NewServer.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	warnLog  zerolog.Logger  // sampled, for accept failures
	refusals *limit.BurstLog // connections and registrations refused by a limit
	// storeDown logs, once per burst, the registrations refused because the
	// event store could not take the write (full, locked, failing).
	storeDown *limit.BurstLog
	ends      *sampledLog          // ends of connections that never registered
	changes   *limit.KeyedLog      // registrations and ends of registered connections (moves.go)
	limiter   *limit.SourceLimiter // registrations per source address
	idPrefix  string
	epoch     time.Time     // the limiter's clock starts here
	sem       chan struct{} // connection slots
	ticker    sync.Once     // starts the refusal log's and limiter's upkeep

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
	perSource map[netip.Addr]int // connections open, by source address
	shutdown  bool
}

// deviceSlot serialises the registrar calls for one device and records
// which connection holds its registration.
type deviceSlot struct {
	lock  chan struct{} // a mutex that waits with a context
	refs  int           // lockers holding or waiting, under Server.mu
	owner *conn         // under Server.mu
}

// Connections is how many TCP connections the server holds now: phones
// registered, standby connections, phones not registered yet.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
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
	if cfg.MaxConnsPerSource == 0 {
		cfg.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if cfg.SourceRate == 0 {
		cfg.SourceRate = DefaultSourceRate
	}
	if cfg.SourceBurst <= 0 {
		cfg.SourceBurst = DefaultSourceBurst
	}
	if cfg.RefusalLogInterval <= 0 {
		cfg.RefusalLogInterval = DefaultRefusalLogInterval
	}
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	ctx, cancel := context.WithCancel(context.Background())
	log := cfg.Logger.With().Str("adapter", "sccp").Logger()
	return &Server{
		cfg:      cfg,
		log:      log,
		warnLog:  log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second}),
		refusals: limit.NewBurstLog(log, zerolog.WarnLevel, "SCCP connections or registrations refused", cfg.RefusalLogInterval),
		storeDown: limit.NewBurstLog(log, zerolog.ErrorLevel, "event store unavailable: registrations refused (registrar busy)",
			cfg.RefusalLogInterval),
		limiter: limit.NewSourceLimiter(cfg.SourceRate, cfg.SourceBurst, cfg.TrustedSources),
		ends: newSampledLog(log, "connections that never registered closed (not logged one by one)",
			maxEndLinesPerInterval, cfg.RefusalLogInterval),
		changes:   limit.NewChangeLog(log, "registrations and connection ends"),
		perSource: map[netip.Addr]int{},
		idPrefix:  "sccp-" + hex.EncodeToString(prefix[:]) + "-",
		epoch:     time.Now(),
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
	s.ticker.Do(func() { go s.upkeep() })

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
			s.warnLog.Warn().Err(err).Dur("retry_in_ms", backoff).Msg("accept failed")
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
	src := sourceOf(nc.RemoteAddr())
	select {
	case s.sem <- struct{}{}:
	default:
		s.refuse(refusedConns, "", src)
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
	limited := s.cfg.MaxConnsPerSource > 0 && !limit.Trusted(s.cfg.TrustedSources, src.Addr())
	if limited && s.perSource[src.Addr()] >= s.cfg.MaxConnsPerSource {
		s.mu.Unlock()
		<-s.sem
		s.refuse(refusedConnsPerSource, "", src)
		nc.Close()
		return
	}
	if limited {
		s.perSource[src.Addr()]++
	}
	s.nextID++
	c := newConn(s, nc, fmt.Sprintf("%s%d", s.idPrefix, s.nextID))
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		if limited {
			defer s.leaveSource(src.Addr())
		}
		c.serve()
	}()
}

// sourceOf is a connection's peer as an address and port (IPv4 unmapped).
func sourceOf(a net.Addr) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (s *Server) leaveSource(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSource[a]--; s.perSource[a] <= 0 {
		delete(s.perSource, a)
	}
}

// refuse counts and logs (once per burst) a connection or registration a
// limit refused.
func (s *Server) refuse(reason, device string, peer netip.AddrPort) {
	if s.cfg.Refused != nil {
		s.cfg.Refused(reason)
	}
	s.log.Debug().Str("reason", reason).Str("device", device).Stringer("peer", peer).Msg("refused by a limit")
	s.refusals.Add(time.Now(), reason, device, peer)
}

// admitRegistration applies the per-source rate limit to a registration
// about to reach the registrar.
func (s *Server) admitRegistration(device string, peer netip.AddrPort) bool {
	if s.limiter.Allow(peer.Addr(), int64(time.Since(s.epoch))) {
		return true
	}
	return s.cfg.Known != nil && s.cfg.Known(device)
}

// upkeep writes the refusal log's summaries and forgets refilled buckets,
// every second until the server stops.
func (s *Server) upkeep() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-tick.C:
			s.refusals.Flush(now)
			s.storeDown.Flush(now)
			s.ends.flush(now)
			s.changes.Flush(now)
			s.limiter.Prune(int64(time.Since(s.epoch)))
		}
	}
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

// holderGrace is how long a registration naming a device held by a live
// connection waits for that connection to end (a phone that closed it and
// came back at once) before it is refused; at most a quarter of the
// keepalive interval.
const holderGrace = time.Second

// liveHolder returns the connection other than c that holds device's
// registration, if it is still reading and was heard from within one and
// a half keepalive intervals: the phone there is alive. nil otherwise.
func (s *Server) liveHolder(device string, c *conn) *conn {
	s.mu.Lock()
	d := s.devices[device]
	var holder *conn
	if d != nil {
		holder = d.owner
	}
	s.mu.Unlock()
	if holder == nil || holder == c || holder.superseded.Load() {
		return nil
	}
	select {
	case <-holder.ended:
		return nil
	default:
	}
	if time.Since(time.Unix(0, holder.heard.Load())) >= s.cfg.KeepAlive+s.cfg.KeepAlive/2 {
		return nil
	}
	return holder
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
