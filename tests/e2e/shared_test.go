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
// directory (admin token) of its own.
func startShared(t *testing.T, store string) *Registrar {
	t.Helper()
	return startRegistrar(t, "", "--store", "sqlite://"+store, "--shared-store")
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
// the same SQLite file and registers phones through both at the same
// time: the DN range is one stream both append to, so optimistic
// concurrency must keep every DN held by one device; and each registrar
// must act on what the other wrote (a window opened through A lets phones
// register through B; A lists the phones registered through B).
func TestTwoRegistrarsOneStore(t *testing.T) {
	store := filepath.Join(t.TempDir(), "shared", "autoreg.db")
	a := startShared(t, store)
	b := startShared(t, store)

	// The window is opened through A only.
	a.MustAdmin("autoreg", "open", "--reason", "two registrars, ticket 5", "--for", "30m", "--max", "90")

	// B alone first: it sees A's window.
	first := b.phonesim(t, "--phones", "5", "--models", "7961", "--seed", "50")
	if first.Registered != 5 {
		t.Fatalf("phones through B after the window was opened through A: %+v", first)
	}
	t.Run("ReadsFoldOthers", func(t *testing.T) {
		// A has made no decision since B's registrations: its admin
		// reads (the read models) fold the shared store themselves.
		devs := a.Devices()
		for _, p := range first.Phones {
			if d, ok := devs[p.Device]; !ok || d.DN != p.DN {
				t.Fatalf("A lists %s as %+v, B gave it DN %s (%d devices listed)", p.Device, d, p.DN, len(devs))
			}
		}
	})

	// Both at once, 30 new phones each: every one takes a DN from the
	// same range.
	var wg sync.WaitGroup
	results := make([]simResult, 2)
	for i, r := range []*Registrar{a, b} {
		wg.Go(func() {
			results[i] = r.phonesim(t, "--phones", "30", "--models", "7961,7941", "--seed", []string{"51", "52"}[i], "--concurrency", "16")
		})
	}
	wg.Wait()
	for i, res := range results {
		if res.Registered != 30 || res.Errors != 0 {
			t.Fatalf("registrar %c: %d registered, %d errors, rejected %v", 'A'+i, res.Registered, res.Errors, res.Rejected)
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
	if len(want) != 65 {
		t.Fatalf("%d distinct phones registered, want 65", len(want))
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
		if status.Devices != 65 {
			t.Fatalf("B's status lists %d devices, want 65: %s", status.Devices, out)
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
	if summary.Devices != 65 || summary.Autoregistrations != 65 {
		t.Fatalf("replay verify: %+v, want 65 devices autoregistered", summary)
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
	if len(held) != 65 {
		t.Fatalf("the store holds %d devices with a DN, want 65", len(held))
	}
}
