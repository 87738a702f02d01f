package sip

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// The transports are thin loops over sipgo's parser (sip.Parser for
// datagrams, sip.ParserStream for TCP/TLS framing) and message types. They
// replace sipgo's TransportLayer because that one, besides feeding the
// transaction layer this server does without, keeps one connection-pool
// entry per UDP source address for as long as the socket lives, and 32 KB
// of read buffer per TCP connection.

// writeTimeout bounds one response write on a stream.
const writeTimeout = 5 * time.Second

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// ServeUDP serves SIP over UDP on pc until ctx is done or Shutdown is
// called. Config.UDPReaders goroutines read the socket. pc is closed on
// return.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	l := newListener("UDP", pc.LocalAddr(), false)
	l.pc = pc
	l.stop = func() { _ = pc.SetReadDeadline(time.Unix(1, 0)) }
	l.forceClose = func() { _ = pc.Close() }
	if err := s.track(l); err != nil {
		pc.Close()
		return err
	}
	defer s.untrack(l)
	defer context.AfterFunc(ctx, l.stop)()

	if uc, ok := pc.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(defaultUDPReadBufferBytes) // absorb bursts; best effort
	}
	s.log.Info().Str("network", "udp").Str("addr", pc.LocalAddr().String()).Msg("SIP listening")

	errs := make(chan error, s.cfg.UDPReaders)
	for range s.cfg.UDPReaders {
		go func() { errs <- s.readUDP(l, pc) }()
	}
	var err error
	for range s.cfg.UDPReaders {
		if e := <-errs; e != nil && err == nil {
			err = e
			l.stop() // one reader failed: stop the others
		}
	}
	l.work.Wait() // let the answers in flight go out
	pc.Close()
	switch {
	case s.closed():
		return ErrServerClosed
	case ctx.Err() != nil:
		return nil
	}
	return err
}

// readUDP is one reader of a UDP socket. It returns nil when stopped.
func (s *Server) readUDP(l *listener, pc net.PacketConn) error {
	buf := make([]byte, maxDatagram)
	uc, _ := pc.(*net.UDPConn)
	send := func(peer netip.AddrPort) func(*sipmsg.Response) {
		return func(res *sipmsg.Response) {
			b := encode(res)
			var err error
			if uc != nil {
				_, err = uc.WriteToUDPAddrPort(b.Bytes(), peer)
			} else {
				_, err = pc.WriteTo(b.Bytes(), net.UDPAddrFromAddrPort(peer))
			}
			releaseBuffer(b)
			if err != nil {
				s.log.Debug().Err(err).Stringer("peer", peer).Msg("UDP write failed")
			}
		}
	}
	for {
		var (
			n    int
			peer netip.AddrPort
			err  error
		)
		if uc != nil {
			n, peer, err = uc.ReadFromUDPAddrPort(buf)
		} else {
			var addr net.Addr
			n, addr, err = pc.ReadFrom(buf)
			if err == nil {
				peer, _ = netip.ParseAddrPort(addr.String())
			}
		}
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, net.ErrClosed), errors.As(err, &ne) && ne.Timeout():
				return nil // stopped
			case errors.As(err, &ne):
				s.log.Debug().Err(err).Msg("UDP read error") // e.g. ICMP unreachable
				time.Sleep(time.Millisecond)
				continue
			}
			return err
		}
		// Responses go back where the request came from (RFC 3581 symmetric
		// response routing, which is also what sipgo does).
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		req, res := s.parseDatagram(buf[:n], peer)
		switch {
		case res != nil:
			send(peer)(res)
		case req != nil:
			s.receive(l, req, peer, send(peer), nil)
		}
	}
}

// parseDatagram parses one UDP payload. It returns the request to handle,
// or the answer to a request too broken to handle, or neither (a keepalive,
// a response, garbage).
func (s *Server) parseDatagram(data []byte, peer netip.AddrPort) (*sipmsg.Request, *sipmsg.Response) {
	if len(bytes.Trim(data, "\r\n\x00")) == 0 {
		return nil, nil // keepalive
	}
	msg, err := s.parser.ParseSIP(data)
	if err != nil {
		return nil, s.malformed(msg, err, peer)
	}
	req, ok := msg.(*sipmsg.Request)
	if !ok {
		return nil, nil // a response: this server sends no requests
	}
	req.SetTransport("UDP")
	req.SetSource(peer.String())
	return req, nil
}

// malformed answers 400 to a request the parser gave up on part way, once
// it read the request line: the answer goes back where the request came
// from (the datagram's source, the connection), with whichever of the
// headers RFC 3261 8.2.6 copies it read (a CSeq whose number overflows 32
// bits stops the parser before CSeq, say). Other garbage, and an ACK, is
// dropped (nil).
func (s *Server) malformed(msg sipmsg.Message, err error, peer netip.AddrPort) *sipmsg.Response {
	req, ok := msg.(*sipmsg.Request)
	if !ok || req == nil || req.IsAck() {
		s.log.Debug().Err(err).Stringer("peer", peer).Msg("unparsable SIP message dropped")
		return nil
	}
	if _, ok := scanHeaders(req); !ok {
		return nil
	}
	req.SetTransport("UDP")
	req.SetSource(peer.String())
	s.log.Debug().Err(err).Stringer("peer", peer).Msg("malformed request: 400")
	return s.response(req, transactionKey(req), peer, rejectf(400, "malformed request: %v", err), nil)
}

// serveStream serves a TCP or TLS listener.
func (s *Server) serveStream(ctx context.Context, network string, ln net.Listener) error {
	l := newListener(network, ln.Addr(), true)
	var (
		connsMu sync.Mutex
		conns   = make(map[net.Conn]struct{})
		wg      sync.WaitGroup
		stopped bool
	)
	l.stop = func() {
		l.stopping.Store(true)
		ln.Close()
		connsMu.Lock()
		stopped = true
		for c := range conns {
			_ = c.SetReadDeadline(time.Unix(1, 0))
		}
		connsMu.Unlock()
	}
	l.forceClose = func() {
		ln.Close()
		connsMu.Lock()
		stopped = true
		for c := range conns {
			c.Close()
		}
		connsMu.Unlock()
	}
	if err := s.track(l); err != nil {
		ln.Close()
		return err
	}
	defer s.untrack(l)
	defer context.AfterFunc(ctx, l.stop)()
	s.log.Info().Str("network", strings.ToLower(network)).Str("addr", ln.Addr().String()).Msg("SIP listening")

	var err error
	for {
		c, e := ln.Accept()
		if e != nil {
			var ne net.Error
			switch {
			case errors.Is(e, net.ErrClosed) || l.stopping.Load():
			case errors.Is(e, syscall.EMFILE) || errors.Is(e, syscall.ENFILE) ||
				errors.Is(e, syscall.ECONNABORTED) || errors.As(e, &ne) && ne.Timeout():
				s.overloadLog.Warn().Err(e).Msg("accept failed: retrying")
				time.Sleep(10 * time.Millisecond)
				continue
			default:
				err = e
			}
			break
		}
		peer, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
			s.conns.Add(-1)
			s.refusals.Add(time.Now(), refusedConnections, "", peer)
			s.countRefused(refusedConnections)
			c.Close()
			continue
		}
		if !s.enterSource(peer.Addr()) {
			s.conns.Add(-1)
			s.refusals.Add(time.Now(), refusedConnsPerSource, "", peer)
			s.countRefused(refusedConnsPerSource)
			c.Close()
			continue
		}
		connsMu.Lock()
		if stopped {
			connsMu.Unlock()
			s.conns.Add(-1)
			s.leaveSource(peer.Addr())
			c.Close()
			continue
		}
		conns[c] = struct{}{}
		wg.Add(1)
		connsMu.Unlock()
		go func() {
			defer wg.Done()
			defer s.conns.Add(-1)
			defer s.leaveSource(peer.Addr())
			s.serveConn(l, network, c)
			connsMu.Lock()
			delete(conns, c)
			connsMu.Unlock()
		}()
	}
	l.stop()
	wg.Wait()
	switch {
	case s.closed():
		return ErrServerClosed
	case ctx.Err() != nil:
		return nil
	}
	return err
}

// streamConn is one TCP/TLS connection; responses from several goroutines
// are written whole, one at a time.
type streamConn struct {
	net.Conn
	mu   sync.Mutex
	work sync.WaitGroup
}

func (c *streamConn) send(res *sipmsg.Response) {
	b := encode(res)
	c.mu.Lock()
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, _ = c.Write(b.Bytes())
	c.mu.Unlock()
	releaseBuffer(b)
}

// serveConn reads SIP messages from one connection until it ends, is idle
// for StreamIdleTimeout, breaks framing, or the listener stops; then waits
// for the answers in flight and closes it.
func (s *Server) serveConn(l *listener, network string, nc net.Conn) {
	c := &streamConn{Conn: nc}
	defer c.Close()
	defer c.work.Wait()

	peer, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	par := s.parser.NewSIPStream()
	defer par.Close()
	buf := make([]byte, 4096)
	idle := true // between messages: a CRLF pair there is a keepalive
	// Until its first whole request, a connection has FirstRequestTimeout
	// from its accept, however it trickles bytes.
	firstBy := time.Now().Add(s.cfg.FirstRequestTimeout)
	requests := 0
	for {
		deadline := time.Now().Add(s.cfg.StreamIdleTimeout)
		if requests == 0 && firstBy.Before(deadline) {
			deadline = firstBy
		}
		// stop sets the flag, then a past deadline: either this deadline is
		// overwritten by stop's, or the flag is seen.
		if err := c.SetReadDeadline(deadline); err != nil || l.stopping.Load() {
			return
		}
		n, err := c.Read(buf)
		if n > 0 {
			data := buf[:n]
			// RFC 5626 3.5.1: answer a CRLFCRLF ping with a CRLF pong.
			if idle && len(bytes.Trim(data, "\r\n")) == 0 {
				if bytes.Equal(data, []byte("\r\n\r\n")) {
					c.mu.Lock()
					_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
					_, _ = c.Write(data[:2])
					c.mu.Unlock()
				}
				continue
			}
			perr := par.ParseSIPStream(data, func(msg sipmsg.Message) {
				req, ok := msg.(*sipmsg.Request)
				if !ok {
					return // a response: this server sends no requests
				}
				req.SetTransport(network)
				req.SetSource(peer.String())
				requests++
				c.work.Add(1)
				s.receive(l, req, peer, c.send, c.work.Done)
			})
			switch {
			case perr == nil:
				idle = true
			case errors.Is(perr, sipmsg.ErrParseSipPartial):
				idle = false
			default:
				s.log.Debug().Err(perr).Stringer("peer", peer).Msg("SIP stream framing lost: connection closed")
				return
			}
		}
		if err != nil {
			return
		}
	}
}
