package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoreg/autoreg/internal/config"
)

func TestSampleLoads(t *testing.T) {
	c, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Range.Start != "1000" || c.Cluster.Range.End != "1099" || c.Admin.Addr != "127.0.0.1:8080" {
		t.Errorf("sample: range %s-%s admin %s", c.Cluster.Range.Start, c.Cluster.Range.End, c.Admin.Addr)
	}
	if len(c.Cluster.CallManagers) != 2 || !c.Cluster.CallManagers[0].AutoregEnabled || c.Cluster.CallManagers[1].AutoregEnabled {
		t.Errorf("sample CallManagers: %+v", c.Cluster.CallManagers)
	}
}

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "autoreg.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadConfigurationsNameTheKey(t *testing.T) {
	base := string(config.Sample)
	cases := []struct{ name, body, want string }{
		{"unknown key", base + "\nbogus: 1\n", "bogus"},
		{"wrong type", strings.Replace(base, "missed_keepalives: 3", "missed_keepalives: three", 1), "missed_keepalives"},
		{"bad duration", strings.Replace(base, "keepalive: 30s", "keepalive: soon", 1), "keepalive"},
		{"bad protocol", strings.Replace(base, "protocol: sccp", "protocol: h323", 1), "cluster.protocol"},
		{"not yaml", "cluster: [\n", "not valid YAML"},
		{"bad address", strings.Replace(base, `addr: ":2000"`, `addr: "2000"`, 1), "sccp.addr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, c.body)
			_, err := config.Load(config.New(), p)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
			if c.name != "not yaml" && !errors.Is(err, config.ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("AUTOREG_SIP_ADDR", "127.0.0.1:5070")
	t.Setenv("AUTOREG_ADMIN_TOKEN", "s3cret")
	c, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Addr != "127.0.0.1:5070" || c.Admin.Token != "s3cret" {
		t.Errorf("env not applied: sip %q token %q", c.SIP.Addr, c.Admin.Token)
	}
}

var _ = context.Background
