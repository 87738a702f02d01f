package e2e

import (
	"bytes"
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
)

// tftpGet fetches name from the registrar's TFTP server with curl; ok is
// false when the server answered "file not found" (curl exits 68).
func tftpGet(t *testing.T, r *Registrar, name string) (body []byte, ok bool) {
	t.Helper()
	cmd := exec.Command("curl", "-sS", "--max-time", "10", "tftp://"+r.TFTP+"/"+name)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, isExit := err.(*exec.ExitError); isExit && ee.ExitCode() == 68 {
		return nil, false
	}
	if err != nil {
		t.Fatalf("curl tftp %s: %v: %s", name, err, errb.String())
	}
	return out.Bytes(), true
}

// wellFormed checks an XML document with xmllint.
func wellFormed(t *testing.T, name string, doc []byte) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint is missing (libxml2-utils): .ci/run installs it")
		}
		t.Logf("xmllint not found (apt-get install -y libxml2-utils): %s not checked", name)
		return
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("xmllint", "--noout", path).CombinedOutput(); err != nil {
		t.Fatalf("%s is not well-formed XML: %v\n%s\n%s", name, err, out, doc)
	}
}

// TestPhoneBootPath walks the guide's boot path against the real
// registrar and a real TFTP client (curl): an unknown phone's
// SEP<MAC>.cnf.xml is not found, XmlDefault.cnf.xml lists the
// autoregistration group's CallManagers and every model's load; the phone
// autoregisters; from then on its own SEP<MAC>.cnf.xml exists, with its
// device pool's CallManagers (and, for a SIP phone, its DN on line 1).
func TestPhoneBootPath(t *testing.T) {
	need(t, "curl", "curl")
	r := startRegistrar(t, "")
	r.MustAdmin("autoreg", "open", "--reason", "boot path")

	sccpPhone := "SEP00AA55000061"
	macs := filepath.Join(t.TempDir(), "macs.txt")
	if err := os.WriteFile(macs, []byte("00AA55000061\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := tftpGet(t, r, sccpPhone+".cnf.xml"); ok {
		t.Fatalf("%s.cnf.xml served for a phone the registrar does not know", sccpPhone)
	}
	def, ok := tftpGet(t, r, "XmlDefault.cnf.xml")
	if !ok {
		t.Fatal("XmlDefault.cnf.xml not found")
	}
	wellFormed(t, "XmlDefault.cnf.xml", def)
	for _, want := range []string{"<name>CM1</name>", "<name>CM2</name>", "<loadInformation30018", "SCCP41.9-4-2SR3-1S"} {
		if !bytes.Contains(def, []byte(want)) {
			t.Errorf("XmlDefault.cnf.xml has no %s:\n%s", want, def)
		}
	}
	for _, name := range []string{"CTL" + sccpPhone + ".tlv", "ITL" + sccpPhone + ".tlv", "ITLFile.tlv", "../etc/passwd"} {
		if _, ok := tftpGet(t, r, name); ok {
			t.Errorf("%s served, want file not found", name)
		}
	}

	res := r.phonesim(t, "--macs", macs, "--models", "7961")
	if res.Registered != 1 || res.Phones[0].Device != sccpPhone {
		t.Fatalf("phonesim: %+v (want %s registered)", res, sccpPhone)
	}
	own, ok := tftpGet(t, r, sccpPhone+".cnf.xml")
	if !ok {
		t.Fatalf("%s.cnf.xml not found after it autoregistered", sccpPhone)
	}
	wellFormed(t, sccpPhone+".cnf.xml", own)
	// The administrator sees the very file the phone was served.
	if shown := r.MustAdmin("config-file", sccpPhone); shown != string(own) {
		t.Errorf("admin config-file differs from the TFTP file:\n%s\n---\n%s", shown, own)
	}
	if out, err := r.Admin("config-file", "SEP00AA55000099"); err == nil || !strings.Contains(err.Error(), "XmlDefault.cnf.xml") {
		t.Errorf("config-file for an unknown phone: %q, %v", out, err)
	}
	metrics := r.metrics(t)
	for _, want := range []string{`autoreg_tftp_files_total{kind="device",result="not_found"} 1`, `autoreg_tftp_files_total{kind="device",result="sent"} 1`,
		`autoreg_tftp_files_total{kind="default",result="sent"} 1`, `autoreg_tftp_files_total{kind="security",result="not_found"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	for _, want := range []string{"<deviceProtocol>SCCP</deviceProtocol>", "<processNodeName>127.0.0.1</processNodeName>", "<name>CM1</name>", "SCCP41.9-4-2SR3-1S"} {
		if !bytes.Contains(own, []byte(want)) {
			t.Errorf("%s.cnf.xml has no %s:\n%s", sccpPhone, want, own)
		}
	}
}

// TestBootFromTFTPAlone: 100 phones of mixed models, told nothing but the
// registrar's TFTP address (as DHCP option 150 tells a phone), boot as the
// guide's autoregistration path has it: SEP<MAC>.cnf.xml not found,
// XmlDefault.cnf.xml names CM1 and each model's load, they register with
// CM1 (the SCCP phones hold the whole conversation after RegisterAck), get
// their DN, and their own SEP<MAC>.cnf.xml exists from then on and names
// the same load as Device Defaults (and, over SCCP, as the VersionMessage).
func TestBootFromTFTPAlone(t *testing.T) {
	r := startRegistrar(t, "")
	_, sipPort, _ := strings.Cut(r.SIP, ":")
	_, sccpPort, _ := strings.Cut(r.SCCP, ":")
	// CM1 is where this registrar listens: the files tell the phones so.
	r.MustAdmin("callmanager", "set", "CM1", "--autoreg-enabled", "--host", "127.0.0.1", "--sip-port", sipPort, "--sccp-port", sccpPort)
	r.MustAdmin("device-defaults", "8961", "--load-sip", "sip8961.9-4-2SR3-1")
	r.MustAdmin("autoreg", "open", "--reason", "boot from TFTP")

	// Phones 1, 3, 5 ... are 8961s (SIP only); the others alternate 7961,
	// 7941 and 7960 over SCCP, the cluster's autoregistration protocol.
	res := r.phonesim(t, "--tftp", r.TFTP, "--phones", "100", "--mix", "--models", "7961,8961,7941,8961,7960,8961", "--seed", "61", "--timeout", "20s")
	want := map[string]string{"7961": "SCCP41.9-4-2SR3-1S", "7941": "SCCP41.9-4-2SR3-1S", "7960": "P00308010200", "8961": "sip8961.9-4-2SR3-1"}
	if res.Registered != 100 || res.Errors != 0 {
		t.Fatalf("registered %d of 100, errors %d, rejected %v", res.Registered, res.Errors, res.Rejected)
	}
	dns := map[string]bool{}
	protocols := map[string]int{}
	for _, p := range res.Phones {
		protocols[p.Protocol]++
		if p.Config != p.Device+".cnf.xml" {
			t.Errorf("%s went by %q, not its own file, after autoregistering", p.Device, p.Config)
		}
		if p.Load != want[p.Model] {
			t.Errorf("%s (%s): its file names load %q, Device Defaults %q", p.Device, p.Model, p.Load, want[p.Model])
		}
		// The VersionMessage's field is 16 bytes, NUL included: a longer
		// load name is cut there (the file carries it whole).
		if short := p.Load[:min(len(p.Load), 15)]; p.Protocol == "sccp" && p.VersionLoad != short {
			t.Errorf("%s: VersionMessage says %q, its file %q", p.Device, p.VersionLoad, p.Load)
		}
		if p.Detail != "" {
			t.Errorf("%s: %s", p.Device, p.Detail)
		}
		if p.DN == "" || dns[p.DN] {
			t.Errorf("%s: DN %q missing or given twice", p.Device, p.DN)
		}
		dns[p.DN] = true
	}
	if protocols["sccp"] != 50 || protocols["sip"] != 50 {
		t.Errorf("protocols %v, want 50 each", protocols)
	}
	metrics := r.metrics(t)
	for _, want := range []string{`autoreg_tftp_files_total{kind="device",result="not_found"} 100`,
		`autoreg_tftp_files_total{kind="default",result="sent"} 100`, `autoreg_tftp_files_total{kind="device",result="sent"} 100`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// TestResetDevice: `registrar admin device reset` records who asked and
// tells the phone over its protocol: an SCCP phone on its connection, a SIP
// phone at its contact; a phone not registered here is recorded, not told.
func TestResetDevice(t *testing.T) {
	r := startRegistrar(t, "")
	r.MustAdmin("autoreg", "open", "--reason", "reset test")
	macs := filepath.Join(t.TempDir(), "macs.txt")
	if err := os.WriteFile(macs, []byte("00AA55000071\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sim := exec.Command(bin(t, "phonesim"), "--sccp", r.SCCP, "--macs", macs, "--models", "7961", "--hold", "20s", "--format", "json")
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	for i := 0; ; i++ {
		if d, ok := r.Devices()["SEP00AA55000071"]; ok && d.Registered {
			break
		}
		if i > 100 {
			t.Fatal("the SCCP phone did not register")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := r.metrics(t); !strings.Contains(m, "autoreg_sccp_connections 1\n") {
		t.Errorf("one phone held over SCCP, /metrics: %s", grepLines(m, "autoreg_sccp_connections"))
	}
	out := r.MustAdmin("device", "reset", "SEP00AA55000071")
	if !strings.Contains(out, "the phone was told") || !strings.Contains(out, "device.reset_requested") {
		t.Fatalf("reset of a registered SCCP phone:\n%s", out)
	}
	_ = sim.Process.Kill()
	_ = sim.Wait()
	for i := 0; ; i++ { // the connection closed: the registrar unregisters it
		if d := r.Devices()["SEP00AA55000071"]; !d.Registered {
			break
		}
		if i > 100 {
			t.Fatal("the phone stayed registered after its connection closed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; ; i++ { // the connection is gone once its handler has ended
		m := r.metrics(t)
		if strings.Contains(m, "autoreg_sccp_connections 0\n") {
			break
		}
		if i > 50 {
			t.Fatalf("the phone's connection closed, /metrics: %s", grepLines(m, "autoreg_sccp_connections"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	out = r.MustAdmin("device", "reset", "SEP00AA55000071", "--restart")
	if !strings.Contains(out, "the phone was not told") {
		t.Fatalf("restart of a phone with no connection:\n%s", out)
	}
	var events []struct {
		Type  string `json:"type"`
		Actor string `json:"actor"`
	}
	replayJSON(t, &events, "events", "--data", r.Data, "--type", "device.reset_requested", "--format", "json")
	if len(events) != 2 || events[0].Actor != "admin:admin" {
		t.Fatalf("reset events: %+v, want two by admin:admin", events)
	}
}

// TestResetMovesPhoneToNewPool: the guide's checklist step 8 on a cluster
// of two CallManagers sharing a store. A 7961 (SCCP) and an 8961 (SIP)
// booted from TFTP alone autoregister with CM1 (the Default pool's group);
// the administrator moves them to a pool whose group is CM2 alone and
// resets them (SCCP Reset, SIP NOTIFY check-sync): each boots again, its
// file now names CM2, and it registers there, keeping its DN.
func TestResetMovesPhoneToNewPool(t *testing.T) {
	canBind(t, "127.0.0.2")
	nodes := []*node{
		{sip: fmt.Sprintf("127.0.0.1:%d", freePort(t)), sccp: fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		{sip: fmt.Sprintf("127.0.0.2:%d", freePort(t)), sccp: fmt.Sprintf("127.0.0.2:%d", freePort(t))},
	}
	var cms []string
	for i, n := range nodes {
		host, sip, _ := strings.Cut(n.sip, ":")
		_, sccp, _ := strings.Cut(n.sccp, ":")
		cms = append(cms, fmt.Sprintf("    - {name: CM%d, autoreg_enabled: %v, host: %s, sip_port: %s, sccp_port: %s}", i+1, i == 0, host, sip, sccp))
	}
	cfg := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfg, []byte(`log: {format: json, level: info}
sccp: {keepalive: 1s, trusted_sources: [127.0.0.0/8]}
sip: {trusted_sources: [127.0.0.0/8]}
cluster:
  protocol: sccp
  callmanagers:
`+strings.Join(cms, "\n")+`
  groups:
    - {name: Default, callmanagers: [CM1], autoreg: true}
    - {name: Second, callmanagers: [CM2]}
  partitions: [{name: Internal}, {name: Emergency}]
  css: [{name: Autoreg, partitions: [Internal, Emergency]}]
  pools:
    - {name: Default, group: Default, css: Autoreg}
    - {name: Moved, group: Second, css: Autoreg}
  default_pool: Default
  autoreg_css: Autoreg
  range: {start: "2000", end: "2099", partition: Internal}
  device_defaults: [{model: "7961", load_sccp: SCCP41.9-4-2SR3-1S}, {model: "8961", load_sip: sip8961.9-4-2SR3-1}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	store := "sqlite://" + filepath.Join(t.TempDir(), "cluster", "autoreg.db")
	for i, n := range nodes {
		n.r = startRegistrarAt(t, "", n.sip, n.sccp, "--config", cfg, "--store", store, "--shared-store", "--node", fmt.Sprintf("CM%d", i+1))
	}
	cm1 := nodes[0].r
	cm1.MustAdmin("autoreg", "open", "--reason", "reset moves a phone")

	devs := []string{"SEP00AA55000081", "SEP00AA55000082"} // a 7961 over SCCP, an 8961 over SIP
	macs := filepath.Join(t.TempDir(), "macs.txt")
	if err := os.WriteFile(macs, []byte("00AA55000081\n00AA55000082\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sim := exec.Command(bin(t, "phonesim"), "--tftp", cm1.TFTP, "--macs", macs, "--mix", "--models", "7961,8961", "--hold", "8s", "--format", "json")
	var out, errb bytes.Buffer
	sim.Stdout, sim.Stderr = &out, &errb
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Wait() }()
	t.Cleanup(func() { _ = sim.Process.Kill() })
	waitFor := func(dev, what string, ok func(Device) bool) Device {
		t.Helper()
		for i := 0; ; i++ {
			d, found := cm1.Devices()[dev]
			if found && ok(d) {
				return d
			}
			if i > 100 {
				t.Fatalf("%s %s: device %+v\nphonesim: %s", dev, what, d, errb.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	first := map[string]Device{}
	for _, dev := range devs {
		first[dev] = waitFor(dev, "registered with CM1", func(d Device) bool { return d.Registered && d.Node == "CM1" })
	}
	for _, dev := range devs {
		cm1.MustAdmin("device", "set", dev, "--pool", "Moved")
		if own := cm1.MustAdmin("config-file", dev); !strings.Contains(own, "<processNodeName>127.0.0.2</processNodeName>") || strings.Contains(own, "127.0.0.1") {
			t.Fatalf("%s's file after the move does not name CM2 alone:\n%s", dev, own)
		}
		if o := cm1.MustAdmin("device", "reset", dev); !strings.Contains(o, "the phone was told") {
			t.Fatalf("reset %s: %s", dev, o)
		}
	}
	for _, dev := range devs {
		moved := waitFor(dev, "registered with CM2 after the reset", func(d Device) bool { return d.Registered && d.Node == "CM2" })
		if moved.DN != first[dev].DN || moved.Pool != "Moved" {
			t.Errorf("%s after the move: DN %s (was %s), pool %s", dev, moved.DN, first[dev].DN, moved.Pool)
		}
	}

	if err := <-simDone; err != nil {
		t.Fatalf("phonesim: %v\n%s\n%s", err, out.String(), errb.String())
	}
	var res struct {
		Phones []struct {
			Device   string `json:"device"`
			Protocol string `json:"protocol"`
			Node     string `json:"node"`
			Config   string `json:"config"`
			Load     string `json:"load"`
			Resets   int    `json:"resets"`
		} `json:"phones"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Phones) != 2 {
		t.Fatalf("phonesim JSON: %v\n%s", err, out.String())
	}
	for _, p := range res.Phones {
		want := nodes[1].sccp
		if p.Protocol == "sip" {
			want = nodes[1].sip
		}
		if p.Node != want || p.Resets != 1 || p.Config != p.Device+".cnf.xml" || p.Load == "" {
			t.Errorf("phonesim: %+v, want node %s after one reset, by its own file, with its load", p, want)
		}
	}
}

// metrics is the registrar's /metrics (loopback: no token).
func (r *Registrar) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(r.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// grepLines are the lines of text that contain s.
func grepLines(text, s string) []string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, s) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}
