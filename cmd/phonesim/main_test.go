package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	quietSipgo() // as main does
	os.Exit(m.Run())
}

// cli runs the command line and returns its exit status and outputs.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// squeeze turns the runs of spaces of a table into single spaces.
func squeeze(s string) string {
	return regexp.MustCompile(` +`).ReplaceAllString(s, " ")
}

func TestCLIText(t *testing.T) {
	reg := startRegistrar(t, true)
	code, out, errOut := cli(t, "", "--sip", reg.sipUDP, "--sccp", reg.sccpAddr,
		"--phones", "4", "--mix", "--models", "7961,8961,1234", "--seed", "11")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"registered: 2\n",
		"rejected: 2 (unknown_model: 1, wrong_protocol: 1)\n",
		"errors: 0\n",
		"for 4 phones (",
		"answers/s",
		"latency: p50 ",
		"DEVICE MODEL PROTOCOL DN RESULT\n",
		" 7961 sccp 100",
		" 8961 sip 100",
		" 1234 sccp - rejected: unknown_model\n",
		" 7961 sip - rejected: wrong_protocol\n",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "model 1234 is not in the catalogue") {
		t.Errorf("no warning about model 1234: %q", errOut)
	}
}

func TestCLIJSONSchema(t *testing.T) {
	reg := startRegistrar(t, true)
	code, out, errOut := cli(t, "", "--sip", reg.sipUDP, "--sccp", reg.sccpAddr,
		"--phones", "3", "--protocol", "mix", "--models", "7961,9971,7902", "--format", "json", "--unregister")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	numbers := []string{"registered", "errors", "unregistered", "lost", "elapsed_ms", "rate"}
	for _, k := range numbers {
		if _, ok := doc[k].(float64); !ok {
			t.Errorf("%q is %T (%v), want a number", k, doc[k], doc[k])
		}
	}
	for _, k := range []string{"rejected", "error_kinds", "latency_ms"} {
		if _, ok := doc[k].(map[string]any); !ok {
			t.Errorf("%q is %T, want an object", k, doc[k])
		}
	}
	for _, k := range []string{"p50", "p90", "p99", "max"} {
		if _, ok := doc["latency_ms"].(map[string]any)[k].(float64); !ok {
			t.Errorf("latency_ms.%s missing", k)
		}
	}
	phones, ok := doc["phones"].([]any)
	if !ok || len(phones) != 3 {
		t.Fatalf("phones: %v", doc["phones"])
	}
	for _, p := range phones {
		m := p.(map[string]any)
		for _, k := range []string{"device", "model", "protocol", "dn", "result", "reason"} {
			if _, ok := m[k].(string); !ok {
				t.Errorf("phone %v: %q is %T, want a string", m, k, m[k])
			}
		}
		if _, ok := m["latency_ms"].(float64); !ok {
			t.Errorf("phone %v: no latency_ms", m)
		}
		if m["result"] != ResultRegistered || m["unregistered"] != true || m["dn"] == "" {
			t.Errorf("phone %v: want registered, then unregistered", m)
		}
	}
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Registered != 3 || res.Unregistered != 3 || res.Phones[1].Protocol != ProtocolSIP || res.Phones[2].Protocol != ProtocolSCCP {
		t.Errorf("result %+v", res)
	}

	// --summary leaves the phones out.
	code, out, _ = cli(t, "", "--sccp", reg.sccpAddr, "--phones", "2", "--seed", "99", "--format", "json", "--summary")
	if code != 0 || strings.Contains(out, `"phones"`) || !strings.Contains(out, `"registered": 2`) {
		t.Errorf("--summary: exit %d\n%s", code, out)
	}
}

func TestCLIMACsFromFile(t *testing.T) {
	reg := startRegistrar(t, true)
	file := filepath.Join(t.TempDir(), "macs.txt")
	macs := "# lab phones\n00:11:22:33:44:01\n0011.2233.4402  # desk 2\n\n001122334403\n"
	if err := os.WriteFile(file, []byte(macs), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "", "--sccp", reg.sccpAddr, "--macs", file, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Phones {
		got = append(got, p.Device)
	}
	want := []string{"SEP001122334401", "SEP001122334402", "SEP001122334403"}
	if !slices.Equal(got, want) || res.Registered != 3 {
		t.Errorf("devices %v (registered %d), want %v", got, res.Registered, want)
	}

	// From standard input, the first two only.
	code, out, _ = cli(t, macs, "--sccp", reg.sccpAddr, "--macs", "-", "--phones", "2", "--format", "json")
	res = Result{}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res.Phones) != 2 || res.Phones[1].Device != want[1] {
		t.Errorf("stdin: exit %d, %v\n%s", code, err, out)
	}
}

func TestCLISeedIsDeterministic(t *testing.T) {
	reg := startRegistrar(t, false) // all rejected: only the devices matter
	devices := func(seed string) []string {
		code, out, _ := cli(t, "", "--sccp", reg.sccpAddr, "--phones", "5", "--seed", seed, "--format", "json")
		var res Result
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
			t.Fatalf("exit %d, %v\n%s", code, err, out)
		}
		var d []string
		for _, p := range res.Phones {
			d = append(d, p.Device)
		}
		return d
	}
	a, b, c := devices("42"), devices("42"), devices("43")
	if !slices.Equal(a, b) || slices.Equal(a, c) || !slices.Equal(a, SeededDevices(42, 5)) {
		t.Errorf("seed 42: %v then %v; seed 43: %v", a, b, c)
	}
}

func TestCLIUnreachable(t *testing.T) {
	code, out, _ := cli(t, "", "--sccp", closedAddr(t, "tcp"), "--sip", closedAddr(t, "udp"),
		"--phones", "2", "--mix", "--timeout", "300ms")
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(squeeze(out), "errors: 2 (connection_refused: 1, timeout: 1)") {
		t.Errorf("output:\n%s", out)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(file, []byte("0011223344\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"unknown flag":    {"--phone", "3"},
		"argument":        {"10"},
		"protocol":        {"--protocol", "h323"},
		"format":          {"--format", "xml"},
		"transport":       {"--sip-transport", "tls"},
		"phones":          {"--phones", "0"},
		"seed and macs":   {"--seed", "1", "--macs", file},
		"mix and proto":   {"--mix", "--protocol", "sip"},
		"bad MAC file":    {"--macs", file},
		"missing file":    {"--macs", filepath.Join(t.TempDir(), "none")},
		"sip address":     {"--protocol", "sip", "--sip", "nowhere"},
		"timeout":         {"--timeout", "0s"},
		"not a number":    {"--phones", "ten"},
		"negative hold":   {"--hold", "-1s"},
		"bad model":       {"--models", "79/61"},
		"more than MACs":  {"--macs", "-", "--phones", "3"},
		"expires at zero": {"--expires", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := cli(t, "001122334455\n", args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "--help") {
				t.Errorf("stderr does not point to --help: %q", errOut)
			}
		})
	}
}

func TestCLIHelp(t *testing.T) {
	code, out, _ := cli(t, "", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Usage:", "Examples:", "--sip ADDR", "--sccp ADDR", "--phones", "--protocol",
		"--models", "--seed", "--macs", "--rate", "--concurrency", "--timeout", "--hold", "--unregister", "--expires",
		"--format", "Exit status"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
