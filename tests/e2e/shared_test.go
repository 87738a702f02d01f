package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// startShared starts a registrar on the shared SQLite file, with a data
// directory (admin token) of its own, as CallManager node ("" for the
// autoregistration one).
func startShared(t *testing.T, store, node string) *Registrar {
	t.Helper()
	args := []string{"--store", "sqlite://" + store, "--shared-store"}
	if node != "" {
		args = append(args, "--node", node)
	}
	return startRegistrar(t, "", args...)
}

// replayJSON runs the replay binary and decodes its JSON output.
func replayJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	cmd := exec.Command(bin(t, "replay"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("replay %v: JSON: %v\n%s", args, err, out.String())
	}
}

// TestTwoRegistrarsOneStore runs two `registrar serve --shared-store` on
// the same SQLite file, as two CallManagers of the sample cluster: A is CM1
// (the autoregistration CallManager, by default), B is CM2. Unknown phones
// that reach B are refused as CallManager refuses them ("Error DBConfig");
// known phones register with either (both are in the Default pool's
// group), at the same time as A autoregisters new ones; each registrar acts
// on what the other wrote (a window opened through A; A lists what B
// registered), and every DN stays with one device.
func TestTwoRegistrarsOneStore(t *testing.T) {
	store := filepath.Join(t.TempDir(), "shared", "autoreg.db")
	a := startShared(t, store, "")
	b := startShared(t, store, "CM2")

	// The window is opened through A only.
	a.MustAdmin("autoreg", "open", "--reason", "two registrars, ticket 5", "--for", "30m", "--max", "90")

	// New phones through B: refused, CM2 is not the autoregistration CallManager.
	refused := b.phonesim(t, "--phones", "5", "--models", "7961", "--seed", "50")
	if refused.Registered != 0 || refused.Rejected["not_autoreg_callmanager"] != 5 {
		t.Fatalf("new phones through CM2: %+v, want 5 refused not_autoreg_callmanager", refused)
	}
	// The same phones through A: autoregistered.
	first := a.phonesim(t, "--phones", "5", "--models", "7961", "--seed", "50")
	if first.Registered != 5 {
		t.Fatalf("phones through A: %+v", first)
	}
	t.Run("ReadsFoldOthers", func(t *testing.T) {
		// B has made no decision since A's registrations: its admin reads
		// (the read models) fold the shared store themselves.
		devs := b.Devices()
		for _, p := range first.Phones {
			if d, ok := devs[p.Device]; !ok || d.DN != p.DN {
				t.Fatalf("B lists %s as %+v, A gave it DN %s (%d devices listed)", p.Device, d, p.DN, len(devs))
			}
		}
	})

	// Both at once: 30 new phones through A, the 5 known ones again
	// through B (they fail over to CM2).
	var wg sync.WaitGroup
	results := make([]simResult, 2)
	wg.Go(func() {
		results[0] = a.phonesim(t, "--phones", "30", "--models", "7961,7941", "--seed", "51", "--concurrency", "16")
	})
	wg.Go(func() {
		results[1] = b.phonesim(t, "--phones", "5", "--models", "7961", "--seed", "50", "--concurrency", "4")
	})
	wg.Wait()
	for i, res := range results {
		if n := []int{30, 5}[i]; res.Registered != n || res.Errors != 0 {
			t.Fatalf("registrar %c: %d registered (want %d), %d errors, rejected %v", 'A'+i, res.Registered, n, res.Errors, res.Rejected)
		}
	}
	want := map[string]string{} // device -> DN, as the phones were told
	dns := map[string]string{}  // DN -> device
	for _, res := range append(results, first) {
		for _, p := range res.Phones {
			if other, dup := dns[p.DN]; dup && other != p.Device {
				t.Fatalf("DN %s given to %s and %s", p.DN, other, p.Device)
			}
			dns[p.DN], want[p.Device] = p.Device, p.DN
		}
	}
	if len(want) != 35 {
		t.Fatalf("%d distinct phones registered, want 35", len(want))
	}

	// Each registrar's view holds the other's phones once it has decided
	// something since (closing the window through A; through B, a close
	// that finds it closed already).
	a.MustAdmin("autoreg", "close", "--reason", "batch done")
	t.Run("StatusFoldsOthers", func(t *testing.T) {
		// B has made no decision since A closed the window.
		var status struct {
			Open    bool `json:"open"`
			Devices int  `json:"devices"`
		}
		out := b.MustAdmin("status", "--format", "json")
		if err := json.Unmarshal([]byte(out), &status); err != nil {
			t.Fatal(err)
		}
		if status.Devices != 35 {
			t.Fatalf("B's status lists %d devices, want 35: %s", status.Devices, out)
		}
		if status.Open {
			t.Errorf("B shows the window A closed as open: %s", out)
		}
	})
	b.Admin("autoreg", "close", "--reason", "again") // refused: closed through A
	for name, r := range map[string]*Registrar{"A": a, "B": b} {
		devs := r.Devices()
		for dev, dn := range want {
			if d, ok := devs[dev]; !ok || d.DN != dn {
				t.Fatalf("registrar %s: device %s is %+v, want DN %s", name, dev, d, dn)
			}
		}
	}
	for _, r := range []*Registrar{a, b} {
		if err := r.Stop(); err != nil {
			t.Fatalf("SIGTERM: %v", err)
		}
	}

	// The store: the hash chain and the registrar's rules (no DN held by
	// two devices) hold, and the state read back matches the phones.
	var summary struct {
		Events            uint64 `json:"events"`
		Devices           int    `json:"devices"`
		Autoregistrations int    `json:"autoregistrations"`
	}
	replayJSON(t, &summary, "verify", "--store", store, "--format", "json")
	if summary.Devices != 35 || summary.Autoregistrations != 35 {
		t.Fatalf("replay verify: %+v, want 35 devices autoregistered", summary)
	}
	var state struct {
		Devices []struct {
			Name string `json:"name"`
			DN   string `json:"dn"`
		} `json:"devices"`
	}
	replayJSON(t, &state, "state", "--store", store, "--format", "json")
	held := map[string]string{}
	for _, d := range state.Devices {
		if other, dup := held[d.DN]; dup {
			t.Fatalf("the store gives DN %s to %s and %s", d.DN, other, d.Name)
		}
		held[d.DN] = d.Name
		if want[d.Name] != d.DN {
			t.Fatalf("the store gives %s DN %s, the phone was told %s", d.Name, d.DN, want[d.Name])
		}
	}
	if len(held) != 35 {
		t.Fatalf("the store holds %d devices with a DN, want 35", len(held))
	}
}

// TestStoreAndNodeClaims: a second registrar on the same SQLite file
// without --shared-store is refused at start, naming the flag, and writes
// nothing; two registrars claiming the same CallManager on one store: the
// second is refused, naming the first.
func TestStoreAndNodeClaims(t *testing.T) {
	store := filepath.Join(t.TempDir(), "shared", "autoreg.db")
	a := startShared(t, store, "")
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"no --shared-store", []string{"--store", "sqlite://" + store}, []string{"--shared-store", "another registrar"}},
		{"the same node", []string{"--store", "sqlite://" + store, "--shared-store"}, []string{"CallManager CM1 is already served", "pid"}},
		{"an unknown node", []string{"--store", "sqlite://" + store, "--shared-store", "--node", "CM9"}, []string{"node \"CM9\"", "not a CallManager"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--data", t.TempDir(), "--sip-addr", "127.0.0.1:0", "--sccp-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--tftp-addr", ""}, c.args...)
			out, err := exec.Command(bin(t, "registrar"), args...).CombinedOutput()
			if err == nil {
				t.Fatalf("started: %s", out)
			}
			for _, w := range c.want {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("the refusal does not say %q:\n%s", w, out)
				}
			}
		})
	}
	a.MustAdmin("status") // the first is unharmed
}
