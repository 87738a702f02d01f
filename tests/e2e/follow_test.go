package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// `replay events --follow` on the store of a running registrar (SQLite,
// read-only, another process writing): it prints the events as the
// registrar appends them and exits 0 on SIGINT.
func TestReplayEventsFollowTheRegistrar(t *testing.T) {
	r := startRegistrar(t, "")
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cmd := exec.Command(bin(t, "replay"), "events", "--follow", "--data", r.Data, "--format", "jsonl",
		"--type", "autoregistration.*", "--since", since)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(want string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("replay ended before %s: %s", want, stderr.String())
			}
			var e struct{ Type, Actor string }
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			if e.Type != want || e.Actor != "admin:admin" {
				t.Fatalf("followed %s by %s, want %s by admin:admin", e.Type, e.Actor, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s within 20 s: %s", want, stderr.String())
		}
	}
	r.MustAdmin("autoreg", "open", "--reason", "follow me", "--for", "10m")
	next("autoregistration.window_opened")
	r.MustAdmin("autoreg", "close", "--reason", "done")
	next("autoregistration.window_closed")

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil {
		t.Errorf("replay events --follow after SIGINT: %v: %s", err, stderr.String())
	}
}
