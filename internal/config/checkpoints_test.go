package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/config"
)

// TestCheckpointSettings: off by default (no key), every 1,000 events or 5
// minutes; a key without a log, a log without a key and negative values are
// refused, naming the key.
func TestCheckpointSettings(t *testing.T) {
	want := config.Checkpoints{EveryEvents: 1000, Every: 5 * time.Minute}
	c, err := config.Load(config.New(), "")
	if err != nil || c.Checkpoints != want || c.Checkpoints.Enabled() {
		t.Fatalf("sample: %+v (%v), want %+v", c.Checkpoints, err, want)
	}
	i := strings.Index(string(config.Sample), "checkpoints:")
	j := strings.Index(string(config.Sample), "\nsip:")
	if i < 0 || j < i {
		t.Fatal("the sample has no checkpoints section before sip")
	}
	with := func(section string) string {
		return write(t, string(config.Sample[:i])+section+string(config.Sample[j:]))
	}
	good := with("checkpoints:\n  signing_key: /etc/autoreg/signing.key\n  log: /var/log/autoreg/checkpoints.log\n  every: 1m\n")
	if c, err := config.Load(config.New(), good); err != nil || !c.Checkpoints.Enabled() || c.Checkpoints.Every != time.Minute || c.Checkpoints.EveryEvents != 1000 {
		t.Fatalf("a file: %+v (%v)", c.Checkpoints, err)
	}
	for section, says := range map[string]string{
		"checkpoints:\n  signing_key: /k\n":  "checkpoints.log",
		"checkpoints:\n  log: /l\n":          "registrar keygen",
		"checkpoints:\n  every_events: -1\n": "checkpoints.every_events -1",
		"checkpoints:\n  every: -1s\n":       "checkpoints.every -1s",
	} {
		_, err := config.Load(config.New(), with(section))
		if !errors.Is(err, config.ErrInvalidConfig) || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", section, err, says)
		}
	}
}
