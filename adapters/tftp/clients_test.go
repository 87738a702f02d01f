package tftp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// These tests download with the TFTP clients of Debian: curl, tftp-hpa and
// atftp. Each is skipped, saying so, when its binary is missing.

// run runs a client with a bound on its time (a hung client fails the
// test instead of hanging it); it returns the output and the exit code.
func run(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish", name, args)
	}
	return string(out), code
}

func hostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func generatedSCCP(t *testing.T) []byte {
	b, err := newTestGenerator(t).DeviceConfig(sccpPhone)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCurl(t *testing.T) {
	curl := lookPath(t, "curl", "curl")
	srv, addr, folder, log := newTestServer(t, nil)
	out := filepath.Join(t.TempDir(), "out")
	url := "tftp://" + addr + "/"
	get := func(name string, extra ...string) ([]byte, string, int) {
		os.Remove(out)
		msg, code := run(t, curl, append([]string{"-sS", "--path-as-is", "-o", out, url + name}, extra...)...)
		b, _ := os.ReadFile(out)
		return b, msg, code
	}
	if b, msg, code := get("SEP001122334455.cnf.xml"); code != 0 || !bytes.Equal(b, generatedSCCP(t)) {
		t.Errorf("SEP001122334455.cnf.xml: exit %d %s, %d bytes", code, msg, len(b))
	}
	if b, msg, code := get("term61.default.loads", "--tftp-blksize", "1428"); code != 0 || !bytes.Equal(b, folder.files["term61.default.loads"]) {
		t.Errorf("term61.default.loads, blksize 1428: exit %d %s, %d bytes", code, msg, len(b))
	}
	// curl's exit codes: 68 TFTP file not found, 69 TFTP permission.
	for name, want := range map[string]int{
		"nothere.bin":            68,
		"ITLSEP001122334455.tlv": 68,
		"CTLSEP001122334455.tlv": 68,
		"ITLFile.tlv":            68,
		"../secret.txt":          69,
		"rel-link-out.txt":       69,
	} {
		if _, msg, code := get(name); code != want {
			t.Errorf("%s: curl exit %d (%s), want %d", name, code, strings.TrimSpace(msg), want)
		}
	}
	up := filepath.Join(t.TempDir(), "up")
	os.WriteFile(up, []byte("x"), 0o644)
	if msg, code := run(t, curl, "-sS", "-T", up, url+"up.txt"); code != 69 {
		t.Errorf("upload: curl exit %d (%s), want 69 (TFTP permission)", code, strings.TrimSpace(msg))
	}
	if _, err := os.Stat(filepath.Join(folder.dir, "up.txt")); err == nil {
		t.Error("the upload was written")
	}
	log.wait(t, 9) // 2 files, 7 refusals
	if st := srv.Stats(); st.Served != 2 {
		t.Errorf("Stats.Served = %d, want 2", st.Served)
	}
}

func TestTFTPHPA(t *testing.T) {
	tftp := lookPath(t, "tftp", "tftp-hpa")
	if out, _ := run(t, tftp, "-V"); !strings.Contains(out, "tftp-hpa") {
		t.Skipf("tftp is not tftp-hpa: %s", out)
	}
	_, addr, folder, _ := newTestServer(t, nil)
	host, port := hostPort(t, addr)
	dir := t.TempDir()
	local := filepath.Join(dir, "out")
	// tftp-hpa's exit code says nothing of TFTP errors: its output does.
	for _, mode := range []string{"binary", "netascii"} {
		for name, want := range map[string][]byte{
			"SEP001122334455.cnf.xml":             generatedSCCP(t),
			"term61.default.loads":                folder.files["term61.default.loads"],
			`English_United_States\7960-font.xml`: folder.files["English_United_States/7960-font.xml"],
		} {
			if mode == "netascii" && name == "term61.default.loads" {
				continue // binary: netascii would change its bytes
			}
			os.Remove(local)
			out, code := run(t, tftp, "-m", mode, host, port, "-c", "get", name, local)
			got, _ := os.ReadFile(local)
			if code != 0 || strings.Contains(out, "Error") || !bytes.Equal(got, want) {
				t.Errorf("%s (%s): exit %d %q, %d bytes, want %d", name, mode, code, out, len(got), len(want))
			}
		}
	}
	for name, want := range map[string]string{
		"nothere.bin":            "Error code 1",
		"ITLSEP001122334455.tlv": "Error code 1",
		"../secret.txt":          "Error code 2",
		"abs-link-out.txt":       "Error code 2",
	} {
		out, _ := run(t, tftp, "-m", "binary", host, port, "-c", "get", name, local)
		if !strings.Contains(out, want) {
			t.Errorf("%s: %q, want %q", name, out, want)
		}
	}
	up := filepath.Join(dir, "up")
	os.WriteFile(up, []byte("x"), 0o644)
	if out, _ := run(t, tftp, "-m", "binary", host, port, "-c", "put", up, "up.txt"); !strings.Contains(out, "Error code 2") {
		t.Errorf("put: %q, want Error code 2", out)
	}
}

func TestAtftp(t *testing.T) {
	atftp := lookPath(t, "atftp", "atftp")
	_, addr, folder, _ := newTestServer(t, nil)
	host, port := hostPort(t, addr)
	dir := t.TempDir()
	local := filepath.Join(dir, "out")
	get := func(name string, opts ...string) (string, int, []byte) {
		os.Remove(local)
		args := []string{"--get", "-r", name, "-l", local, "--trace"}
		for _, o := range opts {
			args = append(args, "--option", o)
		}
		out, code := run(t, atftp, append(args, host, port)...)
		b, _ := os.ReadFile(local)
		return out, code, b
	}
	big := folder.files["term61.default.loads"]
	out, code, got := get("term61.default.loads", "blksize 1428", "tsize 0")
	if code != 0 || !bytes.Equal(got, big) {
		t.Errorf("blksize 1428: exit %d, %d bytes, want %d\n%s", code, len(got), len(big), out)
	}
	// The OACK grants blksize 512 (see the package documentation) and the
	// real size.
	oack := regexp.MustCompile(`received OACK <([^>]*)>`).FindStringSubmatch(out)
	if oack == nil || !strings.Contains(oack[1], "blksize: 512,") || !strings.Contains(oack[1], "tsize: 1636,") ||
		!strings.Contains(out, "DATA <block: 1, size 512>") {
		t.Errorf("no OACK with blksize 512 and tsize 1636, or blocks of another size, in the trace:\n%s", out)
	}
	out, code, got = get("SEP001122334455.cnf.xml", "tsize 0")
	if code != 0 || !bytes.Equal(got, generatedSCCP(t)) {
		t.Errorf("SEP001122334455.cnf.xml: exit %d, %d bytes\n%s", code, len(got), out)
	}
	// windowsize and timeout are left out of the OACK: atftp goes on in
	// lock-step.
	out, code, got = get("term61.default.loads", "windowsize 8", "timeout 3")
	if code != 0 || !bytes.Equal(got, big) {
		t.Errorf("windowsize 8: exit %d, %d bytes\n%s", code, len(got), out)
	}
	for name, want := range map[string]string{
		"nothere.bin":       "<file not found>",
		"ITLFile.tlv":       "<file not found (no security files",
		"../secret.txt":     "leaves the served folder",
		"parent/secret.txt": "<access violation>",
	} {
		out, code, _ := get(name)
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, want an error with %q:\n%s", name, code, want, out)
		}
	}
	up := filepath.Join(dir, "up")
	os.WriteFile(up, []byte("x"), 0o644)
	out, code = run(t, atftp, "--put", "-l", up, "-r", "up.txt", "--trace", host, port)
	if code == 0 || !strings.Contains(out, "read-only server") {
		t.Errorf("put: exit %d, want the refusal:\n%s", code, out)
	}
}
