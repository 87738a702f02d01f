package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sip"
	"github.com/autoreg/autoreg/domain"
)

func runSim(t *testing.T, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Phones) != o.Phones && len(o.Devices) == 0 {
		t.Fatalf("%d phones reported, want %d", len(res.Phones), o.Phones)
	}
	return res
}

// describe renders the phones for failure messages.
func describe(r *Result) string {
	var b strings.Builder
	for _, p := range r.Phones {
		fmt.Fprintf(&b, "\n  %s %s %s dn=%q %s %s %s", p.Device, p.Model, p.Protocol, p.DN, p.Result, p.Reason, p.Detail)
	}
	return b.String()
}

func TestMixedPhonesRegister(t *testing.T) {
	reg := startRegistrar(t, true)
	o := reg.options()
	o.Phones, o.Protocol, o.Models, o.Seed = 10, ProtocolMix, []string{"7961", "8961"}, 7
	res := runSim(t, o)

	if res.Registered != 10 || res.Errors != 0 || len(res.Rejected) != 0 {
		t.Fatalf("registered %d, rejected %v, errors %d; want all 10 registered%s", res.Registered, res.Rejected, res.Errors, describe(res))
	}
	var dns []string
	for i, p := range res.Phones {
		wantModel, wantProto := "7961", ProtocolSCCP
		if i%2 == 1 {
			wantModel, wantProto = "8961", ProtocolSIP
		}
		if p.Model != wantModel || p.Protocol != wantProto || p.Result != ResultRegistered {
			t.Errorf("phone %d: %+v, want a %s over %s", i, p, wantModel, wantProto)
		}
		d, ok := reg.svc.Device(p.Device)
		if !ok || !d.Exists || d.DN != p.DN || d.Model != wantModel || !strings.EqualFold(string(d.Protocol), wantProto) {
			t.Errorf("registrar has %+v for phone %+v", d, p)
		}
		dns = append(dns, p.DN)
	}
	slices.Sort(dns)
	want := []string{"1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009"}
	if !slices.Equal(dns, want) {
		t.Errorf("DNs %v, want %v", dns, want)
	}
	if res.Rate <= 0 || res.ElapsedMS <= 0 || res.Latency.Max <= 0 || res.Latency.P50 > res.Latency.Max {
		t.Errorf("rate %v, elapsed %v, latency %+v", res.Rate, res.ElapsedMS, res.Latency)
	}
	if res.ExitCode() != 0 {
		t.Errorf("exit code %d", res.ExitCode())
	}

	// The same seed again: the same phones, registered already, same DNs.
	again := runSim(t, o)
	for i, p := range again.Phones {
		if p.Device != res.Phones[i].Device || p.DN != res.Phones[i].DN || p.Result != ResultRegistered {
			t.Errorf("second run, phone %d: %+v, first run %+v", i, p, res.Phones[i])
		}
	}
}

func TestWindowClosed(t *testing.T) {
	reg := startRegistrar(t, false)
	o := reg.options()
	o.Phones, o.Protocol, o.Models = 6, ProtocolMix, []string{"7961", "9971"}
	res := runSim(t, o)
	if res.Registered != 0 || res.Errors != 0 || res.Rejected["window_closed"] != 6 || len(res.Rejected) != 1 {
		t.Fatalf("registered %d, rejected %v, errors %d; want 6 window_closed%s", res.Registered, res.Rejected, res.Errors, describe(res))
	}
	protocols := map[string]int{}
	for _, p := range res.Phones {
		protocols[p.Protocol]++
		if p.Result != ResultRejected || p.Reason != "window_closed" || p.DN != "" || p.Detail == "" {
			t.Errorf("phone %+v", p)
		}
	}
	if protocols[ProtocolSIP] != 3 || protocols[ProtocolSCCP] != 3 {
		t.Errorf("protocols %v, want 3 of each", protocols)
	}
	if res.ExitCode() != 0 {
		t.Errorf("rejections answer: exit code %d, want 0", res.ExitCode())
	}
}

func TestRejectionReasons(t *testing.T) {
	reg := startRegistrar(t, true)
	cases := []struct {
		protocol, model, reason string
	}{
		{ProtocolSIP, "7961", "wrong_protocol"},  // dual-protocol, the cluster's protocol is SCCP
		{ProtocolSIP, "7902", "wrong_protocol"},  // SCCP only
		{ProtocolSIP, "1234", "unknown_model"},   // not in the catalogue
		{ProtocolSCCP, "1234", "unknown_model"},  // device type 0
		{ProtocolSCCP, "8961", "unknown_model"},  // no SCCP firmware: device type 0
		{ProtocolSCCP, "7902", ResultRegistered}, // the basic RegisterMessage
	}
	for i, c := range cases {
		t.Run(c.protocol+"-"+c.model, func(t *testing.T) {
			o := reg.options()
			o.Phones, o.Protocol, o.Models, o.Seed = 1, c.protocol, []string{c.model}, uint64(100+i)
			res := runSim(t, o)
			p := res.Phones[0]
			if c.reason == ResultRegistered {
				if p.Result != ResultRegistered || p.DN == "" {
					t.Errorf("phone %+v, want registered", p)
				}
				return
			}
			if p.Result != ResultRejected || p.Reason != c.reason || res.Rejected[c.reason] != 1 {
				t.Errorf("phone %+v, rejected %v; want %s", p, res.Rejected, c.reason)
			}
		})
	}
}

func TestSIPOverTCPHoldAndUnregister(t *testing.T) {
	reg := startRegistrar(t, true)
	o := reg.options()
	o.SIPAddr, o.SIPTransport = reg.sipTCP, "tcp"
	o.Phones, o.Protocol, o.Models, o.Seed = 5, ProtocolSIP, []string{"8961", "9951", "9971"}, 3
	o.Hold, o.Unregister = 300*time.Millisecond, true
	res := runSim(t, o)
	if res.Registered != 5 || res.Unregistered != 5 || res.Lost != 0 {
		t.Fatalf("registered %d, unregistered %d, lost %d%s", res.Registered, res.Unregistered, res.Lost, describe(res))
	}
	for _, p := range res.Phones {
		if d, ok := reg.svc.Device(p.Device); !ok || !d.Exists || d.Registered || d.DN != p.DN {
			t.Errorf("after unregistering, the registrar has %+v for %+v", d, p)
		}
	}
}

func TestSIPHoldRefreshes(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a SIP binding to expire")
	}
	reg := startRegistrar(t, true, func(c *sip.Config) {
		c.MinExpires, c.SweepInterval = time.Second, 100*time.Millisecond
	})
	o := reg.options()
	o.Phones, o.Protocol, o.Models, o.Seed = 2, ProtocolSIP, []string{"8961"}, 6
	// Without refreshes the bindings would expire after 2.1s at the latest.
	o.Expires, o.Hold = 2, 3*time.Second
	res := runSim(t, o)
	if res.Registered != 2 || res.Lost != 0 {
		t.Fatalf("registered %d, lost %d%s", res.Registered, res.Lost, describe(res))
	}
	for _, p := range res.Phones {
		if _, ok := reg.registered(p.Device); !ok {
			t.Errorf("%s not registered after a hold longer than its expiry", p.Device)
		}
	}
}

func TestSCCPHoldAndUnregister(t *testing.T) {
	reg := startRegistrar(t, true)
	o := reg.options()
	o.Phones, o.Models, o.Seed = 3, []string{"7941", "7960"}, 4
	o.Hold = 200 * time.Millisecond
	o.Unregister = true
	res := runSim(t, o)
	if res.Registered != 3 || res.Unregistered != 3 || res.Lost != 0 || res.ExitCode() != 0 {
		t.Fatalf("registered %d, unregistered %d, lost %d%s", res.Registered, res.Unregistered, res.Lost, describe(res))
	}
	for _, p := range res.Phones {
		if _, registered := reg.registered(p.Device); registered {
			t.Errorf("%s still registered after UnregisterMessage", p.Device)
		}
	}
}

func TestLeftRegistered(t *testing.T) {
	// Without --unregister, SIP bindings stay and SCCP connections close.
	reg := startRegistrar(t, true)
	o := reg.options()
	o.Phones, o.Protocol, o.Models, o.Seed = 2, ProtocolMix, []string{"7961", "8961"}, 5
	res := runSim(t, o)
	if res.Registered != 2 || res.Unregistered != 0 {
		t.Fatalf("registered %d, unregistered %d%s", res.Registered, res.Unregistered, describe(res))
	}
	sccpPhone, sipPhone := res.Phones[0].Device, res.Phones[1].Device
	if _, ok := reg.registered(sipPhone); !ok {
		t.Errorf("SIP phone %s not registered", sipPhone)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := reg.registered(sccpPhone); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SCCP phone %s still registered after its connection closed", sccpPhone)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRate(t *testing.T) {
	reg := startRegistrar(t, true)
	o := reg.options()
	o.Phones, o.Rate = 5, 20 // one every 50ms: the last starts at 200ms
	res := runSim(t, o)
	if res.Registered != 5 {
		t.Fatalf("registered %d%s", res.Registered, describe(res))
	}
	if res.ElapsedMS < 200 {
		t.Errorf("5 phones at 20/s took %vms, want at least 200", res.ElapsedMS)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUnreachable(t *testing.T) {
	o := Options{
		SIPAddr: closedAddr(t, "udp"), SCCPAddr: closedAddr(t, "tcp"),
		Phones: 4, Protocol: ProtocolMix, Models: []string{"7961"}, Timeout: 300 * time.Millisecond,
	}
	res := runSim(t, o)
	if res.Errors != 4 || res.Registered != 0 || res.ExitCode() != 1 {
		t.Fatalf("errors %d, registered %d, exit %d%s", res.Errors, res.Registered, res.ExitCode(), describe(res))
	}
	if res.ErrorKinds["connection_refused"] != 2 || res.ErrorKinds["timeout"] != 2 {
		t.Errorf("error kinds %v, want 2 connection_refused (SCCP) and 2 timeout (SIP over UDP)", res.ErrorKinds)
	}

	// SIP over TCP is refused like SCCP.
	o.SIPAddr, o.SIPTransport, o.Protocol, o.Phones = closedAddr(t, "tcp"), "tcp", ProtocolSIP, 2
	res = runSim(t, o)
	if res.Errors != 2 || res.ErrorKinds["connection_refused"] != 2 {
		t.Errorf("SIP over TCP: errors %d, kinds %v%s", res.Errors, res.ErrorKinds, describe(res))
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Options{SCCPAddr: closedAddr(t, "tcp"), Phones: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 3 || res.ErrorKinds["cancelled"] != 3 || res.ExitCode() != 1 {
		t.Errorf("errors %d, kinds %v", res.Errors, res.ErrorKinds)
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"protocol":    {Protocol: "h323", Phones: 1},
		"transport":   {SIPTransport: "tls", Phones: 1},
		"phones":      {Phones: -1},
		"few MACs":    {Phones: 3, Devices: []string{"SEP001122334455"}},
		"bad device":  {Devices: []string{"001122334455"}},
		"model":       {Phones: 1, Models: []string{"79 61"}},
		"rate":        {Phones: 1, Rate: -1},
		"concurrency": {Phones: 1, Concurrency: -1},
		"expires":     {Phones: 1, Expires: -5},
		"sip addr":    {Phones: 1, Protocol: ProtocolSIP, SIPAddr: "localhost"},
		"sccp addr":   {Phones: 1, SCCPAddr: ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Run(context.Background(), o)
			var ue *UsageError
			if err == nil || !asUsage(err, &ue) {
				t.Errorf("Run: %v, want a *UsageError", err)
			}
		})
	}
}

func asUsage(err error, target **UsageError) bool {
	ue, ok := err.(*UsageError)
	*target = ue
	return ok
}

func TestPlan(t *testing.T) {
	o, err := Options{Phones: 6, Protocol: ProtocolMix, Models: []string{"7961", "7902", "8961"}, Seed: 9}.normalise()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range plan(o) {
		got = append(got, s.model+"/"+s.protocol)
	}
	want := []string{"7961/sccp", "7902/sccp", "8961/sip", "7961/sip", "7902/sccp", "8961/sip"}
	if !slices.Equal(got, want) {
		t.Errorf("plan %v, want %v", got, want)
	}
	for in, want := range map[string]string{"7961": "7961", "CP-7961G": "7961", "7941g": "7941", "1234": "1234", " 7902 ": "7902"} {
		if got := normaliseModel(in); got != want {
			t.Errorf("normaliseModel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRejectionReasonTexts(t *testing.T) {
	for _, reason := range domain.RejectReasons {
		short := (&domain.Rejection{Device: "SEP001122334455", Reason: reason}).Short()
		if got := rejectionReason(short); got != string(reason) {
			t.Errorf("SCCP %q: %q, want %s", short, got, reason)
		}
		bare := (&domain.Rejection{Device: "SEP001122334455", Reason: reason}).Error()
		if got := rejectionReason(bare); got != string(reason) {
			t.Errorf("SIP %q: %q, want %s", bare, got, reason)
		}
	}
	for text, want := range map[string]string{
		"SEP001122334455 may not register: autoregistration is closed: an administrator must open a window":    "window_closed",
		"SEP001122334455 may not register: cluster security is in mixed mode, which disables autoregistration": "mixed_mode",
		"SEP001122334455 may not register: the autoregistration range's starting DN equals its ending DN":      "range_disabled",
		`SEP001122334455 may not register: model "1234" is not in the catalogue`:                               "unknown_model",
		"SEP001122334455 may not register: the device did not say its model":                                   "unknown_model",
		"SEP001122334455 may not register: model 7902 does not speak SIP":                                      "wrong_protocol",
		"SEP001122334455 may not register: SEP001122334455 is configured for SCCP, not SIP":                    "wrong_protocol",
		"SEP001122334455 may not register: every DN from 1000 to 1099 is in use":                               "range_exhausted",
		"Registrar busy, try again":                 "busy",
		"Invalid device name":                       "invalid_device",
		"something the registrar made up yesterday": "something the registrar made up yesterday",
	} {
		if got := rejectionReason(text); got != want {
			t.Errorf("rejectionReason(%q) = %q, want %q", text, got, want)
		}
	}
	if got := warningText(`399 autoreg.test "SEP1 may not register: say \"hi\""`); got != `SEP1 may not register: say "hi"` {
		t.Errorf("warningText: %q", got)
	}
}

// seed1First is the first phone of seed 1.
const seed1First = "SEP38C8606C8B46"

func TestSeededDevices(t *testing.T) {
	a, b := SeededDevices(1, 50), SeededDevices(1, 50)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different devices")
	}
	if short := SeededDevices(1, 10); !slices.Equal(short, a[:10]) {
		t.Errorf("the first 10 of seed 1 differ from the first 10 of 50")
	}
	// A fixed point: docs and scripts may name the phones of seed 1.
	if a[0] != seed1First {
		t.Errorf("seed 1's first device is %s, want %s", a[0], seed1First)
	}
	seen := map[string]bool{}
	for _, d := range a {
		if !domain.ValidDeviceName(d) || seen[d] {
			t.Errorf("device %s invalid or repeated", d)
		}
		seen[d] = true
		if octet, _ := strconv.ParseUint(d[3:5], 16, 8); octet&1 != 0 {
			t.Errorf("%s is a multicast MAC", d)
		}
	}
	other := SeededDevices(2, 50)
	for _, d := range other {
		if seen[d] {
			t.Errorf("seeds 1 and 2 share %s", d)
		}
	}
}

func TestReadDevices(t *testing.T) {
	in := `# phones for the third floor
001122AABBCC
00:11:22:aa:bb:cd   # with colons
00-11-22-AA-BB-CE
0011.22aa.bbcf

sep0011223344ff
`
	got, err := ReadDevices(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"SEP001122AABBCC", "SEP001122AABBCD", "SEP001122AABBCE", "SEP001122AABBCF", "SEP0011223344FF"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for in, msg := range map[string]string{
		"001122AABBCC\n0011.22aa.bbcc\n": "line 2: MAC 001122AABBCC repeats line 1",
		"# x\n\nnot-a-mac\n":             "line 3:",
	} {
		if _, err := ReadDevices(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ReadDevices(%q): %v, want %q", in, err, msg)
		}
	}
}

func TestSIPOverIPv6(t *testing.T) {
	reg := startRegistrar(t, true)
	pc, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv, err := sip.NewServer(sip.Config{Registrar: reg.svc})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeUDP(context.Background(), pc) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	o := reg.options()
	o.SIPAddr, o.Phones, o.Protocol, o.Models = pc.LocalAddr().String(), 1, ProtocolSIP, []string{"8961"}
	res := runSim(t, o)
	p := res.Phones[0]
	if p.Result != ResultRegistered || p.DN != "1000" {
		t.Fatalf("over %s: %+v", o.SIPAddr, p)
	}
	if d, _ := reg.svc.Device(p.Device); !strings.Contains(d.Address, "@[::1]:") {
		t.Errorf("Contact %q, want the IPv6 loopback in brackets", d.Address)
	}
}
