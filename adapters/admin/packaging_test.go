package admin_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/autoreg/autoreg/adapters/admin"
)

// metricNames are the names /metrics serves (histograms with their
// _bucket, _sum and _count series).
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	m := admin.NewMetrics()
	m.WatchSIPBindings(func() int { return 0 })
	m.WatchSCCPConnections(func() int { return 0 })
	// Vectors without a series are not gathered: give each one.
	m.StoreAppendErrors.WithLabelValues("other")
	m.Devices.WithLabelValues("known")
	m.Requests.WithLabelValues("GET", "/", "200")
	m.RequestDuration.WithLabelValues("/").Observe(0)
	m.StoreAppend.Observe(0)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{"up": true}
	for _, f := range fams {
		out[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[f.GetName()+s] = true
			}
		}
	}
	return out
}

var metricRef = regexp.MustCompile(`\b(autoreg_[a-z_]+|up)\b`)

// checkExpr fails when expr names a metric /metrics does not serve.
func checkExpr(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	if len(refs) == 0 {
		t.Errorf("%s: %q names no metric of the registrar", where, expr)
	}
	for _, n := range refs {
		if !names[n] {
			t.Errorf("%s: %q names %s, which /metrics does not serve", where, expr, n)
		}
	}
}

// packaging/prometheus-alerts.yml is a rule file whose every alert has a
// severity, a summary, and an expression over metrics the registrar
// serves; the alerts the issue asks for are there. promtool checks it too
// when it is installed.
func TestPrometheusAlerts(t *testing.T) {
	const file = "../../packaging/prometheus-alerts.yml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatal(err)
	}
	names := metricNames(t)
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %+v lacks a name, a severity, a summary or a description", r)
			}
			checkExpr(t, r.Alert, r.Expr, names)
		}
	}
	for _, want := range []string{"AutoregWindowOpenTooLong", "AutoregDNsNearlyExhausted", "AutoregStoreUnavailable", "AutoregRefusalsSpiking"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s (have %v)", want, alerts)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: the rules were checked here only")
	}
}

// packaging/grafana-dashboard.json is a dashboard whose every query names
// metrics the registrar serves.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../packaging/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		UID    string
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	names := metricNames(t)
	queries := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkExpr(t, p.Title, q.Expr, names)
			queries++
		}
	}
	if dash.UID == "" || queries < 10 {
		t.Errorf("dashboard %q (uid %q): %d queries", dash.Title, dash.UID, queries)
	}
}
