package sccp

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/internal/limit"
	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// Floods naming known devices.
//
// Known device names are exempt from the per-source limit (limit.go), so a
// connect-register-close loop on a known name reached the registrar every
// time: a registration and an unregistration, two events and a few info
// lines per loop (884 events and 4,000 lines in 2.6 s). The registrar now
// bounds a device's moves and registrations anew (command.BusyError: 3,
// then one per 20 s per device, and per source address): beyond, the phone
// gets RegisterReject "Registrar busy, try again" without an event, counted
// as limit.RefusedChanges and logged once per burst with the limits' refusals.
// The lines of the registrations made and of the ends of registered
// connections go through s.changes: the first of each device and message a
// minute as they happen, the rest summed up once a minute.

// busy refuses a registration the registrar declined for now
// (command.ErrBusy) as the per-source limit does: RegisterReject "Registrar
// busy, try again", counted, logged once per burst.
func (c *conn) busy(name string) (end, bool) {
	c.s.refuse(limit.RefusedChanges, name, sourceOf(c.nc.RemoteAddr()))
	if e, done := c.send(skinny.RegisterReject{Text: rejectBusy}); done {
		return e, true
	}
	return end{level: zerolog.DebugLevel, msg: "registration refused: registered anew or moved too often",
		reason: c.reasonIfRegistered(), linger: true}, true
}

// changeLevel is the level of a line about a registered device's change
// (msg): level for the first of the device and msg in a minute,
// debug (and counted) for the rest.
func (s *Server) changeLevel(level zerolog.Level, device, msg string) zerolog.Level {
	if level != zerolog.InfoLevel || s.changes.Admit(time.Now(), device+" "+msg) {
		return level
	}
	return zerolog.DebugLevel
}
