package tftp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/domain"
)

var (
	sccpPhone = Device{Name: "SEP001122334455", Model: "7961", Protocol: domain.SCCP, DN: "1001"}
	sipPhone  = Device{Name: "SEP0011223344AA", Model: "7961", Protocol: domain.SIP, DN: "1002"}
)

// xmllint checks doc is well-formed with libxml2 and returns the value of
// each XPath expression.
func xmllint(t *testing.T, doc []byte, xpaths ...string) []string {
	t.Helper()
	bin := lookPath(t, "xmllint", "libxml2-utils")
	path := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--noout", path).CombinedOutput(); err != nil {
		t.Fatalf("xmllint --noout: %v\n%s\n%s", err, out, doc)
	}
	var vals []string
	for _, x := range xpaths {
		out, err := exec.Command(bin, "--xpath", x, path).Output()
		if err != nil {
			t.Fatalf("xmllint --xpath %s: %v\n%s", x, err, doc)
		}
		vals = append(vals, strings.TrimSpace(string(out)))
	}
	return vals
}

func TestDeviceConfigSCCP(t *testing.T) {
	doc, err := newTestGenerator(t).DeviceConfig(sccpPhone)
	if err != nil {
		t.Fatal(err)
	}
	got := xmllint(t, doc,
		"string(/device/deviceProtocol)",
		"string(/device/devicePool/name)",
		"string(/device/devicePool/dateTimeSetting/timeZone)",
		"string(/device/devicePool/dateTimeSetting/ntps/ntp/name)",
		"count(/device/devicePool/callManagerGroup/members/member)",
		`string(/device/devicePool/callManagerGroup/members/member[@priority="0"]/callManager/processNodeName)`,
		`string(/device/devicePool/callManagerGroup/members/member[@priority="0"]/callManager/name)`,
		`string(/device/devicePool/callManagerGroup/members/member[@priority="0"]/callManager/ports/ethernetPhonePort)`,
		`string(/device/devicePool/callManagerGroup/members/member[@priority="0"]/callManager/ports/sipPort)`,
		`string(/device/devicePool/callManagerGroup/members/member[@priority="0"]/callManager/ports/securedSipPort)`,
		`string(/device/devicePool/callManagerGroup/members/member[@priority="1"]/callManager/processNodeName)`,
		`string(/device/devicePool/callManagerGroup/members/member[@priority="1"]/callManager/ports/ethernetPhonePort)`,
		"string(/device/loadInformation)",
		"count(/device/sipProfile)",
		"string-length(/device/versionStamp)",
	)
	want := []string{"SCCP", "Default", "Greenwich Standard Time", "192.0.2.123", "2",
		"192.0.2.10", "autoreg-1", "2000", "5060", "5061", "192.0.2.11", "2002",
		"SCCP41.9-4-2SR3-1S", "0", "16"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestDeviceConfigSIP(t *testing.T) {
	s := testSettings()
	s.MinExpires, s.MaxExpires = 120*time.Second, 1800*time.Second
	g, err := NewGenerator(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := g.DeviceConfig(sipPhone)
	if err != nil {
		t.Fatal(err)
	}
	got := xmllint(t, doc,
		"string(/device/deviceProtocol)",
		"string(/device/loadInformation)",
		`string(/device/sipProfile/sipLines/line[@button="1"]/featureID)`,
		`string(/device/sipProfile/sipLines/line[@button="1"]/name)`,
		`string(/device/sipProfile/sipLines/line[@button="1"]/contact)`,
		`string(/device/sipProfile/sipLines/line[@button="1"]/proxy)`,
		`string(/device/sipProfile/sipLines/line[@button="1"]/port)`,
		"string(/device/sipProfile/sipStack/timerRegisterExpires)",
		"string(/device/sipProfile/sipStack/timerRegisterDelta)",
		"string(/device/sipProfile/sipProxies/registerWithProxy)",
		"count(/device/sipProfile/sipLines/line)",
	)
	want := []string{"SIP", "SIP41.9-4-2SR3-1S", "9", "1002", "1002", "USECALLMANAGER", "5060", "1800", "5", "true", "1"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

// The registration expiry a SIP phone is told to ask for is one the
// registrar grants as asked: within [MinExpires, MaxExpires].
func TestRegisterExpiresWithinTheRegistrarBounds(t *testing.T) {
	for _, tc := range []struct {
		min, max, reg time.Duration
		want          string
		ok            bool
	}{
		{60 * time.Second, 3600 * time.Second, 0, "3600", true},
		{60 * time.Second, 3600 * time.Second, 600 * time.Second, "600", true},
		{60 * time.Second, 60 * time.Second, 0, "60", true},
		{60 * time.Second, 3600 * time.Second, 30 * time.Second, "", false},   // below min: 423
		{60 * time.Second, 3600 * time.Second, 7200 * time.Second, "", false}, // above max: shortened
		{3 * time.Second, 3 * time.Second, 0, "", false},                      // not above the delta
		{60 * time.Second, 30 * time.Second, 0, "", false},
		{0, 0, 0, "", false},
		{60 * time.Second, 3600 * time.Second, 90500 * time.Millisecond, "", false}, // not whole seconds
	} {
		s := testSettings()
		s.MinExpires, s.MaxExpires, s.RegisterExpires = tc.min, tc.max, tc.reg
		g, err := NewGenerator(s, nil)
		if (err == nil) != tc.ok {
			t.Errorf("min %v max %v register %v: error %v, want ok=%v", tc.min, tc.max, tc.reg, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		doc, err := g.DeviceConfig(sipPhone)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`<timerRegisterExpires>(\d+)</timerRegisterExpires>`).FindSubmatch(doc)
		if m == nil || string(m[1]) != tc.want {
			t.Errorf("min %v max %v register %v: timerRegisterExpires %q, want %s", tc.min, tc.max, tc.reg, m, tc.want)
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	g := newTestGenerator(t)
	doc := g.DefaultConfig()
	var xpaths, want []string
	for _, m := range domain.Catalogue() {
		if m.SCCPType == 0 {
			continue
		}
		el := fmt.Sprintf("/Default/loadInformation%d", m.SCCPType)
		xpaths = append(xpaths, "count("+el+")", "string("+el+"/@model)")
		want = append(want, "1", "Cisco "+m.Name)
	}
	xpaths = append(xpaths,
		"string(/Default/loadInformation7)", "string(/Default/loadInformation115)", "string(/Default/loadInformation30018)",
		"string(/Default/loadInformation434)", // 7942: no load configured
		"count(/Default/callManagerGroup/members/member)",
		`string(/Default/callManagerGroup/members/member[@priority="1"]/callManager/processNodeName)`,
		"string-length(/Default/versionStamp)",
	)
	want = append(want, "P00308010200", "SCCP41.9-4-2SR3-1S", "SCCP41.9-4-2SR3-1S", "", "2", "192.0.2.11", "16")
	got := xmllint(t, doc, xpaths...)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: got %q, want %q", xpaths[i], got[i], want[i])
		}
	}
	// Dual-protocol models get the load of the autoregistration protocol.
	s := testSettings()
	s.AutoRegistrationProtocol = domain.SIP
	g2, err := NewGenerator(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	got = xmllint(t, g2.DefaultConfig(), "string(/Default/loadInformation30018)", "string(/Default/loadInformation7)")
	if got[0] != "SIP41.9-4-2SR3-1S" || got[1] != "" {
		t.Errorf("SIP autoregistration: 7961 load %q (want the SIP one), 7960 load %q (none configured)", got[0], got[1])
	}
}

// The versionStamp is a hash of the rest of the file: it changes when
// anything changes, and only then.
func TestVersionStamp(t *testing.T) {
	g := newTestGenerator(t)
	stampOf := func(doc []byte) string {
		m := regexp.MustCompile(`<versionStamp>([0-9a-f]{16})</versionStamp>`).FindSubmatch(doc)
		if m == nil {
			t.Fatalf("no versionStamp in\n%s", doc)
		}
		return string(m[1])
	}
	a, _ := g.DeviceConfig(sccpPhone)
	a2, _ := g.DeviceConfig(sccpPhone)
	if !bytes.Equal(a, a2) {
		t.Error("the same inputs gave two files")
	}
	// It is the hash of the file with the stamp blanked.
	st := stampOf(a)
	blank := bytes.Replace(a, []byte(">"+st+"<"), []byte(">"+stampPlaceholder+"<"), 1)
	sum := sha256.Sum256(blank)
	if hex.EncodeToString(sum[:8]) != st {
		t.Errorf("versionStamp %s is not the hash of the rest", st)
	}
	// Every input that shows in the file changes it. (An SCCP file holds
	// no DN, nor the device's name: two SCCP phones of one model share a
	// file, and a stamp.)
	seen := map[string]Device{st: sccpPhone}
	for _, d := range []Device{
		{Name: sccpPhone.Name, Model: "7960", Protocol: domain.SCCP, DN: "1001"}, // another load
		{Name: sccpPhone.Name, Model: "7961", Protocol: domain.SIP, DN: "1001"},
		{Name: sccpPhone.Name, Model: "7961", Protocol: domain.SIP, DN: "1003"},
	} {
		doc, err := g.DeviceConfig(d)
		if err != nil {
			t.Fatal(err)
		}
		s := stampOf(doc)
		if prev, dup := seen[s]; dup {
			t.Errorf("%+v and %+v have the same versionStamp", d, prev)
		}
		seen[s] = d
	}
	same, _ := g.DeviceConfig(Device{Name: "SEP001122334456", Model: "7941", Protocol: domain.SCCP, DN: "2000"})
	if !bytes.Equal(same, a) {
		t.Error("two SCCP phones with the same load got different files")
	}
	// A change of settings changes it too.
	set := testSettings()
	set.CallManagers[0].Host = "192.0.2.99"
	g2, _ := NewGenerator(set, nil)
	b, _ := g2.DeviceConfig(sccpPhone)
	if stampOf(b) == st {
		t.Error("a new CallManager address kept the versionStamp")
	}
	if stampOf(g.DefaultConfig()) == stampOf(g2.DefaultConfig()) {
		t.Error("XmlDefault.cnf.xml kept its versionStamp across a new CallManager address")
	}
}

// Values are escaped: what comes from the registrar cannot break the XML.
func TestDeviceConfigEscapes(t *testing.T) {
	s := testSettings()
	s.DevicePool = `Pool <&> "one"`
	s.CallManagers[0].Name = "cm]]>&amp;"
	g, err := NewGenerator(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := g.DeviceConfig(Device{Name: "SEP001122334455", Model: "7961", Protocol: domain.SIP, DN: "10<01>&"})
	if err != nil {
		t.Fatal(err)
	}
	got := xmllint(t, doc, "string(/device/devicePool/name)", `string(/device/sipProfile/sipLines/line[@button="1"]/name)`,
		`string(/device/devicePool/callManagerGroup/members/member[@priority="0"]/callManager/name)`)
	if got[0] != `Pool <&> "one"` && got[0] != `Pool &lt;&amp;&gt; "one"` {
		t.Errorf("pool name %q", got[0])
	}
	if !strings.Contains(got[1], "10") || !strings.Contains(got[2], "cm]]") {
		t.Errorf("values %q", got)
	}
}

func TestDeviceConfigRefusesBadDevices(t *testing.T) {
	g := newTestGenerator(t)
	for _, d := range []Device{
		{Name: "SEP00112233445", Protocol: domain.SCCP},
		{Name: "sep001122334455", Protocol: domain.SCCP},
		{Name: "SEP001122334455", Protocol: "MGCP"},
	} {
		if _, err := g.DeviceConfig(d); err == nil {
			t.Errorf("%+v: no error", d)
		}
	}
	// A model without a load gets an empty loadInformation (keep the
	// firmware); a SIP device without DN gets no line.
	doc, err := g.DeviceConfig(Device{Name: "SEP001122334455", Model: "7975", Protocol: domain.SIP})
	if err != nil {
		t.Fatal(err)
	}
	got := xmllint(t, doc, "count(/device/loadInformation)", "string(/device/loadInformation)", "count(/device/sipProfile/sipLines/line)")
	if got[0] != "1" || got[1] != "" || got[2] != "0" {
		t.Errorf("got %q", got)
	}
}

func TestSettingsAreChecked(t *testing.T) {
	for what, mod := range map[string]func(*Settings){
		"no CallManager":           func(s *Settings) { s.CallManagers = nil },
		"CallManager without host": func(s *Settings) { s.CallManagers[1].Host = " " },
		"port out of range":        func(s *Settings) { s.CallManagers[0].SIPPort = 70000 },
		"unknown model":            func(s *Settings) { s.Loads[0].Model = "7999" },
		"protocol the model lacks": func(s *Settings) {
			s.Loads = append(s.Loads, Load{Model: "7902", Protocol: domain.SIP, Name: "x"})
		},
		"two loads for one model and protocol": func(s *Settings) { s.Loads = append(s.Loads, s.Loads[0]) },
		"unknown autoregistration protocol":    func(s *Settings) { s.AutoRegistrationProtocol = "H323" },
	} {
		s := testSettings()
		mod(&s)
		if _, err := NewGenerator(s, nil); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
}

func TestGeneratorOpen(t *testing.T) {
	ctx := context.Background()
	var asked []string
	devErr := errors.New("read model unavailable")
	g, err := NewGenerator(testSettings(), DevicesFunc(func(ctx context.Context, name string) (Device, bool, error) {
		asked = append(asked, name)
		if name == "SEP00000000DEAD" {
			return Device{}, false, devErr
		}
		return testDevices(ctx, name)
	}))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) ([]byte, error) {
		f, err := g.Open(ctx, name, netip.AddrPort{})
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	want, _ := g.DeviceConfig(sccpPhone)
	if got, err := read("sep001122334455.cnf.xml"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("lower-case name: %v", err)
	}
	if asked[0] != "SEP001122334455" {
		t.Errorf("Devices asked for %q, want the upper-case device name", asked[0])
	}
	for _, name := range []string{"SEP999999999999.cnf.xml", "SEP00112233445.cnf.xml", "SEP0011223344GG.cnf.xml", "SEP001122334455.cnf", "foo.cnf.xml", "SEP001122334455.cnf.xml.bak"} {
		if _, err := read(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want not found", name, err)
		}
	}
	if _, err := read("SEP00000000DEAD.cnf.xml"); !errors.Is(err, devErr) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read model error: %v", err)
	}
	// Without Devices only XmlDefault.cnf.xml is generated.
	g2, _ := NewGenerator(testSettings(), nil)
	if _, err := g2.Open(ctx, "SEP001122334455.cnf.xml", netip.AddrPort{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no Devices: %v", err)
	}
	if f, err := g2.Open(ctx, "XMLDefault.cnf.xml", netip.AddrPort{}); err != nil {
		t.Errorf("XmlDefault: %v", err)
	} else {
		f.Close()
	}
}

func TestSecurityFile(t *testing.T) {
	for name, want := range map[string]bool{
		"CTLSEP001122334455.tlv": true,
		"ITLSEP001122334455.tlv": true,
		"itlsep001122aabbcc.TLV": true,
		"ITLFile.tlv":            true,
		"CTLFile.tlv":            true,
		"itlfile.tlv":            true,
		"ITLSEP00112233445.tlv":  false,
		"XTLSEP001122334455.tlv": false,
		"ITLSEP001122334455.xml": false,
		"a/ITLFile.tlv":          false,
		".tlv":                   false,
		"":                       false,
	} {
		if got := SecurityFile(name); got != want {
			t.Errorf("SecurityFile(%q) = %v, want %v", name, got, want)
		}
	}
}
