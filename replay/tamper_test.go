package replay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
	"github.com/autoreg/autoreg/replay"
)

var (
	genOnce sync.Once
	genPath string
	genErr  error
)

// generated returns a SQLite store of 3,000 generated events, made once;
// tests copy it before touching it.
func generated(t *testing.T) string {
	t.Helper()
	genOnce.Do(func() {
		dir, err := os.MkdirTemp("", "replay-tamper-")
		if err != nil {
			genErr = err
			return
		}
		genPath = filepath.Join(dir, "history.db")
		_, genErr = replay.GenerateStore(context.Background(), genPath, replay.GenerateOptions{Events: 3000, Seed: 5})
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	return genPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if genPath != "" {
		os.RemoveAll(filepath.Dir(genPath))
	}
	os.Exit(code)
}

// copyStore copies the generated store into the test's directory.
func copyStore(t *testing.T) string {
	t.Helper()
	src := generated(t)
	dst := filepath.Join(t.TempDir(), "copy.db")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// row is one row of the events table (the SQLite store's schema:
// adapters/eventstore/sqlite/file.go).
type row struct {
	position, version int64
	stream, id, typ   string
	data, meta, hash  []byte
	recordedAt        int64
}

func readRow(t *testing.T, db *sql.DB, where string, args ...any) row {
	t.Helper()
	var r row
	err := db.QueryRow(`SELECT position, stream, version, id, type, data, metadata, recorded_at, hash FROM events WHERE `+where, args...).
		Scan(&r.position, &r.stream, &r.version, &r.id, &r.typ, &r.data, &r.meta, &r.recordedAt, &r.hash)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func exec1(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func setRow(t *testing.T, db *sql.DB, pos int64, r row) {
	t.Helper()
	exec1(t, db, `UPDATE events SET stream = ?, version = ?, id = ?, type = ?, data = ?, metadata = ?, recorded_at = ?, hash = ? WHERE position = ?`,
		r.stream, r.version, r.id, r.typ, r.data, r.meta, r.recordedAt, r.hash, pos)
}

func verifyFile(path string) (int, string, string) {
	var out, errb bytes.Buffer
	code := replay.Main(context.Background(), []string{"verify", "--store", "sqlite://" + path}, &out, &errb, replay.WithTerminal(false))
	return code, out.String(), errb.String()
}

// tampering lists the ways to alter a store file behind the store's back;
// each returns the position verify must name.
var tampering = []struct {
	name   string
	tamper func(t *testing.T, db *sql.DB) int64
}{
	{"edit an event's data", func(t *testing.T, db *sql.DB) int64 {
		// Give an autoregistered phone another DN.
		r := readRow(t, db, `type = ? ORDER BY position LIMIT 1 OFFSET 20`, domain.TypeDeviceAutoregistered)
		r.data = bytes.Replace(r.data, []byte(`"dn":"`), []byte(`"dn":"9`), 1)
		setRow(t, db, r.position, r)
		return r.position
	}},
	{"edit an event's data without changing its meaning", func(t *testing.T, db *sql.DB) int64 {
		r := readRow(t, db, `position = 1500`)
		r.data = append(r.data, ' ')
		setRow(t, db, r.position, r)
		return 1500
	}},
	{"edit who made an event", func(t *testing.T, db *sql.DB) int64 {
		r := readRow(t, db, `type = ? ORDER BY position LIMIT 1 OFFSET 3`, domain.TypeWindowOpened)
		r.meta = bytes.Replace(r.meta, []byte(`"actor":"admin:`), []byte(`"actor":"admin:x`), 1)
		setRow(t, db, r.position, r)
		return r.position
	}},
	{"edit an event and recompute its hash", func(t *testing.T, db *sql.DB) int64 {
		// The forger does not know... that the next event chains to it.
		r := readRow(t, db, `position = 1200`)
		prev := readRow(t, db, `position = 1199`)
		r.data = append(r.data, ' ')
		r.hash = chainHash(prev.hash, r)
		setRow(t, db, r.position, r)
		return 1201
	}},
	{"delete a row", func(t *testing.T, db *sql.DB) int64 {
		exec1(t, db, `DELETE FROM events WHERE position = 777`)
		return 777
	}},
	{"insert a row, renumbering the rest", func(t *testing.T, db *sql.DB) int64 {
		r := readRow(t, db, `position = 1000`)
		exec1(t, db, `UPDATE events SET position = position + 1000000000 WHERE position > 1000`)
		exec1(t, db, `UPDATE events SET position = position - 1000000000 + 1 WHERE position > 1000000000`)
		r.position, r.stream, r.version, r.id = 1001, domain.DeviceStream("SEP0000000000EE"), 0, "forged-1"
		r.typ = domain.TypeDeviceUnregistered
		r.data = []byte(`{"schema_version":1,"data":{"device":"SEP0000000000EE","reason":"keepalive"}}`)
		r.hash = bytes.Repeat([]byte{0xee}, 32)
		exec1(t, db, `INSERT INTO events (position, stream, version, id, type, data, metadata, recorded_at, hash) VALUES (?,?,?,?,?,?,?,?,?)`,
			r.position, r.stream, r.version, r.id, r.typ, r.data, r.meta, r.recordedAt, r.hash)
		return 1001
	}},
	{"append a row at the end", func(t *testing.T, db *sql.DB) int64 {
		last := readRow(t, db, `1 ORDER BY position DESC LIMIT 1`)
		exec1(t, db, `INSERT INTO events (position, stream, version, id, type, data, metadata, recorded_at, hash) VALUES (?,?,?,?,?,?,?,?,?)`,
			last.position+1, domain.DeviceStream("SEP0000000000EF"), 0, "forged-2", domain.TypeDeviceUnregistered,
			[]byte(`{"schema_version":1,"data":{"device":"SEP0000000000EF","reason":"keepalive"}}`), last.meta,
			last.recordedAt, last.hash)
		return last.position + 1
	}},
	{"swap two rows' content", func(t *testing.T, db *sql.DB) int64 {
		a, b := readRow(t, db, `position = 2000`), readRow(t, db, `position = 2010`)
		exec1(t, db, `UPDATE events SET id = 'swap', stream = 'swap' WHERE position = 2010`)
		setRow(t, db, 2000, b)
		setRow(t, db, 2010, a)
		return 2000
	}},
}

// chainHash is eventstore.ChainHash of a row.
func chainHash(prev []byte, r row) []byte {
	h := sha256.New()
	var n [8]byte
	num := func(v uint64) {
		for i := 7; i >= 0; i-- {
			n[i] = byte(v)
			v >>= 8
		}
		h.Write(n[:])
	}
	field := func(b []byte) { num(uint64(len(b))); h.Write(b) }
	field(prev)
	num(uint64(r.position))
	field([]byte(r.stream))
	num(uint64(r.version))
	field([]byte(r.id))
	field([]byte(r.typ))
	field(r.data)
	field(r.meta)
	field([]byte(time.Unix(0, r.recordedAt).UTC().Format(time.RFC3339Nano)))
	return h.Sum(nil)
}

// TestTamperedSQLiteStore alters a generated store file with database/sql,
// behind the store's back, and checks verify names the right position.
func TestTamperedSQLiteStore(t *testing.T) {
	if code, out, errs := verifyFile(copyStore(t)); code != 0 || !strings.Contains(out, "3,000") {
		t.Fatalf("the untouched store: exit %d: %s%s", code, out, errs)
	}
	for _, tc := range tampering {
		t.Run(tc.name, func(t *testing.T) {
			path := copyStore(t)
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			pos := tc.tamper(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			code, out, errs := verifyFile(path)
			want := fmt.Sprintf("FAILED at position %d", pos)
			if code != 1 || out != "" || !strings.Contains(errs, want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errs, want)
			}
		})
	}
}

// TestTamperedStoreThroughTheBinary runs the built replay binary.
func TestTamperedStoreThroughTheBinary(t *testing.T) {
	bin := replayBinary(t)
	path := copyStore(t)
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	if code, out, errs := run("verify", "--store", path); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("untouched: exit %d: %s%s", code, out, errs)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	exec1(t, db, `DELETE FROM events WHERE position = 1234`)
	db.Close()
	if code, out, errs := run("verify", "--store", "sqlite://"+path); code != 1 || out != "" || !strings.Contains(errs, "FAILED at position 1234") {
		t.Errorf("deleted row: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, errs := run("windows", "--store", filepath.Join(t.TempDir(), "none.db")); code != 2 || out != "" || errs == "" {
		t.Errorf("no store: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ := run("windows", "--help"); code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("help: exit %d: %s", code, out)
	}
}

// replayBinary is the replay command: $AUTOREG_BIN/replay when the
// Makefile built it, else built here.
func replayBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("AUTOREG_BIN"); dir != "" {
		if p := filepath.Join(dir, "replay"); fileExists(p) {
			return p
		}
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "replay")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin, "github.com/autoreg/autoreg/cmd/replay")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// TestReadWhileTheRegistrarWrites: replay reads a store the registrar is
// writing (WAL), and never writes to it.
func TestReadWhileTheRegistrarWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := copyStore(t)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := testreg.Open(t, st, command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			dev := fmt.Sprintf("SEP00AA00%06X", i)
			svc.Register(ctx, command.Registration{Device: dev, Model: "7961", Protocol: domain.SCCP, Address: "10.9.9.9:2000", Adapter: "sccp"})
		}
	}()
	for range 3 {
		for _, args := range [][]string{{"verify"}, {"windows", "--format", "json"}, {"state", "--format", "json"}} {
			var out, errb bytes.Buffer
			code := replay.Main(ctx, append(args, "--store", path), &out, &errb, replay.WithTerminal(false))
			if code != 0 {
				t.Fatalf("%v while writing: exit %d: %s", args, code, errb.String())
			}
		}
	}
	cancel()
	<-done
	head, _ := st.Head(context.Background())
	if head <= 3000 {
		t.Errorf("the registrar wrote nothing (head %d)", head)
	}
}

// TestGenerateRefusesAHistory: generate never writes into a store with events.
func TestGenerateRefusesAHistory(t *testing.T) {
	path := copyStore(t)
	before, _ := os.ReadFile(path)
	var out, errb bytes.Buffer
	code := replay.Main(context.Background(), []string{"generate", "--events", "10", "--out", path}, &out, &errb, replay.WithTerminal(false))
	if code != 2 || out.Len() != 0 || !strings.Contains(errb.String(), "already holds 3000 events") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the store was changed")
	}
}

// TestTypedReadsAgree: on a SQLite store, windows and events --type read
// only the events they need (filtered in SQL); they must say what reading
// every event through the store says.
func TestTypedReadsAgree(t *testing.T) {
	path := generated(t)
	plain := replay.WithOpener(func(ctx context.Context, loc string) (eventstore.Store, error) {
		return sqlite.OpenReadOnly(ctx, path)
	})
	for _, args := range [][]string{
		{"windows", "--format", "json"},
		{"windows", "--format", "json", "--since", "2024-01-10", "--until", "2024-01-12"},
		{"events", "--format", "json", "--type", "autoregistration.*,cluster.protocol_set"},
		{"events", "--format", "jsonl", "--type", "device.moved", "--until", "2024-01-15"},
		{"state", "--format", "json", "--at", "2024-01-12"},
	} {
		var a, b, errs bytes.Buffer
		full := append(args, "--store", path)
		if code := replay.Main(context.Background(), full, &a, &errs, replay.WithTerminal(false)); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs.String())
		}
		if code := replay.Main(context.Background(), full, &b, &errs, replay.WithTerminal(false), plain); code != 0 {
			t.Fatalf("%v through the store: exit %d: %s", args, code, errs.String())
		}
		if a.String() != b.String() || a.Len() < 10 {
			t.Errorf("%v: the filtered read differs from the full one (%d and %d bytes)", args, a.Len(), b.Len())
		}
	}
}
