package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/adapters/admin"
	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
)

const (
	cliAdminToken = "cli-admin-token-0123456789"
	cliReadToken  = "cli-read-token-0123456789"
)

type cliEnv struct {
	t     *testing.T
	url   string
	svc   *testreg.Registrar
	store eventstore.Store
}

// newCLIEnv runs the admin API on a memory store behind an httptest server
// and points the CLI's environment at it.
func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	store := memory.New()
	svc, err := testreg.Open(t, store, command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Tokens: []admin.Token{
		{User: "carol", Token: cliAdminToken, Scope: admin.ScopeAdmin},
		{User: "dave", Token: cliReadToken, Scope: admin.ScopeRead},
	}}, svc.Handler, svc.Reader, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Setenv(envAdminAddr, hs.URL)
	t.Setenv(envAdminToken, cliAdminToken)
	t.Setenv(envData, t.TempDir()) // no stray data/admin.token
	return &cliEnv{t: t, url: hs.URL, svc: svc, store: store}
}

type run struct {
	stdout, stderr string
	code           int
}

// runAdmin runs `registrar admin args...` as main would: the error on
// stderr after "registrar: ", and its exit status.
func runAdmin(t *testing.T, args ...string) run {
	t.Helper()
	cmd := newAdminCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errOut.WriteString("registrar: " + err.Error() + "\n")
	}
	return run{stdout: out.String(), stderr: errOut.String(), code: code}
}

func (e *cliEnv) ok(args ...string) string {
	e.t.Helper()
	r := runAdmin(e.t, args...)
	if r.code != 0 {
		e.t.Fatalf("registrar admin %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (e *cliEnv) fails(code int, want string, args ...string) run {
	e.t.Helper()
	r := runAdmin(e.t, args...)
	if r.code != code {
		e.t.Fatalf("registrar admin %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		e.t.Fatalf("registrar admin %s: stderr %q does not say %q", strings.Join(args, " "), r.stderr, want)
	}
	return r
}

// seed configures the cluster with the CLI itself.
func (e *cliEnv) seed() {
	e.t.Helper()
	for _, args := range [][]string{
		{"callmanager", "set", "CM1", "--autoreg-enabled", "--description", "publisher"},
		{"callmanager", "set", "CM2"},
		{"group", "set", "Default", "--callmanagers", "CM1, CM2", "--autoreg"},
		{"partition", "add", "Internal", "--description", "internal DNs"},
		{"partition", "add", "Emergency"},
		{"partition", "add", "PSTN"},
		{"pattern", "add", "911", "--partition", "Emergency"},
		{"pattern", "add", "9.1900XXXXXXX", "--partition", "PSTN", "--block"},
		{"pattern", "add", "9.[2-9]XXXXXX", "--partition", "PSTN"},
		{"css", "set", "Autoreg", "--partitions", "Internal,Emergency"},
		{"css", "set", "Staff", "--partitions", "Internal,PSTN,Emergency"},
		{"pool", "set", "Default", "--group", "Default", "--css", "Autoreg"},
		{"pool", "set", "Staff", "--group", "Default", "--css", "Staff"},
		{"default-pool", "Default"},
		{"device-defaults", "7961", "--load-sccp", "SCCP41.9-4-2SR3-1S", "--load-sip", "SIP41.9-4-2SR3-1S"},
		{"autoreg", "css", "Autoreg"},
		{"range", "set", "--start", "1000", "--end", "1009", "--partition", "Internal", "--mask", "40855510XX"},
	} {
		out := e.ok(args...)
		if strings.Contains(out, "no change") {
			e.t.Fatalf("%v changed nothing: %s", args, out)
		}
	}
}

func TestAdminStatusTextAndJSON(t *testing.T) {
	e := newCLIEnv(t)
	// Before any configuration, the status says what is missing.
	out := e.ok("status")
	for _, want := range []string{"Autoregistration:", "closed", "Range:", "not configured", "Problem:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	e.seed()
	out = e.ok("status")
	// Aligned for people: every value starts in the same column.
	col := -1
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		i := strings.Index(line, ":")
		j := i + 1 + len(line[i+1:]) - len(strings.TrimLeft(line[i+1:], " "))
		if col >= 0 && j != col {
			t.Errorf("status not aligned (column %d, want %d):\n%s", j, col, out)
			break
		}
		col = j
	}
	if !regexp.MustCompile(`Range:\s+1000-1009 in partition Internal, mask 40855510XX`).MatchString(out) {
		t.Errorf("status range:\n%s", out)
	}
	if strings.Contains(out, "Problem:") {
		t.Errorf("a ready cluster has a problem:\n%s", out)
	}

	var st api.Status
	if err := json.Unmarshal([]byte(e.ok("status", "--format", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Open || st.DNsLeft != 10 || st.Protocol != "SCCP" || st.Security != "nonsecure" || st.Range.Start != "1000" {
		t.Errorf("status json: %+v", st)
	}
}

func TestAdminOpenClose(t *testing.T) {
	e := newCLIEnv(t)
	e.seed()
	out := e.ok("autoreg", "open", "--reason", "bulk add, ticket 42", "--for", "30m", "--max", "5")
	for _, want := range []string{"open", "W1", "admin:carol", "5 registrations"} {
		if !strings.Contains(out, want) {
			t.Errorf("open output lacks %q:\n%s", want, out)
		}
	}
	out = e.ok("status")
	for _, want := range []string{"open", "W1, opened by admin:carol", "bulk add, ticket 42", "0 of at most 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// Opening twice is refused with the registrar's message.
	e.fails(1, "close it first", "autoreg", "open", "--reason", "again")

	// The events name the token's user.
	err := e.store.ReadAll(context.Background(), 1, func(r eventstore.RecordedEvent) error {
		m, err := command.DecodeMetadata(r.Metadata)
		if err != nil {
			return err
		}
		if m.Actor != "admin:carol" {
			t.Errorf("%s by %q", r.Type, m.Actor)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var res api.Result
	if err := json.Unmarshal([]byte(e.ok("autoreg", "close", "--reason", "batch done", "--format", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Events) != 1 || res.Events[0] != domain.TypeWindowClosed {
		t.Errorf("close json: %+v", res)
	}
	e.fails(1, "no window to close", "autoreg", "close", "--reason", "again")

	e.ok("security", "mixed")
	e.fails(1, "nonsecure", "autoreg", "open", "--reason", "x")
	e.ok("security", "nonsecure")
	if out := e.ok("autoreg", "protocol", "sip"); !strings.Contains(out, "SIP") {
		t.Errorf("protocol: %s", out)
	}
	if out := e.ok("autoreg", "protocol", "SIP"); !strings.Contains(out, "no change") {
		t.Errorf("protocol again: %s", out)
	}
}

func TestAdminDevices(t *testing.T) {
	e := newCLIEnv(t)
	e.seed()
	if out := e.ok("devices"); !strings.Contains(out, "no devices") {
		t.Errorf("devices of an empty registrar: %s", out)
	}
	e.ok("autoreg", "open", "--reason", "bulk add")
	if _, err := e.svc.Register(context.Background(), command.Registration{
		Device: "SEP00112233AABB", Model: "7961", Protocol: domain.SCCP, Address: "10.0.0.5:2000", Adapter: "sccp"}); err != nil {
		t.Fatal(err)
	}
	out := e.ok("device", "add", "SEP0011223344CC", "--model", "7940", "--protocol", "sip", "--dn", "2000", "--pool", "Staff", "--description", "lobby")
	if !strings.Contains(out, "added") || !regexp.MustCompile(`DN:\s+2000`).MatchString(out) {
		t.Errorf("device add:\n%s", out)
	}

	out = e.ok("devices")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("devices:\n%s", out)
	}
	// Columns line up: DN starts at the same offset on every line.
	dn := strings.Index(lines[0], "DN ")
	if !strings.HasPrefix(lines[1][dn:], "2000") || !strings.HasPrefix(lines[2][dn:], "1000") {
		t.Errorf("devices not aligned:\n%s", out)
	}
	if !strings.Contains(lines[2], "autoreg W1") || !strings.Contains(lines[1], "provisioned") {
		t.Errorf("devices origin:\n%s", out)
	}

	var devs api.Devices
	if err := json.Unmarshal([]byte(e.ok("devices", "--format", "json")), &devs); err != nil {
		t.Fatal(err)
	}
	if len(devs.Devices) != 2 || devs.Devices[1].Name != "SEP00112233AABB" || devs.Devices[1].ExternalNumber != "4085551000" {
		t.Errorf("devices json: %+v", devs)
	}

	// Filters and pages.
	out = e.ok("devices", "--limit", "1")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "SEP0011223344CC") ||
		lines[2] != "1-1 of 2 devices; next page: --offset 1" || !strings.Contains(lines[0], "LAST SEEN") {
		t.Errorf("devices --limit 1:\n%s", out)
	}
	out = e.ok("devices", "--limit", "1", "--offset", "1")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "SEP00112233AABB") || lines[2] != "2-2 of 2 devices" {
		t.Errorf("devices --limit 1 --offset 1:\n%s", out)
	}
	out = e.ok("devices", "--pool", "Staff", "--protocol", "sip", "--status", "unregistered")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "SEP0011223344CC") {
		t.Errorf("devices --pool Staff --protocol sip --status unregistered:\n%s", out)
	}
	if out := e.ok("devices", "--model", "7961", "--since", "1h", "--name", "aabb"); !strings.Contains(out, "SEP00112233AABB") || strings.Contains(out, "SEP0011223344CC") {
		t.Errorf("devices --model 7961 --since 1h --name aabb:\n%s", out)
	}
	if out := e.ok("devices", "--offset", "5", "--limit", "5"); !strings.Contains(out, "no devices from offset 5: the filters select 2") {
		t.Errorf("devices past the end:\n%s", out)
	}
	e.fails(1, `status "online": use registered or unregistered`, "devices", "--status", "online")

	out = e.ok("device", "show", "SEP00112233AABB")
	for _, want := range []string{"Model:", "7961", "autoregistered in window W1", "yes, from 10.0.0.5:2000", "4085551000"} {
		if !strings.Contains(out, want) {
			t.Errorf("device show lacks %q:\n%s", want, out)
		}
	}
	e.fails(1, "no device SEP999999999999", "device", "show", "SEP999999999999")

	if out := e.ok("may-dial", "SEP00112233AABB", "95551234"); !strings.HasPrefix(out, "refused:") {
		t.Errorf("may-dial before the move: %s", out)
	}
	out = e.ok("device", "set", "SEP00112233AABB", "--pool", "Staff", "--dn", "2001")
	if !regexp.MustCompile(`Pool:\s+Staff`).MatchString(out) || !regexp.MustCompile(`DN:\s+2001`).MatchString(out) {
		t.Errorf("device set:\n%s", out)
	}
	var md api.MayDial
	if err := json.Unmarshal([]byte(e.ok("may-dial", "SEP00112233AABB", "95551234", "--format", "json")), &md); err != nil {
		t.Fatal(err)
	}
	if !md.Allowed || md.CSS != "Staff" || md.Partition != "PSTN" {
		t.Errorf("may-dial after the move: %+v", md)
	}
	e.fails(1, "held by SEP0011223344CC", "device", "set", "SEP00112233AABB", "--dn", "2000")
	// A pool that does not exist: the error lists those that do.
	e.fails(1, `no device pool "Staf": the pools are Default, Staff (did you mean Staff?)`, "device", "set", "SEP00112233AABB", "--pool", "Staf")
	e.fails(1, `no calling search space "Nope": the calling search spaces are Autoreg, Staff`, "device", "set", "SEP00112233AABB", "--css", "Nope")
	// A malformed name is malformed, not unknown.
	e.fails(1, `"SEP00AA" is malformed: a device name is SEP and the 12 hex digits`, "device", "set", "SEP00AA", "--pool", "Staff")
	e.fails(1, `(did you mean SEP00112233AABB?)`, "device", "show", "sep00112233aabb")
	e.fails(2, "nothing to change", "device", "set", "SEP00112233AABB")
	e.fails(2, "missing --model and --dn", "device", "add", "SEP0011223344DD")

	e.ok("device", "delete", "SEP0011223344CC")
	e.fails(1, "no device", "device", "delete", "SEP0011223344CC")
}

func TestAdminTopologyErrors(t *testing.T) {
	e := newCLIEnv(t)
	e.seed()
	e.fails(1, "is in group", "callmanager", "delete", "CM2")
	e.fails(1, "does not exist", "group", "set", "G2", "--callmanagers", "CM9")
	e.fails(1, "no partition", "pattern", "add", "0", "--partition", "Nope")
	e.fails(1, "no route pattern", "pattern", "delete", "912", "--partition", "Emergency")
	e.ok("pattern", "delete", "9.[2-9]XXXXXX", "--partition", "PSTN")
	e.fails(1, "cluster default pool", "pool", "delete", "Default")
	e.fails(1, "not in the catalogue", "device-defaults", "9999")
	e.fails(1, "same number of digits", "range", "set", "--start", "100", "--end", "1099")

	var cl api.Cluster
	if err := json.Unmarshal([]byte(e.ok("cluster", "--format", "json")), &cl); err != nil {
		t.Fatal(err)
	}
	if cl.AutoregGroup != "Default" || len(cl.Patterns) != 2 || cl.DefaultPool != "Default" {
		t.Errorf("cluster: %+v", cl)
	}
	if out := e.ok("cluster"); !strings.Contains(out, "CALLMANAGER") || !strings.Contains(out, "9.1900XXXXXXX") {
		t.Errorf("cluster text:\n%s", out)
	}
}

func TestAdminUsageErrors(t *testing.T) {
	newCLIEnv(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"autoreg", "open"}, "missing --reason"},
		{[]string{"autoreg", "open", "--reason", "x", "--for", "soon"}, "soon"},
		{[]string{"autoreg", "open", "--reason", "x", "--max", "-1"}, "negative"},
		{[]string{"autoreg", "close"}, "missing --reason"},
		{[]string{"autoreg", "bogus"}, `unknown command "bogus"`},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"status", "extra"}, `unexpected argument "extra"`},
		{[]string{"status", "--format", "yaml"}, "use text or json"},
		{[]string{"may-dial", "SEP00112233AABB"}, "missing NUMBER"},
		{[]string{"security"}, "missing MODE"},
		{[]string{"range", "set", "--start", "1000"}, "missing --end"},
		{[]string{"status", "--no-such-flag"}, "unknown flag"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := runAdmin(t, c.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstderr: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "Usage:") && !strings.Contains(r.stderr, "--help") {
				t.Errorf("stderr %q lacks %q or the usage", r.stderr, c.want)
			}
		})
	}
	// A bare group prints its help.
	if r := runAdmin(t, "autoreg"); r.code != 0 || !strings.Contains(r.stdout, "open") {
		t.Errorf("bare autoreg: exit %d\n%s", r.code, r.stdout)
	}
}

func TestAdminAuthErrors(t *testing.T) {
	e := newCLIEnv(t)
	// No token anywhere: say how to pass one.
	t.Setenv(envAdminToken, "")
	r := e.fails(1, "--token", "status")
	if !strings.Contains(r.stderr, envAdminToken) {
		t.Errorf("no token: %s", r.stderr)
	}
	// A wrong token: the server's message.
	e.fails(1, "not valid", "--token", "wrong", "status")
	// A read-only token cannot change anything.
	e.fails(1, "read-only", "--token", cliReadToken, "autoreg", "close", "--reason", "x")
	if out := e.ok("--token", cliReadToken, "status"); !strings.Contains(out, "Autoregistration") {
		t.Errorf("read token status: %s", out)
	}

	// The token file: explicit, then the default under $AUTOREG_DATA.
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte(cliAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("--token-file", file, "status")
	e.fails(1, "reading the admin token", "--token-file", filepath.Join(t.TempDir(), "missing"), "status")
	data := t.TempDir()
	t.Setenv(envData, data)
	if err := os.WriteFile(filepath.Join(data, "admin.token"), []byte(cliAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("status")
}

func TestAdminRegistrarNotRunning(t *testing.T) {
	newCLIEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runAdmin(t, "--addr", "http://"+addr, "status")
	if r.code != 1 || !strings.Contains(r.stderr, "is the registrar running?") || !strings.Contains(r.stderr, "make run") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestAdminHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks Short, Long or Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	walk(newAdminCommand())

	r := runAdmin(t, "autoreg", "open", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--reason") || !strings.Contains(r.stdout, "Examples:") {
		t.Errorf("autoreg open --help: exit %d\n%s", r.code, r.stdout)
	}
}
