package sip

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/internal/limit"
)

// Floods naming known devices.
//
// Known devices are exempt from the per-source limit (limit.go), so a flood
// of REGISTERs naming a known device's MAC with ever new contacts reaches the
// registrar: every one was a move, an event and an info line (8,666 events
// and 8,667 lines in 5 s). The registrar now bounds a device's moves and
// registrations anew (command.BusyError: 3, then one per 20 s per device,
// and per source address): beyond, the REGISTER is answered 503 with
// Retry-After, like the per-source limit's refusals, counted under
// limit.RefusedChanges and logged once per burst. The lines of the changes that
// are made (moved, registered anew, unregistered, expired) go through
// s.changes: the first of each device a minute as it happens, the rest
// summed up once a minute.

// busy is the outcome of a registration the registrar declined for now
// (command.ErrBusy): 503 with Retry-After, counted and logged once per
// burst as the server's own refusals are.
func (s *Server) busy(r *register) outcome {
	s.refused(limit.RefusedChanges, r)
	return s.unavailable()
}

// changeEvent is the log event of a device's registration change (msg):
// info for the first of the device and msg in a minute, debug (and
// counted) for the rest.
func (s *Server) changeEvent(device, msg string) *zerolog.Event {
	if s.changes.Admit(time.Now(), device+" "+msg) {
		return s.log.Info()
	}
	return s.log.Debug()
}
