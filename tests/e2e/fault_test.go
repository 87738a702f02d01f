package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore"
	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/domain"
)

// storeWithPhones runs the registrar on a new data directory, registers a
// few phones and stops it cleanly (the WAL is checkpointed into the file).
// It returns the data directory.
func storeWithPhones(t *testing.T) string {
	t.Helper()
	p := newProc(t, t.TempDir())
	p.start()
	p.waitHealthy(15 * time.Second)
	r := p.registrar()
	r.MustAdmin("autoreg", "open", "--reason", "fault test")
	phones, err := runPhonesim(t, p.sip, p.sccp, "--mix", "--models", "7961,8961", "--phones", "6", "--seed", "77")
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range phones {
		if ph.Result != "registered" {
			t.Fatalf("phone %+v", ph)
		}
	}
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.logs.String())
	}
	return p.data
}

// refusesToStart starts the registrar on data and expects it to exit
// non-zero by itself, with a message containing every one of want, and
// without changing the store's file. It returns the output.
func refusesToStart(t *testing.T, data string, want ...string) string {
	t.Helper()
	path := filepath.Join(data, "autoreg.db")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := newProc(t, data)
	p.start()
	err, exited := p.waitExit(20 * time.Second)
	out := p.logs.String()
	if !exited {
		p.kill()
		t.Fatalf("the registrar did not refuse to start:\n%s", tail(out, 3000))
	}
	if err == nil {
		t.Fatalf("the registrar exited 0:\n%s", tail(out, 3000))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the message does not say %q:\n%s", w, tail(out, 3000))
		}
	}
	after, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the registrar changed %s (%d bytes before, %d after)", path, len(before), len(after))
	}
	if strings.Contains(out, "registrar serving") {
		t.Errorf("the registrar served before refusing:\n%s", tail(out, 3000))
	}
	return out
}

// A store cut short at start (pages missing at its end): the registrar
// refuses to start, names the file and what is missing, and writes nothing.
func TestRefusesTruncatedStore(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	data := storeWithPhones(t)
	path := filepath.Join(data, "autoreg.db")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()-4096); err != nil {
		t.Fatal(err)
	}
	out := refusesToStart(t, data, path, "truncated")
	t.Logf("truncated by a page: %s", lastLine(out))

	// Cut inside a page as well.
	if err := os.Truncate(path, info.Size()-4096-1000); err != nil {
		t.Fatal(err)
	}
	out = refusesToStart(t, data, path, "truncated")
	t.Logf("truncated inside a page: %s", lastLine(out))
}

// A byte of an event's payload changed on disk (a DN in an autoregistration):
// SQLite sees nothing wrong, the hash chain does. The registrar refuses to
// start naming the file and the event's position, and writes nothing.
func TestRefusesCorruptStore(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	data := storeWithPhones(t)
	path := filepath.Join(data, "autoreg.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"dn":"100`))
	if i < 0 {
		t.Fatal("no DN in the file")
	}
	j := i + len(`"dn":"100`)
	b[j] = '0' + (b[j]-'0'+5)%10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := refusesToStart(t, data, path, "position")
	t.Logf("a DN changed: %s", lastLine(out))
}

// Events the file holds, correctly chained, that this build cannot read:
// an unknown type, a malformed payload. The registrar refuses to start
// naming the position and the type, and writes nothing.
func TestRefusesUndecodableEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("real binaries")
	}
	for _, tc := range []struct {
		name, typ, data string
	}{
		{"unknown type", "device.teleported", `{"schema_version":1,"data":{}}`},
		{"malformed payload", domain.TypeProtocolSet, `{"schema_version":1,"data":{"protocol":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := storeWithPhones(t)
			path := filepath.Join(data, "autoreg.db")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Append(ctx, eventstore.StreamAppend{Stream: domain.ClusterStream, Expected: eventstore.Any,
				Events: []eventstore.EventData{{ID: "bad-" + tc.typ, Type: tc.typ, Data: []byte(tc.data), Metadata: []byte(`{}`)}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			out := refusesToStart(t, data, path, fmt.Sprintf("position %d", res.Position), tc.typ)
			t.Logf("%s: %s", tc.name, lastLine(out))
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
