package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
)

// events counts the events in the registrar's store, read-only, while it runs.
func (r *Registrar) events(t *testing.T) uint64 {
	t.Helper()
	s, err := sqlite.OpenReadOnly(context.Background(), filepath.Join(r.Data, "autoreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sipp against the real registrar: a new device gets 200 and a DN, a
// refresh keeps it and writes nothing, Contact: * unregisters, and a closed
// window gets 403 with a Warning.
func TestSippRegisterRefreshUnregisterClosed(t *testing.T) {
	need(t, "sipp", "sip-tester")
	t.Setenv("AUTOREG_SIP_AUTH_ALGORITHMS", "MD5,SHA-256") // sipp 3.6 answers the first challenge, and knows MD5 only
	r := startRegistrar(t, "")
	phones := macs("00AA00", 3)

	// Closed by default: 403 with the reason.
	trace, err := r.sipp(t, "refused.xml", phones[:1])
	if err != nil {
		t.Fatal(err)
	}
	if w := headerValues(trace, "Warning"); len(w) == 0 || !strings.Contains(w[0], "closed") {
		t.Errorf("Warning on a closed window: %q", w)
	}
	if len(r.Devices()) != 0 {
		t.Fatal("a refused phone became a device")
	}

	// The 7961 speaks SIP and SCCP: it autoregisters over SIP only once the
	// Auto Registration Phone Protocol says SIP (checklist step 1).
	r.MustAdmin("autoreg", "protocol", "sip")
	r.MustAdmin("autoreg", "open", "--reason", "sipp e2e", "--for", "10m")
	trace, err = r.sipp(t, "register.xml", phones)
	if err != nil {
		t.Fatal(err)
	}
	pau := headerValues(trace, "P-Associated-URI")
	if len(pau) != 3 || !strings.HasPrefix(pau[0], "<sip:1000@") || !strings.HasPrefix(pau[2], "<sip:1002@") {
		t.Errorf("P-Associated-URI: %q, want 1000, 1001, 1002", pau)
	}
	devs := r.Devices()
	for i, m := range phones {
		d := devs["SEP"+m]
		if want := fmt.Sprintf("%d", 1000+i); d.DN != want || d.Protocol != "SIP" || d.Model != "7961" || !d.Registered {
			t.Errorf("device %s: %+v, want DN %s, SIP, 7961, registered", m, d, want)
		}
	}

	// A refresh keeps the DN and writes no event.
	before := r.events(t)
	trace, err = r.sipp(t, "register.xml", phones[:1], "-base_cseq", "50")
	if err != nil {
		t.Fatal(err)
	}
	if pau := headerValues(trace, "P-Associated-URI"); len(pau) != 1 || !strings.HasPrefix(pau[0], "<sip:1000@") {
		t.Errorf("refresh P-Associated-URI: %q", pau)
	}
	if after := r.events(t); after != before {
		t.Errorf("a refresh wrote %d events", after-before)
	}

	// Contact: * with Expires: 0 unregisters; the device keeps its DN.
	if _, err := r.sippAuth(t, "unregister.xml", phones[:1]); err != nil {
		t.Fatal(err)
	}
	if d := r.Devices()["SEP"+phones[0]]; d.Registered || d.DN != "1000" {
		t.Errorf("after Contact: *: %+v, want unregistered with DN 1000", d)
	}

	// Closed again: a new phone is refused, a known one still registers.
	r.MustAdmin("autoreg", "close", "--reason", "done")
	if _, err := r.sipp(t, "refused.xml", macs("00BB00", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sipp(t, "register.xml", phones[:1], "-base_cseq", "1000"); err != nil {
		t.Fatalf("a known phone must register while closed: %v", err)
	}
}

// 150 phones in one window on the sample's 100-DN range: the first 100 get
// 1000..1099 in order and the window closes with the last DN (range
// exhausted); the 101st and the rest are refused, autoregistration being
// closed.
func TestSippExhaustsTheRangeAtThe101st(t *testing.T) {
	need(t, "sipp", "sip-tester")
	r := startRegistrar(t, "")
	r.MustAdmin("autoreg", "protocol", "sip")
	r.MustAdmin("autoreg", "open", "--reason", "150 phones")
	phones := macs("00CC00", 150)

	trace, err := r.sipp(t, "register.xml", phones[:100])
	if err != nil {
		t.Fatal(err)
	}
	if pau := headerValues(trace, "P-Associated-URI"); len(pau) != 100 || !strings.HasPrefix(pau[99], "<sip:1099@") {
		t.Fatalf("100 phones: %d answers, last %q", len(pau), pau[len(pau)-1])
	}
	trace, err = r.sipp(t, "refused.xml", phones[100:101])
	if err != nil {
		t.Fatal(err)
	}
	if w := headerValues(trace, "Warning"); len(w) != 1 || !strings.Contains(w[0], "autoregistration is closed") {
		t.Errorf("101st phone's Warning: %q, want autoregistration closed", w)
	}
	if _, err := r.sipp(t, "refused.xml", phones[101:]); err != nil {
		t.Fatal(err)
	}
	devs := r.Devices()
	if len(devs) != 100 {
		t.Errorf("%d devices, want 100", len(devs))
	}
	for name, d := range devs {
		// The SIP adapter's binding: the REGISTERs asked for 3600 s.
		if d.Expires.Before(time.Now().Add(3500*time.Second)) || d.Transport != "UDP" {
			t.Fatalf("%s: expires %v over %q, want about an hour from now over UDP", name, d.Expires, d.Transport)
		}
	}
	status := r.MustAdmin("status")
	if !strings.Contains(status, "closed") {
		t.Errorf("status after exhaustion:\n%s", status)
	}
	var windows []struct {
		Cause string `json:"close_cause"`
	}
	replayJSON(t, &windows, "windows", "--data", r.Data, "--format", "json")
	if len(windows) != 1 || windows[0].Cause != "range_exhausted" {
		t.Errorf("the window's close: %+v, want range_exhausted", windows)
	}
}
