package compliance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/anchor"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
	"github.com/autoreg/autoreg/replay"
	"github.com/autoreg/autoreg/replay/compliance"
)

// saturday is a Saturday evening: outside the default business hours.
var saturday = time.Date(2026, 3, 7, 20, 0, 0, 0, time.UTC)

// monday is a Monday morning: inside them.
var monday = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// clock is a fake clock shared by the service and the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// hist builds a history through the registrar's command side on a memory
// store: the sample configuration first (CM1 the autoregistration
// CallManager, group Default [CM1 CM2], CSS Autoreg = Internal+Emergency,
// pools Default, Rogue and Staff, range 1000-1099, Device Defaults for the
// usual models), then whatever the test does.
type hist struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock
	store *memory.Store
	svc   *testreg.Registrar
	macs  int
}

func newHist(t *testing.T, start time.Time) *hist {
	t.Helper()
	ctx := context.Background()
	clk := &clock{now: start}
	store := memory.New(memory.WithClock(clk.Now))
	svc, err := testreg.Open(t, store, command.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Configure(ctx, cfg.Cluster.Commands(true, "config"), command.Origin{Actor: "config"}); err != nil {
		t.Fatal(err)
	}
	h := &hist{t: t, ctx: ctx, clk: clk, store: store, svc: svc}
	h.step(time.Minute)
	return h
}

func (h *hist) now() time.Time               { return h.clk.Now() }
func (h *hist) step(d time.Duration)         { h.clk.Add(d) }
func (h *hist) head() uint64                 { p, _ := h.store.Head(h.ctx); return p }
func (h *hist) at(d time.Duration) time.Time { return h.now().Add(d) }

// admin runs an administrator's command and returns the position of its
// last event.
func (h *hist) admin(cmd domain.Command) uint64 {
	h.t.Helper()
	out, err := h.svc.Execute(h.ctx, cmd, command.Origin{Actor: "admin:alice", Peer: "192.0.2.10:50000"})
	if err != nil {
		h.t.Fatalf("%T: %v", cmd, err)
	}
	return out.Position
}

// raw appends events as a store written before the registrar kept the
// rules at every moment may hold them (the domain would refuse to write
// them now), and returns the position of the last.
func (h *hist) raw(events ...domain.Event) uint64 {
	h.t.Helper()
	var pos uint64
	for _, e := range events {
		typ, data, err := domain.Encode(e)
		if err != nil {
			h.t.Fatal(err)
		}
		res, err := h.store.Append(h.ctx, eventstore.StreamAppend{Stream: e.Stream(), Expected: eventstore.Any,
			Events: []eventstore.EventData{{ID: fmt.Sprintf("raw-%d-%s", h.clk.Now().UnixNano(), typ), Type: typ, Data: data,
				Metadata: []byte(`{"event_id":"raw","actor":"admin:alice","command":"raw"}`)}}})
		if err != nil {
			h.t.Fatal(err)
		}
		pos = res.Position
	}
	return pos
}

// open opens a window (for: 0 for no maximum duration) and returns its id.
func (h *hist) open(reason string, forDur time.Duration) string {
	h.t.Helper()
	h.admin(domain.OpenWindow{Reason: reason, For: forDur, By: "admin:alice"})
	return fmt.Sprintf("W%d", h.svc.Cluster().WindowsOpened)
}

func (h *hist) close() {
	h.t.Helper()
	h.admin(domain.CloseWindow{Reason: "done", By: "admin:alice"})
}

// phone makes up a device name.
func (h *hist) phone() string {
	h.macs++
	return fmt.Sprintf("SEP0011220%05X", h.macs)
}

// reg registers a new phone and returns its name; want is the refusal
// expected ("" for none).
func (h *hist) reg(model string, p domain.Protocol, want domain.RejectReason) string {
	h.t.Helper()
	dev := h.phone()
	h.regAs(dev, model, p, want)
	return dev
}

func (h *hist) regAs(dev, model string, p domain.Protocol, want domain.RejectReason) {
	h.t.Helper()
	_, err := h.svc.Register(h.ctx, command.Registration{Device: dev, Model: model, Protocol: p,
		Address: "10.1.2.3:2000", Adapter: strings.ToLower(string(p)), Peer: "10.1.2.3:2000"})
	var rej *domain.Rejection
	switch {
	case want == "" && err != nil:
		h.t.Fatalf("register %s: %v", dev, err)
	case want != "" && (!errors.As(err, &rej) || rej.Reason != want):
		h.t.Fatalf("register %s: want %s, got %v", dev, want, err)
	}
}

// batch registers n phones a minute apart.
func (h *hist) batch(n int, model string, p domain.Protocol) []string {
	h.t.Helper()
	var out []string
	for range n {
		h.step(time.Minute)
		out = append(out, h.reg(model, p, ""))
	}
	return out
}

// build makes the report over [since, until] with a policy (nil: defaults).
func (h *hist) build(since, until time.Time, pol *compliance.Policy) *compliance.Report {
	h.t.Helper()
	r, err := compliance.Build(h.ctx, replay.Env{Store: h.store}, compliance.Options{Since: since, Until: until,
		Now: h.clk.Now, Policy: pol, Store: "memory"})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// keep is a store that survives Close, so that one history serves many runs.
type keep struct{ eventstore.Store }

func (keep) Close() error { return nil }

// run runs the command line on the history.
func (h *hist) run(args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	return runCLI(h.t, h.store, h.clk.Now, args...)
}

// runCLI runs the command line on store. A report is given checkpoints
// of the store's head, signed with a new key (--checkpoints,
// --public-key), unless its arguments name some or say --unanchored: the
// tests of the other checks are not about anchoring.
func runCLI(t *testing.T, store eventstore.Store, now func() time.Time, args ...string) (int, string, string) {
	t.Helper()
	if len(args) > 0 && args[0] == "report" && !slices.Contains(args, "--checkpoints") {
		if i := slices.Index(args, "--unanchored"); i >= 0 {
			args = slices.Delete(slices.Clone(args), i, i+1)
		} else if head, _ := store.Head(context.Background()); head > 0 {
			args = append(slices.Clone(args), anchorArgs(t, store)...)
		}
	}
	var out, errb bytes.Buffer
	code := compliance.Main(context.Background(), args, &out, &errb,
		compliance.WithOpener(func(ctx context.Context, loc string) (eventstore.Store, error) { return keep{store}, nil }),
		compliance.WithTerminal(false), compliance.WithNow(now))
	return code, out.String(), errb.String()
}

// anchorArgs signs a checkpoint of store's head with a new key and
// returns the flags that give it to a report.
func anchorArgs(t *testing.T, store eventstore.Store) []string {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.key")
	if _, err := anchor.WriteKeyPair(key); err != nil {
		t.Fatal(err)
	}
	priv, err := anchor.ReadSigningKey(key)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "checkpoints.log")
	w, err := anchor.NewWriter(context.Background(), store, log, anchor.NewSigner(priv, "CM1"), anchor.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, _, err := w.Write(context.Background()); err != nil {
		t.Fatal(err)
	}
	return []string{"--checkpoints", log, "--public-key", key + ".pub"}
}

// of returns the findings of one check.
func of(r *compliance.Report, id compliance.CheckID) []compliance.Finding {
	var out []compliance.Finding
	for _, f := range r.Findings {
		if f.Check == id {
			out = append(out, f)
		}
	}
	return out
}

func times(ts ...time.Time) []replay.Time {
	out := make([]replay.Time, len(ts))
	for i, t := range ts {
		out[i] = replay.Time(t)
	}
	return out
}

// policy parses a policy for a test.
func policy(t *testing.T, yaml string) *compliance.Policy {
	t.Helper()
	p, err := compliance.ParsePolicy("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// devicePos is the position of the device's last event.
func (h *hist) devicePos(dev string) uint64 {
	var last uint64
	_ = h.store.ReadStream(h.ctx, domain.DeviceStream(dev), 0, func(e eventstore.RecordedEvent) error {
		last = e.Position
		return nil
	})
	return last
}
