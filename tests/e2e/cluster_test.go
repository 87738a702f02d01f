package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// clusterConfig is the sample's cluster with three CallManagers, one per
// loopback address, every one in the Default group (CM1 first, flagged for
// autoregistration), keepalives of a second and SIP registrations of two,
// so that a failover is seen in seconds.
func clusterConfig(t *testing.T, nodes []*node, keepalive time.Duration) string {
	t.Helper()
	var cms, names []string
	for i, n := range nodes {
		host, sip, _ := strings.Cut(n.sip, ":")
		_, sccp, _ := strings.Cut(n.sccp, ":")
		cms = append(cms, fmt.Sprintf("    - {name: CM%d, autoreg_enabled: %v, host: %s, sip_port: %s, sccp_port: %s}", i+1, i == 0, host, sip, sccp))
		names = append(names, fmt.Sprintf("CM%d", i+1))
	}
	// One SIP authentication secret for every node, as on several hosts
	// (KurrentDB) an administrator copies it to each: without, each
	// node's passwords would differ.
	secret := filepath.Join(t.TempDir(), "sip-auth.key")
	cfg := `log: {format: json, level: info}
sip:
  addr: ":5060"
  transports: [udp, tcp]
  min_expires: 1s
  max_expires: 3600s
  trusted_sources: [127.0.0.0/8]
  auth: {secret_file: ` + secret + `}
tftp: {trusted_sources: [127.0.0.0/8]}  # every phone of the test fetches its file from 127.0.0.1
sccp:
  addr: ":2000"
  keepalive: ` + keepalive.String() + `
  missed_keepalives: 2
  trusted_sources: [127.0.0.0/8]
  max_conns_per_source: -1  # every phone of the test comes from 127.0.0.1
cluster:
  protocol: sccp
  security: nonsecure
  callmanagers:
` + strings.Join(cms, "\n") + `
  groups:
    - {name: Default, callmanagers: [` + strings.Join(names, ", ") + `], autoreg: true}
  partitions: [{name: Internal}, {name: Emergency}]
  patterns: [{pattern: "911", partition: Emergency}]
  css: [{name: Autoreg, partitions: [Internal, Emergency]}]
  pools: [{name: Default, group: Default, css: Autoreg}]
  default_pool: Default
  autoreg_css: Autoreg
  range: {start: "10000", end: "19999", partition: Internal}
`
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// node is a CallManager of the test's cluster: its addresses, then its process.
type node struct {
	sip, sccp string
	r         *Registrar
}

// TestClusterFailover: three registrars, CM1 to CM3 on 127.0.0.1 to
// 127.0.0.3, share one store. Phones with the CallManager list register
// with CM1 (SCCP phones keep a standby connection to CM2). CM1 is killed
// (SIGKILL): every SCCP phone is registered with CM2 within two keepalive
// intervals, every SIP phone at its next refresh; when CM1 is back, the
// SCCP phones return to it. No registration is lost, no DN is held twice,
// and replay verify passes. The failover times are logged (p50, p99).
func TestClusterFailover(t *testing.T) {
	clusterFailover(t, "sqlite://"+filepath.Join(t.TempDir(), "cluster", "autoreg.db"))
}

// TestClusterFailoverKurrentDB is TestClusterFailover with the nodes on a
// KurrentDB store, as on several hosts.
func TestClusterFailoverKurrentDB(t *testing.T) {
	url := os.Getenv("AUTOREG_KURRENTDB_URL")
	if url == "" {
		t.Skip("no KurrentDB server: run a KurrentDB 25.1+ node (docs/kurrentdb.md) and set AUTOREG_KURRENTDB_URL=kurrentdb://host:2113?tls=false to run the cluster test on it")
	}
	clusterFailover(t, url)
}

func clusterFailover(t *testing.T, storeURL string) {
	phones := 100 // per protocol; AUTOREG_CLUSTER_PHONES for more
	if v := os.Getenv("AUTOREG_CLUSTER_PHONES"); v != "" {
		fmt.Sscan(v, &phones)
	}
	keepalive := 2 * time.Second // AUTOREG_CLUSTER_KEEPALIVE for another
	if v := os.Getenv("AUTOREG_CLUSTER_KEEPALIVE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("AUTOREG_CLUSTER_KEEPALIVE: %v", err)
		}
		keepalive = d
	}
	// The nodes on one store append one decision at a time (each folds
	// the others' first): a burst of n phones takes a few ms each.
	burst := time.Duration(phones) * 10 * time.Millisecond
	nodes := make([]*node, 3)
	for i := range nodes {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		nodes[i] = &node{sip: fmt.Sprintf("%s:%d", ip, freePort(t)), sccp: fmt.Sprintf("%s:%d", ip, freePort(t))}
	}
	cfg := clusterConfig(t, nodes, keepalive)
	for i, n := range nodes {
		n.r = startRegistrarAt(t, "", n.sip, n.sccp, "--config", cfg, "--store", storeURL, "--shared-store", "--node", fmt.Sprintf("CM%d", i+1))
	}
	cm1, cm2 := nodes[0].r, nodes[1].r
	cm1.MustAdmin("autoreg", "open", "--reason", "cluster failover test", "--for", "30m")

	// The phones: SCCP-only 7902s and SIP-only 8961s, alternately, held
	// registered (keepalives, refreshes) while the test kills CM1.
	var sccpCMs, sipCMs []string
	for _, n := range nodes {
		sccpCMs, sipCMs = append(sccpCMs, n.sccp), append(sipCMs, n.sip)
	}
	sim := exec.Command(bin(t, "phonesim"), "--mix", "--models", "7902,8961", "--phones", fmt.Sprint(2*phones),
		"--callmanagers", strings.Join(sccpCMs, ","), "--sip-callmanagers", strings.Join(sipCMs, ","),
		// A SIP phone moving to CM2 registers a new contact: it answers the
		// challenge with its file's credentials (CM3 stays up throughout).
		"--auth-tftp", nodes[2].r.TFTP,
		"--expires", "2", "--timeout", "2s", "--hold", (30*time.Second + 6*keepalive + 6*burst).String(), "--concurrency", "32", "--seed", "77", "--format", "json")
	var simOut, simErr bytes.Buffer
	sim.Stdout, sim.Stderr = &simOut, &simErr
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Wait() }()
	t.Cleanup(func() { _ = sim.Process.Kill() })

	waitDevices := func(r *Registrar, what string, within time.Duration, ok func(map[string]Device) bool) map[string]Device {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			devs := r.Devices()
			if ok(devs) {
				return devs
			}
			if time.Now().After(deadline) {
				by := map[string]int{}
				for _, d := range devs {
					by[fmt.Sprintf("%s registered=%v node=%s", d.Protocol, d.Registered, d.Node)]++
				}
				t.Fatalf("%s: not after %v (%d devices: %v)\nphonesim: %s", what, within, len(devs), by, simErr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	onNode := func(want string, proto string) func(map[string]Device) bool {
		return func(devs map[string]Device) bool {
			n := 0
			for _, d := range devs {
				if d.Protocol == proto && d.Registered && d.Node == want {
					n++
				}
			}
			return n == phones
		}
	}
	before := waitDevices(cm2, "every phone registered with CM1", 30*time.Second+2*burst, func(devs map[string]Device) bool {
		return onNode("CM1", "SCCP")(devs) && onNode("CM1", "SIP")(devs)
	})
	dns := map[string]string{}
	for name, d := range before {
		dns[name] = d.DN
	}

	killed := time.Now()
	nodes[0].r.Kill()
	// SCCP: within two keepalive intervals (2 s each); SIP: at the next
	// refresh (every second: half of 2 s), once the REGISTER to CM1 has
	// timed out (phonesim --timeout 2s). Both with a margin for the test's
	// polling and for the shared store, where the registrars append one
	// decision at a time.
	waitDevices(cm2, "every SCCP phone on CM2", 2*keepalive+3*time.Second+burst, onNode("CM2", "SCCP"))
	after := waitDevices(cm2, "every SIP phone on CM2", 3*time.Second+3*time.Second+burst, onNode("CM2", "SIP"))
	for _, proto := range []string{"SCCP", "SIP"} {
		var took []time.Duration
		for _, d := range after {
			if d.Protocol == proto {
				took = append(took, d.LastSeen.Sub(killed))
			}
		}
		slices.Sort(took)
		t.Logf("%s failover after SIGKILL of CM1: p50 %v, p99 %v, max %v (%d phones)", proto,
			took[len(took)/2].Round(time.Millisecond), took[len(took)*99/100].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))
	}
	for name, d := range after {
		if d.DN != dns[name] {
			t.Fatalf("%s has DN %s after the failover, had %s", name, d.DN, dns[name])
		}
	}

	// CM1 back: the SCCP phones fall back to it (they try it every
	// keepalive interval), the SIP phones at their next refresh.
	nodes[0].r.Restart()
	waitDevices(cm1, "every SCCP phone back on CM1", 2*keepalive+10*time.Second+burst, onNode("CM1", "SCCP"))
	waitDevices(cm1, "every SIP phone back on CM1", 10*time.Second+burst, onNode("CM1", "SIP"))

	if err := <-simDone; err != nil {
		t.Fatalf("phonesim: %v\n%s\n%s", err, simErr.String(), simOut.String())
	}
	var res struct {
		Registered int `json:"registered"`
		Lost       int `json:"lost"`
		Phones     []struct {
			Device    string `json:"device"`
			Protocol  string `json:"protocol"`
			Node      string `json:"node"`
			Failovers int    `json:"failovers"`
			Fallbacks int    `json:"fallbacks"`
		} `json:"phones"`
	}
	if err := json.Unmarshal(simOut.Bytes(), &res); err != nil {
		t.Fatalf("phonesim JSON: %v\n%s", err, simOut.String())
	}
	if res.Registered != 2*phones || res.Lost != 0 {
		t.Fatalf("phonesim: %d registered, %d lost", res.Registered, res.Lost)
	}
	for _, p := range res.Phones {
		if p.Protocol == "sccp" && (p.Node != nodes[0].sccp || p.Failovers < 1 || p.Fallbacks < 1) {
			t.Errorf("SCCP phone %s ended on %s after %d failovers and %d fallbacks, want back on CM1 (%s)", p.Device, p.Node, p.Failovers, p.Fallbacks, nodes[0].sccp)
		}
		if p.Protocol == "sip" && (p.Node != nodes[0].sip || p.Failovers < 1 || p.Fallbacks < 1) {
			t.Errorf("SIP phone %s ended on %s after %d failovers and %d fallbacks, want back on CM1 (%s)", p.Device, p.Node, p.Failovers, p.Fallbacks, nodes[0].sip)
		}
	}
	for _, n := range nodes {
		if err := n.r.Stop(); err != nil {
			t.Fatalf("SIGTERM: %v", err)
		}
	}
	var summary struct {
		Devices           int `json:"devices"`
		Autoregistrations int `json:"autoregistrations"`
	}
	replayJSON(t, &summary, "verify", "--store", storeURL, "--format", "json")
	if summary.Devices != 2*phones || summary.Autoregistrations != 2*phones {
		t.Fatalf("replay verify: %+v, want %d devices autoregistered", summary, 2*phones)
	}
}
