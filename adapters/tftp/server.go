package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/internal/limit"
)

// DefaultAddr is where phones look for TFTP: they are given an address by
// DHCP option 150 (or 66) and always use port 69.
const DefaultAddr = ":69"

// Defaults for the zero fields of Config.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultRetries            = 5
	DefaultOpenTimeout        = 5 * time.Second
	DefaultMaxTransfers       = 4096
	DefaultSourceRate         = 50
	DefaultSourceBurst        = 200
	DefaultRefusalLogInterval = 10 * time.Second
)

// Config configures a Server. Only Files is required.
type Config struct {
	// Files is where the served files come from.
	Files Files
	// Logger receives the server's logs: a debug line per request, a
	// warning per burst of refused or dropped requests. The zero value
	// discards them.
	Logger zerolog.Logger

	// Timeout is how long a transfer waits for the client's ACK before it
	// sends a block again, and Retries how many times it sends a block in
	// all (pin/tftp's SetTimeout and SetRetries). Default 5 s and 5.
	Timeout time.Duration
	Retries int
	// OpenTimeout bounds Files.Open (the registrar's read models for a
	// generated file). Default 5 s.
	OpenTimeout time.Duration
	// MaxTransfers bounds the requests being served at once (each holds a
	// socket and a goroutine until its client has acknowledged the last
	// block or given up). Beyond it new requests are dropped: the client
	// sends its request again after its own timeout. Default 4096.
	MaxTransfers int

	// SourceRate and SourceBurst are the token bucket of each source IP
	// address: every packet to the request port takes a token, and a
	// packet finding the bucket empty is dropped unanswered (answering a
	// flood, perhaps from spoofed addresses, would only reflect it).
	// Default 50 a second and 200 at once: a booting phone asks for about
	// ten files, and a site behind one NAT address boots many phones at
	// once. A negative SourceRate disables the limit. TrustedSources are
	// never limited.
	SourceRate     float64
	SourceBurst    int
	TrustedSources []netip.Prefix
	// RefusalLogInterval is how often a burst of dropped requests is summed
	// up in the log. Default 10 s.
	RefusalLogInterval time.Duration

	// OnServed, when set, is called once for every request answered: a file
	// sent (whole or not) or an error packet. It is the hook for counters:
	// downloads are not events. It must not block.
	OnServed func(Served)
}

// Served is the outcome of one answered request.
type Served struct {
	// Name is the normalised file name, or the name as sent when it could
	// not be normalised ("" when the request could not be read).
	Name     string
	Peer     netip.AddrPort
	Bytes    int64 // bytes of the file sent (acknowledged or not)
	Duration time.Duration
	// Err is nil when the whole file went out. A *Error is the error packet
	// the request was answered with (errors.As gives its Code); any other
	// error is why a transfer that had started failed (the client gave up
	// or answered an error).
	Err error
}

// Stats counts what the server did since it started.
type Stats struct {
	Requests uint64 // packets read on the request port
	Served   uint64 // files sent whole
	Bytes    uint64 // bytes of the files sent whole
	Failed   uint64 // transfers started that did not end well
	NotFound uint64 // answered "file not found"
	Refused  uint64 // answered another error: writes, bad names, malformed requests, options
	Dropped  uint64 // left unanswered: over a source's rate, over MaxTransfers, retransmitted requests, stray ERROR packets
}

// Server is the read-only TFTP server. Create it with NewServer and run it
// with ListenAndServe or Serve, once.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	limiter *limit.SourceLimiter
	burst   *limit.BurstLog
	epoch   time.Time

	started atomic.Bool
	closing atomic.Bool
	conn    net.PacketConn
	udp     *net.UDPConn // conn, when it is one
	front   *frontConn
	addr    atomic.Pointer[net.UDPAddr]

	mu       sync.Mutex
	inflight map[transferKey]*transfer
	openers  sync.WaitGroup

	requests, served, bytes, failed, notFound, refused, dropped atomic.Uint64
}

// transfer is one accepted read request, from its acceptance to the end
// of its transfer. It is keyed by the client's address and port (its TID)
// and the file: the same request from the same TID while it lives is a
// retransmission. (A client that asks for another file from the same port
// at once gets its transfer.)
type transfer struct {
	name  string
	peer  netip.AddrPort // unmapped
	raw   netip.AddrPort // as read from the socket
	req   []byte         // the request handed to pin/tftp
	start time.Time

	// under Server.mu
	file    File
	claimed bool
}

type transferKey struct {
	peer netip.AddrPort
	name string
}

// NewServer checks cfg and fills its defaults.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Files == nil {
		return nil, errors.New("tftp: Config.Files is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retries <= 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.MaxTransfers <= 0 {
		cfg.MaxTransfers = DefaultMaxTransfers
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
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		limiter:  limit.NewSourceLimiter(cfg.SourceRate, cfg.SourceBurst, cfg.TrustedSources),
		burst:    limit.NewBurstLog(cfg.Logger, zerolog.WarnLevel, "TFTP requests dropped", cfg.RefusalLogInterval),
		epoch:    time.Now(),
		inflight: make(map[transferKey]*transfer),
	}
	return s, nil
}

// listenPacket is net.ListenConfig.ListenPacket; tests replace it.
var listenPacket = func(ctx context.Context, network, addr string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, addr)
}

// ListenAndServe listens on UDP addr (DefaultAddr when empty) and serves
// until ctx is done, then returns nil once the transfers in flight have
// ended. When the address cannot be had the error says so and wraps the
// system's: errors.Is(err, os.ErrPermission) tells a privileged port
// (69) refused to an unprivileged process, which a caller may take as "go
// on without TFTP" (grant CAP_NET_BIND_SERVICE, or lower
// net.ipv4.ip_unprivileged_port_start, to have it).
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	pc, err := listenPacket(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: listen udp %s: %w", addr, err)
	}
	return s.Serve(ctx, pc)
}

// Addr is the address being served, nil before Serve.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return a
	}
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests: s.requests.Load(),
		Served:   s.served.Load(),
		Bytes:    s.bytes.Load(),
		Failed:   s.failed.Load(),
		NotFound: s.notFound.Load(),
		Refused:  s.refused.Load(),
		Dropped:  s.dropped.Load(),
	}
}

// Serve reads requests from conn until ctx is done, then closes conn and
// returns nil once the transfers in flight have ended. It returns the
// error when reading conn fails otherwise. Each accepted read request is
// transferred by pin/tftp from a socket of its own (a new TID, RFC 1350).
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	if !s.started.CompareAndSwap(false, true) {
		conn.Close()
		return errors.New("tftp: a Server serves once")
	}
	s.conn = conn
	s.udp, _ = conn.(*net.UDPConn)
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		s.addr.Store(a)
	}
	s.front = newFrontConn()

	// pin/tftp runs the transfers. It reads the requests we accepted from
	// s.front, never the socket (see the package documentation for why).
	// Its write handler is nil: write requests never reach it.
	lib := tftp.NewServer(s.readHandler, nil)
	lib.SetTimeout(s.cfg.Timeout)
	lib.SetRetries(s.cfg.Retries)
	lib.SetHook(libHook{s})
	libDone := make(chan struct{})
	go func() {
		defer close(libDone)
		if err := lib.Serve(s.front); err != nil {
			s.log.Error().Err(err).Msg("tftp: transfer engine stopped")
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopRead := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopRead()
	sweepDone := make(chan struct{})
	go s.sweeper(ctx, sweepDone)

	err := s.readLoop(ctx)
	if ctx.Err() != nil {
		err = nil
	}

	// Stop: no new request, let the files being opened give up, then let
	// pin/tftp finish the transfers in flight.
	s.closing.Store(true)
	cancel()
	conn.Close()
	s.openers.Wait()
	lib.Shutdown()
	s.front.Close()
	<-libDone
	<-sweepDone
	s.reclaim(time.Time{}) // what pin/tftp never started
	return err
}

func (s *Server) readLoop(ctx context.Context) error {
	buf := make([]byte, 2048) // requests are at most 512 bytes: a longer read is refused
	for {
		var (
			n   int
			raw netip.AddrPort
			err error
		)
		if s.udp != nil {
			n, raw, err = s.udp.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			n, a, err = s.conn.ReadFrom(buf)
			if ua, ok := a.(*net.UDPAddr); ok {
				raw = ua.AddrPort()
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return err
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("tftp: read: %w", err)
		}
		if !raw.IsValid() {
			continue
		}
		s.handle(ctx, buf[:n], raw)
	}
}

func (s *Server) clock() int64 { return int64(time.Since(s.epoch)) }

// handle answers one packet read on the request port.
func (s *Server) handle(ctx context.Context, p []byte, raw netip.AddrPort) {
	s.requests.Add(1)
	now := time.Now()
	peer := netip.AddrPortFrom(raw.Addr().Unmap(), raw.Port())
	if !s.limiter.Allow(peer.Addr(), s.clock()) {
		s.dropped.Add(1)
		s.burst.Add(now, "source rate", "", peer)
		return
	}
	r, name, e, drop := admit(p)
	if drop {
		s.dropped.Add(1)
		return
	}
	if e != nil {
		if name == "" {
			name = r.name
		}
		s.answer(raw, name, peer, now, e)
		return
	}
	if len(r.dropped) > 0 || len(r.ignored) > 0 {
		s.log.Debug().Str("file", name).Stringer("peer", peer).Strs("unsupported", r.dropped).Strs("unknown", r.ignored).
			Msg("tftp: options left out of the OACK")
	}

	s.mu.Lock()
	key := transferKey{peer, name}
	if _, dup := s.inflight[key]; dup {
		s.mu.Unlock()
		// A retransmitted request: the transfer under way answers it.
		s.dropped.Add(1)
		return
	}
	if len(s.inflight) >= s.cfg.MaxTransfers {
		s.mu.Unlock()
		s.dropped.Add(1)
		s.burst.Add(now, "too many transfers", name, peer)
		return
	}
	t := &transfer{name: name, peer: peer, raw: raw, req: appendRRQ(nil, name, r), start: now}
	s.inflight[key] = t
	s.openers.Add(1)
	s.mu.Unlock()
	go s.open(ctx, t)
}

// admit decides what a packet read on the request port deserves, without
// asking Files: drop (no answer), an error answer, or a read request for
// the normalised name.
func admit(p []byte) (r request, name string, e *Error, drop bool) {
	r, drop, e = parseRequest(p)
	if e != nil {
		return r, "", e, drop
	}
	if r.op == opWRQ {
		return r, "", errorf(CodeAccess, "read-only server: writes are refused"), false
	}
	n, err := Normalize(r.name)
	if err != nil {
		return r, "", err.(*Error), false
	}
	if SecurityFile(n) {
		// A non-secure cluster has no CTL/ITL: the phone goes on without.
		return r, n, errorf(CodeNotFound, "file not found (no security files: non-secure cluster)"), false
	}
	return r, n, nil, false
}

// open asks Files for t's file, then hands t to pin/tftp, or answers the
// error.
func (s *Server) open(ctx context.Context, t *transfer) {
	defer s.openers.Done()
	octx, cancel := context.WithTimeout(ctx, s.cfg.OpenTimeout)
	f, err := s.cfg.Files.Open(octx, t.name, t.peer)
	cancel()
	if err == nil && f == nil {
		err = fmt.Errorf("%T.Open returned no file and no error", s.cfg.Files)
	}
	if err != nil {
		e, internal := classify(err)
		if internal {
			s.log.Warn().Err(err).Str("file", t.name).Stringer("peer", t.peer).Msg("tftp: cannot open file")
		}
		s.remove(t)
		s.answer(t.raw, t.name, t.peer, t.start, e)
		return
	}
	s.mu.Lock()
	t.file = f
	s.mu.Unlock()
	ua := net.UDPAddrFromAddrPort(t.raw)
	select {
	case s.front.in <- frontPacket{data: t.req, addr: ua}:
	case <-ctx.Done():
		// Stopping: reclaim closes the file.
	}
}

// readHandler is pin/tftp's read handler: it sends the file opened for the
// transfer's client.
func (s *Server) readHandler(name string, rf io.ReaderFrom) error {
	ot, ok := rf.(tftp.OutgoingTransfer)
	if !ok {
		return errors.New("internal error: no client address")
	}
	ra := ot.RemoteAddr()
	ap := ra.AddrPort()
	peer := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	s.mu.Lock()
	t := s.inflight[transferKey{peer, name}]
	if t == nil || t.claimed || t.file == nil {
		s.mu.Unlock()
		return errors.New("internal error: no such request")
	}
	t.claimed = true
	s.mu.Unlock()

	n, err := rf.ReadFrom(t.file)
	t.file.Close()
	s.remove(t)
	if err != nil {
		s.failed.Add(1)
	} else {
		s.served.Add(1)
		s.bytes.Add(uint64(n))
	}
	s.report(Served{Name: t.name, Peer: t.peer, Bytes: n, Duration: time.Since(t.start), Err: err})
	return err
}

func (s *Server) remove(t *transfer) {
	s.mu.Lock()
	if k := (transferKey{t.peer, t.name}); s.inflight[k] == t {
		delete(s.inflight, k)
	}
	s.mu.Unlock()
}

// answer sends an error packet for a refused request. It is counted and
// reported before it is sent: whoever got the answer sees the count.
func (s *Server) answer(raw netip.AddrPort, name string, peer netip.AddrPort, start time.Time, e *Error) {
	if e.Code == CodeNotFound {
		s.notFound.Add(1)
	} else {
		s.refused.Add(1)
	}
	s.report(Served{Name: name, Peer: peer, Duration: time.Since(start), Err: e})
	pkt := appendError(make([]byte, 0, 64+len(e.Message)), e.Code, e.Message)
	var err error
	if s.udp != nil {
		_, err = s.udp.WriteToUDPAddrPort(pkt, raw)
	} else {
		_, err = s.conn.WriteTo(pkt, net.UDPAddrFromAddrPort(raw))
	}
	if err != nil && !s.closing.Load() {
		s.log.Debug().Err(err).Stringer("peer", peer).Msg("tftp: cannot send error packet")
	}
}

func (s *Server) report(r Served) {
	if s.log.GetLevel() <= zerolog.DebugLevel {
		ev := s.log.Debug().Str("file", r.Name).Stringer("peer", r.Peer).Int64("bytes", r.Bytes).Dur("took_ms", r.Duration)
		var te *Error
		switch {
		case r.Err == nil:
			ev.Msg("tftp: served")
		case errors.As(r.Err, &te):
			ev.Int("code", int(te.Code)).Str("error", te.Message).Msg("tftp: refused")
		default:
			ev.Err(r.Err).Msg("tftp: transfer failed")
		}
	}
	if s.cfg.OnServed != nil {
		s.cfg.OnServed(r)
	}
}

// claimTimeout is how long an accepted request may wait for pin/tftp to
// start its transfer before it is given up (its file closed).
const claimTimeout = 30 * time.Second

func (s *Server) sweeper(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.limiter.Prune(s.clock())
			s.burst.Flush(now)
			s.reclaim(now.Add(-claimTimeout))
		}
	}
}

// reclaim gives up the opened requests accepted before a time that pin/tftp
// never started (all of them for the zero time), closing their files.
func (s *Server) reclaim(before time.Time) {
	var lost []*transfer
	s.mu.Lock()
	for k, t := range s.inflight {
		if t.claimed || t.file == nil || (!before.IsZero() && t.start.After(before)) {
			continue
		}
		delete(s.inflight, k)
		lost = append(lost, t)
	}
	s.mu.Unlock()
	for _, t := range lost {
		t.file.Close()
		s.failed.Add(1)
		s.report(Served{Name: t.name, Peer: t.peer, Duration: time.Since(t.start), Err: errors.New("transfer never started")})
	}
}

// libHook receives pin/tftp's outcomes. Transfers are reported by
// readHandler; what is left are the failures of its request loop (a
// socket it could not open for a transfer, for one).
type libHook struct{ s *Server }

func (libHook) OnSuccess(tftp.TransferStats) {}

func (h libHook) OnFailure(st tftp.TransferStats, err error) {
	if st.RemoteAddr != nil || h.s.closing.Load() {
		return
	}
	h.s.log.Warn().Err(err).Msg("tftp: transfer engine")
}

// frontConn is the net.PacketConn pin/tftp reads its requests from: the
// read requests the server accepted, with their client's address. pin/tftp
// never writes to it (each transfer has its own socket).
type frontConn struct {
	in   chan frontPacket
	done chan struct{}
	once sync.Once
}

type frontPacket struct {
	data []byte
	addr *net.UDPAddr
}

func newFrontConn() *frontConn {
	return &frontConn{in: make(chan frontPacket, 64), done: make(chan struct{})}
}

func (c *frontConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case <-c.done:
		return 0, nil, net.ErrClosed
	default:
	}
	select {
	case p := <-c.in:
		return copy(b, p.data), p.addr, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *frontConn) WriteTo([]byte, net.Addr) (int, error) {
	return 0, errors.New("tftp: the request queue is not written to")
}

func (c *frontConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// LocalAddr only tells pin/tftp the IP family (it parses it); each transfer
// socket is bound to the wildcard address.
func (c *frontConn) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4zero} }

func (c *frontConn) SetDeadline(time.Time) error      { return nil }
func (c *frontConn) SetReadDeadline(time.Time) error  { return nil }
func (c *frontConn) SetWriteDeadline(time.Time) error { return nil }
