package main

import (
	"net/netip"
	"time"

	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
)

// floodLimits are the command side's bounds on what floods write
// (internal/command/floods.go), from the configuration's limits; the
// bound of registration changes per source does not apply to the sources
// the adapters trust (sip.trusted_sources, sccp.trusted_sources; an SBC, a
// local proxy), either adapter's.
func floodLimits(cfg config.Config) command.FloodLimits {
	var trusted []netip.Prefix
	for _, list := range [][]string{cfg.SIP.TrustedSources, cfg.SCCP.TrustedSources} {
		p, _ := config.Prefixes(list) // checked by Load
		trusted = append(trusted, p...)
	}
	l := cfg.Limits
	fl := command.FloodLimits{TrustedSources: trusted, MoveBurst: l.DeviceBurst, MoveEvery: l.DeviceEvery,
		SourceMoveBurst: l.SourceBurst, MaxRejectionEvents: l.RejectionEventsPerMinute}
	if l.SourceRate > 0 {
		fl.SourceMoveEvery = time.Duration(float64(time.Second) / l.SourceRate)
	}
	return fl
}
