package config

import (
	"errors"
	"testing"
)

func validSample(t *testing.T) Config {
	t.Helper()
	c, err := Load(New(), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"": 0, "0": 0, "1048576": 1 << 20, "512B": 512, "64KiB": 64 << 10, "160MiB": 160 << 20, " 2GiB ": 2 << 30, "1TiB": 1 << 40,
	} {
		got, err := ParseMemoryLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseMemoryLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"160MB", "-1", "1.5GiB", "lots", "MiB", "99999999999TiB"} {
		if n, err := ParseMemoryLimit(in); err == nil {
			t.Errorf("ParseMemoryLimit(%q) = %d, want an error", in, n)
		}
	}
}

func TestMemoryLimitValidated(t *testing.T) {
	for _, bad := range []string{"160MB", "1MiB"} {
		c := validSample(t)
		c.MemoryLimit = bad
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("memory_limit %q: Validate = %v, want ErrInvalidConfig", bad, err)
		}
	}
	c := validSample(t)
	c.MemoryLimit = "160MiB"
	if err := c.Validate(); err != nil {
		t.Errorf("memory_limit 160MiB: %v", err)
	}
}

// TestMemoryLimitFromEnvironment: AUTOREG_MEMORY_LIMIT sets the key the
// sample leaves empty, and a bad value is refused naming the key.
func TestMemoryLimitFromEnvironment(t *testing.T) {
	t.Setenv("AUTOREG_MEMORY_LIMIT", "200MiB")
	c, err := Load(New(), "")
	if err != nil || c.MemoryLimit != "200MiB" {
		t.Fatalf("Load = %q, %v; want 200MiB", c.MemoryLimit, err)
	}
	t.Setenv("AUTOREG_MEMORY_LIMIT", "200MB")
	if _, err := Load(New(), ""); err == nil || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Load with 200MB = %v, want ErrInvalidConfig", err)
	}
}
