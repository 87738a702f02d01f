package domain

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzDecode decodes any (type, payload): it must not panic, must fail with
// an error for unknown types and malformed payloads, and what it decodes
// must encode to a payload that decodes to the same event (a fixed point
// after one round: encode(decode(encode(decode(p)))) == encode(decode(p))).
func FuzzDecode(f *testing.F) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	samples := []Event{
		WindowOpened{Window: "w1", Reason: "bulk add", By: "admin:alice", At: at, Until: at.Add(time.Hour), MaxRegistrations: 5, Protocol: SCCP},
		RegistrationRejected{DeviceEvent: DeviceEvent{Device: "SEP001122334455"}, Reason: RejectWindowClosed, Detail: "closed", At: at},
		RoutePatternAdded{Pattern: "9.[2-9]XXXXXX", Partition: "PSTN"},
	}
	for _, e := range samples {
		typ, payload, err := Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(typ, payload)
	}
	types := EventTypes()
	slices.Sort(types)
	for _, typ := range types {
		f.Add(typ, []byte(`{"schema_version":1,"data":{}}`))
	}
	f.Add("nope", []byte(`{"schema_version":1,"data":{}}`))
	f.Add(TypeWindowOpened, []byte(`{"schema_version":2,"data":{}}`))
	f.Add(TypeWindowOpened, []byte(`{"schema_version":1,"data":null}`))
	f.Add(TypeWindowOpened, []byte(`{"schema_version":1,"data":{"at":"not a time"}}`))
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		ev, err := Decode(typ, payload)
		if err != nil {
			var unknown *UnknownEventError
			if _, known := registry[typ]; !known && !errors.As(err, &unknown) {
				t.Fatalf("unknown type %q: error %v is not an UnknownEventError", typ, err)
			}
			if !strings.Contains(err.Error(), typ) && !errors.As(err, &unknown) {
				t.Fatalf("error %q does not name the type %q", err, typ)
			}
			return
		}
		if ev == nil || ev.EventType() != typ {
			t.Fatalf("decoded %T for type %q", ev, typ)
		}
		typ1, p1, err := Encode(ev)
		if err != nil {
			// A time the JSON encoder refuses (year beyond 9999) can come in
			// through a lenient parse; refusing to write it back is fine.
			return
		}
		if typ1 != typ {
			t.Fatalf("re-encoded as %q", typ1)
		}
		ev2, err := Decode(typ1, p1)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", p1, err)
		}
		_, p2, err := Encode(ev2)
		if err != nil || !bytes.Equal(p1, p2) {
			t.Fatalf("not a fixed point (%v):\n p1 %s\n p2 %s", err, p1, p2)
		}
	})
}

// patternRegexp is the reference semantics of a compiled pattern, as an
// RE2 regular expression (linear time).
func patternRegexp(p Pattern) *regexp.Regexp {
	const syms = "0123456789*#"
	var b strings.Builder
	b.WriteString(`^`)
	for _, e := range p.elems {
		b.WriteString(`[`)
		for i, in := range e.set {
			if in {
				b.WriteString(regexp.QuoteMeta(syms[i : i+1]))
			}
		}
		b.WriteString(`]`)
		switch {
		case e.many && e.min == 0:
			b.WriteString(`*`)
		case e.many:
			b.WriteString(`+`)
		case e.min == 0:
			b.WriteString(`?`)
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(strings.ReplaceAll(b.String(), "[]", `[^\x00-\x{10FFFF}]`))
}

// FuzzPattern compiles any pattern and matches it against any number: no
// panic, errors are ErrInvalid, and Match agrees with the reference
// regular expression. Numbers are capped at maxFuzzNumber digits, to keep
// each run short (Match is linear: see BenchmarkPatternMatch).
func FuzzPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"911", "911"}, {"0", "0"}, {"9.[2-9]XXXXXX", "95551234"}, {"9.!", "9011441234567"},
		{"[^0-1]XXX", "2345"}, {"1?2+3", "12223"}, {"X?", ""}, {"*#", "*#"}, {"[2-", "2"},
		{"[]", "1"}, {"!?", "1"}, {"?", ""}, {"[1-0]", "1"}, {"X+X+X+X+", "55555555"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, text, number string) {
		p, err := CompilePattern(text)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CompilePattern(%q): %v is not ErrInvalid", text, err)
			}
			return
		}
		if p.String() != text || len(p.elems) == 0 || len(p.elems) > 48 {
			t.Fatalf("CompilePattern(%q): %d elements, text %q", text, len(p.elems), p.String())
		}
		if len(number) > maxFuzzNumber {
			number = number[:maxFuzzNumber]
		}
		got := p.Match(number)
		want := patternRegexp(p).MatchString(number)
		if got != want {
			t.Fatalf("%q.Match(%q) = %v, the reference says %v", text, number, got, want)
		}
		_ = p.Matches()
	})
}

// maxFuzzNumber bounds the numbers FuzzPattern matches.
const maxFuzzNumber = 256

// BenchmarkPatternMatch shows matching stays linear in the number's length
// whatever the pattern: compare ns/op across the sizes (x4 digits should
// cost about x4). Speed is measured here, never asserted in a test.
func BenchmarkPatternMatch(b *testing.B) {
	for _, text := range []string{"X!", "!!", "X+X+", "1?!"} {
		p, err := CompilePattern(text)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{4000, 16000} {
			s := strings.Repeat("1", n)
			b.Run(fmt.Sprintf("%s/%d", text, n), func(b *testing.B) {
				for b.Loop() {
					p.Match(s)
				}
			})
		}
	}
}
