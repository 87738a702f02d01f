package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoreg/autoreg/internal/config"
)

// FuzzLoad loads any bytes as the configuration file: Load must not panic,
// must either return a configuration that passes Validate or an error, and
// the errors about the content must name the file. Inputs are capped at
// 64 KB (a configuration is a few KB).
func FuzzLoad(f *testing.F) {
	f.Add(config.Sample)
	f.Add([]byte("log: {format: console}\n"))
	f.Add([]byte("sip: {transports: [udp, sctp]}\n"))
	f.Add([]byte("admin:\n  tokens:\n    - {user: a, token: b, scope: root}\n"))
	f.Add([]byte("sccp: {keepalive: 1h, missed_keepalives: -1, trusted_sources: [10.0.0.0/8, bogus]}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("cluster: {range: {start: 1000, end: 1099}}\n"))
	f.Add([]byte("sip: {min_expires: 1e400}\n"))
	f.Add([]byte("\t- nonsense: [\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		p := filepath.Join(dir, "autoreg.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(config.New(), p)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name the file", err)
			}
			if !errors.Is(err, config.ErrInvalidConfig) && !strings.Contains(err.Error(), "not valid YAML") {
				t.Fatalf("error %q is neither invalid YAML nor ErrInvalidConfig", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load returned a configuration that does not validate: %v", err)
		}
		if _, err := config.Prefixes(c.SIP.TrustedSources); err != nil {
			t.Fatal(err)
		}
	})
}
