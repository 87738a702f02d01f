package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay"
)

func readAllEvents(t *testing.T, path string) []eventstore.RecordedEvent {
	t.Helper()
	st, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var all []eventstore.RecordedEvent
	if err := st.ReadAll(t.Context(), 1, func(e eventstore.RecordedEvent) error {
		all = append(all, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all
}

func runReplay(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := replay.Main(t.Context(), args, &out, &errb, replay.WithTerminal(false))
	return code, out.String(), errb.String()
}

// TestCopyResumes copies a generated history from one SQLite store into a
// new one, is interrupted, resumes where it stopped, and ends with a copy
// identical to the source (ids, metadata, times, hashes) that verifies.
func TestCopyResumes(t *testing.T) {
	src := generated(t)
	dst := filepath.Join(t.TempDir(), "sub", "copy.db")

	// First run: interrupted after two batches.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	from, err := replay.OpenStore(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	to, err := replay.OpenTarget(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	_, err = replay.Copy(ctx, from, to, replay.CopyOptions{Batch: 500, AfterBatch: func(uint64) {
		if batches++; batches == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "run it again") {
		t.Fatalf("interrupted Copy: %v, want context.Canceled and a hint to run again", err)
	}
	head, err := to.Head(t.Context())
	if err != nil || head != 1000 {
		t.Fatalf("target head after the interruption: %d, %v; want 1000", head, err)
	}
	from.Close()
	to.Close()

	// Second run, through the command line: it goes on from 1000.
	code, out, errs := runReplay(t, "copy", "--from", src, "--to", "sqlite://"+dst, "--format", "json", "--batch", "700")
	if code != 0 {
		t.Fatalf("replay copy: exit %d: %s", code, errs)
	}
	var res struct {
		Kept, Copied, Head uint64
		Verify             struct{ Events uint64 }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("copy's JSON %q: %v", out, err)
	}
	want := readAllEvents(t, src)
	n := uint64(len(want))
	if res.Kept != 1000 || res.Copied != n-1000 || res.Head != n || res.Verify.Events != n {
		t.Fatalf("copy summary %+v, want kept 1000, copied %d, head and verified %d", res, n-1000, n)
	}
	if diff := cmp.Diff(want, readAllEvents(t, dst)); diff != "" {
		t.Fatalf("the copy differs from the source (-source +copy):\n%s", diff)
	}

	// Again: nothing to copy; the copy still verifies.
	code, out, errs = runReplay(t, "copy", "--from", src, "--to", dst)
	if code != 0 || !strings.Contains(out, "copied 0 events ("+groupDigits(n)+" already in the target)") || !strings.Contains(out, "hash chain intact") {
		t.Fatalf("copy again: exit %d\n%s%s", code, out, errs)
	}
	// replay verify agrees.
	if code, _, errs := runReplay(t, "verify", "--store", dst); code != 0 {
		t.Fatalf("replay verify on the copy: exit %d: %s", code, errs)
	}
}

// TestCopyRefuses: a target that is not a copy of the source (other
// events, or more of them) is refused with exit status 2, untouched.
func TestCopyRefuses(t *testing.T) {
	dir := t.TempDir()
	src := generated(t)
	other := filepath.Join(dir, "other.db")
	if _, err := replay.GenerateStore(t.Context(), other, replay.GenerateOptions{Events: 200, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	before := readAllEvents(t, other)
	code, out, errs := runReplay(t, "copy", "--from", src, "--to", other)
	if code != replay.ExitUsage || out != "" || !strings.Contains(errs, "not a copy of the source") {
		t.Fatalf("copy onto another history: exit %d\n%s%s", code, out, errs)
	}
	if diff := cmp.Diff(before, readAllEvents(t, other)); diff != "" {
		t.Fatalf("the refused target changed:\n%s", diff)
	}
	// The source is the smaller one now.
	code, _, errs = runReplay(t, "copy", "--from", other, "--to", src)
	if code != replay.ExitUsage || !strings.Contains(errs, "not a copy of the source") {
		t.Fatalf("copy onto a larger store: exit %d: %s", code, errs)
	}
	for _, args := range [][]string{{"copy", "--from", src}, {"copy", "--to", other}, {"copy", "--from", src, "--to", src},
		{"copy", "--from", filepath.Join(dir, "none.db"), "--to", filepath.Join(dir, "new.db")}} {
		if code, _, errs := runReplay(t, args...); code != replay.ExitUsage {
			t.Fatalf("replay %v: exit %d, want 2: %s", args, code, errs)
		}
	}
}

// groupDigits writes n with thousands separators, as the summaries do.
func groupDigits(n uint64) string {
	digits := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
