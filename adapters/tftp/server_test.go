package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newTestServer(t *testing.T, mod func(*Config)) (*Server, string, *testFolder, *servedLog) {
	t.Helper()
	folder := newTestFolder(t)
	dir, err := OpenDir(folder.dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	log := &servedLog{}
	cfg := Config{Files: Chain(newTestGenerator(t), dir), OnServed: log.add}
	if mod != nil {
		mod(&cfg)
	}
	srv, addr := startServer(t, cfg)
	return srv, addr, folder, log
}

func TestServesFilesWholeFromATransferPort(t *testing.T) {
	srv, addr, folder, log := newTestServer(t, nil)
	for _, name := range []string{"SCCP41.9-4-2SR3-1S.loads", "term61.default.loads", "exact1024.bin", "empty.txt",
		"English_United_States/7960-font.xml", "link-inside.loads"} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, addr)
			got, oack, err := c.download(rawRQ(opRRQ, name, "octet"))
			if err != nil {
				t.Fatal(err)
			}
			if oack != nil {
				t.Errorf("OACK %v to a request without options", oack)
			}
			if !bytes.Equal(got, folder.files[name]) {
				t.Errorf("got %d bytes, want the %d of the file", len(got), len(folder.files[name]))
			}
		})
	}
	// The transfer comes from a port of its own, not the request port.
	c := newClient(t, addr)
	_, from, err := c.exchange(rawRQ(opRRQ, "empty.txt", "octet"))
	if err != nil {
		t.Fatal(err)
	}
	if from.String() == addr {
		t.Errorf("DATA came from the request port %s: RFC 1350 wants a new TID", from)
	}
	c.conn.WriteToUDP(binary.BigEndian.AppendUint16([]byte{0, opACK}, 1), from)

	log.wait(t, 7)
	st := srv.Stats()
	if st.Served != 7 {
		t.Errorf("Stats.Served = %d, want 7", st.Served)
	}
	var bytesServed int64
	for _, s := range log.list() {
		if s.Err == nil {
			bytesServed += s.Bytes
		}
	}
	if want := int64(len(folder.files["term61.default.loads"])); bytesServed < want {
		t.Errorf("OnServed reported %d bytes, want at least %d", bytesServed, want)
	}
}

func TestNamesAreNormalisedAndGeneratedFilesComeFirst(t *testing.T) {
	_, addr, folder, _ := newTestServer(t, nil)
	gen := newTestGenerator(t)
	want, err := gen.DeviceConfig(Device{Name: "SEP001122334455", Model: "7961", Protocol: "SCCP", DN: "1001"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want []byte
	}{
		{"SEP001122334455.cnf.xml", want},
		{"/SEP001122334455.cnf.xml", want},
		{"sep001122334455.CNF.XML", want},
		{`\SEP001122334455.cnf.xml`, want},
		{"XMLDefault.cnf.xml", gen.DefaultConfig()},
		{"xmldefault.cnf.xml", gen.DefaultConfig()},
		{`English_United_States\7960-font.xml`, folder.files["English_United_States/7960-font.xml"]},
		{"//English_United_States/./7960-font.xml", folder.files["English_United_States/7960-font.xml"]},
		// Unknown to the registrar, so the folder's static file.
		{"SEP00112233DEAD.cnf.xml", folder.files["SEP00112233DEAD.cnf.xml"]},
	} {
		got, _, err := newClient(t, addr).download(rawRQ(opRRQ, tc.name, "octet"))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestErrorAnswers(t *testing.T) {
	srv, addr, _, log := newTestServer(t, nil)
	for _, tc := range []struct {
		what string
		req  []byte
		code ErrorCode
	}{
		{"unknown file", rawRQ(opRRQ, "nothere.bin", "octet"), CodeNotFound},
		{"unknown device", rawRQ(opRRQ, "SEP999999999999.cnf.xml", "octet"), CodeNotFound},
		{"CTL", rawRQ(opRRQ, "CTLSEP001122334455.tlv", "octet"), CodeNotFound},
		{"ITL", rawRQ(opRRQ, "ITLSEP001122334455.tlv", "octet"), CodeNotFound},
		{"ITLFile", rawRQ(opRRQ, "ITLFile.tlv", "octet"), CodeNotFound},
		{"a folder", rawRQ(opRRQ, "English_United_States", "octet"), CodeNotFound},
		{"root", rawRQ(opRRQ, "/", "octet"), CodeNotFound},
		{"write", rawRQ(opWRQ, "SEP001122334455.cnf.xml", "octet"), CodeAccess},
		{"write of a new file", rawRQ(opWRQ, "new.bin", "octet", "tsize", "10"), CodeAccess},
		{"dot-dot", rawRQ(opRRQ, "../secret.txt", "octet"), CodeAccess},
		{"dot-dot inside", rawRQ(opRRQ, "English_United_States/../../secret.txt", "octet"), CodeAccess},
		{"backslash dot-dot", rawRQ(opRRQ, `..\secret.txt`, "octet"), CodeAccess},
		{"absolute symlink out", rawRQ(opRRQ, "abs-link-out.txt", "octet"), CodeAccess},
		{"relative symlink out", rawRQ(opRRQ, "rel-link-out.txt", "octet"), CodeAccess},
		{"through a symlink to the parent", rawRQ(opRRQ, "parent/secret.txt", "octet"), CodeAccess},
		{"control character", rawRQ(opRRQ, "a\x01b", "octet"), CodeAccess},
		{"mail mode", rawRQ(opRRQ, "empty.txt", "mail"), CodeIllegal},
		{"unknown mode", rawRQ(opRRQ, "empty.txt", "binary"), CodeIllegal},
		{"no mode", append(binary.BigEndian.AppendUint16(nil, opRRQ), "empty.txt\x00"...), CodeIllegal},
		{"no final NUL", append(binary.BigEndian.AppendUint16(nil, opRRQ), "empty.txt\x00octet"...), CodeIllegal},
		{"empty name", rawRQ(opRRQ, "", "octet"), CodeIllegal},
		{"option without value", rawRQ(opRRQ, "empty.txt", "octet", "blksize"), CodeIllegal},
		{"too long", rawRQ(opRRQ, strings.Repeat("a", 600), "octet"), CodeIllegal},
		{"unknown opcode", []byte{0, 9, 'x', 0}, CodeIllegal},
		{"ACK to the request port", []byte{0, opACK, 0, 1}, CodeUnknownTID},
		{"DATA to the request port", []byte{0, opDATA, 0, 1, 'x'}, CodeUnknownTID},
		{"blksize too small", rawRQ(opRRQ, "empty.txt", "octet", "blksize", "7"), CodeOptionRefused},
		{"blksize too large", rawRQ(opRRQ, "empty.txt", "octet", "blksize", "65465"), CodeOptionRefused},
		{"blksize not a number", rawRQ(opRRQ, "empty.txt", "octet", "blksize", "1k"), CodeOptionRefused},
		{"tsize not a number", rawRQ(opRRQ, "empty.txt", "octet", "tsize", "-1"), CodeOptionRefused},
		{"timeout zero", rawRQ(opRRQ, "empty.txt", "octet", "timeout", "0"), CodeOptionRefused},
		{"timeout too long", rawRQ(opRRQ, "empty.txt", "octet", "timeout", "256"), CodeOptionRefused},
		{"windowsize zero", rawRQ(opRRQ, "empty.txt", "octet", "windowsize", "0"), CodeOptionRefused},
		{"option twice", rawRQ(opRRQ, "empty.txt", "octet", "blksize", "1024", "BLKSIZE", "1024"), CodeOptionRefused},
	} {
		t.Run(tc.what, func(t *testing.T) {
			newClient(t, addr).wantError(tc.req, tc.code)
		})
	}
	st := srv.Stats()
	if st.NotFound != 7 {
		t.Errorf("Stats.NotFound = %d, want 7", st.NotFound)
	}
	if st.Served != 0 || st.Failed != 0 {
		t.Errorf("Stats = %+v: nothing should have been served", st)
	}
	refused := 0
	for _, s := range log.list() {
		var e *Error
		if !errors.As(s.Err, &e) {
			t.Errorf("OnServed %+v: Err is not a *Error", s)
		}
		if e != nil && e.Code != CodeNotFound {
			refused++
		}
	}
	if uint64(refused) != st.Refused {
		t.Errorf("OnServed reported %d refusals, Stats.Refused %d", refused, st.Refused)
	}
}

func TestErrorPacketsAreNotAnswered(t *testing.T) {
	srv, addr, _, _ := newTestServer(t, nil)
	c := newClient(t, addr)
	c.conn.WriteToUDP([]byte{0, opERROR, 0, 0, 'x', 0}, c.srv)
	c.conn.WriteToUDP([]byte{0}, c.srv)
	// The next request is answered first: nothing was sent for the two above.
	c.wantError(rawRQ(opRRQ, "nothere", "octet"), CodeNotFound)
	if st := srv.Stats(); st.Dropped != 2 || st.Requests != 3 {
		t.Errorf("Stats = %+v, want 3 requests, 2 dropped", st)
	}
}

func TestOptions(t *testing.T) {
	_, addr, folder, _ := newTestServer(t, nil)
	big := folder.files["term61.default.loads"]

	// tsize: the real size, whatever the client put in it.
	for _, ts := range []string{"0", "12345"} {
		got, oack, err := newClient(t, addr).download(rawRQ(opRRQ, "term61.default.loads", "octet", "tsize", ts))
		if err != nil {
			t.Fatal(err)
		}
		if oack["tsize"] != strconv.Itoa(len(big)) {
			t.Errorf("tsize %s: OACK %v, want tsize %d", ts, oack, len(big))
		}
		if !bytes.Equal(got, big) {
			t.Errorf("tsize %s: file differs", ts)
		}
	}
	// tsize of a generated file.
	_, oack, err := newClient(t, addr).download(rawRQ(opRRQ, "SEP001122334455.cnf.xml", "octet", "tsize", "0"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := newTestGenerator(t).DeviceConfig(Device{Name: "SEP001122334455", Model: "7961", Protocol: "SCCP", DN: "1001"})
	if oack["tsize"] != strconv.Itoa(len(want)) {
		t.Errorf("OACK %v, want tsize %d", oack, len(want))
	}

	// blksize: granted up to 512 (see the package documentation), the
	// blocks follow the OACK.
	got, oack, err := newClient(t, addr).download(rawRQ(opRRQ, "term61.default.loads", "octet", "blksize", "1428", "tsize", "0"))
	if err != nil {
		t.Fatal(err)
	}
	if oack["blksize"] != "512" || oack["tsize"] != strconv.Itoa(len(big)) {
		t.Errorf("OACK %v, want blksize 512 and tsize 2636", oack)
	}
	if !bytes.Equal(got, big) {
		t.Error("blksize 1428: file differs")
	}

	// timeout and windowsize are valid but not acknowledged; unknown
	// options are ignored (RFC 2347).
	got, oack, err = newClient(t, addr).download(rawRQ(opRRQ, "term61.default.loads", "octet",
		"timeout", "3", "windowsize", "16", "x-vendor", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if oack != nil {
		t.Errorf("OACK %v, want none (no option the server acknowledges)", oack)
	}
	if !bytes.Equal(got, big) {
		t.Error("timeout/windowsize: file differs")
	}
	// NUL padding after the mode is not an option.
	got, _, err = newClient(t, addr).download(append(rawRQ(opRRQ, "empty.txt", "octet"), 0, 0, 0))
	if err != nil || len(got) != 0 {
		t.Errorf("padded request: %q, %v", got, err)
	}
}

func TestNetasciiMode(t *testing.T) {
	_, addr, _, _ := newTestServer(t, nil)
	got, _, err := newClient(t, addr).download(rawRQ(opRRQ, "SCCP41.9-4-2SR3-1S.loads", "NetASCII"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "load file\r\n" {
		t.Errorf("netascii: got %q, want LF turned into CR LF", got)
	}
}

func TestRetransmittedRequestStartsNoSecondTransfer(t *testing.T) {
	srv, addr, folder, _ := newTestServer(t, nil)
	c := newClient(t, addr)
	req := rawRQ(opRRQ, "term61.default.loads", "octet")
	first, from, err := c.exchange(req)
	if err != nil {
		t.Fatal(err)
	}
	// The same request again from the same port while block 1 waits for
	// its ACK: dropped, the transfer under way answers. Block 1 is not
	// acknowledged before the server has read it (a loaded machine may
	// read its request port late; the transfer must still be under way).
	c.conn.WriteToUDP(req, c.srv)
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().Requests < 2 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	data := append([]byte(nil), first[4:]...)
	for block := uint16(1); ; block++ {
		c.conn.WriteToUDP(binary.BigEndian.AppendUint16([]byte{0, opACK}, block), from)
		if len(data) == len(folder.files["term61.default.loads"]) {
			break
		}
		p, src, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		if src.String() != from.String() {
			t.Fatalf("a packet from %s during the transfer from %s: a second transfer started", src, from)
		}
		if binary.BigEndian.Uint16(p[2:]) != block+1 {
			t.Fatalf("block %d, want %d", binary.BigEndian.Uint16(p[2:]), block+1)
		}
		data = append(data, p[4:]...)
	}
	if !bytes.Equal(data, folder.files["term61.default.loads"]) {
		t.Error("file differs")
	}
	// Answered after the retransmission was read (one socket, in order). A
	// write request, since it is answered even while the transfer from this
	// port lives on.
	c.wantError(rawRQ(opWRQ, "x", "octet"), CodeAccess)
	if st := srv.Stats(); st.Dropped != 1 {
		t.Errorf("Stats.Dropped = %d, want 1 (the retransmission)", st.Dropped)
	}
}

func TestSourceRateDropsTheFlood(t *testing.T) {
	srv, addr, _, _ := newTestServer(t, func(c *Config) { c.SourceRate, c.SourceBurst = 0.001, 5 })
	c := newClient(t, addr)
	for i := 0; i < 5; i++ {
		c.wantError(rawRQ(opRRQ, "nothere", "octet"), CodeNotFound)
	}
	for i := 0; i < 20; i++ {
		c.conn.WriteToUDP(rawRQ(opRRQ, "nothere", "octet"), c.srv)
	}
	// A trusted source or another address is not affected; 127.0.0.2 is
	// another source on Linux's loopback.
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer other.Close()
	c2 := &client{t: t, conn: other, srv: c.srv}
	c2.wantError(rawRQ(opRRQ, "nothere", "octet"), CodeNotFound)
	if st := srv.Stats(); st.NotFound != 6 || st.Dropped != 20 {
		t.Errorf("Stats = %+v, want 6 not found and 20 dropped", st)
	}
}

func TestTrustedSourcesAreNotLimited(t *testing.T) {
	srv, addr, _, _ := newTestServer(t, func(c *Config) {
		c.SourceRate, c.SourceBurst = 0.001, 1
		c.TrustedSources = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	c := newClient(t, addr)
	for i := 0; i < 10; i++ {
		c.wantError(rawRQ(opRRQ, "nothere", "octet"), CodeNotFound)
	}
	if st := srv.Stats(); st.Dropped != 0 {
		t.Errorf("Stats.Dropped = %d, want 0", st.Dropped)
	}
}

func TestMaxTransfers(t *testing.T) {
	// The transfer left hanging ends after one short timeout, so that the
	// server stops quickly at the end of the test.
	srv, addr, _, _ := newTestServer(t, func(c *Config) { c.MaxTransfers, c.Timeout, c.Retries = 1, 50*time.Millisecond, 1 })
	c1 := newClient(t, addr)
	// Block 1 of a transfer that is left waiting for its ACK.
	if _, _, err := c1.exchange(rawRQ(opRRQ, "term61.default.loads", "octet")); err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, addr)
	c2.conn.WriteToUDP(rawRQ(opRRQ, "empty.txt", "octet"), c2.srv)
	// An error needs no transfer: it is still answered, after the drop.
	c2.wantError(rawRQ(opWRQ, "x", "octet"), CodeAccess)
	if st := srv.Stats(); st.Dropped != 1 {
		t.Errorf("Stats.Dropped = %d, want 1", st.Dropped)
	}
}

// A Files error that is not about the file is answered code 0 without its
// text, and logged.
func TestFilesErrorsDoNotLeak(t *testing.T) {
	files := FilesFunc(func(context.Context, string, netip.AddrPort) (File, error) {
		return nil, errors.New("database password is hunter2")
	})
	_, addr := startServer(t, Config{Files: files})
	msg := newClient(t, addr).wantError(rawRQ(opRRQ, "x", "octet"), CodeUndefined)
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error message %q carries the internal error", msg)
	}
	// A *Error chooses the answer.
	files2 := FilesFunc(func(context.Context, string, netip.AddrPort) (File, error) {
		return nil, &Error{Code: CodeAccess, Message: "not for you"}
	})
	_, addr2 := startServer(t, Config{Files: files2})
	if msg := newClient(t, addr2).wantError(rawRQ(opRRQ, "x", "octet"), CodeAccess); msg != "not for you" {
		t.Errorf("message %q", msg)
	}
}

// Files.Open gets the normalised name and the client's address.
func TestFilesSeesNormalisedNameAndPeer(t *testing.T) {
	type call struct {
		name string
		peer netip.AddrPort
	}
	calls := make(chan call, 1)
	files := FilesFunc(func(_ context.Context, name string, peer netip.AddrPort) (File, error) {
		calls <- call{name, peer}
		return Bytes([]byte("ok")), nil
	})
	_, addr := startServer(t, Config{Files: files})
	c := newClient(t, addr)
	got, _, err := c.download(rawRQ(opRRQ, `\a\\b/./c.txt`, "octet"))
	if err != nil || string(got) != "ok" {
		t.Fatalf("got %q, %v", got, err)
	}
	cl := <-calls
	if cl.name != "a/b/c.txt" {
		t.Errorf("Files got %q, want a/b/c.txt", cl.name)
	}
	if cl.peer.String() != c.conn.LocalAddr().String() {
		t.Errorf("Files got peer %s, want %s", cl.peer, c.conn.LocalAddr())
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	srv, err := NewServer(Config{Files: Chain()})
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
	newClient(t, pc.LocalAddr().String()).wantError(rawRQ(opRRQ, "x", "octet"), CodeNotFound)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v after its context ended, want nil", err)
	}
	if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the socket is still open: %v", err)
	}
	if err := srv.Serve(context.Background(), pc); err == nil {
		t.Error("a second Serve was accepted")
	}
}

func TestListenErrorTellsPermission(t *testing.T) {
	old := listenPacket
	t.Cleanup(func() { listenPacket = old })
	listenPacket = func(context.Context, string, string) (net.PacketConn, error) {
		// What the kernel answers an unprivileged bind to port 69.
		return nil, &net.OpError{Op: "listen", Net: "udp", Err: os.NewSyscallError("bind", syscall.EACCES)}
	}
	srv, err := NewServer(Config{Files: Chain()})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.ListenAndServe(context.Background(), "")
	if !errors.Is(err, os.ErrPermission) || !errors.Is(err, syscall.EACCES) {
		t.Errorf("ListenAndServe: %v: errors.Is(os.ErrPermission) false", err)
	}
	if !strings.Contains(err.Error(), ":69") {
		t.Errorf("error %q does not name the address", err)
	}
	// Another failure is not a permission problem.
	listenPacket = old
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv2, _ := NewServer(Config{Files: Chain()})
	err = srv2.ListenAndServe(context.Background(), busy.LocalAddr().String())
	if err == nil || errors.Is(err, os.ErrPermission) {
		t.Errorf("ListenAndServe on a busy port: %v", err)
	}
}

func TestNewServerNeedsFiles(t *testing.T) {
	if _, err := NewServer(Config{}); err == nil {
		t.Error("NewServer without Files succeeded")
	}
}

func TestChain(t *testing.T) {
	notFound := FilesFunc(func(context.Context, string, netip.AddrPort) (File, error) { return nil, fs.ErrNotExist })
	denied := FilesFunc(func(context.Context, string, netip.AddrPort) (File, error) { return nil, fs.ErrPermission })
	ok := FilesFunc(func(context.Context, string, netip.AddrPort) (File, error) { return Bytes([]byte("x")), nil })
	ctx := context.Background()
	if f, err := Chain(notFound, ok).Open(ctx, "a", netip.AddrPort{}); err != nil || f == nil {
		t.Errorf("not found then ok: %v", err)
	}
	if _, err := Chain(denied, ok).Open(ctx, "a", netip.AddrPort{}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("denied then ok: %v, want the denial (only not-found falls through)", err)
	}
	if _, err := Chain(notFound, notFound).Open(ctx, "a", netip.AddrPort{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("not found twice: %v", err)
	}
}
