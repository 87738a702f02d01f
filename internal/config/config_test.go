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
		{"negative rate", strings.Replace(base, "source_rate: 10       # registrations", "source_rate: -7       # registrations", 1), "sccp.source_rate -7"},
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

// A duration key given as a bare number is refused, naming the key and the
// fix, from the file and from the environment alike; each duration has a
// floor, named with its key.
func TestDurationsNeedUnitsAndFloors(t *testing.T) {
	base := string(config.Sample)
	cases := []struct{ name, from, to, want string }{
		{"bare keepalive", "keepalive: 30s", "keepalive: 30", `'sccp.keepalive' 30 is a bare number: a duration needs a unit, e.g. "30s"`},
		{"bare min_expires", "min_expires: 60s", "min_expires: 60", `'sip.min_expires' 60 is a bare number`},
		{"bare float", "idle_timeout: 30s", "idle_timeout: 1.5", `'sccp.idle_timeout' 1.5 is a bare number`},
		{"quoted bare", "max_expires: 3600s", `max_expires: "3600"`, `'sip.max_expires' "3600" is a bare number: a duration needs a unit, e.g. "3600s"`},
		{"no duration", "keepalive: 30s", "keepalive: soon", `'sccp.keepalive' "soon" is not a duration`},
		{"keepalive floor", "keepalive: 30s", "keepalive: 500ms", "sccp.keepalive 500ms: at least 1s"},
		{"min_expires floor", "min_expires: 60s", "min_expires: 10ms", "sip.min_expires 10ms: at least 1s"},
		{"max below min", "max_expires: 3600s", "max_expires: 30s", "sip.max_expires 30s is below sip.min_expires 1m0s"},
		{"idle_timeout floor", "idle_timeout: 30s", "idle_timeout: 100ms", "sccp.idle_timeout 100ms: at least 1s (e.g. 30s), or 0 for the default"},
		{"negative idle", "idle_timeout: 30s", "idle_timeout: -5s", "sccp.idle_timeout -5s: at least 1s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.from) {
				t.Fatalf("the sample has no %q", c.from)
			}
			p := write(t, strings.Replace(base, c.from, c.to, 1))
			_, err := config.Load(config.New(), p)
			if err == nil {
				t.Fatalf("%s loaded", c.to)
			}
			if !strings.Contains(err.Error(), c.want) || !errors.Is(err, config.ErrInvalidConfig) {
				t.Errorf("error %q\nwant it to contain %q and wrap ErrInvalidConfig", err, c.want)
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		t.Setenv("AUTOREG_SCCP_KEEPALIVE", "30")
		_, err := config.Load(config.New(), "")
		if err == nil || !strings.Contains(err.Error(), `'sccp.keepalive' "30" is a bare number`) {
			t.Errorf("AUTOREG_SCCP_KEEPALIVE=30: %v", err)
		}
	})
	t.Run("zero idle_timeout is the default", func(t *testing.T) {
		for _, v := range []string{"0", "0s", `"0"`} {
			p := write(t, strings.Replace(base, "idle_timeout: 30s", "idle_timeout: "+v, 1))
			c, err := config.Load(config.New(), p)
			if err != nil {
				t.Fatalf("idle_timeout: %s: %v", v, err)
			}
			if c.SCCP.IdleTimeout != 0 {
				t.Errorf("idle_timeout: %s read as %s", v, c.SCCP.IdleTimeout)
			}
		}
	})
	t.Run("units read", func(t *testing.T) {
		p := write(t, strings.Replace(base, "keepalive: 30s", "keepalive: 1m30s", 1))
		c, err := config.Load(config.New(), p)
		if err != nil {
			t.Fatal(err)
		}
		if c.SCCP.KeepAlive.Seconds() != 90 {
			t.Errorf("keepalive 1m30s read as %s", c.SCCP.KeepAlive)
		}
	})
}

// A file sets what it needs: the keys it leaves out take the sample's
// values, except the cluster's topology, which is the file's alone.
func TestPartialFileKeepsTheSampleDefaults(t *testing.T) {
	p := write(t, `sccp: {keepalive: 5s}
cluster:
  callmanagers: [{name: A, autoreg_enabled: true, host: 10.0.0.1}]
  groups: [{name: G, callmanagers: [A], autoreg: true}]
  partitions: [{name: Internal}]
  css: [{name: Autoreg, partitions: [Internal]}]
  pools: [{name: P, group: G, css: Autoreg}]
  default_pool: P
  autoreg_css: Autoreg
  range: {start: "5000", end: "5009", partition: Internal}
`)
	c, err := config.Load(config.New(), p)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.SCCP.KeepAlive.String() != "5s" || c.SCCP.MissedKeepAlives != sample.SCCP.MissedKeepAlives || c.SIP.MinExpires != sample.SIP.MinExpires || c.Admin.Addr != sample.Admin.Addr {
		t.Errorf("keepalive %v, missed %d, min_expires %v, admin %q: want 5s and the sample's", c.SCCP.KeepAlive, c.SCCP.MissedKeepAlives, c.SIP.MinExpires, c.Admin.Addr)
	}
	if len(c.Cluster.CallManagers) != 1 || c.Cluster.CallManagers[0].Name != "A" || len(c.Cluster.Pools) != 1 || len(c.Cluster.DeviceDefaults) != 0 || len(c.Cluster.Patterns) != 0 {
		t.Errorf("the sample's topology leaked in: %d CallManagers, %d pools, %d device defaults, %d patterns",
			len(c.Cluster.CallManagers), len(c.Cluster.Pools), len(c.Cluster.DeviceDefaults), len(c.Cluster.Patterns))
	}
	if c.Cluster.Protocol != sample.Cluster.Protocol {
		t.Errorf("cluster.protocol %q, want the sample's %q", c.Cluster.Protocol, sample.Cluster.Protocol)
	}
}
