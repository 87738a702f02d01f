package sccp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/sccp/skinny"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// Texts of the RegisterRejects the adapter itself decides.
const (
	rejectInvalidName = "Invalid device name"
	rejectBusy        = "Registrar busy, try again"
	rejectFailed      = "Registration failed"
)

// conn is one phone's TCP connection. Its goroutine (serve) does all the
// reading, writing and registrar calls; other goroutines only close nc or
// call stop.
type conn struct {
	s    *Server
	nc   net.Conn
	id   string         // the registrar's CorrelationID
	peer string         // remote ip:port
	base zerolog.Logger // with peer and conn
	log  zerolog.Logger // base, with device and dn once known
	r    *skinny.Reader
	wbuf []byte

	started time.Time // when the connection was accepted
	lastRx  time.Time // when the last whole frame arrived

	// Registration state, owned by the serve goroutine.
	registered bool
	// standby: not registered, but keeping alive (a phone's standby
	// connection): the idle timeout no longer applies.
	standby bool
	device  string
	result  command.Registered

	superseded atomic.Bool // a newer connection took the device over
	// heard is when the last whole frame arrived (Unix nanoseconds), for
	// other connections to read: a registered phone still heard from keeps
	// its registration (see holderAlive).
	heard atomic.Int64
	// ended is closed when the connection stops reading (the phone closed
	// it, it timed out, it was superseded): it holds no live phone.
	ended chan struct{}

	st station // the conversation after registration (converse.go)

	mu       sync.Mutex // orders stop against read deadline updates
	stopping bool       // Shutdown asked the connection to finish
}

// end says why a connection ends: what to log and whether (and why) to
// report the device's unregistration.
type end struct {
	level  zerolog.Level
	msg    string
	err    error
	reason command.UnregisterReason // "" when nothing is to be reported
	linger bool                     // drain before closing: a final message was sent
}

func newConn(s *Server, nc net.Conn, id string) *conn {
	peer := nc.RemoteAddr().String()
	now := time.Now()
	base := s.log.With().Str("peer", peer).Str("conn", id).Logger()
	c := &conn{
		s:       s,
		nc:      nc,
		id:      id,
		peer:    peer,
		base:    base,
		log:     base,
		r:       skinny.NewReader(nc, s.cfg.MaxFrame),
		started: now,
		lastRx:  now,
		ended:   make(chan struct{}),
	}
	c.heard.Store(now.UnixNano())
	return c
}

// stop asks the connection to finish the message it is handling and end.
func (c *conn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	_ = c.nc.SetReadDeadline(time.Now())
}

// serve runs the connection until it ends, then reports and logs the end.
func (c *conn) serve() {
	ctx, cancel := context.WithCancel(c.s.ctx)
	defer cancel()
	e := c.loop(ctx)
	close(c.ended)
	c.finish(ctx, e)
}

// loop reads and handles messages until the connection must end.
func (c *conn) loop(ctx context.Context) end {
	for {
		if !c.armDeadline() {
			return c.stopped()
		}
		f, err := c.r.ReadFrame()
		if err != nil {
			if e, ok := c.readFailed(err); ok {
				return e
			}
			continue
		}
		c.lastRx = time.Now()
		c.heard.Store(c.lastRx.UnixNano())
		m, err := skinny.Decode(f.ID, f.Body)
		if err != nil {
			return c.badInput(fmt.Errorf("%v (header version %#x): %w", f.ID, f.Version, err))
		}
		if e, done := c.handle(ctx, m); done {
			return e
		}
		// The keepalive window runs from the answer: time the registrar
		// took is not the phone's.
		c.lastRx = time.Now()
	}
}

// armDeadline sets the read deadline for the next frame: the keepalive
// window for a registered phone, the idle timeout since accept for one that
// has not registered, and the idle timeout since a frame began when part of
// one has arrived. It reports false when the connection is stopping.
func (c *conn) armDeadline() bool {
	d := c.baseDeadline()
	if n, since := c.r.Pending(); n > 0 {
		if fd := since.Add(c.s.cfg.IdleTimeout); fd.Before(d) {
			d = fd
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	_ = c.nc.SetReadDeadline(d)
	return true
}

func (c *conn) baseDeadline() time.Time {
	if c.registered || c.standby {
		return c.lastRx.Add(time.Duration(c.s.cfg.MissedKeepAlives) * c.s.cfg.KeepAlive)
	}
	return c.started.Add(c.s.cfg.IdleTimeout)
}

func (c *conn) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

func (c *conn) stopped() end {
	return end{level: zerolog.InfoLevel, msg: "server shutting down", reason: command.UnregisterConnLost}
}

// readFailed turns a read error into the connection's end; ok is false when
// the deadline fired early and reading should go on.
func (c *conn) readFailed(err error) (e end, ok bool) {
	if c.superseded.Load() {
		return end{level: zerolog.InfoLevel, msg: "superseded by a registration on a new connection"}, true
	}
	if c.s.ctx.Err() != nil {
		return end{level: zerolog.DebugLevel, msg: "server stopped"}, true
	}
	if !isTimeout(err) {
		switch {
		case errors.Is(err, io.EOF):
			return end{level: zerolog.InfoLevel, msg: "connection closed by phone", reason: command.UnregisterConnLost}, true
		case errors.Is(err, skinny.ErrFrameTooLarge), errors.Is(err, skinny.ErrFrameTooShort),
			errors.Is(err, skinny.ErrBadHeaderVersion), errors.Is(err, skinny.ErrTruncated):
			return c.badInput(err), true
		default:
			return end{level: zerolog.InfoLevel, msg: "connection lost", err: err, reason: command.UnregisterConnLost}, true
		}
	}
	if c.isStopping() {
		return c.stopped(), true
	}
	now := time.Now()
	if n, since := c.r.Pending(); n > 0 && !now.Before(since.Add(c.s.cfg.IdleTimeout)) {
		return c.badInput(fmt.Errorf("stalled in the middle of a frame: %d bytes in %v", n, now.Sub(since).Round(time.Millisecond))), true
	}
	if now.Before(c.baseDeadline()) {
		return end{}, false
	}
	if c.registered {
		return end{
			level:  zerolog.InfoLevel,
			msg:    fmt.Sprintf("no keepalive for %d intervals", c.s.cfg.MissedKeepAlives),
			reason: command.UnregisterKeepalive,
		}, true
	}
	return end{level: zerolog.InfoLevel, msg: fmt.Sprintf("no registration within %v", c.s.cfg.IdleTimeout)}, true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// badInput ends the connection for something a phone would not send.
func (c *conn) badInput(err error) end {
	return end{level: zerolog.WarnLevel, msg: "bad input: closing connection", err: err, reason: command.UnregisterConnLost}
}

// handle answers one message. done reports that the connection must end.
func (c *conn) handle(ctx context.Context, m skinny.Message) (e end, done bool) {
	switch m := m.(type) {
	case skinny.KeepAlive:
		// Before registration, a phone's standby connection (to the next
		// CallManager of its list): it stays open while it keeps alive, so
		// that the phone fails over on it.
		c.standby = !c.registered
		return c.send(skinny.KeepAliveAck{})
	case skinny.Register:
		return c.register(ctx, m)
	case skinny.Unregister:
		return c.unregisterRequested(ctx)
	case skinny.LineStatReq:
		if !c.registered {
			c.log.Debug().Msg("LineStatReq before registration: ignored")
			return end{}, false
		}
		res := skinny.LineStatRes{LineNumber: m.LineNumber}
		if m.LineNumber == 1 {
			res.DirNumber = c.result.DN
			res.FullyQualifiedDisplayName = c.result.DN
			res.TextLabel = c.result.DN
		}
		return c.send(res)
	case skinny.ButtonTemplateReq:
		if !c.registered {
			c.log.Debug().Msg("ButtonTemplateReq before registration: ignored")
			return end{}, false
		}
		return c.send(skinny.ButtonTemplate{Buttons: []skinny.Button{{Instance: 1, Definition: skinny.ButtonLine}}})
	case skinny.CapabilitiesRes:
		c.log.Debug().Int("capabilities", len(m.Caps)).Msg("capabilities received")
		return end{}, false
	default:
		return c.converse(m)
	}
}

// send writes messages to the phone; done reports a failed write.
func (c *conn) send(msgs ...skinny.Message) (e end, done bool) {
	c.wbuf = c.wbuf[:0]
	for _, m := range msgs {
		c.wbuf = skinny.AppendFrame(c.wbuf, skinny.BasicVersion, m)
	}
	c.st.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.nc.Write(c.wbuf)
	c.st.wmu.Unlock()
	if err != nil {
		if c.superseded.Load() {
			return end{level: zerolog.InfoLevel, msg: "superseded by a registration on a new connection"}, true
		}
		return end{level: zerolog.InfoLevel, msg: "write failed", err: err, reason: command.UnregisterConnLost}, true
	}
	return end{}, false
}

// register handles a RegisterMessage.
func (c *conn) register(ctx context.Context, m skinny.Register) (end, bool) {
	name := m.DeviceName
	if !c.registered {
		c.log = c.base.With().Str("device", name).Logger()
	}
	if !domain.ValidDeviceName(name) {
		if e, done := c.send(skinny.RegisterReject{Text: rejectInvalidName}); done {
			return e, true
		}
		return end{level: zerolog.InfoLevel, msg: "registration rejected: invalid device name",
			err: fmt.Errorf("device name %q is not SEP and 12 hex digits", name), reason: c.reasonIfRegistered(), linger: true}, true
	}
	if c.registered && name != c.device {
		return c.badInput(fmt.Errorf("RegisterMessage for %s on a connection registered as %s", name, c.device)), true
	}
	model := ""
	if mdl, ok := domain.ModelBySCCPType(m.DeviceType); ok {
		model = mdl.Name
	}
	reg := command.Registration{
		Device:        name,
		Model:         model,
		Protocol:      domain.SCCP,
		Address:       stationAddress(c.peer),
		Adapter:       "sccp",
		Peer:          c.peer,
		CorrelationID: c.id,
	}

	if !c.registered && !c.s.admitRegistration(name, sourceOf(c.nc.RemoteAddr())) {
		c.s.refuse(refusedRateLimited, name, sourceOf(c.nc.RemoteAddr()))
		if e, done := c.send(skinny.RegisterReject{Text: rejectBusy}); done {
			return e, true
		}
		return end{level: zerolog.DebugLevel, msg: "registration refused: rate limited", linger: true}, true
	}
	if !c.registered {
		// A phone that closed its connection and registers again at once
		// (a reset) may be quicker than the old connection's end: give it
		// a moment, without the device's lock, which that end takes.
		if h := c.s.liveHolder(name, c); h != nil {
			t := time.NewTimer(min(holderGrace, c.s.cfg.KeepAlive/4))
			select {
			case <-h.ended:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	unlock, err := c.s.lockDevice(ctx, name)
	if err != nil {
		return end{level: zerolog.DebugLevel, msg: "server stopped", err: err}, true
	}
	if !c.registered && c.s.liveHolder(name, c) != nil {
		// SCCP has no authentication: whoever says the name is the phone.
		// A phone still keeping its connection alive keeps its
		// registration; another connection naming it is told to come back
		// (a phone that really moved gets in once the old connection has
		// been silent for a keepalive interval).
		unlock()
		c.s.refuse(refusedHeldAlive, name, sourceOf(c.nc.RemoteAddr()))
		if e, done := c.send(skinny.RegisterReject{Text: rejectBusy}); done {
			return e, true
		}
		return end{level: zerolog.DebugLevel, msg: "registration refused: the device is registered on a live connection", linger: true}, true
	}
	rctx, cancel := context.WithTimeout(ctx, c.s.cfg.RegistrarTimeout)
	res, err := c.s.cfg.Registrar.Register(rctx, reg)
	cancel()
	var previous *conn
	if err == nil {
		previous = c.s.claim(name, c)
		if previous != nil {
			previous.superseded.Store(true)
		}
	}
	unlock()
	if previous != nil {
		previous.nc.Close()
	}

	var rej *domain.Rejection
	switch {
	case err == nil:
		first := !c.registered
		c.registered, c.device, c.result = true, name, res
		c.log = c.base.With().Str("device", name).Str("dn", res.DN).Logger()
		ev := c.log.Info()
		if !first {
			ev = c.log.Debug()
		} else if !res.Autoregistered {
			ev = c.log.WithLevel(c.s.changeLevel(zerolog.InfoLevel, name, "registered"))
		}
		ev.Str("model", res.Model).Uint32("device_type", m.DeviceType).Uint8("protocol_version", m.ProtocolVersion).
			Bool("autoregistered", res.Autoregistered).Bool("moved", res.Moved).Msg("registered")
		return c.send(
			skinny.RegisterAck{
				KeepAliveInterval:          c.keepAliveSeconds(),
				DateTemplate:               c.s.cfg.DateTemplate,
				SecondaryKeepAliveInterval: 2 * c.keepAliveSeconds(),
				ProtocolVersion:            negotiate(m.ProtocolVersion),
			},
			skinny.CapabilitiesReq{},
		)
	case errors.Is(err, command.ErrBusy):
		return c.busy(name)
	case errors.As(err, &rej):
		if e, done := c.send(skinny.RegisterReject{Text: rej.Short()}); done {
			return e, true
		}
		return end{level: zerolog.InfoLevel, msg: "registration rejected: " + string(rej.Reason),
			err: err, reason: c.reasonIfRegistered(), linger: true}, true
	case ctx.Err() == nil && command.Unavailable(err):
		// The store cannot take the write now, or the registrar did not
		// answer in time: the phone comes back later.
		// Logged once per burst: a store that is down fails every write.
		c.s.storeDown.Add(time.Now(), err.Error(), name, sourceOf(c.nc.RemoteAddr()))
		if e, done := c.send(skinny.RegisterReject{Text: rejectBusy}); done {
			return e, true
		}
		return end{level: zerolog.DebugLevel, msg: "registration refused: registrar busy",
			err: err, reason: c.reasonIfRegistered(), linger: true}, true
	case ctx.Err() != nil:
		return end{level: zerolog.DebugLevel, msg: "server stopped", err: err}, true
	default:
		if e, done := c.send(skinny.RegisterReject{Text: rejectFailed}); done {
			return e, true
		}
		return end{level: zerolog.ErrorLevel, msg: "registration failed", err: err,
			reason: c.reasonIfRegistered(), linger: true}, true
	}
}

// reasonIfRegistered is the unregistration to report when the connection
// ends now: connection lost if the phone had registered on it.
func (c *conn) reasonIfRegistered() command.UnregisterReason {
	if c.registered {
		return command.UnregisterConnLost
	}
	return ""
}

// unregisterRequested handles an UnregisterMessage: the unregistration is
// durable before the phone gets its UnregisterAck.
func (c *conn) unregisterRequested(ctx context.Context) (end, bool) {
	if !c.registered {
		if e, done := c.send(skinny.UnregisterAck{Status: skinny.UnregisterOK}); done {
			return e, true
		}
		return end{level: zerolog.InfoLevel, msg: "unregistered before registering", linger: true}, true
	}
	if err := c.unregister(ctx, command.UnregisterRequested); err != nil {
		c.log.Error().Err(err).Msg("unregistration failed")
		return c.send(skinny.UnregisterAck{Status: skinny.UnregisterError})
	}
	if e, done := c.send(skinny.UnregisterAck{Status: skinny.UnregisterOK}); done {
		return e, true
	}
	return end{level: zerolog.InfoLevel, msg: "unregistered by phone", linger: true}, true
}

// unregister reports the end of the device's registration, unless a newer
// connection holds it. On success the connection is no longer registered.
func (c *conn) unregister(ctx context.Context, reason command.UnregisterReason) error {
	unlock, err := c.s.lockDevice(ctx, c.device)
	if err != nil {
		return err
	}
	defer unlock()
	if !c.s.owns(c.device, c) {
		c.registered = false
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, c.s.cfg.RegistrarTimeout)
	defer cancel()
	err = c.s.cfg.Registrar.Unregister(rctx, command.Unregistration{
		Device:        c.device,
		Reason:        reason,
		Adapter:       "sccp",
		Peer:          c.peer,
		CorrelationID: c.id,
	})
	if err != nil {
		return fmt.Errorf("unregister %s: %w", c.device, err)
	}
	c.s.release(c.device, c)
	c.registered = false
	return nil
}

// finish closes the connection, reports the device's unregistration when
// the end calls for it, and logs the one line that says why it ended.
func (c *conn) finish(ctx context.Context, e end) {
	defer c.s.removeConn(c)
	if e.linger {
		c.lingerClose()
	} else {
		c.nc.Close()
	}
	if c.superseded.Load() && e.reason != "" {
		e.reason = ""
	}
	// A connection that never registered unregisters nothing: when they
	// come in floods (idle, stalled, rejected), most are only counted.
	if !c.registered && e.level >= zerolog.InfoLevel && !c.s.ends.admit(time.Now(), e.msg) {
		c.log.Debug().AnErr("error", e.err).Msg(e.msg)
		return
	}
	registered, unregister := c.registered, c.registered && e.reason != ""
	var unregErr error
	if unregister {
		unregErr = c.unregister(ctx, e.reason)
	}
	level := e.level
	if registered && unregErr == nil {
		// A registered device's end: once a minute per device, then counted.
		level = c.s.changeLevel(level, c.device, e.msg)
	}
	ev := c.log.WithLevel(level)
	if e.err != nil {
		ev = ev.Err(e.err)
	}
	if unregister {
		ev = ev.Str("unregister", string(e.reason))
		if unregErr != nil {
			ev = ev.AnErr("unregister_error", unregErr)
		}
	}
	if c.registered {
		// Superseded, stopped hard or unregistration failed: the
		// connection no longer holds the device either way.
		c.s.release(c.device, c)
	}
	ev.Msg(e.msg)
}

// lingerClose half-closes the connection and drains what the phone still
// sends for a moment, so the final message is not lost to a reset.
func (c *conn) lingerClose() {
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 64<<10))
	}
	c.nc.Close()
}

func (c *conn) keepAliveSeconds() uint32 {
	s := math.Ceil(c.s.cfg.KeepAlive.Seconds())
	return uint32(min(max(s, 1), math.MaxUint32/2))
}

// negotiate chooses the protocol version for the RegisterAck: the phone's,
// at most MaxProtocolVersion; 3 (the original protocol) for a phone that
// sent none.
func negotiate(phone uint8) uint8 {
	switch {
	case phone == 0:
		return 3
	case phone > MaxProtocolVersion:
		return MaxProtocolVersion
	}
	return phone
}

// stationAddress is where an SCCP phone is: its IP address. The TCP source
// port changes with every connection (a reboot, a network blip), so it is
// not part of the address: a phone back from the same IP has not moved.
func stationAddress(peer string) string {
	if host, _, err := net.SplitHostPort(peer); err == nil {
		return host
	}
	return peer
}
