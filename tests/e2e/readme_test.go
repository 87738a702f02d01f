package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// walkthrough returns the commands of the README's "A first session", as
// written there.
func walkthrough(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## A first session")
	if i < 0 {
		t.Fatal(`README.md has no "## A first session"`)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	if start < 0 {
		t.Fatal("the first session has no ```sh block")
	}
	s = s[start+len("```sh\n"):]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatal("the first session's block does not end")
	}
	var cmds []string
	for _, line := range strings.Split(s[:end], "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// The README's walkthrough, run as written against the real registrar
// (started as `make run` starts it, on ports of its own), with the real
// phonesim, sipp and compliance: every command succeeds, the devices are
// the ten it announces, and the final audit finds no warning. Only the
// addresses (its ports), bin/, the sipp scenario's directory and
// /tmp/macs.csv are rewritten; it runs in a directory whose ./data is the
// registrar's, where `registrar admin` finds the token and `compliance`
// the store, as from the directory of `make run`.
func TestReadmeWalkthrough(t *testing.T) {
	need(t, "sipp", "sip-tester")
	dir := t.TempDir()
	r := startRegistrar(t, filepath.Join(dir, "data"))
	binDir := filepath.Dir(bin(t, "registrar"))
	for _, b := range []string{"phonesim", "compliance"} {
		bin(t, b)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	binRef := regexp.MustCompile(`(^|\s)bin/`)
	rewrite := strings.NewReplacer(
		"127.0.0.1:2000", r.SCCP,
		"127.0.0.1:5060", r.SIP,
		"tests/e2e/testdata/", testdata+"/",
		"/tmp/macs.csv", filepath.Join(dir, "macs.csv"),
	)
	cmds := walkthrough(t)
	if len(cmds) < 10 {
		t.Fatalf("the walkthrough has %d commands:\n%s", len(cmds), strings.Join(cmds, "\n"))
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, c := range cmds {
		c = binRef.ReplaceAllString(rewrite.Replace(c), "${1}"+binDir+"/")
		fmt.Fprintf(&script, "echo '>>> %d'\n%s\n", i+1, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), envAdminAddr+"="+r.AdminURL, "AUTOREG_ADMIN_TOKEN=", "AUTOREG_DATA=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s\nscript:\n%s", err, out.String(), script.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf(">>> %d\n", len(cmds))) {
		t.Fatalf("not every command ran:\n%s", out.String())
	}

	devs := r.Devices()
	if len(devs) != 10 {
		t.Errorf("%d devices, the README says ten", len(devs))
	}
	dns := map[string]bool{}
	for _, d := range devs {
		dns[d.DN] = true
	}
	for n := 1000; n <= 1009; n++ {
		if !dns[fmt.Sprint(n)] {
			t.Errorf("no device has DN %d: %+v", n, devs)
		}
	}
	if d := devs["SEP00AA00000001"]; d.Protocol != "SIP" || d.Pool != "Staff" {
		t.Errorf("SEP00AA00000001: %+v, want SIP in Staff", d)
	}
	text := out.String()
	t.Logf("the walkthrough:\n%s", text)
	for _, want := range []string{
		"allowed:", // 911
		"refused:", // the PSTN before the move
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the walkthrough's output lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "allowed:") != 2 {
		t.Errorf("may-dial after the move to Staff should allow the PSTN:\n%s", text)
	}
}

const envAdminAddr = "AUTOREG_ADMIN_ADDR"
