package sccp

import (
	"context"
	"time"

	"github.com/autoreg/autoreg/internal/command"
)

// Connected reports whether device is registered on one of the server's
// connections now.
func (s *Server) Connected(device string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	return d != nil && d.owner != nil
}

// ExpectBack deals with the SCCP phones the store says are registered when
// the registrar starts: their TCP connections died with the previous
// process, and a phone reconnects within seconds. Those that have not
// re-registered on a connection after grace are unregistered (reason
// connection), so the store does not keep them registered for ever. It
// returns at once; the check runs once, in the background, until ctx ends.
func (s *Server) ExpectBack(ctx context.Context, devices []string, grace time.Duration) {
	if len(devices) == 0 {
		return
	}
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gone := 0
		for _, d := range devices {
			if ctx.Err() != nil {
				return
			}
			if s.Connected(d) {
				continue
			}
			err := s.cfg.Registrar.Unregister(ctx, command.Unregistration{Device: d, Reason: command.UnregisterConnLost,
				Adapter: "sccp", CorrelationID: "sccp-restart"})
			if err != nil {
				s.log.Warn().Err(err).Str("device", d).Msg("unregistering a phone that did not come back after the restart")
				continue
			}
			gone++
		}
		s.log.Info().Int("expected", len(devices)).Int("unregistered", gone).Dur("grace_ms", grace).
			Msg("phones registered before the restart checked")
	}()
}
