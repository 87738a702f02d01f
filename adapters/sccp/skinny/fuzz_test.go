package skinny

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// fuzzMax is the Reader limit the fuzz targets use: small, so inputs reach
// it often.
const fuzzMax = 512

// readResult is everything a Reader returned for a stream, comparable across
// different splits of that stream.
type readResult struct {
	frames []string // version/id/body of each frame
	err    string
}

func readStream(rd io.Reader) readResult {
	r := NewReader(rd, fuzzMax)
	var res readResult
	for {
		f, err := r.ReadFrame()
		if err != nil {
			res.err = err.Error()
			return res
		}
		if len(f.Body) > fuzzMax-4 {
			panic(fmt.Sprintf("frame body of %d bytes exceeds the limit", len(f.Body)))
		}
		if cap(r.buf) > 8+fuzzMax {
			panic(fmt.Sprintf("buffer of %d bytes exceeds one frame", cap(r.buf)))
		}
		res.frames = append(res.frames, fmt.Sprintf("%#x/%v/%x", f.Version, f.ID, f.Body))
		// Whatever the body, decoding must not panic.
		_, _ = Decode(f.ID, f.Body)
	}
}

// splitReader returns data in two reads: data[:at] then data[at:].
func splitReader(data []byte, at int) io.Reader {
	return &chunkReader{data: data, sizes: []int{at, len(data)}}
}

func addCorpusSeeds(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.data)
	}
}

// FuzzReader feeds a stream to the Reader whole, then split in two at
// various points and a byte at a time, and checks every way gives the same
// frames and the same final error, as nats-server's parser fuzzing does.
func FuzzReader(f *testing.F) {
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want := readStream(bytes.NewReader(data))
		check := func(how string, got readResult) {
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n got %+v\nwant %+v", how, got, want)
			}
		}
		// Every split point for short inputs; for long ones the first and
		// last 64 and some in between (frame boundaries live there).
		for at := 1; at < len(data); at++ {
			if len(data) > 256 && at > 64 && at < len(data)-64 && at%37 != 0 {
				continue
			}
			check(fmt.Sprintf("split at %d", at), readStream(splitReader(data, at)))
		}
		if len(data) <= 4096 {
			check("one byte at a time", readStream(iotest.OneByteReader(bytes.NewReader(data))))
		}
		check("data with EOF", readStream(iotest.DataErrReader(bytes.NewReader(data))))
	})
}

// FuzzDecode decodes any body as any message: it must not panic, must fail
// only with ErrShortBody, and what it decodes must re-encode to a body that
// is a fixed point (encode(decode(encode(m))) == encode(m)), of bounded size.
func FuzzDecode(f *testing.F) {
	for _, c := range loadCorpus(f) {
		r := NewReader(bytes.NewReader(c.data), 0)
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				break
			}
			f.Add(uint32(fr.ID), bytes.Clone(fr.Body))
		}
	}
	f.Fuzz(func(t *testing.T, id uint32, body []byte) {
		m, err := Decode(MessageID(id), body)
		if err != nil {
			if !errors.Is(err, ErrShortBody) {
				t.Fatalf("Decode: %v", err)
			}
			return
		}
		if m.ID() != MessageID(id) {
			t.Fatalf("decoded id %v, want %v", m.ID(), MessageID(id))
		}
		b1 := m.AppendBody(nil)
		if len(b1) > max(len(body), 112) {
			t.Fatalf("%v: %d-byte body re-encodes to %d bytes", m.ID(), len(body), len(b1))
		}
		m2, err := Decode(MessageID(id), b1)
		if err != nil {
			t.Fatalf("re-decoding %x: %v", b1, err)
		}
		b2 := m2.AppendBody(nil)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("%v: not a fixed point\n b1 %x\n b2 %x", m.ID(), b1, b2)
		}
		m3, err := Decode(MessageID(id), b2)
		if err != nil || !reflect.DeepEqual(m2, m3) {
			t.Fatalf("%v: %#v\n!= %#v (%v)", m.ID(), m3, m2, err)
		}
	})
}
