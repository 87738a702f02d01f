package replay_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/anchor"
	"github.com/autoreg/autoreg/replay"
)

// signCheckpoints signs checkpoints of the store at path at positions, as
// the registrar would have, into LOG; it returns LOG and the public key's
// file.
func signCheckpoints(t *testing.T, path string, positions ...int64) (string, string) {
	t.Helper()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if _, err := anchor.WriteKeyPair(keyFile); err != nil {
		t.Fatal(err)
	}
	key, err := anchor.ReadSigningKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logFile := filepath.Join(dir, "checkpoints.log")
	l, err := anchor.OpenLog(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := anchor.NewSigner(key, "CM1")
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, p := range positions {
		r := readRow(t, db, `position = ?`, p)
		if err := l.Append(s.Sign(uint64(p), r.hash, at.Add(time.Duration(i)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	return logFile, keyFile + ".pub"
}

// rechain recomputes the hash of every event from position from to the
// end, as a forger who can write the store would.
func rechain(t *testing.T, db *sql.DB, from int64) {
	t.Helper()
	prev := readRow(t, db, `position = ?`, from-1).hash
	rows, err := db.Query(`SELECT position, stream, version, id, type, data, metadata, recorded_at, hash FROM events WHERE position >= ? ORDER BY position`, from)
	if err != nil {
		t.Fatal(err)
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.position, &r.stream, &r.version, &r.id, &r.typ, &r.data, &r.meta, &r.recordedAt, &r.hash); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	rows.Close()
	for _, r := range all {
		r.hash = chainHash(prev, r)
		exec1(t, db, `UPDATE events SET hash = ? WHERE position = ?`, r.hash, r.position)
		prev = r.hash
	}
}

func verifyAnchored(path, logFile string, keys ...string) (int, string, string) {
	args := []string{"verify", "--store", "sqlite://" + path}
	if logFile != "" {
		args = append(args, "--checkpoints", logFile)
	}
	for _, k := range keys {
		args = append(args, "--public-key", k)
	}
	var out, errb bytes.Buffer
	code := replay.Main(context.Background(), args, &out, &errb, replay.WithTerminal(false))
	return code, out.String(), errb.String()
}

// TestCheckpointsCatchARewrittenChain: a window's opener rewritten to
// another name, and the chain recomputed from there, passes the plain
// verify (the chain has no key) but not verify with the checkpoints.
func TestCheckpointsCatchARewrittenChain(t *testing.T) {
	path := copyStore(t)
	logFile, pub := signCheckpoints(t, path, 1000, 2000, 2900)
	code, out, errs := verifyAnchored(path, logFile, pub)
	if code != 0 || !strings.Contains(out, "chain anchored by 3 checkpoint(s)") || !strings.Contains(out, "the last at position 2,900") ||
		!strings.Contains(out, "(100 of them) are covered by integrity only") {
		t.Fatalf("the untouched store: exit %d\n%s%s", code, out, errs)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	r := readRow(t, db, `type = ? AND position > 1000 AND position < 2000 ORDER BY position LIMIT 1`, domain.TypeWindowOpened)
	forged := bytes.Replace(r.meta, []byte(`"actor":"admin:`), []byte(`"actor":"admin:mallory-was-`), 1)
	if bytes.Equal(forged, r.meta) {
		t.Fatalf("no actor in %s", r.meta)
	}
	r.meta = forged
	setRow(t, db, r.position, r)
	rechain(t, db, r.position)
	db.Close()

	code, out, errs = verifyAnchored(path, "")
	if code != 0 || !strings.Contains(out, "proves integrity, not authenticity") {
		t.Fatalf("plain verify of the rechained store: exit %d (the forgery should pass it)\n%s%s", code, out, errs)
	}
	code, out, errs = verifyAnchored(path, logFile, pub)
	if code != 1 || out != "" || !strings.Contains(errs, "FAILED at position 2000") || !strings.Contains(errs, "checkpoints.log:2") ||
		!strings.Contains(errs, "the history up to position 2000 was rewritten") {
		t.Errorf("verify with checkpoints of the rechained store: exit %d\n%s%s", code, out, errs)
	}
}

// TestCheckpointsCatchACutTail: the last 500 events deleted pass the
// plain verify, but not a checkpoint beyond them; a cut after the last
// checkpoint is beyond what the checkpoints can see.
func TestCheckpointsCatchACutTail(t *testing.T) {
	path := copyStore(t)
	logFile, pub := signCheckpoints(t, path, 1000, 2000, 2900)
	cut := func(after int64) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		exec1(t, db, `DELETE FROM events WHERE position > ?`, after)
		exec1(t, db, `DELETE FROM stream_index WHERE position > ?`, after)
		exec1(t, db, `UPDATE stream_index_state SET indexed_through = min(indexed_through, ?)`, after)
	}
	cut(2950)
	if code, out, errs := verifyAnchored(path, logFile, pub); code != 0 || !strings.Contains(out, "(50 of them)") {
		t.Errorf("cut after the last checkpoint: exit %d\n%s%s", code, out, errs)
	}
	cut(2500)
	if code, out, errs := verifyAnchored(path, ""); code != 0 {
		t.Fatalf("plain verify of the cut store: exit %d (the cut should pass it)\n%s%s", code, out, errs)
	}
	code, out, errs := verifyAnchored(path, logFile, pub)
	if code != 1 || out != "" || !strings.Contains(errs, "checkpoints.log:3") || !strings.Contains(errs, "the store ends at position 2500") {
		t.Errorf("verify with checkpoints of the cut store: exit %d\n%s%s", code, out, errs)
	}
}

// TestCheckpointLogFailures: a line altered, another key, no log.
func TestCheckpointLogFailures(t *testing.T) {
	path := copyStore(t)
	logFile, pub := signCheckpoints(t, path, 1000, 2000)
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	altered := filepath.Join(t.TempDir(), "altered.log")
	if err := os.WriteFile(altered, bytes.Replace(b, []byte(`"position":2000`), []byte(`"position":1999`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := verifyAnchored(path, altered, pub); code != 1 || !strings.Contains(errs, "altered.log:2: the signature does not verify") {
		t.Errorf("an altered line: exit %d: %s", code, errs)
	}
	other, _ := signCheckpoints(t, path, 1000)
	otherPub := filepath.Join(filepath.Dir(other), "signing.key.pub")
	if code, _, errs := verifyAnchored(path, logFile, otherPub); code != 1 || !strings.Contains(errs, "signed by key") {
		t.Errorf("another key: exit %d: %s", code, errs)
	}
	if code, _, errs := verifyAnchored(path, filepath.Join(t.TempDir(), "none.log"), pub); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Errorf("no log: exit %d: %s", code, errs)
	}
	if code, _, errs := verifyAnchored(path, logFile); code != 2 || !strings.Contains(errs, "go together") {
		t.Errorf("no key: exit %d: %s", code, errs)
	}
}
