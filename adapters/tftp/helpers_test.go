package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// testSettings are the generated files' inputs in the tests.
func testSettings() Settings {
	return Settings{
		CallManagers: []CallManager{
			{Host: "192.0.2.10", Name: "autoreg-1"},
			{Host: "192.0.2.11", Name: "autoreg-2", SCCPPort: 2002},
		},
		DateTime: DateTime{NTPServers: []string{"192.0.2.123"}},
		Loads: []Load{
			{Model: "7961", Protocol: domain.SCCP, Name: "SCCP41.9-4-2SR3-1S"},
			{Model: "7961", Protocol: domain.SIP, Name: "SIP41.9-4-2SR3-1S"},
			{Model: "7960", Protocol: domain.SCCP, Name: "P00308010200"},
			{Model: "7941", Protocol: domain.SCCP, Name: "SCCP41.9-4-2SR3-1S"},
		},
		MinExpires: 60 * time.Second,
		MaxExpires: 3600 * time.Second,
	}
}

// testDevices knows SEP001122334455 (a 7961 on SCCP, DN 1001) and
// SEP0011223344AA (a 7961 on SIP, DN 1002).
var testDevices = DevicesFunc(func(_ context.Context, name string) (Device, bool, error) {
	switch name {
	case "SEP001122334455":
		return Device{Name: name, Model: "7961", Protocol: domain.SCCP, DN: "1001"}, true, nil
	case "SEP0011223344AA":
		return Device{Name: name, Model: "7961", Protocol: domain.SIP, DN: "1002"}, true, nil
	}
	return Device{}, false, nil
})

func newTestGenerator(t testing.TB) *Generator {
	t.Helper()
	g, err := NewGenerator(testSettings(), testDevices)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// testFolder makes a files_dir with a small file, a file of several
// blocks, a subfolder, and a secret beside the folder that symbolic links
// inside point at.
type testFolder struct {
	dir, secret string
	files       map[string][]byte // name -> content of what may be served
}

func newTestFolder(t testing.TB) *testFolder {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "tftp")
	f := &testFolder{dir: dir, secret: filepath.Join(base, "secret.txt"), files: map[string][]byte{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "English_United_States"), 0o755))
	must(os.WriteFile(f.secret, []byte("SECRET outside files_dir\n"), 0o644))
	big := make([]byte, 3*512+100) // several blocks, not a multiple of 512
	for i := range big {
		big[i] = byte(i * 7)
	}
	exact := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1024 bytes: ends with an empty block
	for name, content := range map[string][]byte{
		"SCCP41.9-4-2SR3-1S.loads":            []byte("load file\n"),
		"term61.default.loads":                big,
		"exact1024.bin":                       exact,
		"English_United_States/7960-font.xml": []byte("<font/>\n"),
		"SEP00112233DEAD.cnf.xml":             []byte("<device>static</device>\n"),
		"empty.txt":                           {},
	} {
		must(os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), content, 0o644))
		f.files[name] = content
	}
	must(os.Symlink("term61.default.loads", filepath.Join(dir, "link-inside.loads")))
	f.files["link-inside.loads"] = big
	must(os.Symlink(f.secret, filepath.Join(dir, "abs-link-out.txt")))
	must(os.Symlink("../secret.txt", filepath.Join(dir, "rel-link-out.txt")))
	must(os.Symlink("..", filepath.Join(dir, "parent")))
	return f
}

// startServer serves files on 127.0.0.1 and returns the address; the
// server stops at the end of the test.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, pc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, pc.LocalAddr().String()
}

// servedLog collects Config.OnServed calls.
type servedLog struct {
	mu      sync.Mutex
	all     []Served
	changed chan struct{}
}

func (l *servedLog) add(s Served) {
	l.mu.Lock()
	l.all = append(l.all, s)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	l.mu.Unlock()
}

// wait returns once n requests have been reported: a client has its file
// when it sent the last ACK, the server reports once it read that ACK.
// The deadline only stops a test that would otherwise hang.
func (l *servedLog) wait(t testing.TB, n int) []Served {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		if len(l.all) >= n {
			all := append([]Served(nil), l.all...)
			l.mu.Unlock()
			return all
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%d requests reported, want %d", len(l.list()), n)
		}
	}
}

func (l *servedLog) list() []Served {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Served(nil), l.all...)
}

// rawRRQ builds a request packet.
func rawRQ(op uint16, name, mode string, opts ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, mode...)
	b = append(b, 0)
	for _, o := range opts {
		b = append(b, o...)
		b = append(b, 0)
	}
	return b
}

// client is a minimal TFTP client for the tests: it sends one packet and
// reads what comes back, and can run a download to its end.
type client struct {
	t    testing.TB
	conn *net.UDPConn
	srv  *net.UDPAddr
}

func newClient(t testing.TB, addr string) *client {
	t.Helper()
	srv, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, srv: srv}
}

// exchange sends p to the server's request port and returns the first
// packet back and where it came from. The deadline only stops a test that
// would otherwise hang; no assertion depends on it.
func (c *client) exchange(p []byte) ([]byte, *net.UDPAddr, error) {
	if _, err := c.conn.WriteToUDP(p, c.srv); err != nil {
		return nil, nil, err
	}
	return c.read()
}

func (c *client) read() ([]byte, *net.UDPAddr, error) {
	buf := make([]byte, 70000)
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := c.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, nil, err
	}
	return buf[:n], from, nil
}

// errorPacket decodes an ERROR packet.
func errorPacket(p []byte) (ErrorCode, string, bool) {
	if len(p) < 5 || binary.BigEndian.Uint16(p) != opERROR || p[len(p)-1] != 0 {
		return 0, "", false
	}
	return ErrorCode(binary.BigEndian.Uint16(p[2:])), string(p[4 : len(p)-1]), true
}

// wantError sends p and checks the answer is an ERROR with code.
func (c *client) wantError(p []byte, code ErrorCode) string {
	c.t.Helper()
	got, _, err := c.exchange(p)
	if err != nil {
		c.t.Fatalf("no answer: %v", err)
	}
	gc, msg, ok := errorPacket(got)
	if !ok {
		c.t.Fatalf("answer %x is not an ERROR packet", got)
	}
	if gc != code {
		c.t.Fatalf("error code %d (%s, %q), want %d (%s)", gc, gc, msg, code, code)
	}
	return msg
}

// download runs a read request to its end: it returns the file, the
// options the server acknowledged (nil without OACK) and the block size
// the DATA packets used.
func (c *client) download(req []byte) (data []byte, oack map[string]string, err error) {
	p, from, err := c.exchange(req)
	if err != nil {
		return nil, nil, err
	}
	blk := 512
	ack := func(n uint16) error {
		_, err := c.conn.WriteToUDP(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opACK), n), from)
		return err
	}
	if len(p) >= 2 && binary.BigEndian.Uint16(p) == opOACK {
		oack = map[string]string{}
		f := bytes.Split(bytes.TrimSuffix(p[2:], []byte{0}), []byte{0})
		for i := 0; i+1 < len(f); i += 2 {
			oack[string(f[i])] = string(f[i+1])
		}
		if v, ok := oack["blksize"]; ok {
			fmt.Sscan(v, &blk)
		}
		if err := ack(0); err != nil {
			return nil, oack, err
		}
		if p, _, err = c.read(); err != nil {
			return nil, oack, err
		}
	}
	for want := uint16(1); ; want++ {
		if code, msg, ok := errorPacket(p); ok {
			return data, oack, &Error{Code: code, Message: msg}
		}
		if len(p) < 4 || binary.BigEndian.Uint16(p) != opDATA {
			return data, oack, fmt.Errorf("packet %x is not DATA", p)
		}
		if got := binary.BigEndian.Uint16(p[2:]); got != want {
			return data, oack, fmt.Errorf("block %d, want %d", got, want)
		}
		if len(p)-4 > blk {
			return data, oack, fmt.Errorf("block of %d bytes, blksize %d", len(p)-4, blk)
		}
		data = append(data, p[4:]...)
		if err := ack(want); err != nil {
			return data, oack, err
		}
		if len(p)-4 < blk {
			return data, oack, nil
		}
		if p, _, err = c.read(); err != nil {
			return data, oack, err
		}
	}
}

func lookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package %s; .ci/run installs it)", name, pkg)
	}
	return p
}
