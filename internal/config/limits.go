package config

import (
	"fmt"
	"time"
)

// Limits bound what floods may write to the store (docs/security.md,
// "Floods that name known devices"): the command side's FloodLimits.
type Limits struct {
	// DeviceBurst and DeviceEvery: a known device's registration changes
	// (moves, registrations anew) recorded at once, then one every
	// DeviceEvery; beyond, the phone is told to come back. -1: no bound.
	DeviceBurst int           `mapstructure:"device_burst"`
	DeviceEvery time.Duration `mapstructure:"device_every"`
	// SourceBurst and SourceRate: the same per source IP address (a
	// second), whatever the device; trusted sources are exempt. -1: none.
	SourceBurst int     `mapstructure:"source_burst"`
	SourceRate  float64 `mapstructure:"source_rate"`
	// RejectionEventsPerMinute bounds the device.registration_rejected
	// events of a minute, in all; the rest are summed up in one
	// registrar.rejections_suppressed event a minute. -1: no bound.
	RejectionEventsPerMinute int `mapstructure:"rejection_events_per_minute"`
}

func (l Limits) validate() []string {
	var errs []string
	for _, n := range []struct {
		key string
		v   int
	}{{"limits.device_burst", l.DeviceBurst}, {"limits.source_burst", l.SourceBurst}, {"limits.rejection_events_per_minute", l.RejectionEventsPerMinute}} {
		if n.v == 0 || n.v < -1 {
			errs = append(errs, fmt.Sprintf("%s %d: a positive number, or -1 for no bound", n.key, n.v))
		}
	}
	if l.DeviceBurst > 0 && l.DeviceEvery < MinDuration {
		errs = append(errs, fmt.Sprintf("limits.device_every %v: at least %v (e.g. 20s)", l.DeviceEvery, MinDuration))
	}
	if l.SourceBurst > 0 && !(l.SourceRate > 0) {
		errs = append(errs, fmt.Sprintf("limits.source_rate %v: changes a second, above 0 (e.g. 10)", l.SourceRate))
	}
	return errs
}
