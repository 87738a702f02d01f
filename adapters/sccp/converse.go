package sccp

import (
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// maxAlarmLines is how many of a connection's Alarms get an info or warn
// line of their own; later ones are logged at debug (Config.Alarm still
// sees every one).
const maxAlarmLines = 10

// station is a connection's state for the conversation after registration.
type station struct {
	wmu    sync.Mutex // serialises writes: the serve goroutine's and Server.Reset's
	alarms int        // Alarms received, owned by the serve goroutine
}

// converse answers the messages of the conversation that follows a
// registration: a phone asks for its load, servers, soft keys,
// configuration, forwards, speed dials and the time, and reports alarms.
// Anything else is ignored. done reports that the connection must end (a
// write failed).
func (c *conn) converse(m skinny.Message) (e end, done bool) {
	switch m := m.(type) {
	case skinny.Alarm:
		c.alarm(m)
		return end{}, false
	case skinny.VersionReq, skinny.ServerReq, skinny.SoftKeyTemplateReq, skinny.SoftKeySetReq,
		skinny.ConfigStatReq, skinny.ForwardStatReq, skinny.SpeedDialStatReq, skinny.TimeDateReq,
		skinny.RegisterAvailableLines:
		if !c.registered {
			c.log.Debug().Stringer("message", m.ID()).Msg("request before registration: ignored")
			return end{}, false
		}
	default:
		c.log.Debug().Stringer("message", m.ID()).Msg("message ignored")
		return end{}, false
	}

	switch m := m.(type) {
	case skinny.VersionReq:
		load := c.load()
		if !skinny.VersionFits(load) {
			c.log.Debug().Str("load", load).Msg("firmware load longer than a VersionMessage holds: sent cut to 15 bytes")
		}
		return c.send(skinny.Version{Load: load})
	case skinny.ServerReq:
		return c.send(c.serverRes())
	case skinny.SoftKeyTemplateReq:
		return c.send(defaultSoftKeyTemplate)
	case skinny.SoftKeySetReq:
		return c.send(defaultSoftKeySets)
	case skinny.ConfigStatReq:
		return c.send(c.configStat())
	case skinny.ForwardStatReq:
		// No forwards: the line's number and zeros.
		return c.send(skinny.ForwardStat{LineNumber: m.LineNumber})
	case skinny.SpeedDialStatReq:
		// No speed dials: the number asked and empty texts.
		return c.send(skinny.SpeedDialStat{Number: m.Number})
	case skinny.TimeDateReq:
		// The last request of a phone's start-up.
		return c.send(skinny.TimeDateOf(time.Now().In(c.location())))
	case skinny.RegisterAvailableLines:
		c.log.Debug().Uint32("lines", m.MaxLines).Msg("available lines")
	}
	return end{}, false
}

// alarm logs an Alarm with its text and reports it to Config.Alarm. Before
// registration, and beyond maxAlarmLines on the connection, the line is at
// debug level.
func (c *conn) alarm(m skinny.Alarm) {
	if h := c.s.cfg.Alarm; h != nil {
		h(c.device, m)
	}
	c.st.alarms++
	level := zerolog.InfoLevel
	if m.Severity.Problem() {
		level = zerolog.WarnLevel
	}
	if !c.registered || c.st.alarms > maxAlarmLines {
		level = zerolog.DebugLevel
	}
	c.log.WithLevel(level).Stringer("severity", m.Severity).Str("text", m.Text).
		Uint32("param1", m.Param1).Uint32("param2", m.Param2).Msg("phone alarm")
}

// load is the firmware load for the registered device's model.
func (c *conn) load() string {
	if p := c.s.cfg.Provisioning; p != nil {
		return p.Load(c.device, c.result.Model)
	}
	return ""
}

// callManagers are the servers the phone may register with: the device
// pool's, or this server as the phone reached it.
func (c *conn) callManagers() []CallManager {
	if p := c.s.cfg.Provisioning; p != nil {
		if cms := p.CallManagers(c.device); len(cms) > 0 {
			return cms
		}
	}
	local, err := netip.ParseAddrPort(c.nc.LocalAddr().String())
	if err != nil {
		return nil
	}
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	return []CallManager{{Name: local.Addr().String(), Addr: local}}
}

func (c *conn) serverRes() skinny.ServerRes {
	cms := c.callManagers()
	res := skinny.ServerRes{Servers: make([]skinny.ServerInfo, 0, min(len(cms), skinny.MaxServers))}
	for _, cm := range cms[:min(len(cms), skinny.MaxServers)] {
		port := uint32(cm.Addr.Port())
		if port == 0 {
			port = DefaultSCCPPort
		}
		res.Servers = append(res.Servers, skinny.ServerInfo{Name: cm.Name, Addr: cm.Addr.Addr(), Port: port})
	}
	return res
}

func (c *conn) configStat() skinny.ConfigStat {
	m := skinny.ConfigStat{
		DeviceName: c.device,
		Instance:   1,
		UserName:   c.device,
		Lines:      1, // the one line button of the ButtonTemplate
	}
	if cms := c.callManagers(); len(cms) > 0 {
		m.ServerName = cms[0].Name
	}
	return m
}

// location is the time zone of the phone's clock.
func (c *conn) location() *time.Location {
	if p := c.s.cfg.Provisioning; p != nil {
		if loc := p.Location(c.device); loc != nil {
			return loc
		}
	}
	return time.UTC
}
