package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/config"
)

// TestSnapshotSettings: the sample's snapshot settings are the defaults,
// which a file without the section gets too; the environment overrides
// the duration (AUTOREG_SNAPSHOT_EVERY; numbers and booleans from the
// environment are strings, which the strict decoding refuses, as for the
// other keys); negative values are refused, naming the key.
func TestSnapshotSettings(t *testing.T) {
	want := config.Snapshot{Enabled: true, EveryEvents: 100_000, Every: 5 * time.Minute}
	c, err := config.Load(config.New(), "")
	if err != nil || c.Snapshot != want {
		t.Fatalf("sample: %+v (%v), want %+v", c.Snapshot, err, want)
	}
	i := strings.Index(string(config.Sample), "snapshot:")
	j := strings.Index(string(config.Sample), "\nsip:")
	if i < 0 || j < i {
		t.Fatal("the sample has no snapshot section before sip")
	}
	without := write(t, string(config.Sample[:i])+string(config.Sample[j:]))
	if c, err := config.Load(config.New(), without); err != nil || c.Snapshot != want {
		t.Fatalf("without the section: %+v (%v), want %+v", c.Snapshot, err, want)
	}
	t.Setenv("AUTOREG_SNAPSHOT_EVERY", "250ms")
	if c, err := config.Load(config.New(), without); err != nil || c.Snapshot.Every != 250*time.Millisecond {
		t.Fatalf("from the environment: %+v (%v)", c.Snapshot, err)
	}
	small := write(t, string(config.Sample[:i])+"snapshot:\n  enabled: false\n  every_events: 50\n  every: 0s\n"+string(config.Sample[j:]))
	t.Setenv("AUTOREG_SNAPSHOT_EVERY", "")
	if c, err := config.Load(config.New(), small); err != nil || c.Snapshot != (config.Snapshot{EveryEvents: 50}) {
		t.Fatalf("from a file: %+v (%v)", c.Snapshot, err)
	}
	t.Setenv("AUTOREG_SNAPSHOT_EVERY", "-1s")
	negative := write(t, string(config.Sample[:i])+"snapshot:\n  every_events: -5\n"+string(config.Sample[j:]))
	_, err = config.Load(config.New(), negative)
	if !errors.Is(err, config.ErrInvalidConfig) || !strings.Contains(err.Error(), "snapshot.every ") || !strings.Contains(err.Error(), "snapshot.every_events") {
		t.Fatalf("negative values: %v", err)
	}
}
