package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay"
	rt "github.com/autoreg/autoreg/replay/replaytest"
)

// forge appends hand-made events to a memory store, one append each,
// with the metadata the registrar writes; the clock moves a minute each.
type forge struct {
	t     *testing.T
	store *memory.Store
	now   time.Time
	n     int
}

func newForge(t *testing.T) *forge {
	f := &forge{t: t, now: rt.T0}
	f.store = memory.New(memory.WithClock(func() time.Time { return f.now }))
	return f
}

// add appends events (encoded by the domain) and returns the position of the last.
func (f *forge) add(events ...domain.Event) uint64 {
	f.t.Helper()
	var pos uint64
	for _, e := range events {
		typ, data, err := domain.Encode(e)
		if err != nil {
			f.t.Fatal(err)
		}
		pos = f.raw(e.Stream(), typ, data)
	}
	return pos
}

// raw appends one event as given.
func (f *forge) raw(stream, typ string, data []byte) uint64 {
	f.t.Helper()
	f.now = f.now.Add(time.Minute)
	f.n++
	id := fmt.Sprintf("00000000-0000-7000-8000-%012d", f.n)
	meta, _ := json.Marshal(command.Metadata{EventID: id, Actor: "test", Command: "Forge", DecidedAt: f.now})
	res, err := f.store.Append(context.Background(), eventstore.StreamAppend{Stream: stream, Expected: eventstore.Any,
		Events: []eventstore.EventData{{ID: id, Type: typ, Data: data, Metadata: meta}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Position
}

// verify runs `replay verify` on the store.
func (f *forge) verify() (int, string, string) {
	var out, errb bytes.Buffer
	code := replay.Main(context.Background(), []string{"verify"}, &out, &errb,
		replay.WithOpener(func(context.Context, string) (eventstore.Store, error) { return keep{f.store}, nil }),
		replay.WithTerminal(false))
	return code, out.String(), errb.String()
}

const (
	devA = "SEP00000000000A"
	devB = "SEP00000000000B"
)

func opened(id string, at time.Time, until time.Time, max int) domain.WindowOpened {
	return domain.WindowOpened{Window: id, Reason: "test", By: "admin:alice", At: at, Until: until, MaxRegistrations: max, Protocol: domain.SCCP}
}

func assigned(dn, dev, win string) domain.DNAssigned {
	return domain.DNAssigned{DN: dn, Partition: "Internal", Device: dev, Window: win}
}

func autoreg(dev, dn, win string) domain.DeviceAutoregistered {
	return domain.DeviceAutoregistered{DeviceEvent: domain.DeviceEvent{Device: dev}, Model: "7961", Protocol: domain.SCCP,
		DN: dn, Partition: "Internal", Pool: "Default", Address: "10.0.0.1:2000", Window: win}
}

// TestVerifyCatchesEachRule appends a hand-made bad event after a valid
// start and checks verify names its position and the rule.
func TestVerifyCatchesEachRule(t *testing.T) {
	rng := domain.RangeConfigured{Start: "1000", End: "1099", Partition: "Internal", By: "config"}
	mixed := domain.SecurityModeSet{Mode: domain.Mixed, By: "admin:sec"}
	for _, tc := range []struct {
		name string
		// build appends the history and returns the bad event's position.
		build func(f *forge) uint64
		want  string
	}{
		{"a DN assigned twice", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0), assigned("1000", devA, "W1"), autoreg(devA, "1000", "W1"))
			return f.add(assigned("1000", devB, "W1"))
		}, "given to " + devB + " while " + devA + " holds it"},
		{"a DN claimed while held", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0), assigned("1000", devA, "W1"), autoreg(devA, "1000", "W1"))
			return f.add(domain.DNClaimed{DN: "1000", Partition: "Internal", Device: devB, By: "admin:bob"})
		}, "while " + devA + " holds it"},
		{"an autoregistration with no window open", func(f *forge) uint64 {
			f.add(rng)
			return f.add(assigned("1000", devA, "W1"))
		}, "while autoregistration was closed"},
		{"a device autoregistered with no window and no DN", func(f *forge) uint64 {
			f.add(rng)
			return f.add(autoreg(devA, "1000", "W1"))
		}, "while autoregistration was closed"},
		{"an autoregistration after the window closed", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0),
				domain.WindowClosed{Window: "W1", Cause: domain.CloseByAdmin, Reason: "done", By: "admin:bob", At: f.now})
			return f.add(assigned("1000", devA, "W1"))
		}, "while autoregistration was closed"},
		{"an autoregistration in another window", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0))
			return f.add(assigned("1000", devA, "W7"))
		}, "the open window is W1"},
		{"an autoregistration after the window's time", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, f.now.Add(90*time.Second), 0))
			f.now = f.now.Add(10 * time.Minute)
			return f.add(assigned("1000", devA, "W1"))
		}, "after window W1's time was up"},
		{"an autoregistration beyond the window's limit", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 1), assigned("1000", devA, "W1"), autoreg(devA, "1000", "W1"))
			return f.add(assigned("1001", devB, "W1"))
		}, "beyond window W1's limit of 1"},
		{"an autoregistration while security is mixed", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0), mixed)
			return f.add(assigned("1000", devA, "W1"))
		}, "while cluster security was mixed"},
		{"an autoregistration outside the range", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0))
			return f.add(assigned("2000", devA, "W1"))
		}, "DN 2000 (partition Internal) is outside the autoregistration range 1000-1099"},
		{"an autoregistration in another partition", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0))
			return f.add(domain.DNAssigned{DN: "1000", Partition: "PSTN", Device: devA, Window: "W1"})
		}, "is outside the autoregistration range"},
		{"an autoregistration with no range", func(f *forge) uint64 {
			f.add(opened("W1", f.now, time.Time{}, 0))
			return f.add(assigned("1000", devA, "W1"))
		}, "outside the autoregistration range -"},
		{"a device autoregistered with a DN the range gave another", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0), assigned("1000", devA, "W1"))
			return f.add(autoreg(devB, "1000", "W1"))
		}, "the range gives that DN to \"" + devA + "\""},
		{"a device autoregistered twice", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0), assigned("1000", devA, "W1"), autoreg(devA, "1000", "W1"),
				assigned("1001", devA, "W1"))
			return f.add(autoreg(devA, "1001", "W1"))
		}, "it exists already (DN 1000)"},
		{"a window opened while one is open", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0))
			return f.add(opened("W2", f.now, time.Time{}, 0))
		}, "window W2 opened while window W1 is open"},
		{"a window opened while security is mixed", func(f *forge) uint64 {
			f.add(rng, mixed)
			return f.add(opened("W1", f.now, time.Time{}, 0))
		}, "opened while cluster security is mixed"},
		{"an event that does not decode", func(f *forge) uint64 {
			f.add(rng)
			return f.raw(domain.RangeStream, domain.TypeDNAssigned, []byte(`{"schema_version":1,"data":{"dn":`))
		}, "malformed payload"},
		{"an event of an unknown type", func(f *forge) uint64 {
			f.add(rng)
			return f.raw(domain.RangeStream, "dnrange.teleported", []byte(`{"schema_version":1,"data":{}}`))
		}, `unknown event type "dnrange.teleported"`},
		{"an event from the future", func(f *forge) uint64 {
			f.add(rng)
			return f.raw(domain.RangeStream, domain.TypeDNReleased, []byte(`{"schema_version":9,"data":{}}`))
		}, "schema_version 9 not supported"},
		{"an event in the wrong stream", func(f *forge) uint64 {
			f.add(rng, opened("W1", f.now, time.Time{}, 0))
			_, data, _ := domain.Encode(autoreg(devA, "1000", "W1"))
			return f.raw(domain.RangeStream, domain.TypeDeviceAutoregistered, data)
		}, "a device.autoregistered event belongs to stream autoreg-device-" + devA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newForge(t)
			bad := tc.build(f)
			code, out, errs := f.verify()
			want := fmt.Sprintf("FAILED at position %d", bad)
			if code != 1 || out != "" || !strings.Contains(errs, want) || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, %q and %q", code, out, errs, want, tc.want)
			}
		})
	}

	// The same starts without the bad event pass.
	f := newForge(t)
	f.add(rng, opened("W1", f.now, f.now.Add(time.Hour), 2), assigned("1000", devA, "W1"), autoreg(devA, "1000", "W1"),
		assigned("1001", devB, "W1"), autoreg(devB, "1001", "W1"),
		domain.WindowClosed{Window: "W1", Cause: domain.CloseRegistrationLimit, By: "system", At: f.now},
		mixed, domain.SecurityModeSet{Mode: domain.Nonsecure, By: "admin:sec"}, opened("W2", f.now, time.Time{}, 0))
	if code, _, errs := f.verify(); code != 0 {
		t.Errorf("a valid history: exit %d: %s", code, errs)
	}
}

// sliceReader serves events from a slice, as a store would.
type sliceReader []eventstore.RecordedEvent

func (s sliceReader) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	for _, e := range s {
		if e.Position < from {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// TestVerifyChain tampers with a valid history in memory: the first bad
// position is named each time.
func TestVerifyChain(t *testing.T) {
	h := rt.Build(t)
	var good sliceReader
	h.Store.ReadAll(context.Background(), 1, func(e eventstore.RecordedEvent) error { good = append(good, e); return nil })
	clone := func() sliceReader {
		out := make(sliceReader, len(good))
		copy(out, good)
		return out
	}
	for _, tc := range []struct {
		name   string
		tamper func(s sliceReader) sliceReader
		pos    uint64
		want   string
	}{
		{"edited data", func(s sliceReader) sliceReader {
			s[40].Data = bytes.Replace(s[40].Data, []byte(`"1003"`), []byte(`"1099"`), 1)
			return s
		}, 41, "hash does not chain"},
		{"edited time", func(s sliceReader) sliceReader {
			s[30].RecordedAt = s[30].RecordedAt.Add(-time.Hour)
			return s
		}, 31, "hash does not chain"},
		{"edited metadata", func(s sliceReader) sliceReader {
			m := s[50].Metadata
			s[50].Metadata = append(bytes.Clone(m[:len(m)-1]), `,"actor2":"admin:eve"}`...)
			return s
		}, 51, "hash does not chain"},
		{"deleted", func(s sliceReader) sliceReader { return append(s[:20:20], s[21:]...) }, 21, "missing"},
		{"deleted at the start", func(s sliceReader) sliceReader { return s[1:] }, 1, "missing"},
		{"inserted, positions renumbered", func(s sliceReader) sliceReader {
			forged := s[45]
			forged.ID, forged.Stream, forged.Version = "forged", domain.DeviceStream("SEP0000000000EE"), 0
			out := append(append(s[:45:45], forged), s[45:]...)
			for i := 45; i < len(out); i++ {
				out[i].Position = uint64(i + 1)
			}
			return out
		}, 46, "hash does not chain"},
		{"inserted with a chained hash", func(s sliceReader) sliceReader {
			forged := s[45]
			forged.ID, forged.Stream, forged.Version, forged.Position = "forged", domain.DeviceStream("SEP0000000000EE"), 0, 46
			forged.Data = []byte(`{"schema_version":1,"data":{"device":"SEP0000000000EE","reason":"keepalive"}}`)
			forged.Type = domain.TypeDeviceUnregistered
			forged.Hash = eventstore.ChainHash(s[44].Hash, forged)
			out := append(append(s[:45:45], forged), s[45:]...)
			for i := 46; i < len(out); i++ {
				out[i].Position = uint64(i + 1)
			}
			return out
		}, 47, "hash does not chain"}, // the forger's own event chains; the next one does not
		{"swapped", func(s sliceReader) sliceReader {
			s[33], s[35] = s[35], s[33]
			s[33].Position, s[35].Position = 34, 36
			return s
		}, 34, "hash does not chain"},
		{"swapped with their positions", func(s sliceReader) sliceReader {
			s[33], s[35] = s[35], s[33]
			return s
		}, 34, "found position 36"},
		{"a version changed", func(s sliceReader) sliceReader { s[10].Version = 7; return s }, 11, "version"},
		{"no hash", func(s sliceReader) sliceReader { s[5].Hash = nil; return s }, 6, "no hash"},
		{"the last event edited", func(s sliceReader) sliceReader {
			s[60].Data = bytes.Replace(s[60].Data, []byte("W3"), []byte("W9"), 1)
			return s
		}, 61, "hash does not chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := replay.Verify(context.Background(), replay.Env{}, tc.tamper(clone()))
			var verr *replay.VerifyError
			if !errors.As(err, &verr) || verr.Position != tc.pos || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want position %d and %q", err, tc.pos, tc.want)
			}
		})
	}
	if _, err := replay.Verify(context.Background(), replay.Env{}, good); err != nil {
		t.Errorf("the untouched history: %v", err)
	}
}

// TestBadInput: every mistake exits 2 with a message and no output.
func TestBadInput(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	notStore := filepath.Join(dir, "notes.txt")
	os.WriteFile(notStore, []byte("hello, not a database\n"), 0o644)
	otherDB := filepath.Join(dir, "other.db")
	os.WriteFile(otherDB, append([]byte("SQLite format 3\x00"), make([]byte, 4096)...), 0o644)
	missing := filepath.Join(dir, "missing.db")
	real := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := replay.Main(context.Background(), args, &out, &errb, replay.WithTerminal(false))
		return code, out.String(), errb.String()
	}
	for _, tc := range []struct {
		name string
		run  func(args ...string) (int, string, string)
		args []string
		want string
	}{
		{"unknown command", c.run, []string{"rewind"}, "unknown command"},
		{"unknown flag", c.run, []string{"windows", "--colour"}, "unknown flag"},
		{"bad format", c.run, []string{"windows", "--format", "xml"}, `--format "xml": use text, json, csv`},
		{"jsonl is for events", c.run, []string{"state", "--format", "jsonl"}, "--format"},
		{"since after until", c.run, []string{"windows", "--since", "2026-03-03", "--until", "2026-03-02"}, "is after --until"},
		{"unparseable since", c.run, []string{"windows", "--since", "yesterday"}, `--since: "yesterday" is not a time`},
		{"unparseable until", c.run, []string{"events", "--until", "2026-13-45"}, "--until"},
		{"unparseable at", c.run, []string{"state", "--at", "noon"}, `--at: "noon" is not a time`},
		{"events since after until", c.run, []string{"events", "--since", "2026-03-03T10:00", "--until", "2026-03-03T09:00"}, "is after"},
		{"unknown type", c.run, []string{"events", "--type", "device.teleported"}, "matches no event type"},
		{"bad device name", c.run, []string{"device", "phone-12"}, "is not a device name"},
		{"device without a name", c.run, []string{"device"}, "takes 1 argument"},
		{"extra argument", c.run, []string{"windows", "W1"}, "takes 0 argument"},
		{"store and data", c.run, []string{"verify", "--store", "a.db", "--data", "dir"}, "not both"},
		{"no store", real, []string{"windows", "--store", missing}, "no event store at " + missing},
		{"no store, URL", real, []string{"verify", "--store", "sqlite://" + missing}, "no event store at " + missing},
		{"no data dir", real, []string{"state", "--data", filepath.Join(dir, "nowhere")}, "no event store at"},
		{"a directory", real, []string{"events", "--store", dir}, "is a directory"},
		{"not a store", real, []string{"verify", "--store", notStore}, "is not an autoreg event store"},
		{"another program's database", real, []string{"windows", "--store", otherDB}, "is not an autoreg event store"},
		{"unsupported scheme", real, []string{"windows", "--store", "mysql://localhost:3306/autoreg"}, "not supported"},
		{"generate without out", real, []string{"generate", "--events", "10"}, "--out FILE is required"},
		{"generate without events", real, []string{"generate", "--out", filepath.Join(dir, "new.db")}, "--events N is required"},
		{"generate over a file", real, []string{"generate", "--events", "10", "--out", notStore}, "is not an empty event store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := tc.run(tc.args...)
			if code != 2 || out != "" || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no output, %q", code, out, errs, tc.want)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing store was created: %v", err)
	}
	if b, _ := os.ReadFile(notStore); string(b) != "hello, not a database\n" {
		t.Errorf("a file that is not a store was changed")
	}
}

func TestHelp(t *testing.T) {
	c := newCLI(t)
	for _, cmd := range []string{"windows", "device", "state", "events", "verify", "generate"} {
		out := c.ok(cmd, "--help")
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "replay "+cmd) || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help:\n%s", cmd, out)
		}
	}
}
