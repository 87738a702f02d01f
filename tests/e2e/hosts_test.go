package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodesOnOtherHosts: a node on another host (there, a registrar on a
// store of its own stands for one sharing a KurrentDB store from another
// machine, where this host's locks see nothing) is up when its
// CallManager's SIP address answers, down when it stops; and a process
// claiming that node here is refused, naming the address that answers.
func TestNodesOnOtherHosts(t *testing.T) {
	nodes := []*node{
		{sip: fmt.Sprintf("127.0.0.1:%d", freePort(t)), sccp: fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		{sip: fmt.Sprintf("127.0.0.2:%d", freePort(t)), sccp: fmt.Sprintf("127.0.0.2:%d", freePort(t))},
	}
	cfg := clusterConfig(t, nodes, 30*time.Second)
	hostB := filepath.Join(t.TempDir(), "b", "autoreg.db") // the other host's store
	here := filepath.Join(t.TempDir(), "a", "autoreg.db")
	cm2 := startRegistrarAt(t, "", nodes[1].sip, nodes[1].sccp, "--config", cfg, "--store", "sqlite://"+hostB, "--shared-store", "--node", "CM2")
	cm1 := startRegistrarAt(t, "", nodes[0].sip, nodes[0].sccp, "--config", cfg, "--store", "sqlite://"+here, "--shared-store", "--node", "CM1")

	up := func() map[string]string {
		t.Helper()
		var res struct {
			Nodes []struct {
				Name    string `json:"name"`
				Up      bool   `json:"up"`
				Process string `json:"process"`
			} `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(cm1.MustAdmin("nodes", "--format", "json")), &res); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, n := range res.Nodes {
			if n.Up {
				out[n.Name] = n.Process
			}
		}
		return out
	}
	got := up()
	if !strings.Contains(got["CM1"], "pid") || got["CM2"] != "answers SIP at "+nodes[1].sip {
		t.Fatalf("nodes seen from CM1: %v", got)
	}

	// A third process claiming CM2 on this host's store: refused, though
	// no lock here says CM2 is taken.
	args := []string{"serve", "--config", cfg, "--data", t.TempDir(), "--store", "sqlite://" + here, "--shared-store", "--node", "CM2",
		"--sip-addr", fmt.Sprintf("127.0.0.3:%d", freePort(t)), "--sccp-addr", fmt.Sprintf("127.0.0.3:%d", freePort(t)),
		"--admin-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--tftp-addr", ""}
	out, err := exec.Command(bin(t, "registrar"), args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "CallManager CM2's address "+nodes[1].sip) || !strings.Contains(string(out), "answers SIP") {
		t.Fatalf("a second CM2 on another host: %v\n%s", err, out)
	}

	// The other host's CM2 stops: down.
	if err := cm2.Stop(); err != nil {
		t.Logf("CM2 stopped: %v", err)
	}
	if got := up(); got["CM2"] != "" {
		t.Fatalf("CM2 stopped, yet seen up: %v", got)
	}
}
