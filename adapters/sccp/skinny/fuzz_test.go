package skinny

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
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
		// Whatever the body, decoding must not panic, and gives the same
		// message (or error) however the stream was split.
		m, err := Decode(f.ID, f.Body)
		res.frames = append(res.frames, fmt.Sprintf("%#x/%v/%x -> %#v %v", f.Version, f.ID, f.Body, m, err))
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

// fixedBody is the body length of messages encoded whole whatever they
// hold (arrays with unused slots) when it exceeds the bound FuzzDecode
// allows any re-encoded body.
var fixedBody = map[MessageID]int{
	SoftKeyTemplateResID: softKeyTemplateLen,
	SoftKeySetResID:      softKeySetResLen,
	ServerResID:          serverResBodyLen,
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
		if len(b1) > max(len(body), 112, fixedBody[m.ID()]) {
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

// stationIDs are the messages of the conversation after registration, in
// both directions.
var stationIDs = []MessageID{
	VersionReqID, ServerReqID, ConfigStatReqID, TimeDateReqID, SoftKeySetReqID, SoftKeyTemplateReqID,
	ForwardStatReqID, SpeedDialStatReqID, RegisterAvailableLinesID, AlarmID, ButtonTemplateReqID, LineStatReqID,
	VersionID, ServerResID, ResetID, ConfigStatID, DefineTimeDateID, ForwardStatID, SpeedDialStatID,
	SoftKeyTemplateResID, SoftKeySetResID, ButtonTemplateID, LineStatResID,
}

// FuzzStation frames any body as one of the conversation's messages,
// between a VersionReq and a KeepAlive, and reads the stream whole, split
// in two at every point and a byte at a time: every way gives the same
// three messages, the body decodes as Decode decodes it alone (or fails with
// ErrShortBody and a message naming it), and the frames around it are never
// lost. What decodes re-encodes to a fixed point.
func FuzzStation(f *testing.F) {
	for _, c := range loadCorpus(f) {
		r := NewReader(bytes.NewReader(c.data), 0)
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				break
			}
			for i, id := range stationIDs {
				if id == fr.ID {
					f.Add(uint8(i), bytes.Clone(fr.Body))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		id := stationIDs[int(sel)%len(stationIDs)]
		if len(body) > DefaultMaxFrame-4 {
			body = body[:DefaultMaxFrame-4]
		}
		want, wantErr := Decode(id, body)
		if wantErr != nil {
			if !errors.Is(wantErr, ErrShortBody) || !strings.Contains(wantErr.Error(), id.String()) {
				t.Fatalf("Decode(%v): %v", id, wantErr)
			}
		} else {
			b1 := want.AppendBody(nil)
			m2, err := Decode(id, b1)
			if err != nil {
				t.Fatalf("re-decoding %v %x: %v", id, b1, err)
			}
			if b2 := m2.AppendBody(nil); !bytes.Equal(b1, b2) {
				t.Fatalf("%v: not a fixed point\n b1 %x\n b2 %x", id, b1, b2)
			}
		}
		stream := cat(Marshal(VersionReq{}), AppendRawFrame(nil, 0, id, body), Marshal(KeepAlive{}))
		read := func(how string, rd io.Reader) {
			r := NewReader(rd, 0)
			for i := 0; ; i++ {
				m, err := r.ReadMessage()
				if err == io.EOF {
					if i != 3 {
						t.Fatalf("%s: %d messages", how, i)
					}
					return
				}
				switch i {
				case 0:
					if m != (VersionReq{}) || err != nil {
						t.Fatalf("%s: first %#v, %v", how, m, err)
					}
				case 1:
					if !reflect.DeepEqual(m, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
						t.Fatalf("%s: %#v, %v\nwant %#v, %v", how, m, err, want, wantErr)
					}
				case 2:
					if m != (KeepAlive{}) || err != nil {
						t.Fatalf("%s: last %#v, %v", how, m, err)
					}
				default:
					t.Fatalf("%s: message %d: %#v, %v", how, i, m, err)
				}
			}
		}
		read("whole", bytes.NewReader(stream))
		for at := 1; at < len(stream); at++ {
			if len(stream) > 256 && at > 64 && at < len(stream)-64 && at%37 != 0 {
				continue
			}
			read(fmt.Sprintf("split at %d", at), splitReader(stream, at))
		}
		read("one byte at a time", iotest.OneByteReader(bytes.NewReader(stream)))
	})
}
