package skinny

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// corpusCase is a file of testdata/corpus: a byte stream and what reading it
// must give.
type corpusCase struct {
	name string
	data []byte
	want []string // message names; a trailing "!" means Decode fails with ErrShortBody
	err  string   // "EOF", or a substring of the error that ends the stream
}

// loadCorpus reads testdata/corpus/*.txt: "# comments", a "want:" line, an
// "err:" line, and the stream in hex.
func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	var cases []corpusCase
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		c := corpusCase{name: strings.TrimSuffix(filepath.Base(file), ".txt")}
		var hexText strings.Builder
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "#"):
			case strings.HasPrefix(line, "want:"):
				c.want = strings.Fields(strings.TrimPrefix(line, "want:"))
			case strings.HasPrefix(line, "err:"):
				c.err = strings.TrimSpace(strings.TrimPrefix(line, "err:"))
			default:
				hexText.WriteString(line)
			}
		}
		f.Close()
		c.data = unhex(t, hexText.String())
		cases = append(cases, c)
	}
	return cases
}

// readAll reads frames until an error, returning each frame's message name
// (with "!" when it does not decode) and the final error.
func readAll(r *Reader) ([]string, error) {
	var got []string
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return got, err
		}
		name := f.ID.String()
		if _, err := Decode(f.ID, f.Body); err != nil {
			if !errors.Is(err, ErrShortBody) {
				return got, err
			}
			name += "!"
		}
		got = append(got, name)
	}
}

// chunkReader returns its data in reads of the given sizes (the last size
// repeats).
type chunkReader struct {
	data  []byte
	sizes []int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[0]
	if len(c.sizes) > 1 {
		c.sizes = c.sizes[1:]
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestReaderCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			readers := map[string]func() io.Reader{
				"whole":     func() io.Reader { return bytes.NewReader(c.data) },
				"one byte":  func() io.Reader { return iotest.OneByteReader(bytes.NewReader(c.data)) },
				"half":      func() io.Reader { return iotest.HalfReader(bytes.NewReader(c.data)) },
				"data+EOF":  func() io.Reader { return iotest.DataErrReader(bytes.NewReader(c.data)) },
				"7 bytes":   func() io.Reader { return &chunkReader{data: c.data, sizes: []int{7}} },
				"13 then 3": func() io.Reader { return &chunkReader{data: c.data, sizes: []int{13, 3}} },
			}
			for how, mk := range readers {
				got, err := readAll(NewReader(mk(), 0))
				if strings.Join(got, " ") != strings.Join(c.want, " ") {
					t.Errorf("%s: messages %v, want %v", how, got, c.want)
				}
				switch {
				case c.err == "EOF":
					if err != io.EOF {
						t.Errorf("%s: err = %v, want EOF", how, err)
					}
				case err == nil || !strings.Contains(err.Error(), c.err):
					t.Errorf("%s: err = %v, want one containing %q", how, err, c.err)
				}
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		is   error
	}{
		{"too large", cat(le(5000), le(0), le(1)), ErrFrameTooLarge},
		{"too short", cat(le(3), le(0), le(1)), ErrFrameTooShort},
		{"bad version", cat(le(4), le(0x100), le(0)), ErrBadHeaderVersion},
		{"truncated", cat(le(8), le(0), le(1), []byte{1}), ErrTruncated},
		{"truncated in header", cat(le(8), le(0)), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.data), 0)
			_, err := r.ReadFrame()
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if _, again := r.ReadFrame(); again != err {
				t.Fatalf("second call: %v, want the same error", again)
			}
		})
	}
}

// TestReaderHugeLengthReadsNothingMore checks a frame claiming a huge length
// is refused as soon as its length field is read: the Reader neither waits
// for the rest nor allocates for it.
func TestReaderHugeLengthReadsNothingMore(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(le(1 << 30)) // nothing follows: a Reader waiting for more would hang
	r := NewReader(pr, 0)
	done := make(chan error, 1)
	go func() { _, err := r.ReadFrame(); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "1073741824") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame waited for the body of an oversized frame")
	}
	if cap(r.buf) > 8+DefaultMaxFrame {
		t.Fatalf("buffer grew to %d", cap(r.buf))
	}
}

func TestReaderBufferBound(t *testing.T) {
	// Frames of every size up to the maximum, one byte at a time: the
	// buffer never exceeds one maximal frame.
	var stream []byte
	for _, n := range []int{0, 100, 600, 4092, 10} {
		stream = AppendRawFrame(stream, 0, 0x0122, make([]byte, n))
	}
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0)
	got, err := readAll(r)
	if err != io.EOF || len(got) != 5 {
		t.Fatalf("got %v, %v", got, err)
	}
	if cap(r.buf) > 8+DefaultMaxFrame {
		t.Fatalf("buffer grew to %d", cap(r.buf))
	}
	// A small limit.
	r = NewReader(bytes.NewReader(AppendRawFrame(nil, 0, 1, make([]byte, 60))), 32)
	if _, err := r.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

// timeoutReader returns a timeout error once before each of its chunks.
type timeoutReader struct {
	chunks  [][]byte
	timeout bool
}

type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }

func (r *timeoutReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	if r.timeout = !r.timeout; r.timeout {
		return 0, timeoutError{}
	}
	n := copy(p, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}

// TestReaderResumesAfterTimeout checks a read error in the middle of a frame
// (a deadline) is returned, reported by Pending, and that reading resumes
// where it stopped.
func TestReaderResumesAfterTimeout(t *testing.T) {
	frame := Marshal(register7960)
	r := NewReader(&timeoutReader{chunks: [][]byte{frame[:5], frame[5:20], frame[20:]}}, 0)
	var timeouts int
	for {
		f, err := r.ReadFrame()
		if errors.As(err, new(timeoutError)) {
			timeouts++
			if n, since := r.Pending(); timeouts > 1 && (n == 0 || since.IsZero()) {
				t.Fatalf("timeout %d: Pending() = %d, %v", timeouts, n, since)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(f.ID, f.Body)
		if err != nil || m.(Register).DeviceName != register7960.DeviceName {
			t.Fatalf("got %+v, %v", m, err)
		}
		break
	}
	if timeouts != 3 {
		t.Fatalf("%d timeouts", timeouts)
	}
	if n, _ := r.Pending(); n != 0 {
		t.Fatalf("Pending() = %d after a whole frame", n)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	if _, err := NewReader(emptyReader{}, 0).ReadFrame(); err != io.ErrNoProgress {
		t.Fatalf("err = %v", err)
	}
}

func TestReadMessage(t *testing.T) {
	stream := cat(Marshal(register7961), Marshal(KeepAlive{}), AppendRawFrame(nil, 0, 0x0122, []byte("other")))
	r := NewReader(bytes.NewReader(stream), 0)
	var got []Message
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) != 3 || got[0].(Register).FirmwareLoadName != register7961.FirmwareLoadName ||
		got[1] != (KeepAlive{}) || string(got[2].(Unknown).Body) != "other" {
		t.Fatalf("got %#v", got)
	}
}

// TestDecodeDoesNotAlias checks messages keep no reference to the body they
// were decoded from (the Reader reuses its buffer).
func TestDecodeDoesNotAlias(t *testing.T) {
	full := register7961
	full.Trailing = []byte{1, 2, 3}
	full.Length = RegisterFullLen + 3
	for _, m := range []Message{Unknown{MsgID: 0x0122, Body: []byte("other")}, full,
		Alarm{Severity: AlarmInformational, Text: "Name=SEP0011223344AA Load=SCCP41.9-4-2SR3-1S Last=Reset-Reset"},
		ServerRes{Servers: []ServerInfo{{Name: "cm1", Addr: netip.MustParseAddr("10.0.0.1"), Port: 2000}}},
		SoftKeyTemplateRes{Total: 1, Keys: []SoftKey{{Label: SoftKeyLabel(1), Event: 1}}}} {
		body := m.AppendBody(nil)
		got, err := Decode(m.ID(), body)
		if err != nil {
			t.Fatal(err)
		}
		for i := range body {
			body[i] = 0xEE
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%v changed with the body it was decoded from: %#v", m.ID(), got)
		}
	}
}
