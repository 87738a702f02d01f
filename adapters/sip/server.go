package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/autoreg/autoreg/adapters/internal/limit"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/internal/command"
)

// ErrServerClosed is returned by the Serve and ListenAndServe methods after
// Shutdown.
var ErrServerClosed = errors.New("sip: server closed")

// Server is the SIP registrar adapter: it answers REGISTER over UDP, TCP and
// TLS, keeps the devices' bindings, and reports registrations to a
// command.Registrar. Create it with NewServer.
type Server struct {
	cfg Config
	log zerolog.Logger
	// overloadLog is log sampled: accept failures come in bursts.
	overloadLog zerolog.Logger
	// refusals and rejections log the 503s the server answers itself and
	// the registrar's rejections once per burst.
	refusals   *limit.BurstLog
	rejections *limit.BurstLog
	// storeDown logs, once per burst, the REGISTERs answered 503 because
	// the event store could not take the write (full, locked, failing).
	storeDown *limit.BurstLog
	// authFailures logs, once per burst, the REGISTERs whose digest
	// credentials were wrong.
	authFailures *limit.BurstLog
	nonces       *nonceCounts
	// changes logs each device's registration changes once a minute,
	// then counts them (moves.go).
	changes   *limit.KeyedLog
	limiter   *limit.SourceLimiter
	parser    *sipmsg.Parser
	table     *table
	txs       *txTable
	dateCache atomic.Pointer[cachedDate]
	epoch     time.Time
	host      atomic.Pointer[string]

	// base is the context of request processing and expiry; cancelled when
	// Shutdown gives up waiting.
	base       context.Context
	cancelBase context.CancelFunc

	mu        sync.Mutex
	slots     *sync.Cond // signalled when a MaxInFlight place frees or closing is set
	closing   bool
	inFlight  int
	conns     atomic.Int64   // TCP and TLS connections open
	work      sync.WaitGroup // requests being processed
	listeners map[*listener]struct{}
	perSource map[netip.Addr]int // TCP and TLS connections open, by source address

	// runs hands devices to the workers. A run holds at least one admitted
	// request, so MaxInFlight places never block.
	runs        chan deviceRun
	runsOnce    sync.Once
	workersOnce sync.Once

	stopOnce  sync.Once
	sweepOnce sync.Once
	sweepStop chan struct{}
	sweepDone chan struct{}
}

// NewServer checks cfg, fills its defaults and returns a server that is not
// listening yet.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With().Str("adapter", adapterName).Logger(),
		parser:    sipmsg.NewParser(),
		table:     newTable(cfg.MaxDevices),
		txs:       newTxTable(cfg.TransactionTTL, cfg.MaxTransactions),
		epoch:     time.Now(),
		listeners: make(map[*listener]struct{}),
		perSource: make(map[netip.Addr]int),
		sweepStop: make(chan struct{}),
		runs:      make(chan deviceRun, cfg.MaxInFlight),
		sweepDone: make(chan struct{}),
	}
	s.slots = sync.NewCond(&s.mu)
	s.overloadLog = s.log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Second})
	s.refusals = limit.NewBurstLog(s.log, zerolog.WarnLevel, "REGISTERs refused: 503", cfg.RefusalLogInterval)
	s.rejections = limit.NewBurstLog(s.log, zerolog.InfoLevel, "registrations rejected", cfg.RefusalLogInterval)
	s.storeDown = limit.NewBurstLog(s.log, zerolog.ErrorLevel, "event store unavailable: REGISTERs answered 503", cfg.RefusalLogInterval)
	s.authFailures = limit.NewBurstLog(s.log, zerolog.WarnLevel, "REGISTERs failed digest authentication: 401", cfg.RefusalLogInterval)
	s.nonces = newNonceCounts(cfg.NonceLifetime)
	s.changes = limit.NewChangeLog(s.log, "registration changes")
	s.limiter = limit.NewSourceLimiter(cfg.SourceRate, cfg.SourceBurst, cfg.TrustedSources)
	if cfg.Host != "" {
		host := hostLiteral(cfg.Host)
		s.host.Store(&host)
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	return s, nil
}

// clock is the server's monotonic clock, in nanoseconds since NewServer.
func (s *Server) clock() int64 { return int64(time.Since(s.epoch)) }

// Devices reports how many devices the server holds: those with bindings,
// and briefly those with a request in progress.
func (s *Server) Devices() int { return s.table.len() }

// ListenAndServe listens on addr and serves until ctx is done (it returns
// nil once the answers in flight went out) or Shutdown is called (it returns
// ErrServerClosed). network is "udp", "tcp" or "tls" (which needs
// Config.TLS), with the "4" and "6" variants of the first two. To learn the
// address of a listener on port 0, listen yourself and use ServeUDP,
// ServeTCP or ServeTLS, or call Addrs.
func (s *Server) ListenAndServe(ctx context.Context, network, addr string) error {
	var lc net.ListenConfig
	switch strings.ToLower(network) {
	case "udp", "udp4", "udp6":
		pc, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			return fmt.Errorf("sip: listen %s %s: %w", network, addr, err)
		}
		return s.ServeUDP(ctx, pc)
	case "tcp", "tcp4", "tcp6":
		ln, err := lc.Listen(ctx, network, addr)
		if err != nil {
			return fmt.Errorf("sip: listen %s %s: %w", network, addr, err)
		}
		return s.ServeTCP(ctx, ln)
	case "tls":
		if s.cfg.TLS == nil {
			return errors.New("sip: tls needs Config.TLS")
		}
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("sip: listen %s %s: %w", network, addr, err)
		}
		return s.ServeTLS(ctx, ln)
	}
	return fmt.Errorf("sip: unsupported network %q", network)
}

// Addrs lists the addresses the server is listening on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, 0, len(s.listeners))
	for l := range s.listeners {
		out = append(out, l.addr)
	}
	return out
}

// Shutdown stops the server: it stops reading and accepting, lets the
// requests in flight finish and answer, stops the expiry sweeper, then
// closes the sockets. When ctx ends first, the requests still in flight are
// cancelled and the sockets closed at once; ctx's error is returned.
// Bindings are kept in memory only and are lost.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.slots.Broadcast()
	ls := make([]*listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()

	for _, l := range ls {
		l.stop()
	}
	s.sweepOnce.Do(func() { close(s.sweepDone) }) // never started: nothing to wait for
	s.stopOnce.Do(func() { close(s.sweepStop) })

	done := make(chan struct{})
	go func() {
		<-s.sweepDone
		s.work.Wait()
		s.runsOnce.Do(func() { close(s.runs) }) // nothing runs any more: the workers end

		for _, l := range ls {
			<-l.done
		}
		close(done)
	}()
	select {
	case <-done:
		s.cancelBase()
		return nil
	case <-ctx.Done():
		s.cancelBase()
		for _, l := range ls {
			l.forceClose()
		}
		return ctx.Err()
	}
}

// track records a new listener, or refuses it after Shutdown.
func (s *Server) track(l *listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	if s.host.Load() == nil {
		if ap, err := netip.ParseAddrPort(l.addr.String()); err == nil && !ap.Addr().IsUnspecified() {
			host := hostLiteral(ap.Addr().Unmap().String())
			s.host.Store(&host)
		}
	}
	s.sweepOnce.Do(func() { go s.sweeper() })
	return nil
}

func (s *Server) untrack(l *listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
	close(l.done)
}

func (s *Server) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// beginWork admits one more request for processing, unless the server is
// shutting down or MaxInFlight requests stay admitted for longer than
// QueueWait. Waiting holds up the reading goroutine, so the backlog stays in
// the kernel's socket buffer (a datagram costs a few hundred bytes there,
// a parsed request several kilobytes here) and the phones' retransmissions
// are absorbed when their turn comes, as a busy Kamailio does; only a
// backlog that does not clear in QueueWait is refused with 503.
func (s *Server) beginWork(l *listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight >= s.cfg.MaxInFlight && s.cfg.QueueWait > 0 && !s.closing {
		deadline := time.Now().Add(s.cfg.QueueWait)
		timer := time.AfterFunc(s.cfg.QueueWait, func() {
			s.mu.Lock()
			s.slots.Broadcast()
			s.mu.Unlock()
		})
		for s.inFlight >= s.cfg.MaxInFlight && !s.closing && time.Now().Before(deadline) {
			s.slots.Wait()
		}
		timer.Stop()
	}
	if s.closing || s.inFlight >= s.cfg.MaxInFlight {
		return false
	}
	s.inFlight++
	s.work.Add(1)
	if l != nil {
		l.work.Add(1)
	}
	return true
}

func (s *Server) endWork(l *listener) {
	s.mu.Lock()
	s.inFlight--
	s.slots.Signal()
	s.mu.Unlock()
	if l != nil {
		l.work.Done()
	}
	s.work.Done()
}

// receive handles one request read by a transport. send writes a response
// back to the peer; it may be called from another goroutine. done, when not
// nil, is called once nothing more will be sent.
//
// Validation, retransmission matching and queries are done right here, in
// the reading goroutine: they are quick and need no registrar. A REGISTER
// that changes bindings is queued for its device (see dispatch), because
// the registrar call waits for durable events.
func (s *Server) receive(l *listener, req *sipmsg.Request, peer netip.AddrPort, send func(*sipmsg.Response), done func()) {
	res, job := s.start(req, peer, l.reliable)
	if job == nil {
		if res != nil {
			send(res)
		}
		if done != nil {
			done()
		}
		return
	}
	job.send, job.done, job.listener = send, done, l
	s.dispatch(job)
}

// handle processes one request to the end and returns the response to send
// (nil: send nothing, or ctx ended first). It is receive without a
// transport, for tests and the fuzz target.
func (s *Server) handle(ctx context.Context, req *sipmsg.Request, peer netip.AddrPort, reliable bool) *sipmsg.Response {
	res, job := s.start(req, peer, reliable)
	if job == nil {
		return res
	}
	answer := make(chan *sipmsg.Response, 1)
	job.send = func(res *sipmsg.Response) { answer <- res }
	s.dispatch(job)
	select {
	case res := <-answer:
		return res
	case <-ctx.Done():
		return nil
	}
}

// start does what can be done without waiting: validation, queries, and
// matching retransmissions. It returns the response to send now, or the
// REGISTER to process (its transaction recorded as in flight), or neither
// for a request to drop (a retransmission of a request in flight, an ACK).
func (s *Server) start(req *sipmsg.Request, peer netip.AddrPort, reliable bool) (*sipmsg.Response, *register) {
	r, o, ok := s.validate(req, peer, reliable)
	if !ok {
		if o.status == 0 {
			return nil, nil
		}
		if o.status >= 400 {
			s.log.Debug().Stringer("peer", peer).Uint16("status", o.status).Str("warning", o.text).
				Msgf("%s refused", req.Method)
		}
		return s.response(req, transactionKey(req), peer, o, nil), nil
	}
	if r.query {
		dn, bindings := s.table.snapshot(r.mac)
		return s.response(req, r.key, peer, outcome{status: 200, text: dn}, bindings), nil
	}
	e, seen, err := s.txs.begin(r.key)
	switch {
	case err != nil:
		s.refused(refusedTransactions, r)
		return s.response(req, r.key, peer, s.unavailable(), nil), nil
	case seen && e.state == txInFlight:
		return nil, nil // the answer is on its way
	case seen:
		o := e.outcome()
		var bindings []binding
		if o.status == 200 {
			o.text, bindings = s.table.snapshot(r.mac)
		}
		return s.response(req, r.key, peer, o, bindings), nil
	}
	if !s.admit(r) {
		s.txs.abort(r.key) // a retransmission is judged afresh
		s.refused(refusedRateLimited, r)
		return s.response(req, r.key, peer, s.unavailable(), nil), nil
	}
	return nil, r
}

// Reasons of the 503s the server answers without calling the registrar
// (Config.Refused).
const (
	refusedRateLimited  = "rate_limited"
	refusedTransactions = "transactions"
	refusedInFlight     = "in_flight"
	refusedDevices      = "devices"
	refusedDeviceQueue  = "device_queue"
	// Connections refused (TCP, TLS).
	refusedConnections    = "connections"
	refusedConnsPerSource = "connections_per_source"
)

func (s *Server) countRefused(reason string) {
	if s.cfg.Refused != nil {
		s.cfg.Refused(reason)
	}
}

// enterSource counts a connection from a; false when a has
// MaxConnectionsPerSource open already.
func (s *Server) enterSource(a netip.Addr) bool {
	if s.cfg.MaxConnectionsPerSource < 0 || limit.Trusted(s.cfg.TrustedSources, a) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSource[a] >= s.cfg.MaxConnectionsPerSource {
		return false
	}
	s.perSource[a]++
	return true
}

// leaveSource forgets a connection enterSource counted.
func (s *Server) leaveSource(a netip.Addr) {
	if s.cfg.MaxConnectionsPerSource < 0 || limit.Trusted(s.cfg.TrustedSources, a) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSource[a]--; s.perSource[a] <= 0 {
		delete(s.perSource, a)
	}
}

// admit applies the per-source rate limit to a REGISTER about to be
// processed: a token from its source's bucket, else a known device.
func (s *Server) admit(r *register) bool {
	addr := r.peer.Addr()
	if s.limiter.Allow(addr, s.clock()) || s.table.boundFrom(r.mac, addr) {
		return true
	}
	return s.cfg.Known != nil && s.cfg.Known(r.device)
}

// refused counts and logs (once per burst) a REGISTER answered 503 without
// the registrar.
func (s *Server) refused(reason string, r *register) {
	s.countRefused(reason)
	s.log.Debug().Str("device", r.device).Stringer("peer", r.peer).Str("reason", reason).Msg("REGISTER refused: 503")
	s.refusals.Add(time.Now(), reason, r.device, r.peer)
}

// dispatch admits a REGISTER that start returned and queues it for its
// device. Requests for one device are processed one after the other in
// arrival order (a stream's pipelined requests must not be reordered, and
// the registrar must see one device's registrations in order); requests
// for different devices run in parallel, one goroutine per busy device.
func (s *Server) dispatch(r *register) {
	if !s.beginWork(r.listener) {
		s.refuse(r, refusedInFlight)
		return
	}
	dev, err := s.table.enqueue(r)
	if err != nil {
		s.endWork(r.listener)
		reason := refusedDevices
		if errors.Is(err, errQueueFull) {
			reason = refusedDeviceQueue
		}
		s.refuse(r, reason)
		return
	}
	if dev != nil {
		s.startRun(r.mac, dev, nil)
	}
}

// deviceRun is a device to run, and its first request (nil: the queue's).
type deviceRun struct {
	mac uint64
	dev *device
	job *register
}

// startRun queues a device for the workers, starting them the first time.
// A fixed set of workers, rather than a goroutine per run, bounds the
// goroutines (and their stacks) when the registrar or the CPU is slow: the
// requests wait in the device queues, as many as MaxInFlight allows.
func (s *Server) startRun(mac uint64, dev *device, job *register) {
	s.workersOnce.Do(func() {
		for range s.cfg.Workers {
			go s.worker()
		}
	})
	s.runs <- deviceRun{mac, dev, job}
}

// worker runs the devices it is handed until Shutdown.
func (s *Server) worker() {
	for r := range s.runs {
		s.run(r.mac, r.dev, r.job)
	}
}

// refuse answers 503 to a REGISTER that could not be queued, and forgets
// its transaction: a retransmission will be tried afresh.
func (s *Server) refuse(r *register, reason string) {
	s.refused(reason, r)
	s.txs.abort(r.key)
	r.send(s.response(r.msg, r.key, r.peer, s.unavailable(), nil))
	if r.done != nil {
		r.done()
	}
}

// run processes the queued requests of a device until there are none;
// job, when not nil, is the first.
func (s *Server) run(mac uint64, dev *device, job *register) {
	if job == nil {
		job = s.table.next(mac, dev)
	}
	for job != nil {
		s.complete(dev, job)
		job = s.table.next(mac, dev)
	}
}

// complete processes one REGISTER, records its outcome for retransmissions
// and sends the answer.
func (s *Server) complete(dev *device, r *register) {
	defer s.endWork(r.listener)
	ctx, cancel := context.WithTimeout(s.base, s.cfg.RequestTimeout)
	o, bindings := s.process(ctx, dev, r)
	cancel()
	s.txs.finish(r.key, o, !r.reliable)
	r.send(s.response(r.msg, r.key, r.peer, o, bindings))
	if r.done != nil {
		r.done()
	}
}

// sweeper removes expired bindings every SweepInterval and unregisters the
// devices left without any; it also ages the transaction table. One
// goroutine for the whole server (it starts up to expiryParallelism
// registrar calls at once).
func (s *Server) sweeper() {
	defer close(s.sweepDone)
	tick := time.NewTicker(s.cfg.SweepInterval)
	defer tick.Stop()
	rotate := time.NewTicker(max(s.cfg.TransactionTTL/(txGenerations-1)/4, time.Millisecond))
	defer rotate.Stop()
	expired := make(chan struct{}, 1) // a sweep's unregistrations are done
	expired <- struct{}{}
	for {
		select {
		case <-s.sweepStop:
			<-expired
			return
		case now := <-rotate.C:
			s.txs.rotate(now)
		case now := <-tick.C:
			s.refusals.Flush(now)
			s.rejections.Flush(now)
			s.storeDown.Flush(now)
			s.changes.Flush(now)
			s.limiter.Prune(s.clock())
			select {
			case <-expired: // the previous sweep is over: start one
				go func() {
					s.expire()
					expired <- struct{}{}
				}()
			default: // still unregistering: skip this tick
			}
		}
	}
}

// expiryParallelism bounds the Unregister calls of one sweep running at once.
const expiryParallelism = 32

// expire runs one sweep of the bindings.
func (s *Server) expire() {
	now := s.clock()
	retry := now + int64(s.cfg.RetryAfterMin)
	var wg sync.WaitGroup
	slots := make(chan struct{}, expiryParallelism)
	for _, e := range s.table.sweep(now, retry) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			s.unregisterExpired(e)
		})
	}
	wg.Wait()
}

// unregisterExpired tells the registrar that a device's last binding
// expired, and gives the device back to the requests that queued meanwhile.
func (s *Server) unregisterExpired(e expiredDevice) {
	device := deviceName(e.mac)
	ctx, cancel := context.WithTimeout(s.base, s.cfg.RequestTimeout)
	err := s.cfg.Registrar.Unregister(ctx, command.Unregistration{
		Device:        device,
		Reason:        command.UnregisterExpired,
		Adapter:       adapterName,
		Peer:          e.peer.String(),
		CorrelationID: e.callID,
	})
	cancel()
	if err != nil {
		s.log.Warn().Err(err).Str("device", device).Stringer("peer", e.peer).
			Msg("expired registration: unregister failed, will retry")
	} else {
		s.changeEvent(device, "registration expired").Str("device", device).Str("dn", s.table.dn(e.mac, e.dev)).
			Stringer("peer", e.peer).Msg("registration expired")
	}
	if job := s.table.expired(e, err == nil); job != nil {
		s.startRun(e.mac, e.dev, job)
	}
}

// listener is one socket the server serves.
type listener struct {
	network  string
	addr     net.Addr
	reliable bool
	pc       net.PacketConn // UDP: the socket, to send requests from
	// stop stops reading and accepting; forceClose closes everything now.
	stop       func()
	forceClose func()
	stopping   atomic.Bool    // set by stop
	work       sync.WaitGroup // requests from this listener being processed
	done       chan struct{}  // closed when its Serve returned
}

func newListener(network string, addr net.Addr, reliable bool) *listener {
	return &listener{network: network, addr: addr, reliable: reliable, done: make(chan struct{})}
}

// ServeTLS serves SIP over TLS on ln (a plain TCP listener: the server does
// the handshakes with Config.TLS) until ctx is done or Shutdown is called.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS == nil {
		ln.Close()
		return errors.New("sip: tls needs Config.TLS")
	}
	return s.serveStream(ctx, "TLS", tls.NewListener(ln, s.cfg.TLS))
}

// ServeTCP serves SIP over TCP on ln until ctx is done or Shutdown is
// called.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	return s.serveStream(ctx, "TCP", ln)
}
