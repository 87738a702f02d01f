package snapfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/snapfile"
)

func sample(t testing.TB) (snapfile.Header, []byte, []byte) {
	t.Helper()
	h := snapfile.Header{Version: snapfile.Version, Position: 1234567, Hash: bytes.Repeat([]byte{0xAB}, snapfile.HashSize),
		Written: time.Date(2026, 12, 1, 10, 0, 0, 42, time.UTC)}
	body := []byte("the body of a snapshot, whatever the read side writes in it")
	b, err := snapfile.Encode(h, body)
	if err != nil {
		t.Fatal(err)
	}
	return h, body, b
}

// TestFileRoundTrip: Decode gives back the header and body Encode wrote;
// the file's size is FileSize's.
func TestFileRoundTrip(t *testing.T) {
	h, body, b := sample(t)
	got, gotBody, err := snapfile.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != h.Version || got.Position != h.Position || !bytes.Equal(got.Hash, h.Hash) || !got.Written.Equal(h.Written) {
		t.Fatalf("header %+v, want %+v", got, h)
	}
	if !bytes.Equal(gotBody, body) {
		t.Fatalf("body %q, want %q", gotBody, body)
	}
	if len(b) != snapfile.FileSize(len(body)) {
		t.Fatalf("%d bytes, FileSize says %d", len(b), snapfile.FileSize(len(body)))
	}
	if _, err := snapfile.Encode(snapfile.Header{Hash: []byte{1}}, nil); err == nil {
		t.Fatal("a header with a short hash is encoded")
	}
}

// TestDecodeRefusesDamage: a file cut short anywhere, extended, or with
// any one byte flipped is refused (ErrCorrupt; ErrVersion for a byte of
// the version), and so is a file of another version with a right
// checksum.
func TestDecodeRefusesDamage(t *testing.T) {
	_, _, b := sample(t)
	for n := range len(b) {
		if _, _, err := snapfile.Decode(b[:n]); !errors.Is(err, snapfile.ErrCorrupt) && !errors.Is(err, snapfile.ErrVersion) {
			t.Fatalf("cut at %d of %d bytes: %v", n, len(b), err)
		}
	}
	if _, _, err := snapfile.Decode(append(bytes.Clone(b), 0)); !errors.Is(err, snapfile.ErrCorrupt) {
		t.Fatalf("a byte more: %v", err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x10
		_, _, err := snapfile.Decode(c)
		want := snapfile.ErrCorrupt
		if i >= 8 && i < 12 {
			want = snapfile.ErrVersion
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: %v, want %v", i, err, want)
		}
	}
	// Another version, whole and with its checksum right: a version error
	// that names both.
	c := bytes.Clone(b)
	binary.LittleEndian.PutUint32(c[8:], snapfile.Version+1)
	_, _, err := snapfile.Decode(c)
	if !errors.Is(err, snapfile.ErrVersion) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", snapfile.Version)) {
		t.Fatalf("version %d: %v", snapfile.Version+1, err)
	}
}

// TestCodecRoundTrip: what an Encoder writes, a Decoder reads back, to
// the end.
func TestCodecRoundTrip(t *testing.T) {
	times := []time.Time{{}, time.Unix(0, 0).UTC(), time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}
	nanos := []int64{snapfile.NoTime, 0, -1, 1, math.MaxInt64, math.MinInt64 + 1, time.Now().UnixNano()}
	var e snapfile.Encoder
	e.Uvarint(math.MaxUint64)
	e.Varint(math.MinInt64)
	e.Byte(7)
	e.Bool(true)
	e.String("héllo")
	e.Blob([]byte{0, 1, 2})
	for _, tm := range times {
		e.Time(tm)
	}
	for _, n := range nanos {
		e.Nanos(n)
	}
	e.Section(9, func(e *snapfile.Encoder) {
		for range 200 { // a length of two bytes
			e.Byte(1)
		}
	})
	e.Section(10, func(*snapfile.Encoder) {})
	d := snapfile.NewDecoder(e.Bytes())
	if d.Uvarint() != math.MaxUint64 || d.Varint() != math.MinInt64 || d.Byte() != 7 || !d.Bool() ||
		d.String() != "héllo" || !bytes.Equal(d.Blob(), []byte{0, 1, 2}) {
		t.Fatalf("values differ: %v", d.Err())
	}
	for _, tm := range times {
		if got := d.Time(); !got.Equal(tm) {
			t.Fatalf("time %v read as %v (%v)", tm, got, d.Err())
		}
	}
	for _, n := range nanos {
		if got := d.Nanos(); got != n {
			t.Fatalf("nanos %d read as %d", n, got)
		}
	}
	s := d.Section(9)
	if len(s.Raw(200)) != 200 || s.End() != nil {
		t.Fatalf("section 9: %v", s.Err())
	}
	if s := d.Section(10); s.End() != nil {
		t.Fatalf("section 10: %v", s.Err())
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
}

// TestDecoderBounds: a Decoder refuses to read past its input, a count
// its input cannot hold, a bad boolean or time, a section of another tag;
// its first error sticks and names the offset.
func TestDecoderBounds(t *testing.T) {
	var e snapfile.Encoder
	e.Uvarint(1 << 40) // a count far beyond the bytes left
	d := snapfile.NewDecoder(e.Bytes())
	if n := d.Count(1); n != 0 || !errors.Is(d.Err(), snapfile.ErrCorrupt) {
		t.Fatalf("count %d, %v", n, d.Err())
	}
	if d.String() != "" || d.Uvarint() != 0 || d.Left() != 0 {
		t.Fatal("reads after an error return values")
	}
	for _, tc := range []struct {
		name string
		in   []byte
		read func(*snapfile.Decoder)
	}{
		{"empty", nil, func(d *snapfile.Decoder) { d.Byte() }},
		{"bool", []byte{2}, func(d *snapfile.Decoder) { d.Bool() }},
		{"time tag", []byte{3}, func(d *snapfile.Decoder) { d.Time() }},
		{"nanoseconds", append([]byte{1, 0}, binary.AppendUvarint(nil, 1e9)...), func(d *snapfile.Decoder) { d.Time() }},
		{"varint", bytes.Repeat([]byte{0xff}, 11), func(d *snapfile.Decoder) { d.Uvarint() }},
		{"blob", []byte{5, 1}, func(d *snapfile.Decoder) { d.Blob() }},
		{"section", []byte{2, 0}, func(d *snapfile.Decoder) { d.Section(1) }},
		{"int", []byte{9}, func(d *snapfile.Decoder) { d.Int(8) }},
		{"left over", []byte{0, 0}, func(d *snapfile.Decoder) { d.Byte(); _ = d.End() }},
	} {
		d := snapfile.NewDecoder(tc.in)
		tc.read(d)
		if !errors.Is(d.Err(), snapfile.ErrCorrupt) || !strings.Contains(d.Err().Error(), "at byte") {
			t.Errorf("%s: %v", tc.name, d.Err())
		}
	}
}

// TestWriteFileReplaces: WriteFile puts the new file in place whole and
// leaves no temporary file; RemoveTemp removes those a killed writer left,
// once old enough.
func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "autoreg.db.snapshot")
	for _, content := range []string{"first", "second, longer"} {
		if err := snapfile.WriteFile(path, []byte(content[:3]), []byte(content[3:])); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != content {
			t.Fatalf("%q, %v; want %q", b, err, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
	// A writer killed mid-write leaves its temporary file.
	left := filepath.Join(dir, ".autoreg.db.snapshot.tmp-123")
	if err := os.WriteFile(left, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := snapfile.RemoveTemp(path, time.Now().Add(-time.Minute)); len(got) != 0 {
		t.Fatalf("removed a fresh temporary file (a writer may be at work): %v", got)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(left, old, old); err != nil {
		t.Fatal(err)
	}
	if got := snapfile.RemoveTemp(path, time.Now().Add(-time.Minute)); len(got) != 1 || got[0] != left {
		t.Fatalf("removed %v, want %s", got, left)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the snapshot itself: %v", err)
	}
}

// FuzzDecode: Decode never panics, and what it accepts encodes back to
// the same bytes.
func FuzzDecode(f *testing.F) {
	_, _, b := sample(f)
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte("AREGSNAP"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := snapfile.Decode(b)
		if err != nil {
			if !errors.Is(err, snapfile.ErrCorrupt) && !errors.Is(err, snapfile.ErrVersion) {
				t.Fatalf("an error that is neither ErrCorrupt nor ErrVersion: %v", err)
			}
			return
		}
		again, err := snapfile.Encode(h, body)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded, then encoded differently (%v)", err)
		}
	})
}
