package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

type simResult struct {
	Registered int            `json:"registered"`
	Rejected   map[string]int `json:"rejected"`
	Errors     int            `json:"errors"`
	Phones     []struct {
		Device   string `json:"device"`
		Model    string `json:"model"`
		Protocol string `json:"protocol"`
		DN       string `json:"dn"`
		Result   string `json:"result"`
		Reason   string `json:"reason"`
		Detail   string `json:"detail"`
		// With --tftp: the file it went by last, the load that file named,
		// the load the SCCP VersionMessage named.
		Config      string `json:"config"`
		Load        string `json:"load"`
		VersionLoad string `json:"version_load"`
	} `json:"phones"`
}

func (r *Registrar) phonesim(t *testing.T, args ...string) simResult {
	t.Helper()
	all := append([]string{"--sip", r.SIP, "--sccp", r.SCCP, "--format", "json"}, args...)
	cmd := exec.Command(bin(t, "phonesim"), all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("phonesim %v: %v\n%s\n%s", args, err, out.String(), errb.String())
	}
	var res simResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("phonesim JSON: %v\n%s", err, out.String())
	}
	return res
}

// The guide's mixed batch: with the protocol parameter at SCCP, install the
// SCCP phones; switch it to SIP, install the SIP phones. A 7902 speaks only
// SCCP and registers with it whatever the parameter says. Then read it all
// back through the admin CLI, after a restart of the registrar.
func TestMixedBatchEndToEnd(t *testing.T) {
	r := startRegistrar(t, "")
	r.MustAdmin("autoreg", "open", "--reason", "mixed batch, ticket 7", "--for", "30m", "--max", "20")

	sccp := r.phonesim(t, "--protocol", "sccp", "--phones", "4", "--models", "7961,7941", "--seed", "11")
	if sccp.Registered != 4 {
		t.Fatalf("SCCP batch: %+v", sccp)
	}
	// A SIP 7961 while the parameter says SCCP: refused for its protocol.
	wrong := r.phonesim(t, "--protocol", "sip", "--phones", "1", "--models", "7961", "--seed", "12")
	if wrong.Rejected["wrong_protocol"] != 1 {
		t.Fatalf("dual-protocol phone over the other protocol: %+v", wrong)
	}

	r.MustAdmin("autoreg", "protocol", "sip")
	sip := r.phonesim(t, "--protocol", "sip", "--phones", "3", "--models", "7961,7970", "--seed", "12")
	if sip.Registered != 3 {
		t.Fatalf("SIP batch: %+v", sip)
	}
	only := r.phonesim(t, "--protocol", "sccp", "--phones", "1", "--models", "7902", "--seed", "13")
	if only.Registered != 1 {
		t.Fatalf("7902 over SCCP under the SIP parameter: %+v", only)
	}
	r.MustAdmin("autoreg", "close", "--reason", "batch done")

	want := map[string]string{} // device -> protocol
	seenDN := map[string]bool{}
	for _, res := range []simResult{sccp, sip, only} {
		for _, p := range res.Phones {
			want[p.Device] = p.Protocol
			if seenDN[p.DN] {
				t.Errorf("DN %s given twice", p.DN)
			}
			seenDN[p.DN] = true
		}
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	r2 := startRegistrar(t, r.Data)
	devs := r2.Devices()
	if len(devs) != 8 {
		t.Errorf("%d devices after restart, want 8", len(devs))
	}
	for name, proto := range want {
		d, ok := devs[name]
		if !ok {
			t.Errorf("%s missing after restart", name)
			continue
		}
		if !equalFold(d.Protocol, proto) || d.Pool != "Default" || d.DN == "" {
			t.Errorf("%s: %+v, want protocol %s in pool Default with a DN", name, d, proto)
		}
	}
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }
