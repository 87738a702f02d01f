// Package e2e drives the real binaries (registrar, phonesim) with real peers
// (sipp, the registrar's own admin CLI) over real sockets on 127.0.0.1.
//
// `make test` builds the binaries and sets AUTOREG_BIN; run alone, the tests
// build them into a temporary directory first. Tests that need sipp skip
// without it, except under CI (CI=true), where a missing peer is a failure:
// .ci/run installs it.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// bin returns the path of one of the project's binaries.
func bin(t *testing.T, name string) string {
	t.Helper()
	binOnce.Do(func() {
		if d := os.Getenv("AUTOREG_BIN"); d != "" {
			binDir = d
			return
		}
		dir, err := os.MkdirTemp("", "autoreg-bin-")
		if err != nil {
			binErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/...")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binDir = dir
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %s: %v (run `make build`)", name, err)
	}
	return p
}

// need finds a peer program or skips (fails under CI, where .ci/run installs it).
func need(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		msg := fmt.Sprintf("%s not found: apt-get install -y %s (.ci/run does)", prog, pkg)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// freePort finds a port free on 127.0.0.1 for both TCP and UDP.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// Registrar is a running `registrar serve`.
type Registrar struct {
	t        *testing.T
	Data     string
	SIP      string // 127.0.0.1:port
	SCCP     string
	TFTP     string // the phones' TFTP server
	AdminURL string
	sippPort int // the phones' port: the same for every sipp run, as a real phone's is
	args     []string
	cmd      *exec.Cmd
	logs     *bytes.Buffer
	done     chan error
}

// startRegistrar runs the real binary on a fresh data directory (or the
// given one) with the sample configuration, and waits until it serves.
func startRegistrar(t *testing.T, data string, extra ...string) *Registrar {
	t.Helper()
	return startRegistrarAt(t, data, fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t)), extra...)
}

// startRegistrarAt is startRegistrar with SIP and SCCP on the addresses
// given (127.0.0.2, ...: the nodes of a cluster on one host).
func startRegistrarAt(t *testing.T, data, sip, sccp string, extra ...string) *Registrar {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	r := &Registrar{t: t, Data: data, SIP: sip, SCCP: sccp, TFTP: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	r.sippPort = freePort(t)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.AdminURL = "http://" + adminAddr
	r.args = append([]string{"serve", "--data", data, "--sip-addr", r.SIP, "--sccp-addr", r.SCCP,
		"--admin-addr", adminAddr, "--tftp-addr", r.TFTP, "--log-level", "info"}, extra...)
	t.Cleanup(func() { r.Stop() })
	r.start()
	return r
}

// start runs the process with r.args and waits until it serves.
func (r *Registrar) start() {
	t := r.t
	t.Helper()
	r.cmd = exec.Command(bin(t, "registrar"), r.args...)
	r.logs = &bytes.Buffer{}
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	r.done = done
	cmd := r.cmd
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("registrar exited at start: %v\n%s", err, r.logs)
		default:
		}
		resp, err := http.Get(r.AdminURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(r.logs.String(), "registrar serving") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("registrar did not start in 15 s:\n%s", r.logs)
}

// Kill sends SIGKILL and waits for the process to end.
func (r *Registrar) Kill() {
	_ = r.cmd.Process.Kill()
	err := <-r.done
	r.done <- err
}

// Restart starts the process again, with the same flags (after Kill or Stop).
func (r *Registrar) Restart() {
	r.t.Helper()
	r.start()
}

// Stop sends SIGTERM and waits; it reports the exit status.
func (r *Registrar) Stop() error {
	if r.cmd.ProcessState != nil {
		return nil
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		return fmt.Errorf("registrar did not stop in 15 s")
	}
}

// Admin runs `registrar admin` against this registrar and returns stdout.
func (r *Registrar) Admin(args ...string) (string, error) {
	r.t.Helper()
	all := append([]string{"admin", "--addr", r.AdminURL, "--token-file", filepath.Join(r.Data, "admin.token")}, args...)
	cmd := exec.Command(bin(r.t, "registrar"), all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("registrar %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// MustAdmin is Admin that fails the test on error.
func (r *Registrar) MustAdmin(args ...string) string {
	r.t.Helper()
	out, err := r.Admin(args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// Device is a row of `registrar admin devices --format json`.
type Device struct {
	Name       string    `json:"name"`
	Model      string    `json:"model"`
	Protocol   string    `json:"protocol"`
	Node       string    `json:"node"`
	LastSeen   time.Time `json:"last_seen"`
	Expires    time.Time `json:"expires"`
	Transport  string    `json:"transport"`
	DN         string    `json:"dn"`
	Pool       string    `json:"pool"`
	Registered bool      `json:"registered"`
	Address    string    `json:"address"`
}

// Devices lists the registrar's devices through the admin CLI.
func (r *Registrar) Devices() map[string]Device {
	r.t.Helper()
	out := r.MustAdmin("devices", "--format", "json")
	var list []Device
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		var wrapped struct {
			Devices []Device `json:"devices"`
		}
		if err2 := json.Unmarshal([]byte(out), &wrapped); err2 != nil {
			r.t.Fatalf("devices JSON: %v\n%s", err, out)
		}
		list = wrapped.Devices
	}
	m := map[string]Device{}
	for _, d := range list {
		m[d.Name] = d
	}
	return m
}

// sipp runs a scenario from testdata/sipp against the registrar, one call
// per MAC, one at a time. It returns sipp's error (non-nil when a call
// failed) and the messages it traced.
func (r *Registrar) sipp(t *testing.T, scenario string, macs []string, extra ...string) (string, error) {
	t.Helper()
	return r.sippRows(t, scenario, macs, extra...)
}

// sippAuth is sipp with each phone's digest user and password (fields 1
// and 2, for the scenario's [authentication]), as an administrator reads
// them: `registrar admin device credentials`.
func (r *Registrar) sippAuth(t *testing.T, scenario string, macs []string, extra ...string) (string, error) {
	t.Helper()
	rows := make([]string, len(macs))
	for i, m := range macs {
		user, password := r.credentials(t, "SEP"+m)
		rows[i] = m + ";" + user + ";" + password
	}
	return r.sippRows(t, scenario, rows, extra...)
}

// credentials are a device's digest user and password.
func (r *Registrar) credentials(t *testing.T, device string) (user, password string) {
	t.Helper()
	var c struct {
		Status   string `json:"status"`
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(r.MustAdmin("device", "credentials", device, "--format", "json")), &c); err != nil {
		t.Fatal(err)
	}
	if c.Status != "active" || c.Password == "" {
		t.Fatalf("%s has no active credentials: %+v", device, c)
	}
	return c.User, c.Password
}

func (r *Registrar) sippRows(t *testing.T, scenario string, rows []string, extra ...string) (string, error) {
	t.Helper()
	macs := rows
	sippBin := need(t, "sipp", "sip-tester")
	dir := t.TempDir()
	csv, sf := sippInputs(t, dir, scenario, rows)
	args := append([]string{"-sf", sf, "-inf", csv, "-m", fmt.Sprint(len(macs)), "-l", "1", "-r", "200",
		"-i", "127.0.0.1", "-p", fmt.Sprint(r.sippPort), "-t", "u1", "-timeout", "20s", "-timeout_error",
		"-nostdin", "-trace_msg", "-trace_err", "-max_retrans", "3"}, extra...)
	args = append(args, r.SIP)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sippBin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var msgs strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "*_messages.log"))
	for _, f := range files {
		body, _ := os.ReadFile(f)
		msgs.Write(body)
	}
	if err != nil {
		errs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
		for _, f := range errs {
			body, _ := os.ReadFile(f)
			out = append(out, body...)
		}
		return msgs.String(), fmt.Errorf("sipp %s: %v\n%s", scenario, err, tail(string(out), 3000))
	}
	return msgs.String(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// headerValues returns the values of a header in the traced SIP responses
// to the given MAC, in order.
func headerValues(trace, header string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(trace))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	prefix := strings.ToLower(header) + ":"
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(strings.ToLower(line), prefix) {
			out = append(out, strings.TrimSpace(line[len(prefix):]))
		}
	}
	return out
}

func macs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06X", prefix, i+1)
	}
	return out
}

// sippInputs writes the MACs as sipp's injection file (SEQUENTIAL, one a
// line) in dir and returns its path and the scenario's absolute path.
func sippInputs(t *testing.T, dir, scenario string, macs []string) (csv, sf string) {
	t.Helper()
	csv = filepath.Join(dir, "macs.csv")
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, m := range macs {
		b.WriteString(m + "\n")
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	return csv, sf
}
