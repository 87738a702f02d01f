package anchor_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/internal/anchor"
	"github.com/autoreg/autoreg/internal/eventstore"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fill appends n events to store, one stream each.
func fill(t *testing.T, store eventstore.Store, n int) {
	t.Helper()
	for i := range n {
		_, err := store.Append(context.Background(), eventstore.StreamAppend{Stream: fmt.Sprintf("s-%d", i), Expected: eventstore.Any,
			Events: []eventstore.EventData{{ID: fmt.Sprintf("id-%d-%d", i, time.Now().UnixNano()), Type: "t", Data: []byte(`{}`), Metadata: []byte(`{}`)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSignVerify(t *testing.T) {
	k := newKey(t)
	s := anchor.NewSigner(k, "CM1")
	head := bytes.Repeat([]byte{0xab}, 32)
	c := s.Sign(1000, head, t0)
	if err := anchor.Verify(c, s.Public()); err != nil {
		t.Fatalf("a fresh checkpoint: %v", err)
	}
	want := "autoreg-checkpoint-v1\nposition 1000\nhead " + strings.Repeat("ab", 32) + "\ntime 2026-03-02T09:00:00Z\nnode \"CM1\"\nkey " + s.KeyID() + "\n"
	if diff := cmp.Diff(want, string(c.Message())); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	// Every field is covered.
	for name, edit := range map[string]func(*anchor.Checkpoint){
		"position": func(c *anchor.Checkpoint) { c.Position++ },
		"head":     func(c *anchor.Checkpoint) { c.Head = strings.Repeat("cd", 32) },
		"time":     func(c *anchor.Checkpoint) { c.Time = c.Time.Add(time.Nanosecond) },
		"node":     func(c *anchor.Checkpoint) { c.Node = "CM2" },
		"sig":      func(c *anchor.Checkpoint) { c.Signature = bytes.Clone(c.Signature); c.Signature[0] ^= 1 },
	} {
		d := c
		edit(&d)
		if err := anchor.Verify(d, s.Public()); err == nil {
			t.Errorf("%s changed: the checkpoint still verifies", name)
		}
	}
	// Another key.
	other := anchor.NewSigner(newKey(t), "CM1")
	if err := anchor.Verify(c, other.Public()); err == nil || !strings.Contains(err.Error(), "signed by key") {
		t.Errorf("verified with another key: %v", err)
	}
	// A node name cannot forge a line of the message.
	c2 := anchor.NewSigner(k, "CM1\"\nkey x").Sign(1, head, t0)
	if strings.Count(string(c2.Message()), "\n") != 6 {
		t.Errorf("a node name broke the message's lines:\n%s", c2.Message())
	}
}

func TestKeysRoundTrip(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "signing.key")
	pub, err := anchor.WriteKeyPair(out)
	if err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{out: 0o600, out + ".pub": 0o644} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != mode {
			t.Errorf("%s: mode %#o, want %#o", p, info.Mode().Perm(), mode)
		}
	}
	priv, err := anchor.ReadSigningKey(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := anchor.ReadPublicKey(out + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(pub) || !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Error("the keys read back are not the keys written")
	}
	if _, err := anchor.WriteKeyPair(out); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("keygen over an existing key: %v", err)
	}
	if err := os.Chmod(out, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := anchor.ReadSigningKey(out); !errors.Is(err, anchor.ErrKeyExposed) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key readable by the group: %v", err)
	}
	// openssl reads both, and prints the same key id.
	if _, err := exec.LookPath("openssl"); err == nil {
		os.Chmod(out, 0o600)
		if b, err := exec.Command("openssl", "pkey", "-in", out, "-noout", "-text").CombinedOutput(); err != nil || !strings.Contains(string(b), "ED25519") {
			t.Errorf("openssl pkey on the private key: %v\n%s", err, b)
		}
		der, err := exec.Command("openssl", "pkey", "-pubin", "-in", out+".pub", "-outform", "DER").Output()
		if err != nil {
			t.Fatalf("openssl pkey on the public key: %v", err)
		}
		if k, err := exec.Command("sh", "-c", "openssl pkey -pubin -in "+out+".pub -outform DER | sha256sum | cut -c1-16").Output(); err != nil ||
			strings.TrimSpace(string(k)) != anchor.KeyID(pub) || len(der) == 0 {
			t.Errorf("openssl key id %q, want %s (%v)", k, anchor.KeyID(pub), err)
		}
	}
}

// logOf writes cs as a log and returns its text.
func logOf(t *testing.T, cs ...anchor.Checkpoint) string {
	t.Helper()
	var b strings.Builder
	for _, c := range cs {
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func verifyText(text string, keys ...ed25519.PublicKey) (*anchor.Anchors, error) {
	es, err := anchor.ReadLog(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	return anchor.VerifyLog("LOG", es, keys...)
}

func TestVerifyLog(t *testing.T) {
	s := anchor.NewSigner(newKey(t), "CM1")
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	c1, c2, c3 := s.Sign(10, h(1), t0), s.Sign(20, h(2), t0.Add(time.Minute)), s.Sign(30, h(3), t0.Add(2*time.Minute))
	good := logOf(t, c1, c2, c3)
	if _, err := verifyText(good, s.Public()); err != nil {
		t.Fatalf("a good log: %v", err)
	}
	lines := strings.SplitAfter(good, "\n")
	tampered := strings.Replace(good, `"position":20`, `"position":21`, 1)
	reordered := lines[0] + lines[2] + lines[1]
	other := anchor.NewSigner(newKey(t), "CM1")
	for name, tc := range map[string]struct {
		text string
		keys []ed25519.PublicKey
		want string
	}{
		"tampered line": {tampered, []ed25519.PublicKey{s.Public()}, "LOG:2: the signature does not verify"},
		"wrong key":     {good, []ed25519.PublicKey{other.Public()}, "LOG:1: signed by key " + s.KeyID()},
		"reordered":     {reordered, []ed25519.PublicKey{s.Public()}, "LOG:3: node CM1's checkpoint at position 20"},
		"not json":      {lines[0] + "hello\n", []ed25519.PublicKey{s.Public()}, "line 2 is not a checkpoint"},
		"cut short":     {good[:len(good)-10], []ed25519.PublicKey{s.Public()}, "line 3 has no end"},
	} {
		_, err := verifyText(tc.text, tc.keys...)
		if !errors.Is(err, anchor.ErrBadLog) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an ErrBadLog saying %q", name, err, tc.want)
		}
	}
	// Two keys: a rotated key's lines verify with both given.
	mixed := logOf(t, c1, other.Sign(40, h(4), t0.Add(3*time.Minute)))
	if _, err := verifyText(mixed, s.Public(), other.Public()); err != nil {
		t.Errorf("two keys given: %v", err)
	}
}

func TestWriterAndCheckStore(t *testing.T) {
	ctx := context.Background()
	clk := t0
	store := memory.New()
	fill(t, store, 25)
	path := filepath.Join(t.TempDir(), "checkpoints.log")
	s := anchor.NewSigner(newKey(t), "CM1")
	var logged []anchor.Checkpoint
	w, err := anchor.NewWriter(ctx, store, path, s, anchor.WriterOptions{Now: func() time.Time { return clk },
		OnWrite: func(c anchor.Checkpoint) { logged = append(logged, c) }})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok, err := w.Write(ctx); err != nil || !ok || c.Position != 25 {
		t.Fatalf("first checkpoint: %+v %v %v", c, ok, err)
	}
	if _, ok, _ := w.Write(ctx); ok {
		t.Error("a checkpoint written though the head did not move")
	}
	fill(t, store, 10)
	clk = clk.Add(time.Minute)
	if _, ok, err := w.Write(ctx); err != nil || !ok {
		t.Fatal(ok, err)
	}
	w.Close()
	if len(logged) != 2 {
		t.Errorf("%d checkpoints told OnWrite, want 2", len(logged))
	}

	a, err := anchor.VerifyLogFile(path, s.Public())
	if err != nil {
		t.Fatal(err)
	}
	fill(t, store, 5)
	n, cov, err := anchor.CheckStore(ctx, store, a)
	if err != nil {
		t.Fatal(err)
	}
	want := anchor.Coverage{Checkpoints: 2, LastPosition: 35, LastTime: t0.Add(time.Minute), LastNode: "CM1", Keys: []string{s.KeyID()}, After: 5}
	if diff := cmp.Diff(want, cov); diff != "" || n != 40 {
		t.Errorf("coverage of %d events (-want +got):\n%s", n, diff)
	}

	// A restart on the same log finds the last checkpoint and agrees.
	w2, err := anchor.NewWriter(ctx, store, path, s, anchor.WriterOptions{})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if w2.Last() != 35 {
		t.Errorf("restart: last %d, want 35", w2.Last())
	}
	w2.Close()

	// A store that ends before a checkpoint: cut.
	short := memory.New()
	fill(t, short, 30)
	if _, _, err := anchor.CheckStore(ctx, short, a); !errors.Is(err, anchor.ErrMismatch) {
		t.Errorf("a store other than the one signed: %v", err)
	}
	if _, err := anchor.NewWriter(ctx, short, path, s, anchor.WriterOptions{}); !errors.Is(err, anchor.ErrMismatch) {
		t.Errorf("a writer started on a store that disagrees with the log: %v", err)
	}
}

func TestWriterRunDue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New()
	path := filepath.Join(t.TempDir(), "checkpoints.log")
	s := anchor.NewSigner(newKey(t), "CM1")
	got := make(chan anchor.Checkpoint, 10)
	w, err := anchor.NewWriter(ctx, store, path, s, anchor.WriterOptions{EveryEvents: 10, Every: 50 * time.Millisecond,
		OnWrite: func(c anchor.Checkpoint) { got <- c }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go w.Run(ctx)
	fill(t, store, 3)
	select {
	case c := <-got:
		if c.Position != 3 {
			t.Errorf("checkpoint by time at %d, want 3", c.Position)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no checkpoint by time")
	}
	select {
	case c := <-got:
		t.Errorf("a checkpoint though the head did not move: %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
}
