package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/autoreg/autoreg/adapters/sccp/phone"
)

// A phone with a CallManager list (--callmanagers, --sip-callmanagers)
// behaves as a Cisco phone does with its device pool's CallManager group:
// it registers with the first CallManager that accepts it; over SCCP it
// keeps a standby connection to the next one (kept alive, not registered);
// when its CallManager stops answering (the connection closes, or a
// keepalive goes unacknowledged) it registers on the standby connection
// (failover), and while it is not on the first of the list it tries the
// first again every keepalive interval and goes back to it as soon as it
// answers (fallback). A SIP phone fails over at its next refresh, trying
// the list in order, which also brings it back to the first.

// sccpListClient registers SCCP phones with a list of CallManagers.
// With start, a registered phone holds the whole conversation of a 7961
// (phone.Start) rather than asking for its DN alone; the load the
// VersionMessage names is reported.
type sccpListClient struct {
	cms   []string
	start bool
}

func (c *sccpListClient) register(ctx context.Context, s spec) attempt {
	start := time.Now()
	cfg := sccpConfig(s.device, s.model)
	var first attempt
	for i, addr := range c.cms {
		p, err := phone.DialConfig(ctx, addr, cfg)
		var rej *phone.RejectedError
		switch {
		case errors.As(err, &rej):
			if first.phone.Result == "" {
				first = attempt{phone: Phone{Device: s.device, Model: s.model, Protocol: s.protocol, Result: ResultRejected,
					Reason: rejectionReason(rej.Text), Detail: rej.Text, LatencyMS: ms(time.Since(start))}}
			}
			continue
		case err != nil:
			if first.phone.Result == "" {
				first = attempt{phone: failed(s, err, time.Since(start))}
			}
			continue
		}
		took := time.Since(start)
		var dn, load string
		if c.start {
			st, err := p.Start(ctx)
			if err != nil {
				p.Close()
				return attempt{phone: failed(s, fmt.Errorf("registered, but the conversation after RegisterAck: %w", err), took)}
			}
			dn, load = st.DN(), st.Load
		} else if dn, err = p.DN(ctx); err != nil {
			p.Close()
			return attempt{phone: failed(s, fmt.Errorf("registered, but the DN (LineStatReq): %w", err), took)}
		}
		f := &sccpFailover{cms: c.cms, cfg: cfg, cur: i, p: p}
		f.openStandby(ctx)
		a := attempt{
			phone: Phone{Device: s.device, Model: s.model, Protocol: s.protocol, Result: ResultRegistered,
				DN: dn, LatencyMS: ms(took), Node: addr, VersionLoad: load},
			session: f,
		}
		f.report = &a.phone
		return a
	}
	return first
}

// bind makes the session report its moves in p.
func (f *sccpFailover) bind(p *Phone) {
	f.mu.Lock()
	f.report = p
	f.mu.Unlock()
}

// bind makes the session report its moves in p.
func (s *sipListSession) bind(p *Phone) { s.report = p }

// sccpFailover is a registered SCCP phone with its CallManager list.
type sccpFailover struct {
	cms    []string
	cfg    phone.Config
	mu     sync.Mutex
	cur    int          // the CallManager registered with (index in cms)
	p      *phone.Phone // its connection
	sb     *phone.Phone // the standby connection (nil: none)
	sbAt   int          // the standby's index
	sbStop context.CancelFunc
	sbLost chan struct{} // closed when the standby's keepalives fail
	report *Phone
}

// openStandby connects to the CallManager after the current one, if any,
// and keeps the connection alive beside the registration.
func (f *sccpFailover) openStandby(ctx context.Context) {
	f.dropStandby()
	if len(f.cms) < 2 {
		return
	}
	next := (f.cur + 1) % len(f.cms)
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sb, err := phone.DialStandby(dctx, f.cms[next], f.cfg)
	if err != nil {
		return
	}
	sctx, stop := context.WithCancel(ctx)
	lost := make(chan struct{})
	f.sb, f.sbAt, f.sbStop, f.sbLost = sb, next, stop, lost
	every := f.p.KeepAliveInterval()
	go func() {
		if err := sb.RunEvery(sctx, every); err != nil {
			close(lost)
		}
	}()
}

// dropStandby stops keeping the standby connection alive and closes it.
func (f *sccpFailover) dropStandby() {
	if f.sb == nil {
		return
	}
	f.sbStop()
	f.sb.Close()
	f.sb = nil
}

// takeStandby stops the standby's keepalives and hands its connection over
// (nil when it is gone).
func (f *sccpFailover) takeStandby() (*phone.Phone, int) {
	if f.sb == nil {
		return nil, 0
	}
	f.sbStop()
	sb, at := f.sb, f.sbAt
	f.sb = nil
	select {
	case <-f.sbLost:
		sb.Close()
		return nil, 0
	default:
	}
	return sb, at
}

// hold keeps alive at the interval the RegisterAck gave; a keepalive that
// fails is a failover; on a backup, each interval tries the first again.
func (f *sccpFailover) hold(ctx context.Context) error {
	every := f.p.KeepAliveInterval()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		kctx, cancel := context.WithTimeout(ctx, every)
		err := f.p.KeepAlive(kctx)
		cancel()
		var reset *phone.ResetError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &reset): // the CallManager asks for it: not a failure
			return err
		case err != nil: // the CallManager stopped answering: fail over
			if ferr := f.failover(ctx, err); ferr != nil {
				return ferr
			}
		case f.cur != 0: // on a backup: fall back if the first answers
			f.fallback(ctx)
		}
		if f.sb == nil {
			f.openStandby(ctx)
		}
	}
}

// fallback registers with the first CallManager again, if it answers.
func (f *sccpFailover) fallback(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	p, err := phone.DialConfig(dctx, f.cms[0], f.cfg)
	if err != nil {
		return
	}
	old := f.p
	f.mu.Lock()
	f.p, f.cur = p, 0
	f.report.Node = f.cms[0]
	f.report.Fallbacks++
	f.mu.Unlock()
	old.Close() // the backup sees the connection drop; the registration is the first's now
	f.openStandby(ctx)
}

// failover registers on the standby connection, else with the next
// CallManager that answers, trying until ctx ends.
func (f *sccpFailover) failover(ctx context.Context, cause error) error {
	f.p.Close()
	for ctx.Err() == nil {
		if sb, at := f.takeStandby(); sb != nil {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := sb.Register(rctx, f.cfg)
			cancel()
			if err == nil {
				f.switchTo(ctx, sb, at)
				return nil
			}
			sb.Close()
		}
		for i := 1; i <= len(f.cms); i++ {
			at := (f.cur + i) % len(f.cms)
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			p, err := phone.DialConfig(dctx, f.cms[at], f.cfg)
			cancel()
			if err == nil {
				f.switchTo(ctx, p, at)
				return nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("no CallManager answers after %v", cause)
}

func (f *sccpFailover) switchTo(ctx context.Context, p *phone.Phone, at int) {
	f.mu.Lock()
	f.p, f.cur = p, at
	f.report.Node = f.cms[at]
	if at == 0 {
		f.report.Fallbacks++
	} else {
		f.report.Failovers++
	}
	f.mu.Unlock()
	f.openStandby(ctx)
}

func (f *sccpFailover) unregister(ctx context.Context) error { return f.p.Unregister(ctx) }

func (f *sccpFailover) close() {
	f.p.Close()
	f.dropStandby()
}

// sipListSession is a registered SIP phone with its CallManager list: each
// refresh goes to the first CallManager that answers, in order.
type sipListSession struct {
	phones  []*sipPhone // one per CallManager
	cur     int
	refresh time.Duration
	report  *Phone
}

func (c *sipListClient) register(ctx context.Context, s spec) attempt {
	var first attempt
	for i, cl := range c.clients {
		a := cl.register(ctx, s)
		if a.session == nil {
			if first.phone.Result == "" {
				first = a
			}
			continue
		}
		ses := &sipListSession{cur: i, refresh: a.session.(*sipSession).refresh}
		for _, other := range c.clients {
			ses.phones = append(ses.phones, other.newPhone(s))
		}
		a.phone.Node = cl.addr()
		a.session = ses
		ses.report = &a.phone
		return a
	}
	return first
}

// sipListClient registers SIP phones with a list of CallManagers.
type sipListClient struct{ clients []*sipClient }

func (s *sipListSession) hold(ctx context.Context) error {
	t := time.NewTicker(max(s.refresh, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var lastErr error
		done := false
		for i, p := range s.phones {
			rctx, cancel := context.WithTimeout(ctx, p.c.timeout)
			res, err := p.do(rctx, p.c.expires)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err == nil && res.StatusCode == sip.StatusOK {
				if i != s.cur {
					if i == 0 {
						s.report.Fallbacks++
					} else {
						s.report.Failovers++
					}
					s.cur = i
					s.report.Node = p.c.addr()
				}
				done = true
				break
			}
			if err != nil {
				lastErr = err
			} else {
				_, detail := sipRejection(res)
				lastErr = errors.New(detail)
			}
		}
		if !done {
			return fmt.Errorf("refresh: no CallManager answers: %w", lastErr)
		}
	}
}

func (s *sipListSession) unregister(ctx context.Context) error {
	ses := sipSession{p: s.phones[s.cur]}
	return ses.unregister(ctx)
}

func (s *sipListSession) close() {}
