package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// packaging/autoreg.service runs `registrar serve` as its own user with its
// state directory, only CAP_NET_BIND_SERVICE, and the hardening options;
// its command line is one serve accepts. systemd-analyze, when installed,
// finds nothing to say about it and rates its exposure 2.0 or better.
func TestSystemdUnit(t *testing.T) {
	const file = "../../packaging/autoreg.service"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = append(unit[k], v)
		}
	}
	for k, want := range map[string]string{
		"User": "autoreg", "Group": "autoreg", "StateDirectory": "autoreg", "StateDirectoryMode": "0700",
		"AmbientCapabilities": "CAP_NET_BIND_SERVICE", "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
		"PrivateDevices": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "UMask": "0077",
	} {
		if got := unit[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %s", k, got, want)
		}
	}
	exec0 := strings.Fields(strings.Join(unit["ExecStart"], ""))
	if len(exec0) < 2 || exec0[0] != "/usr/local/bin/registrar" || exec0[1] != "serve" {
		t.Fatalf("ExecStart=%v", exec0)
	}
	serve := newServeCommand()
	if err := serve.ParseFlags(exec0[2:]); err != nil {
		t.Errorf("ExecStart's flags: %v", err)
	}
	if d, _ := serve.Flags().GetString("data"); d != "/var/lib/autoreg" {
		t.Errorf("ExecStart's --data %q is not the StateDirectory /var/lib/autoreg", d)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit was checked here only")
	}
	// verify wants ExecStart's binary to exist: point it at this test's.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "autoreg.service")
	if err := os.WriteFile(local, []byte(strings.Replace(string(b), "/usr/local/bin/registrar", self, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", local).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", local).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
}
