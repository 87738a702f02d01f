package config

import (
	"fmt"
	"time"

	"github.com/spf13/viper"
)

// Snapshot says when the registrar writes snapshots of its state (see
// docs/snapshots.md): a snapshot lets the next start read only the events
// after it. Absent keys take the defaults (snapshotDefaults).
type Snapshot struct {
	// Enabled: read a snapshot at start and write them (default true).
	Enabled bool `mapstructure:"enabled"`
	// EveryEvents: write one once this many events came since the last
	// (default 100,000; 0: not for this reason).
	EveryEvents int `mapstructure:"every_events"`
	// Every: write one once this long passed since the last, if events
	// came (default 5m; 0: not for this reason).
	Every time.Duration `mapstructure:"every"`
}

// snapshotDefaults are the snapshot keys' values when a file does not set
// them.
var snapshotDefaults = map[string]any{
	"snapshot.enabled":      true,
	"snapshot.every_events": 100_000,
	"snapshot.every":        "5m",
}

// setSnapshotDefaults registers the defaults (and so the keys, for
// AUTOREG_SNAPSHOT_* in the environment).
func setSnapshotDefaults(v *viper.Viper) {
	for k, d := range snapshotDefaults {
		v.SetDefault(k, d)
	}
}

// validate lists what is wrong with the section.
func (s Snapshot) validate() []string {
	var errs []string
	if s.EveryEvents < 0 {
		errs = append(errs, fmt.Sprintf("snapshot.every_events %d: must not be negative (0: not by the number of events)", s.EveryEvents))
	}
	if s.Every < 0 {
		errs = append(errs, fmt.Sprintf("snapshot.every %v: must not be negative (0: not by time)", s.Every))
	}
	return errs
}
