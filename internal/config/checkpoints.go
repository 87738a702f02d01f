package config

import (
	"fmt"
	"time"
)

// Checkpoints say whether and when the registrar signs checkpoints of the
// store's hash chain (see docs/security.md, "Anchored history"): each one a line of Log
// and of the registrar's log, signed with the Ed25519 key in SigningKey.
type Checkpoints struct {
	// SigningKey is the private key file (`registrar keygen --out FILE`),
	// mode 0600, outside the data directory. "": no checkpoints.
	SigningKey string `mapstructure:"signing_key"`
	// Log is the append-only file the checkpoints are appended to.
	Log string `mapstructure:"log"`
	// EveryEvents: sign one once the head is this many events past the
	// last (default 1,000; 0: not for this reason).
	EveryEvents int `mapstructure:"every_events"`
	// Every: sign one once this long passed since the last, if the head
	// moved (default 5m; 0: not for this reason). And always at a clean stop.
	Every time.Duration `mapstructure:"every"`
}

// Enabled reports whether checkpoints are signed.
func (c Checkpoints) Enabled() bool { return c.SigningKey != "" }

// validate lists what is wrong with the section.
func (c Checkpoints) validate() []string {
	var errs []string
	switch {
	case c.SigningKey != "" && c.Log == "":
		errs = append(errs, "checkpoints.signing_key is set but checkpoints.log is not: name the append-only file the checkpoints go to (--checkpoints LOG)")
	case c.SigningKey == "" && c.Log != "":
		errs = append(errs, "checkpoints.log is set but checkpoints.signing_key is not: make a key with `registrar keygen --out FILE` and name it (--signing-key FILE)")
	}
	if c.EveryEvents < 0 {
		errs = append(errs, fmt.Sprintf("checkpoints.every_events %d: must not be negative (0: not by the number of events)", c.EveryEvents))
	}
	if c.Every < 0 {
		errs = append(errs, fmt.Sprintf("checkpoints.every %v: must not be negative (0: not by time)", c.Every))
	}
	return errs
}
