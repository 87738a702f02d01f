package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/config"
)

const (
	aliceToken   = "alice-0123456789abcdef0123456789"
	auditorToken = "audit-0123456789abcdef0123456789"
)

// configWithTokens writes the sample configuration with an admin token for
// alice and a read-only one for an auditor, and returns its path.
func configWithTokens(t *testing.T) string {
	t.Helper()
	tokens := "  tokens:\n" +
		"    - {user: alice, token: " + aliceToken + ", scope: admin}\n" +
		"    - {user: auditor, token: " + auditorToken + ", scope: read}\n"
	body := strings.Replace(string(config.Sample), "  tokens: []\n", tokens, 1)
	if body == string(config.Sample) {
		t.Fatal("the sample has no `tokens: []` line to replace")
	}
	p := filepath.Join(t.TempDir(), "autoreg.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replay runs the replay CLI on the registrar's data directory.
func (r *Registrar) replay(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin(t, "replay"), append([]string{"--data", r.Data}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// Scoped tokens on the real binaries: a wrong token and a read-only one
// cannot open a window (401, 403), their failures are logged (without the
// token) and counted in /metrics, and the window alice opens is an event
// whose actor is admin:alice, as `replay events --type` shows.
func TestAdminTokensEndToEnd(t *testing.T) {
	r := startRegistrar(t, "", "--config", configWithTokens(t))

	if _, err := r.Admin("--token", "not-a-token-at-all-0000000000", "status"); err == nil ||
		!strings.Contains(err.Error(), "token") {
		t.Fatalf("a wrong token: %v", err)
	}
	if _, err := r.Admin("--token", auditorToken, "autoreg", "open", "--reason", "audit"); err == nil ||
		!strings.Contains(err.Error(), "read-only") {
		t.Fatalf("the auditor opened a window: %v", err)
	}
	if out, err := r.Admin("--token", auditorToken, "status"); err != nil || !strings.Contains(out, "closed") {
		t.Fatalf("the auditor cannot read the status: %v\n%s", err, out)
	}
	r.MustAdmin("--token", aliceToken, "autoreg", "open", "--reason", "ticket 42", "--for", "10m")

	var events []struct {
		Type  string `json:"type"`
		Actor string `json:"actor"`
		Data  struct {
			By     string `json:"by"`
			Reason string `json:"reason"`
		} `json:"data"`
	}
	out := r.replay(t, "events", "--type", "autoregistration.window_opened", "--format", "json")
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		t.Fatalf("replay events JSON: %v\n%s", err, out)
	}
	if len(events) != 1 || events[0].Actor != "admin:alice" || events[0].Data.By != "admin:alice" || events[0].Data.Reason != "ticket 42" {
		t.Fatalf("window_opened events: %+v\n%s", events, out)
	}

	// Failures are counted in /metrics (which needs a token itself).
	req, _ := http.NewRequest("GET", r.AdminURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+auditorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`autoreg_admin_auth_failures_total{reason="invalid"} 1`,
		`autoreg_admin_auth_failures_total{reason="read_only"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// And logged with the peer, never with the token.
	logs := r.logs.String()
	if !strings.Contains(logs, "admin request with a wrong token") || !strings.Contains(logs, "read-only token asked for a change") {
		t.Errorf("failures not logged:\n%s", tail(logs, 3000))
	}
	for _, secret := range []string{"not-a-token-at-all", aliceToken, auditorToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("a token is in the logs: %s", secret)
		}
	}
}

// On a non-loopback address without TLS, `registrar serve` refuses to start
// unless --admin-allow-plain-http (or admin.allow_plain_http) says the
// operator accepts plain HTTP.
func TestAdminPlainHTTPNeedsTheFlag(t *testing.T) {
	cfg := configWithTokens(t)
	run := func(extra ...string) (*exec.Cmd, *bytes.Buffer, string) {
		port := freePort(t)
		args := append([]string{"serve", "--data", t.TempDir(), "--tftp-addr", "", "--config", cfg,
			"--sip-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--sccp-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"--admin-addr", fmt.Sprintf("0.0.0.0:%d", port)}, extra...)
		cmd := exec.Command(bin(t, "registrar"), args...)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &logs, fmt.Sprintf("http://127.0.0.1:%d", port)
	}

	cmd, logs, _ := run()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(logs.String(), "allow_plain_http") {
			t.Fatalf("without the flag: exit %v\n%s", err, logs)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("without the flag the registrar is serving plain HTTP on 0.0.0.0:\n%s", logs)
	}

	cmd, logs, url := run("--admin-allow-plain-http")
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("with --admin-allow-plain-http the registrar did not serve:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
