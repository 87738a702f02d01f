package sccp

import (
	"errors"
	"fmt"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// ErrNotConnected matches (errors.Is) Reset's error when the device has no
// live connection to the server.
var ErrNotConnected = errors.New("not connected")

// Reset sends a Reset to the device on the connection it is registered on:
// a reset (the phone reboots and fetches its configuration) or, with
// restart, a restart (it re-registers without rebooting). It returns once
// the message is written; the phone then drops its connection, which the
// server reports as usual. The error names the device; it wraps
// ErrNotConnected when the device is not registered on any of the server's
// connections.
func (s *Server) Reset(device string, restart bool) error {
	typ := skinny.ResetReset
	if restart {
		typ = skinny.ResetRestart
	}
	s.mu.Lock()
	var c *conn
	if d := s.devices[device]; d != nil {
		c = d.owner
	}
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("sccp: reset %s: %w to this server", device, ErrNotConnected)
	}
	if err := c.write(skinny.Reset{Type: typ}); err != nil {
		return fmt.Errorf("sccp: reset %s (%s): %w", device, c.peer, err)
	}
	s.log.Info().Str("device", device).Str("peer", c.peer).Str("conn", c.id).Stringer("reset", typ).Msg("reset sent")
	return nil
}

// write sends one message from a goroutine other than the connection's.
func (c *conn) write(m skinny.Message) error {
	b := skinny.AppendFrame(nil, skinny.BasicVersion, m)
	c.st.wmu.Lock()
	defer c.st.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}
