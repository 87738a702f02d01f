package main

import (
	"net/netip"

	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
)

// floodLimits are the command side's bounds on what floods write
// (internal/command/floods.go), with the defaults but for the sources the
// bound of registration changes per source does not apply to: those the
// adapters trust (sip.trusted_sources, sccp.trusted_sources; an SBC, a
// local proxy), either adapter's.
func floodLimits(cfg config.Config) command.FloodLimits {
	var trusted []netip.Prefix
	for _, list := range [][]string{cfg.SIP.TrustedSources, cfg.SCCP.TrustedSources} {
		p, _ := config.Prefixes(list) // checked by Load
		trusted = append(trusted, p...)
	}
	return command.FloodLimits{TrustedSources: trusted}
}
