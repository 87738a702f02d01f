package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTsharkDecodesTFTP captures, on the loopback interface, curl fetching
// XmlDefault.cnf.xml from the registrar's TFTP server, asking for an
// unknown phone's SEP<MAC>.cnf.xml and trying to write a file, and checks
// Wireshark's TFTP dissector reads the exchange as TFTP: the read requests
// and their options, the OACK, DATA blocks that rebuild the very file curl
// received (tshark's own export), error 1 (file not found) and error 2
// (access violation) with their messages. Capturing needs root or
// CAP_NET_RAW: without, the test says so and skips.
func TestTsharkDecodesTFTP(t *testing.T) {
	tshark := need(t, "tshark", "tshark")
	need(t, "curl", "curl")
	r := startRegistrar(t, "")
	_, port, _ := strings.Cut(r.TFTP, ":")

	pcap := filepath.Join(t.TempDir(), "tftp.pcap")
	capture := exec.Command(tshark, "-n", "-i", "lo", "-f", "udp and host 127.0.0.1", "-w", pcap)
	capture.Env = append(os.Environ(), "HOME="+t.TempDir())
	var capErr lockedBuffer
	capture.Stderr = &capErr
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = capture.Process.Kill() })
	for i := 0; !strings.Contains(capErr.String(), "Capturing on"); i++ {
		if i > 100 || capture.ProcessState != nil {
			t.Skipf("tshark cannot capture on lo here (needs root or CAP_NET_RAW): %s", capErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the capture filter is in place

	def, ok := tftpGet(t, r, "XmlDefault.cnf.xml")
	if !ok {
		t.Fatal("XmlDefault.cnf.xml not found")
	}
	if _, ok := tftpGet(t, r, "SEP00AA55000091.cnf.xml"); ok {
		t.Fatal("an unknown phone's file was served")
	}
	up := filepath.Join(t.TempDir(), "up.txt")
	if err := os.WriteFile(up, []byte("not welcome\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("curl", "-sS", "--max-time", "10", "-T", up, "tftp://"+r.TFTP+"/up.txt").CombinedOutput(); err == nil {
		t.Fatalf("a write was accepted: %s", out)
	}
	time.Sleep(300 * time.Millisecond)
	_ = capture.Process.Signal(syscall.SIGINT)
	_ = capture.Wait()

	objects := t.TempDir()
	cmd := exec.Command(tshark, "-n", "-r", pcap, "-d", "udp.port=="+port+",tftp", "-Y", "tftp",
		"--export-objects", "tftp,"+objects,
		"-T", "fields", "-E", "separator=|", "-e", "tftp.opcode", "-e", "tftp.source_file", "-e", "tftp.destination_file",
		"-e", "tftp.option.name", "-e", "tftp.block", "-e", "tftp.error.code", "-e", "tftp.error.message")
	cmd.Env = capture.Env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	t.Logf("tshark:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	has := func(want ...string) bool {
		for _, l := range lines {
			f := strings.Split(l, "|")
			ok := len(f) >= len(want)
			for i := 0; ok && i < len(want); i++ {
				ok = want[i] == "" || f[i] == want[i]
			}
			if ok {
				return true
			}
		}
		return false
	}
	// Opcodes: 1 RRQ, 2 WRQ, 3 DATA, 5 ERROR, 6 OACK.
	for _, c := range []struct {
		what string
		want []string
	}{
		{"the read request for XmlDefault.cnf.xml", []string{"1", "XmlDefault.cnf.xml"}},
		{"DATA block 1", []string{"3", "", "", "", "1"}},
		{"the read request for the unknown phone's file", []string{"1", "SEP00AA55000091.cnf.xml"}},
		{"error 1, file not found", []string{"5", "", "", "", "", "1"}},
		{"the write request", []string{"2", "", "up.txt"}},
		{"error 2, access violation", []string{"5", "", "", "", "", "2"}},
	} {
		if !has(c.want...) {
			t.Errorf("tshark shows no %s:\n%s", c.what, out)
		}
	}
	if !strings.Contains(string(out), "tsize") || !has("6") {
		t.Errorf("tshark shows no tsize option answered by an OACK (curl asks for it):\n%s", out)
	}
	got, err := os.ReadFile(filepath.Join(objects, "XmlDefault.cnf.xml"))
	if err != nil {
		entries, _ := os.ReadDir(objects)
		t.Fatalf("tshark exported no XmlDefault.cnf.xml (%v): %v", entries, err)
	}
	if !bytes.Equal(got, def) {
		t.Errorf("the file tshark rebuilt from the DATA blocks (%d bytes) is not the file curl got (%d bytes)", len(got), len(def))
	}
}
