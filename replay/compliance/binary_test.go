package compliance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/replay"
	"github.com/autoreg/autoreg/replay/compliance"
)

// complianceBinary is the compliance command: $AUTOREG_BIN/compliance when
// the Makefile built it, else built here.
func complianceBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("AUTOREG_BIN"); dir != "" {
		p := filepath.Join(dir, "compliance")
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "compliance")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/autoreg/autoreg/cmd/compliance").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBinary(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// The binary on real SQLite stores: a generated history, an empty store,
// no store; the store is never written.
func TestBinaryOnSQLite(t *testing.T) {
	bin := complianceBinary(t)
	dir := t.TempDir()
	ctx := context.Background()
	db := filepath.Join(dir, "history.db")
	gen, err := replay.GenerateStore(ctx, db, replay.GenerateOptions{Events: 20000, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, db)

	code, out, errs := runBinary(t, bin, "report", "--store", "sqlite://"+db, "--until", "2100-01-01", "--format", "json")
	if code != compliance.ExitOK && code != compliance.ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r compliance.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.LastPosition != uint64(gen.Events) || len(r.Windows) != gen.Windows || r.Store != "sqlite://"+db {
		t.Errorf("last position %d, %d windows, store %q; generated %d events, %d windows", r.LastPosition, len(r.Windows), r.Store, gen.Events, gen.Windows)
	}
	html := filepath.Join(dir, "r.html")
	if code, _, errs := runBinary(t, bin, "report", "--data", dir+"/nowhere", "-o", html); code != compliance.ExitError || !strings.Contains(errs, "no event store at") {
		t.Errorf("--data without a store: exit %d: %s", code, errs)
	}
	os.Link(db, filepath.Join(dir, "autoreg.db"))
	if code, _, errs := runBinary(t, bin, "report", "--data", dir, "--until", "2100-01-01", "--format", "html", "-o", html, "--fail-on", "critical"); code > 1 {
		t.Errorf("exit %d: %s", code, errs)
	}
	if info, err := os.Stat(html); err != nil || info.Size() < 10000 {
		t.Errorf("html: %v", err)
	}
	if fileHash(t, db) != before {
		t.Error("the store was written to")
	}

	empty := filepath.Join(dir, "empty.db")
	st, err := sqlite.Open(ctx, empty)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errs = runBinary(t, bin, "report", "--store", empty, "--format", "json", "--fail-on", "info")
	if code != compliance.ExitOK {
		t.Fatalf("empty store: exit %d: %s", code, errs)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if p := doc["period"].(map[string]any); p["since"] != nil || p["until"] == nil || len(doc["findings"].([]any)) != 0 {
		t.Errorf("empty store: %s", out)
	}
	for _, f := range []string{"text", "csv", "html"} {
		if code, out, errs := runBinary(t, bin, "report", "--store", empty, "--format", f); code != 0 || out == "" {
			t.Errorf("empty store, %s: exit %d: %s", f, code, errs)
		}
	}
}
