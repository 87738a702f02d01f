package skinny

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

const (
	// HeaderLen is the size of a frame's header: data length, header
	// version and message id.
	HeaderLen = 12

	// DefaultMaxFrame is the default bound on a frame's data length (message
	// id + body). The largest messages a registrar exchanges are a few
	// hundred bytes.
	DefaultMaxFrame = 4096

	// MaxHeaderVersion is the largest header version the Reader accepts.
	// Phones send 0 (basic) or the negotiated protocol version (0x11 for 17,
	// 0x16 for 22, ...); anything above one byte is not Skinny.
	MaxHeaderVersion = 0xFF
)

// Header versions seen on the wire.
const (
	BasicVersion uint32 = 0x00 // the basic protocol, protocol versions below 17
	V17Version   uint32 = 0x11 // CallManager 7 and later, protocol 17
	V18Version   uint32 = 0x12
	V20Version   uint32 = 0x14
	V22Version   uint32 = 0x16
)

// Errors a Reader returns, wrapped with the details of the frame.
var (
	// ErrFrameTooLarge: a frame's length field claims more than the Reader's
	// maximum. The Reader does not allocate or read that much.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrFrameTooShort: a frame's length field is below 4, so it cannot
	// hold a message id.
	ErrFrameTooShort = errors.New("frame too short")
	// ErrBadHeaderVersion: a frame's header version is not one a phone sends
	// (usually: the peer does not speak Skinny).
	ErrBadHeaderVersion = errors.New("bad header version")
	// ErrTruncated: the stream ended in the middle of a frame.
	ErrTruncated = errors.New("truncated frame")
)

// Frame is one framed message as read from the wire.
type Frame struct {
	Version uint32    // header version
	ID      MessageID // message id
	// Body is the message body. A Frame returned by Reader.ReadFrame shares
	// the Reader's buffer: Body is valid only until the next call.
	Body []byte
}

// Len is the frame's size on the wire.
func (f Frame) Len() int { return HeaderLen + len(f.Body) }

// AppendFrame appends m, framed with the given header version, to dst.
func AppendFrame(dst []byte, version uint32, m Message) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // length, patched below
	dst = binary.LittleEndian.AppendUint32(dst, version)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(m.ID()))
	dst = m.AppendBody(dst)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start-8))
	return dst
}

// Marshal returns m framed with the basic header version.
func Marshal(m Message) []byte { return AppendFrame(make([]byte, 0, 64), BasicVersion, m) }

// AppendRawFrame appends a frame with the given id and body to dst. It frames
// bodies that are not (or deliberately not) well-formed messages.
func AppendRawFrame(dst []byte, version uint32, id MessageID, body []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(4+len(body)))
	dst = binary.LittleEndian.AppendUint32(dst, version)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(id))
	return append(dst, body...)
}

// minBuf is the Reader's initial buffer: most Skinny frames fit in it.
const minBuf = 512

// maxEmptyReads bounds how often a misbehaving io.Reader may return
// (0, nil) before ReadFrame gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// Reader reads Skinny frames from a byte stream.
//
// It buffers what the underlying reader returns, so it is correct whatever
// way the stream is split into reads, and never holds more than one frame of
// at most HeaderLen + max bytes (its buffer grows to that only when a frame
// needs it).
//
// A read error from the underlying reader is returned as is (a deadline
// error in the middle of a frame may be retried: the bytes already read are
// kept). Framing errors (ErrFrameTooLarge, ErrFrameTooShort,
// ErrBadHeaderVersion, ErrTruncated) are permanent: once returned, every
// later call returns the same error.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	rd    io.Reader
	max   int
	buf   []byte
	r, w  int       // unread bytes are buf[r:w]
	since time.Time // when the first byte of buf[r:w] arrived
	last  time.Time // when the last read returned bytes
	err   error     // sticky framing error
	rerr  error     // read error to return once the buffer is drained of frames
}

// NewReader returns a Reader over rd accepting frames whose data length
// (message id + body) is at most maxFrame bytes; maxFrame <= 0 means
// DefaultMaxFrame.
func NewReader(rd io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Reader{rd: rd, max: max(maxFrame, 4)}
}

// Max is the largest data length the Reader accepts.
func (r *Reader) Max() int { return r.max }

// Pending reports the bytes of an incomplete frame already buffered and when
// the first of them arrived. n is 0 between frames. A server uses it to tell
// a silent peer from one that stalled in the middle of a frame.
func (r *Reader) Pending() (n int, since time.Time) {
	if r.w == r.r {
		return 0, time.Time{}
	}
	return r.w - r.r, r.since
}

// ReadFrame returns the next frame. At the end of the stream between frames
// it returns io.EOF; in the middle of one, an error wrapping ErrTruncated.
// The returned Body is valid until the next call.
func (r *Reader) ReadFrame() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	empty := 0
	for {
		f, ok, err := r.parse()
		if err != nil {
			r.err = err
			return Frame{}, err
		}
		if ok {
			return f, nil
		}
		if r.rerr != nil {
			err := r.rerr
			r.rerr = nil
			if err == io.EOF && r.w > r.r {
				r.err = r.truncated()
				return Frame{}, r.err
			}
			return Frame{}, err
		}
		r.fill()
		if r.rerr == nil && r.w == r.r {
			if empty++; empty >= maxEmptyReads {
				return Frame{}, io.ErrNoProgress
			}
		}
	}
}

// parse returns the frame at the start of the buffer if it is complete.
func (r *Reader) parse() (Frame, bool, error) {
	b := r.buf[r.r:r.w]
	if len(b) < 4 {
		return Frame{}, false, nil
	}
	n := binary.LittleEndian.Uint32(b)
	if n < 4 {
		return Frame{}, false, fmt.Errorf("skinny: frame length %d, need at least 4: %w", n, ErrFrameTooShort)
	}
	if uint64(n) > uint64(r.max) {
		return Frame{}, false, fmt.Errorf("skinny: frame length %d exceeds the maximum %d: %w", n, r.max, ErrFrameTooLarge)
	}
	if len(b) >= 8 {
		if v := binary.LittleEndian.Uint32(b[4:]); v > MaxHeaderVersion {
			return Frame{}, false, fmt.Errorf("skinny: header version %#x: %w", v, ErrBadHeaderVersion)
		}
	}
	total := 8 + int(n)
	if len(b) < total {
		return Frame{}, false, nil
	}
	f := Frame{
		Version: binary.LittleEndian.Uint32(b[4:]),
		ID:      MessageID(binary.LittleEndian.Uint32(b[8:])),
		Body:    b[HeaderLen:total:total],
	}
	r.r += total
	if r.r < r.w {
		r.since = r.last
	}
	return f, true, nil
}

// fill reads once from the underlying reader into the buffer, making room
// for the frame at its start first.
func (r *Reader) fill() {
	if r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) {
		r.grow()
	}
	n, err := r.rd.Read(r.buf[r.w:])
	if n < 0 || n > len(r.buf)-r.w {
		r.rerr = errors.New("skinny: underlying reader returned an invalid count")
		return
	}
	if n > 0 {
		r.last = time.Now()
		if r.w == 0 {
			r.since = r.last
		}
	}
	r.w += n
	if err != nil {
		r.rerr = err
	}
}

// grow enlarges the buffer: to the size of the frame at its start when the
// header is known, else by doubling; never beyond one maximal frame.
func (r *Reader) grow() {
	limit := 8 + r.max
	size := 2 * len(r.buf)
	if size < minBuf {
		size = minBuf
	}
	if r.w >= 4 {
		// parse has checked the length against max.
		if need := 8 + int(binary.LittleEndian.Uint32(r.buf)); need > size {
			size = need
		}
	}
	if size > limit {
		size = limit
	}
	buf := make([]byte, size)
	copy(buf, r.buf[:r.w])
	r.buf = buf
}

func (r *Reader) truncated() error {
	b := r.buf[r.r:r.w]
	if len(b) < 4 {
		return fmt.Errorf("skinny: stream ended inside a frame header (%d of %d bytes): %w", len(b), HeaderLen, ErrTruncated)
	}
	want := 8 + int(binary.LittleEndian.Uint32(b))
	if want < HeaderLen {
		want = HeaderLen
	}
	return fmt.Errorf("skinny: stream ended inside a frame (%d of %d bytes): %w", len(b), want, ErrTruncated)
}

// ReadMessage reads the next frame and decodes it. The Message does not share
// the Reader's buffer.
func (r *Reader) ReadMessage() (Message, error) {
	f, err := r.ReadFrame()
	if err != nil {
		return nil, err
	}
	return Decode(f.ID, f.Body)
}
