package e2e

import (
	"bytes"
	"database/sql"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// runReplay runs the replay binary and returns its exit status and output.
func runReplay(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin(t, "replay"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// stopTERM sends SIGTERM and waits for a clean exit.
func (r *Registrar) stopTERM(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Fatalf("registrar after SIGTERM: %v\n%s", err, r.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("registrar did not stop in 20 s")
	}
}

// copyStoreFiles copies the SQLite store of data (and its WAL) to a new directory.
func copyStoreFiles(t *testing.T, data string) string {
	t.Helper()
	dst := t.TempDir()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		in, err := os.Open(filepath.Join(data, "autoreg.db"+suffix))
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, "autoreg.db"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return dst
}

// Anchored history on the real binaries: keygen; serve signs a checkpoint at
// each SIGTERM (and refuses to start on a store that disagrees with its
// log); replay verify with the checkpoints passes on the store as written,
// and fails on a window's opener rewritten with the chain recomputed (which
// the plain verify passes) and on a cut tail.
func TestAnchoredHistory(t *testing.T) {
	keys := t.TempDir()
	key := filepath.Join(keys, "signing.key")
	out, err := exec.Command(bin(t, "registrar"), "keygen", "--out", key).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "key id") {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if info, err := os.Stat(key); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the private key: %v %v", info.Mode(), err)
	}
	if out, err := exec.Command(bin(t, "registrar"), "keygen", "--out", key).CombinedOutput(); err == nil || !strings.Contains(string(out), "exists") {
		t.Errorf("keygen over a key: %v\n%s", err, out)
	}
	cpLog := filepath.Join(t.TempDir(), "checkpoints.log")
	r := startRegistrar(t, "", "--signing-key", key, "--checkpoints", cpLog)

	session := func(seed string) {
		t.Helper()
		r.MustAdmin("autoreg", "open", "--reason", "anchored batch "+seed, "--for", "10m")
		phones, err := runPhonesim(t, r.SIP, r.SCCP, "--phones", "8", "--seed", seed)
		if err != nil {
			t.Fatal(err)
		}
		if len(phones) != 8 || phones[0].DN == "" {
			t.Fatalf("phonesim: %+v", phones)
		}
		r.MustAdmin("autoreg", "close", "--reason", "batch done")
		r.stopTERM(t)
		if !strings.Contains(r.logs.String(), `"message":"checkpoint signed"`) {
			t.Fatalf("no checkpoint in the log at the stop:\n%s", tail(r.logs.String(), 3000))
		}
	}
	session("41")
	r.Restart() // agrees with the log's last checkpoint
	session("42")

	b, err := os.ReadFile(cpLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("%d checkpoints, want one at each stop:\n%s", n, b)
	}
	verify := func(data string, anchored bool) (int, string, string) {
		args := []string{"verify", "--data", data}
		if anchored {
			args = append(args, "--checkpoints", cpLog, "--public-key", key+".pub")
		}
		return runReplay(t, args...)
	}
	code, stdout, stderr := verify(r.Data, true)
	if code != 0 || !strings.Contains(stdout, "chain anchored by 2 checkpoint(s)") || !strings.Contains(stdout, "(0 of them) are covered by integrity only") {
		t.Fatalf("verify with checkpoints: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ := verify(r.Data, false); code != 0 || !strings.Contains(stdout, "integrity, not authenticity") {
		t.Errorf("plain verify: exit %d\n%s", code, stdout)
	}

	// The compliance report states the last verified checkpoint, or that
	// the history is not anchored.
	compliance := func(args ...string) string {
		out, err := exec.Command(bin(t, "compliance"), append([]string{"report", "--data", r.Data, "--fail-on", "critical"}, args...)...).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return string(out)
	}
	if out := compliance("--checkpoints", cpLog, "--public-key", key+".pub"); !strings.Contains(out, "last verified checkpoint at position") ||
		strings.Contains(out, "history-not-anchored") {
		t.Errorf("compliance with checkpoints:\n%s", out)
	}
	if out := compliance(); !strings.Contains(out, "[history-not-anchored]") || !strings.Contains(out, "no checkpoints: history is not anchored") {
		t.Errorf("compliance without checkpoints:\n%s", out)
	}

	// A forger rewrites the first window's opener and recomputes the chain.
	forged := copyStoreFiles(t, r.Data)
	db, err := sql.Open("sqlite", filepath.Join(forged, "autoreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	var pos int64
	if err := db.QueryRow(`SELECT position FROM events WHERE type = ? ORDER BY position LIMIT 1`, domain.TypeWindowOpened).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	rechainFrom(t, db, pos, func(e *eventstore.RecordedEvent) {
		if e.Position == uint64(pos) {
			e.Metadata = bytes.Replace(e.Metadata, []byte(`"actor":"admin:`), []byte(`"actor":"admin:someone-else-`), 1)
		}
	})
	db.Close()
	if code, stdout, stderr := verify(forged, false); code != 0 {
		t.Fatalf("plain verify of the rechained store: exit %d (the forgery passes it)\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := verify(forged, true); code != 1 || !strings.Contains(stderr, "was rewritten") || !strings.Contains(stderr, "checkpoints.log:1") {
		t.Errorf("verify with checkpoints of the rechained store: exit %d\n%s", code, stderr)
	}

	// The tail cut: the events of the second session.
	cut := copyStoreFiles(t, r.Data)
	db, err = sql.Open("sqlite", filepath.Join(cut, "autoreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	if err := db.QueryRow(`SELECT max(position) FROM events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM events WHERE position > ?`, `DELETE FROM stream_index WHERE position > ?`,
		`UPDATE stream_index_state SET indexed_through = min(indexed_through, ?)`} {
		if _, err := db.Exec(q, last-20); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if code, stdout, stderr := verify(cut, false); code != 0 {
		t.Fatalf("plain verify of the cut store: exit %d (the cut passes it)\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := verify(cut, true); code != 1 || !strings.Contains(stderr, "removed from its end") || !strings.Contains(stderr, "checkpoints.log:2") {
		t.Errorf("verify with checkpoints of the cut store: exit %d\n%s", code, stderr)
	}
	// And the registrar refuses to serve it.
	cmd := exec.Command(bin(t, "registrar"), "serve", "--data", cut, "--sip-addr", "127.0.0.1:0", "--sccp-addr", "127.0.0.1:0",
		"--tftp-addr", "", "--admin-addr", "127.0.0.1:0", "--signing-key", key, "--checkpoints", cpLog)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "disagrees with a signed checkpoint") {
		t.Errorf("serve on the cut store: %v\n%s", err, tail(string(out), 2000))
	}
}

// rechainFrom edits the events from position from on with edit and
// recomputes their hashes, as someone who can write the store can.
func rechainFrom(t *testing.T, db *sql.DB, from int64, edit func(*eventstore.RecordedEvent)) {
	t.Helper()
	var prev []byte
	if err := db.QueryRow(`SELECT hash FROM events WHERE position = ?`, from-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT position, stream, version, id, type, data, metadata, recorded_at FROM events WHERE position >= ? ORDER BY position`, from)
	if err != nil {
		t.Fatal(err)
	}
	var evs []eventstore.RecordedEvent
	for rows.Next() {
		var e eventstore.RecordedEvent
		var at int64
		if err := rows.Scan(&e.Position, &e.Stream, &e.Version, &e.ID, &e.Type, &e.Data, &e.Metadata, &at); err != nil {
			t.Fatal(err)
		}
		e.RecordedAt = time.Unix(0, at).UTC()
		evs = append(evs, e)
	}
	rows.Close()
	for _, e := range evs {
		edit(&e)
		e.Hash = eventstore.ChainHash(prev, e)
		if _, err := db.Exec(`UPDATE events SET metadata = ?, data = ?, hash = ? WHERE position = ?`, e.Metadata, e.Data, e.Hash, e.Position); err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
}
