package compliance_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/autoreg/autoreg/replay/compliance"
)

var ignorePolicyInternals = []cmp.Option{cmpopts.IgnoreUnexported(compliance.Policy{}), cmpopts.IgnoreFields(compliance.Policy{}, "Source")}

// The sample is the defaults, and says so.
func TestSamplePolicyIsTheDefaults(t *testing.T) {
	p, err := compliance.ParsePolicy("sample", compliance.SamplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(compliance.DefaultPolicy(), p, ignorePolicyInternals...); diff != "" {
		t.Errorf("sample vs defaults (-want +got):\n%s", diff)
	}
	for _, c := range compliance.Checks {
		if !strings.Contains(string(compliance.SamplePolicy), "  "+string(c.ID)+":\n") {
			t.Errorf("the sample does not show check %s", c.ID)
		}
		if p.Severity(c.ID) != c.Severity || !p.Enabled(c.ID) {
			t.Errorf("%s: severity %s enabled %v", c.ID, p.Severity(c.ID), p.Enabled(c.ID))
		}
	}
	for _, src := range []string{"", "# nothing\n", "---\n"} {
		p, err := compliance.ParsePolicy("empty.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if diff := cmp.Diff(compliance.DefaultPolicy(), p, ignorePolicyInternals...); diff != "" {
			t.Errorf("%q (-want +got):\n%s", src, diff)
		}
	}
}

func TestPolicyOverlaysTheDefaults(t *testing.T) {
	p := policy(t, `
timezone: Europe/Paris
checks:
  window-too-long:
    max_duration: 45m
  left-open: {enabled: false}
  rogue-attempts:
    severity: warning
    reasons: [window_closed]
  autoreg-css-reaches-external:
    external_numbers: [0011441234567, 9*1#]
`)
	want := compliance.DefaultPolicy()
	want.Timezone = "Europe/Paris"
	want.Checks.WindowTooLong.MaxDuration = 45 * time.Minute
	want.Checks.LeftOpen.Enabled = false
	want.Checks.RogueAttempts.Severity = compliance.Warning
	want.Checks.RogueAttempts.Reasons = []string{"window_closed"}
	want.Checks.AutoregCSSReachesExternal.ExternalNumbers = []string{"0011441234567", "9*1#"}
	if diff := cmp.Diff(want, p, ignorePolicyInternals...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if p.Location().String() != "Europe/Paris" {
		t.Errorf("location %s", p.Location())
	}
}

// Bad policies: the message names the file, the line and the key.
func TestBadPolicies(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown check id", "checks:\n  window-too-log:\n    max_duration: 1h\n",
			[]string{"bad.yaml: line 2: checks.window-too-log: unknown check id \"window-too-log\" (known: window-too-long, too-many-phones"}},
		{"unknown key in a check", "checks:\n  left-open:\n    enabled: true\n    after: 1h\n",
			[]string{"bad.yaml: line 4: checks.left-open.after: unknown key \"after\" (known: enabled, severity)"}},
		{"unknown top key", "timezone: UTC\nchecks: {}\nthresholds: 3\n",
			[]string{"line 3: thresholds: unknown key \"thresholds\" (known: timezone, evidence_limit, checks)"}},
		{"a string for a number", "checks:\n  too-many-phones:\n    per_window: many\n",
			[]string{"line 3: checks.too-many-phones.per_window: want a whole number, got \"many\""}},
		{"a float for a number", "checks:\n  too-many-phones: {per_period: 1.5}\n",
			[]string{"line 2: checks.too-many-phones.per_period: want a whole number, got 1.5"}},
		{"a number for a duration", "checks:\n  window-too-long:\n    max_duration: 60\n",
			[]string{"line 3: checks.window-too-long.max_duration: \"60\" is not a duration"}},
		{"a bad duration", "checks:\n  window-too-long: {max_duration: an hour}\n",
			[]string{"checks.window-too-long.max_duration: \"an hour\" is not a duration"}},
		{"a bad severity", "checks:\n  left-open: {severity: high}\n",
			[]string{"line 2: checks.left-open.severity: \"high\" is not a severity: use info, warning or critical"}},
		{"a string for a bool", "checks:\n  left-open: {enabled: yes please}\n",
			[]string{"checks.left-open.enabled: want true or false, got \"yes please\""}},
		{"a scalar for a list", "checks:\n  business-hours: {days: mon}\n",
			[]string{"checks.business-hours.days: want a list of strings, got \"mon\""}},
		{"a mapping for a check", "checks:\n  left-open: true\n",
			[]string{"line 2: checks.left-open: want a mapping of keys, got true"}},
		{"a list for checks", "checks: [left-open]\n", []string{"line 1: checks: want a mapping of keys, got a list"}},
		{"a key given twice", "checks:\n  left-open: {}\n  left-open: {}\n", []string{"line 3: checks.left-open: given twice"}},
		{"no value", "timezone:\n", []string{"line 1: timezone: has no value"}},
		{"a bad time zone", "timezone: Mars/Olympus\n", []string{"line 1: timezone: \"Mars/Olympus\" is not a time zone"}},
		{"a bad day", "checks:\n  business-hours:\n    days: [mon, funday]\n", []string{"line 3: checks.business-hours.days[1]: \"funday\" is not a day"}},
		{"a bad hour", "checks:\n  business-hours: {start: \"8am\"}\n", []string{"checks.business-hours.start: \"8am\" is not a time of day"}},
		{"end before start", "checks:\n  business-hours: {start: \"18:00\", end: \"08:00\"}\n", []string{"checks.business-hours.end: 08:00 is not after start 18:00"}},
		{"a bad reason", "checks:\n  rogue-attempts: {reasons: [knocking]}\n", []string{"checks.rogue-attempts.reasons[0]: \"knocking\" is not a refusal reason"}},
		{"a bad number", "checks:\n  autoreg-css-reaches-external:\n    external_numbers: [\"+1 555\"]\n",
			[]string{"line 3: checks.autoreg-css-reaches-external.external_numbers[0]: \"+1 555\" is not a dial string"}},
		{"negative", "evidence_limit: -1\n", []string{"line 1: evidence_limit: must be 0 (no limit) or more"}},
		{"zero duration", "checks:\n  window-too-long: {max_duration: 0s}\n", []string{"checks.window-too-long.max_duration: must be positive"}},
		{"not YAML", "checks: [\n", []string{"bad.yaml: not valid YAML"}},
		{"two documents", "timezone: UTC\n---\ntimezone: UTC\n", []string{"bad.yaml: line 2: a policy is one YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"bad.yaml: line 1: want a mapping of keys, got a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compliance.ParsePolicy("bad.yaml", []byte(tc.src))
			var perr *compliance.PolicyError
			if !errors.As(err, &perr) {
				t.Fatalf("got %v, want a *PolicyError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadPolicy(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte("checks:\n  left-open: {severity: critical}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := compliance.LoadPolicy(file)
	if err != nil || p.Severity(compliance.LeftOpen) != compliance.Critical || p.Source != file {
		t.Fatalf("%v %+v", err, p)
	}
	_, err = compliance.LoadPolicy(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: cannot read the policy") {
		t.Errorf("missing file: %v", err)
	}
}

// docs/compliance.md shows the sample as it is and defines every check.
func TestDocumentation(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "compliance.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.Contains(doc, "```yaml\n"+string(compliance.SamplePolicy)+"```\n") {
		t.Error("docs/compliance.md does not hold the sample policy as compliance policy sample prints it")
	}
	for _, c := range compliance.Checks {
		if !strings.Contains(doc, "| `"+string(c.ID)+"` | "+string(c.Severity)) || !strings.Contains(doc, "**`"+string(c.ID)+"`**") {
			t.Errorf("docs/compliance.md does not define %s with its default severity", c.ID)
		}
	}
}
