package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// storeWithPhones runs the registrar on a new data directory, registers a
// few phones and stops it cleanly (the WAL is checkpointed into the file).
// It returns the data directory.
func storeWithPhones(t *testing.T) string {
	t.Helper()
	p := newProc(t, t.TempDir())
	p.start()
	p.waitHealthy(15 * time.Second)
	r := p.registrar()
	r.MustAdmin("autoreg", "open", "--reason", "fault test")
	phones, err := runPhonesim(t, p.sip, p.sccp, "--mix", "--models", "7961,8961", "--phones", "6", "--seed", "77")
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range phones {
		if ph.Result != "registered" {
			t.Fatalf("phone %+v", ph)
		}
	}
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.logs.String())
	}
	return p.data
}

// refusesToStart starts the registrar on data and expects it to exit
// non-zero by itself, with a message containing every one of want, and
// without changing the store's file. It returns the output.
func refusesToStart(t *testing.T, data string, want ...string) string {
	t.Helper()
	return refusesToStartWith(t, data, nil, want...)
}

// refusesToStartWith is refusesToStart with extra arguments to serve.
func refusesToStartWith(t *testing.T, data string, extra []string, want ...string) string {
	t.Helper()
	path := filepath.Join(data, "autoreg.db")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := newProc(t, data, extra...)
	p.start()
	err, exited := p.waitExit(20 * time.Second)
	out := p.logs.String()
	if !exited {
		p.kill()
		t.Fatalf("the registrar did not refuse to start:\n%s", tail(out, 3000))
	}
	if err == nil {
		t.Fatalf("the registrar exited 0:\n%s", tail(out, 3000))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the message does not say %q:\n%s", w, tail(out, 3000))
		}
	}
	after, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the registrar changed %s (%d bytes before, %d after)", path, len(before), len(after))
	}
	if strings.Contains(out, "registrar serving") {
		t.Errorf("the registrar served before refusing:\n%s", tail(out, 3000))
	}
	return out
}

// A store cut short at start (pages missing at its end): the registrar
// refuses to start, names the file and what is missing, and writes nothing.
func TestRefusesTruncatedStore(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	data := storeWithPhones(t)
	path := filepath.Join(data, "autoreg.db")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()-4096); err != nil {
		t.Fatal(err)
	}
	out := refusesToStart(t, data, path, "truncated")
	t.Logf("truncated by a page: %s", lastLine(out))

	// Cut inside a page as well.
	if err := os.Truncate(path, info.Size()-4096-1000); err != nil {
		t.Fatal(err)
	}
	out = refusesToStart(t, data, path, "truncated")
	t.Logf("truncated inside a page: %s", lastLine(out))
}

// A byte of an event's payload changed on disk (a DN in an autoregistration):
// SQLite sees nothing wrong, the hash chain does. With --verify-history, or
// without a snapshot (the start then reads, and checks, the whole chain),
// the registrar refuses to start naming the file and the event's position,
// and writes nothing. With the snapshot its clean stop wrote, the start
// checks the chain from the snapshot on only (the event is before it, and
// what the registrar serves is the snapshot's, written before the change):
// it starts, and `replay verify` names the position.
func TestRefusesCorruptStore(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	data := storeWithPhones(t)
	path := filepath.Join(data, "autoreg.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"dn":"100`))
	if i < 0 {
		t.Fatal("no DN in the file")
	}
	j := i + len(`"dn":"100`)
	b[j] = '0' + (b[j]-'0'+5)%10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := refusesToStartWith(t, data, []string{"--verify-history"}, path, "--verify-history", "position")
	t.Logf("a DN changed, --verify-history: %s", lastLine(out))

	p := newProc(t, data)
	p.start()
	p.waitHealthy(15 * time.Second)
	if !strings.Contains(p.logs.String(), `"snapshot_position":`) || strings.Contains(p.logs.String(), `"snapshot_position":0,`) {
		t.Errorf("not started from the snapshot:\n%s", tail(p.logs.String(), 3000))
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command(bin(t, "replay"), "--data", data, "verify")
	if v, err := verify.CombinedOutput(); err == nil || !strings.Contains(string(v), "position 34") && !strings.Contains(string(v), "position") {
		t.Errorf("replay verify (%v):\n%s", err, v)
	}

	if err := os.Remove(path + ".snapshot"); err != nil {
		t.Fatal(err)
	}
	out = refusesToStart(t, data, path, "position")
	t.Logf("a DN changed, no snapshot: %s", lastLine(out))
}

// Events the file holds, correctly chained, that this build cannot read:
// an unknown type, a malformed payload. The registrar refuses to start
// naming the position and the type, and writes nothing.
func TestRefusesUndecodableEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	for _, tc := range []struct {
		name, typ, data string
	}{
		{"unknown type", "device.teleported", `{"schema_version":1,"data":{}}`},
		{"malformed payload", domain.TypeProtocolSet, `{"schema_version":1,"data":{"protocol":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := storeWithPhones(t)
			path := filepath.Join(data, "autoreg.db")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Append(ctx, eventstore.StreamAppend{Stream: domain.ClusterStream, Expected: eventstore.Any,
				Events: []eventstore.EventData{{ID: "bad-" + tc.typ, Type: tc.typ, Data: []byte(tc.data), Metadata: []byte(`{}`)}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			out := refusesToStart(t, data, path, fmt.Sprintf("position %d", res.Position), tc.typ)
			t.Logf("%s: %s", tc.name, lastLine(out))
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// sipPhone is a SIP phone on its own UDP socket (so its Contact, and so a
// refresh of its registration, stays the same), speaking raw REGISTERs.
type sipPhone struct {
	mac  string
	conn *net.UDPConn
	cseq int
}

func newSIPPhone(t *testing.T, mac string) *sipPhone {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sipPhone{mac: mac, conn: c}
}

// register sends a REGISTER of an 8961 (SIP only) and returns the final
// response's status and text ("" and 0 when none came in time).
func (p *sipPhone) register(target string, wait time.Duration) (int, string) {
	p.cseq++
	local := p.conn.LocalAddr().String()
	msg := fmt.Sprintf("REGISTER sip:%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-%[3]s-%[4]d\r\n"+
		"From: <sip:SEP%[3]s@%[1]s>;tag=t%[3]s\r\n"+
		"To: <sip:SEP%[3]s@%[1]s>\r\n"+
		"Call-ID: %[3]s@faulttest\r\n"+
		"CSeq: %[4]d REGISTER\r\n"+
		"Max-Forwards: 70\r\n"+
		"User-Agent: Cisco-CP8961G/9.4.2\r\n"+
		"Contact: <sip:%[3]s@%[2]s;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-%[3]s>\"\r\n"+
		"Expires: 3600\r\nContent-Length: 0\r\n\r\n", target, local, p.mac, p.cseq)
	to, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return 0, err.Error()
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 65536)
	for resend := time.Now(); time.Now().Before(deadline); {
		if !time.Now().Before(resend) {
			if _, err := p.conn.WriteToUDP([]byte(msg), to); err != nil {
				return 0, err.Error()
			}
			resend = time.Now().Add(time.Second)
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		res := string(buf[:n])
		var code int
		if _, err := fmt.Sscanf(res, "SIP/2.0 %d", &code); err != nil || code < 200 {
			continue
		}
		if !strings.Contains(res, fmt.Sprintf("CSeq: %d REGISTER", p.cseq)) {
			continue // an answer to an earlier request
		}
		return code, res
	}
	return 0, ""
}

// sipHeader is the value of a header in a raw SIP message.
func sipHeader(msg, name string) string {
	for line := range strings.SplitSeq(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// dnOf is the DN of a 200's P-Associated-URI, <sip:DN@host>.
func dnOf(msg string) string {
	v := sipHeader(msg, "P-Associated-URI")
	v = strings.TrimPrefix(strings.TrimPrefix(v, "<"), "sip:")
	dn, _, _ := strings.Cut(v, "@")
	return dn
}

// countLines counts the log lines that contain s.
func countLines(logs, s string) int {
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// storeFault is a way the store stops taking writes, and how it clears.
type storeFault struct {
	name string
	// setup prepares the data directory before the registrar starts.
	setup func(t *testing.T, data string)
	// start makes the store fail; it returns the function that clears it.
	start func(t *testing.T, data string) (clear func())
}

// The store's disk fills (a 2 MiB tmpfs), or another process holds the
// SQLite file's write lock: new phones are told to come back (SIP 503 with
// Retry-After, SCCP RegisterReject "busy"), the registrar logs it once per
// burst, a known SIP phone's refresh (no event needed) still gets 200 with
// its DN, and once the fault clears, registrations succeed again without a
// restart. Nothing acknowledged is lost: every phone acknowledged before,
// during and after the fault is in the store afterwards, with its DN.
func TestStoreFaultsWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	faults := []storeFault{
		{name: "disk full", setup: func(t *testing.T, data string) {
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", data).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", "-l", data).Run() })
		}, start: func(t *testing.T, data string) func() {
			filler := filepath.Join(data, "filler")
			f, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 64<<10)
			for {
				if _, err := f.Write(chunk); err != nil {
					break // ENOSPC
				}
			}
			f.Close()
			return func() {
				if err := os.Remove(filler); err != nil {
					t.Error(err)
				}
			}
		}},
		{name: "locked", start: func(t *testing.T, data string) func() {
			sq, err := exec.LookPath("sqlite3")
			if err != nil {
				t.Skip("sqlite3 not found: apt-get install -y sqlite3")
			}
			cmd := exec.Command(sq, filepath.Join(data, "autoreg.db"))
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// .timeout waits for the registrar's writer to let go; the marker
			// is printed only once the lock is held ("database is locked", the
			// error, must not pass for it).
			fmt.Fprintln(in, ".timeout 10000")
			fmt.Fprintln(in, "BEGIN EXCLUSIVE; SELECT 'exclusive-lock-held';")
			for deadline := time.Now().Add(15 * time.Second); !strings.Contains(out.String(), "exclusive-lock-held"); {
				if time.Now().After(deadline) {
					t.Fatalf("sqlite3 did not take the lock: %s", out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			return func() {
				fmt.Fprintln(in, "ROLLBACK;")
				in.Close()
				if err := cmd.Wait(); err != nil {
					t.Errorf("sqlite3: %v: %s", err, out.String())
				}
			}
		}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) { testStoreFault(t, f) })
	}
}

func testStoreFault(t *testing.T, f storeFault) {
	data := t.TempDir()
	if f.setup != nil {
		f.setup(t, data)
	}
	p := newProc(t, data)
	p.start()
	p.waitHealthy(15 * time.Second)
	r := p.registrar()
	r.MustAdmin("autoreg", "open", "--reason", "fault test")
	told := map[string]string{} // device -> DN, every acknowledged phone
	keep := func(phones []simPhone) (registered, busy int) {
		for _, ph := range phones {
			switch {
			case ph.Result == "registered":
				told[ph.Device] = ph.DN
				registered++
			case ph.Result == "rejected" && ph.Reason == "busy":
				busy++
			}
		}
		return registered, busy
	}

	// Known phones: SIP (raw, so that a refresh comes from the same
	// Contact) and SCCP.
	known := []*sipPhone{newSIPPhone(t, "00FA01000001"), newSIPPhone(t, "00FA01000002")}
	for _, ph := range known {
		code, res := ph.register(p.sip, 5*time.Second)
		if code != 200 || dnOf(res) == "" {
			t.Fatalf("known SIP phone %s: %d\n%s", ph.mac, code, res)
		}
		told["SEP"+ph.mac] = dnOf(res)
	}
	phones, err := runPhonesim(t, p.sip, p.sccp, "--phones", "3", "--seed", "501")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := keep(phones); n != 3 {
		t.Fatalf("known SCCP phones: %+v", phones)
	}

	before := len(p.logs.String())
	clear := f.start(t, data)
	cleared := false
	defer func() {
		if !cleared {
			clear()
		}
	}()

	// A burst of new phones, SCCP and SIP, while the store is down.
	phones, err = runPhonesim(t, p.sip, p.sccp, "--mix", "--models", "7961,8961", "--phones", "20",
		"--seed", "502", "--timeout", "15s", "--concurrency", "20")
	if err != nil {
		t.Fatal(err)
	}
	registered, busy := keep(phones)
	t.Logf("during the fault: %d registered, %d told to come back, of %d", registered, busy, len(phones))
	if busy == 0 {
		t.Errorf("no phone was told to come back during the fault: %+v", phones)
	}
	// A new SIP phone: 503 with a Retry-After.
	code, res := newSIPPhone(t, "00FA02000001").register(p.sip, 15*time.Second)
	if code == 200 {
		told["SEP00FA02000001"] = dnOf(res)
		t.Logf("a new SIP phone registered during the fault (the store had room)")
	} else if code != 503 || sipHeader(res, "Retry-After") == "" {
		t.Errorf("a new SIP phone during the fault: %d, want 503 with Retry-After\n%s", code, res)
	}
	// A known SIP phone refreshing: no event needed, served from memory.
	for _, ph := range known {
		start := time.Now()
		code, res := ph.register(p.sip, 15*time.Second)
		if code != 200 || dnOf(res) != told["SEP"+ph.mac] {
			t.Errorf("known SIP phone %s refreshing during the fault: %d (DN %q, want %s)\n%s", ph.mac, code, dnOf(res), told["SEP"+ph.mac], res)
		}
		t.Logf("known SIP phone refreshed in %v during the fault", time.Since(start).Round(time.Millisecond))
	}
	logs := p.logs.String()[before:]
	lines := countLines(logs, "store unavailable") + countLines(logs, "registrar busy")
	t.Logf("FIGURE fault %s: %d log lines about the store for %d phones told to come back", f.name, lines, busy)
	if busy > 0 && lines > 6 {
		t.Errorf("%d log lines for %d refusals: want one per burst (and its summary)\n%s", lines, busy, tail(logs, 3000))
	}

	clear()
	cleared = true
	// Without a restart, registrations succeed again (the phones that were
	// told to come back, coming back).
	deadline := time.Now().Add(20 * time.Second)
	for {
		phones, err = runPhonesim(t, p.sip, p.sccp, "--mix", "--models", "7961,8961", "--phones", "20",
			"--seed", "502", "--timeout", "10s")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := keep(phones)
		if n == len(phones) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the fault cleared, %d of %d registered: %+v\n%s", n, len(phones), phones, tail(p.logs.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Nothing acknowledged lost: a crash now, then the store and the
	// registrar agree with what the phones were told.
	p.kill()
	p.start()
	p.waitHealthy(15 * time.Second)
	lost := lostAfterRestart(t, p, r, told)
	t.Logf("FIGURE fault %s: %d acknowledged, %d lost", f.name, len(told), lost)
}

// lostAfterRestart stops p, restarted after a crash (r reaches it), and
// counts the phones told a DN (told) that the registrar, or the store as
// `replay state` reads it, no longer holds for them; `replay verify` must
// pass.
func lostAfterRestart(t *testing.T, p *proc, r *Registrar, told map[string]string) int {
	t.Helper()
	devs := r.Devices()
	if err := p.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	var state struct {
		Devices []struct {
			Name string `json:"name"`
			DN   string `json:"dn"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(r.replay(t, "state", "--format", "json")), &state); err != nil {
		t.Fatal(err)
	}
	inStore := map[string]string{}
	for _, d := range state.Devices {
		inStore[d.Name] = d.DN
	}
	lost := 0
	for dev, dn := range told {
		if inStore[dev] != dn || devs[dev].DN != dn {
			lost++
			t.Errorf("%s was told DN %s: after the restart the store says %q, the registrar %q", dev, dn, inStore[dev], devs[dev].DN)
		}
	}
	if v := r.replay(t, "verify"); !strings.HasPrefix(v, "OK") {
		t.Errorf("replay verify:\n%s", v)
	}
	return lost
}
