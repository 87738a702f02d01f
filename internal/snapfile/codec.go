package snapfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Encoder appends values to a body. The zero Encoder is ready to use.
type Encoder struct{ b []byte }

// NewEncoder returns an Encoder whose buffer starts with room for n bytes.
func NewEncoder(n int) *Encoder { return &Encoder{b: make([]byte, 0, n)} }

// Bytes is what was encoded.
func (e *Encoder) Bytes() []byte { return e.b }

// Len is how many bytes were encoded.
func (e *Encoder) Len() int { return len(e.b) }

// Uvarint appends v in 1 to 10 bytes.
func (e *Encoder) Uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

// Varint appends v zig-zag coded, in 1 to 10 bytes.
func (e *Encoder) Varint(v int64) { e.b = binary.AppendVarint(e.b, v) }

// Byte appends one byte.
func (e *Encoder) Byte(v byte) { e.b = append(e.b, v) }

// Bool appends a byte, 1 or 0.
func (e *Encoder) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// Raw appends b as it is (its length is the reader's to know).
func (e *Encoder) Raw(b []byte) { e.b = append(e.b, b...) }

// Blob appends b after its length.
func (e *Encoder) Blob(b []byte) {
	e.Uvarint(uint64(len(b)))
	e.b = append(e.b, b...)
}

// String appends s after its length.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// Time appends t (any time, the zero time included) to the nanosecond,
// without its location.
func (e *Encoder) Time(t time.Time) {
	if t.IsZero() {
		e.Byte(0)
		return
	}
	e.Byte(1)
	e.Varint(t.Unix())
	e.Uvarint(uint64(t.Nanosecond()))
}

// Section appends a tagged section: tag, then the length of what fn
// encodes, then it.
func (e *Encoder) Section(tag byte, fn func(*Encoder)) {
	e.Byte(tag)
	// Leave room for the longest length, then move the content back by
	// what its length does not take.
	at := len(e.b)
	e.b = append(e.b, make([]byte, binary.MaxVarintLen64)...)
	fn(e)
	n := len(e.b) - at - binary.MaxVarintLen64
	var l [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(l[:], uint64(n))
	copy(e.b[at:], l[:k])
	copy(e.b[at+k:], e.b[at+binary.MaxVarintLen64:])
	e.b = e.b[:len(e.b)-(binary.MaxVarintLen64-k)]
}

// Decoder reads what an Encoder wrote. Its first error sticks: later reads
// return zero values, and Err reports it, so a decoding function reads on
// and checks once. It never panics and never allocates more than its input
// can hold (see Count).
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err is the first error met (nil if none).
func (d *Decoder) Err() error { return d.err }

// Fail records an error of the caller's (the first one sticks), naming
// the offset it was met at.
func (d *Decoder) Fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, d.off, fmt.Sprintf(format, a...))
	}
}

// Left is how many bytes are left to read.
func (d *Decoder) Left() int {
	if d.err != nil {
		return 0
	}
	return len(d.b) - d.off
}

// End fails unless every byte was read, and returns Err.
func (d *Decoder) End() error {
	if d.err == nil && d.off != len(d.b) {
		d.Fail("%d bytes left over", len(d.b)-d.off)
	}
	return d.err
}

// Uvarint reads what Encoder.Uvarint wrote.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.Fail("bad unsigned varint")
		return 0
	}
	d.off += n
	return v
}

// Varint reads what Encoder.Varint wrote.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.Fail("bad signed varint")
		return 0
	}
	d.off += n
	return v
}

// Int reads an Uvarint that must be at most max (an index, a count).
func (d *Decoder) Int(max int) int {
	v := d.Uvarint()
	if v > uint64(max) {
		d.Fail("%d is more than %d", v, max)
		return 0
	}
	return int(v)
}

// Count reads the number of elements that follow, each of at least
// minSize bytes: it fails if the bytes left cannot hold them, so that a
// corrupt count never makes the caller allocate more than the input holds.
func (d *Decoder) Count(minSize int) int {
	v := d.Uvarint()
	minSize = max(minSize, 1)
	if d.err == nil && v > uint64(d.Left()/minSize) {
		d.Fail("a count of %d elements, with %d bytes left", v, d.Left())
		return 0
	}
	return int(v)
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.Fail("unexpected end")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

// Bool reads what Encoder.Bool wrote.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("bad boolean")
	return false
}

// Raw reads n bytes, as a slice of the input.
func (d *Decoder) Raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.Fail("%d bytes wanted, %d left", n, len(d.b)-d.off)
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

// Blob reads what Encoder.Blob wrote, as a slice of the input.
func (d *Decoder) Blob() []byte {
	n := d.Uvarint()
	if n > uint64(d.Left()) {
		d.Fail("a blob of %d bytes, with %d left", n, d.Left())
		return nil
	}
	return d.Raw(int(n))
}

// String reads what Encoder.String wrote (a copy: it does not keep the
// input).
func (d *Decoder) String() string { return string(d.Blob()) }

// Time reads what Encoder.Time wrote; it is in UTC.
func (d *Decoder) Time() time.Time {
	switch d.Byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.Fail("bad time")
		return time.Time{}
	}
	sec := d.Varint()
	ns := d.Uvarint()
	if ns >= 1e9 {
		d.Fail("bad time: %d nanoseconds", ns)
		return time.Time{}
	}
	t := time.Unix(sec, int64(ns)).UTC()
	if t.IsZero() { // the zero time is written as such, never this way
		d.Fail("bad time")
	}
	return t
}

// Section reads a section Encoder.Section wrote with tag, and returns a
// Decoder over its content.
func (d *Decoder) Section(tag byte) *Decoder {
	got := d.Byte()
	if d.err == nil && got != tag {
		d.Fail("section %d where section %d was expected", got, tag)
	}
	b := d.Blob()
	if d.err != nil {
		return &Decoder{err: d.err}
	}
	return &Decoder{b: b}
}

// Sub folds the error of a Decoder of a section into d (the first error
// sticks) and returns d's error.
func (d *Decoder) Sub(s *Decoder) error {
	if d.err == nil && s.err != nil {
		d.err = s.err
	}
	return d.err
}

// ZigZag-free helpers for the packed records, whose fields are numbers
// with a reserved value.

// NoTime is the value packed records keep for the zero time (their times
// are Unix nanoseconds): math.MinInt64.
const NoTime = math.MinInt64

// Nanos appends a packed record's time (Unix nanoseconds or NoTime): NoTime
// in one byte.
func (e *Encoder) Nanos(n int64) {
	if n == NoTime {
		e.Uvarint(0)
		return
	}
	e.Uvarint(zigzag(n) + 1) // zigzag(n) < MaxUint64 for any n but MinInt64
}

// Nanos reads what Encoder.Nanos wrote.
func (d *Decoder) Nanos() int64 {
	v := d.Uvarint()
	if v == 0 {
		return NoTime
	}
	return unzigzag(v - 1)
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }
