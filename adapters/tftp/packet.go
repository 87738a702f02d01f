package tftp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Opcodes (RFC 1350 section 5, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// maxRequest is the longest request packet accepted: RFC 2347 says "the
// entire request packet must not exceed 512 octets".
const maxRequest = 512

// ErrorCode is a TFTP error code (RFC 1350 section 5, RFC 2347 for 8).
type ErrorCode uint16

const (
	CodeUndefined     ErrorCode = 0 // see the message
	CodeNotFound      ErrorCode = 1 // file not found
	CodeAccess        ErrorCode = 2 // access violation
	CodeDiskFull      ErrorCode = 3 // disk full or allocation exceeded
	CodeIllegal       ErrorCode = 4 // illegal TFTP operation
	CodeUnknownTID    ErrorCode = 5 // unknown transfer ID
	CodeExists        ErrorCode = 6 // file already exists
	CodeNoUser        ErrorCode = 7 // no such user
	CodeOptionRefused ErrorCode = 8 // option negotiation refused (RFC 2347)
)

func (c ErrorCode) String() string {
	switch c {
	case CodeUndefined:
		return "undefined"
	case CodeNotFound:
		return "file not found"
	case CodeAccess:
		return "access violation"
	case CodeDiskFull:
		return "disk full"
	case CodeIllegal:
		return "illegal operation"
	case CodeUnknownTID:
		return "unknown transfer ID"
	case CodeExists:
		return "file exists"
	case CodeNoUser:
		return "no such user"
	case CodeOptionRefused:
		return "option refused"
	}
	return "code " + strconv.Itoa(int(c))
}

// Error is a TFTP error: the server answers it to the client as an ERROR
// packet with Code and Message. Files implementations may return one to
// choose the code and message themselves.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("tftp error %d (%s): %s", e.Code, e.Code, e.Message)
}

func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// appendError appends an ERROR packet. The message is cut so the packet
// stays under 512 bytes and never carries a NUL.
func appendError(b []byte, code ErrorCode, msg string) []byte {
	if len(msg) > 400 {
		msg = msg[:400]
	}
	msg = strings.ReplaceAll(msg, "\x00", "")
	b = binary.BigEndian.AppendUint16(b, opERROR)
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	b = append(b, msg...)
	return append(b, 0)
}

// Options this server knows (RFC 2347 names, lower case).
const (
	optBlksize    = "blksize"    // RFC 2348: 8..65464
	optTsize      = "tsize"      // RFC 2349: 0 in a read request
	optTimeout    = "timeout"    // RFC 2349: 1..255 seconds
	optWindowsize = "windowsize" // RFC 7440: 1..65535
)

// request is a parsed read or write request.
type request struct {
	op   uint16
	name string // as sent, not normalised
	mode string // lower case: "octet" or "netascii"
	// Options the transfer will negotiate, validated: blksize (as sent)
	// and tsize (always "0" for a read request). timeout and windowsize are
	// valid but dropped: the transfer library does not implement them, so
	// the OACK leaves them out and the client uses its defaults.
	blksize string
	tsize   bool
	// dropped lists the valid options the transfer will not acknowledge,
	// and ignored the options this server does not know (RFC 2347: ignored).
	dropped, ignored []string
}

// parseRequest reads an RRQ or WRQ packet (RFC 1350 section 5, with RFC 2347
// options). The returned *Error is what the client should be answered;
// drop is true when the packet deserves no answer at all (too short to be
// anything, or an ERROR packet, which is never answered).
func parseRequest(p []byte) (r request, drop bool, e *Error) {
	if len(p) < 2 {
		return r, true, errorf(CodeIllegal, "short packet")
	}
	r.op = binary.BigEndian.Uint16(p)
	switch r.op {
	case opRRQ, opWRQ:
	case opERROR:
		return r, true, errorf(CodeIllegal, "ERROR packet on the request port")
	case opDATA, opACK, opOACK:
		return r, false, errorf(CodeUnknownTID, "opcode %d sent to the request port: no transfer there", r.op)
	default:
		return r, false, errorf(CodeIllegal, "unknown opcode %d", r.op)
	}
	if len(p) > maxRequest {
		return r, false, errorf(CodeIllegal, "request of %d bytes: at most %d (RFC 2347)", len(p), maxRequest)
	}
	body := p[2:]
	if len(body) == 0 || body[len(body)-1] != 0 {
		return r, false, errorf(CodeIllegal, "malformed request: fields must end with a NUL")
	}
	fields := bytes.Split(body[:len(body)-1], []byte{0})
	// Some clients (PXE ROMs among them) pad requests with NULs: empty
	// trailing fields after the mode are padding, not options.
	for len(fields) > 2 && len(fields[len(fields)-1]) == 0 {
		fields = fields[:len(fields)-1]
	}
	if len(fields) < 2 {
		return r, false, errorf(CodeIllegal, "malformed request: no transfer mode")
	}
	if len(fields[0]) == 0 {
		return r, false, errorf(CodeIllegal, "malformed request: empty file name")
	}
	r.name = string(fields[0])
	switch mode := strings.ToLower(string(fields[1])); mode {
	case "octet", "netascii":
		r.mode = mode
	case "mail":
		return r, false, errorf(CodeIllegal, "mail mode is not supported")
	default:
		return r, false, errorf(CodeIllegal, "unknown transfer mode %.32q", fields[1])
	}
	opts := fields[2:]
	if len(opts)%2 != 0 {
		return r, false, errorf(CodeIllegal, "malformed request: option %.32q has no value", opts[len(opts)-1])
	}
	seen := make(map[string]bool, len(opts)/2)
	for i := 0; i < len(opts); i += 2 {
		name, value := strings.ToLower(string(opts[i])), string(opts[i+1])
		if name == "" {
			return r, false, errorf(CodeIllegal, "malformed request: empty option name")
		}
		if seen[name] {
			return r, false, errorf(CodeOptionRefused, "option %.32q given twice", name)
		}
		seen[name] = true
		switch name {
		case optBlksize:
			if _, ok := decimal(value, 8, 65464); !ok {
				return r, false, errorf(CodeOptionRefused, "blksize %.32q: RFC 2348 allows 8 to 65464", value)
			}
			r.blksize = value
		case optTsize:
			if _, ok := decimal(value, 0, 1<<62); !ok {
				return r, false, errorf(CodeOptionRefused, "tsize %.32q is not a size", value)
			}
			r.tsize = true
		case optTimeout:
			if _, ok := decimal(value, 1, 255); !ok {
				return r, false, errorf(CodeOptionRefused, "timeout %.32q: RFC 2349 allows 1 to 255 seconds", value)
			}
			r.dropped = append(r.dropped, name)
		case optWindowsize:
			if _, ok := decimal(value, 1, 65535); !ok {
				return r, false, errorf(CodeOptionRefused, "windowsize %.32q: RFC 7440 allows 1 to 65535", value)
			}
			r.dropped = append(r.dropped, name)
		default:
			if len(r.ignored) < 8 {
				r.ignored = append(r.ignored, name)
			}
		}
	}
	return r, false, nil
}

// decimal parses a non-negative decimal of at most 19 digits in [lo, hi].
func decimal(s string, lo, hi int64) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n >= lo && n <= hi
}

// appendRRQ appends the read request handed to the transfer library: the
// normalised name, the mode, and only the options it should negotiate
// (blksize as asked, tsize as 0 so that it reports the real size).
func appendRRQ(b []byte, name string, r request) []byte {
	b = binary.BigEndian.AppendUint16(b, opRRQ)
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, r.mode...)
	b = append(b, 0)
	if r.blksize != "" {
		b = append(b, optBlksize+"\x00"...)
		b = append(b, r.blksize...)
		b = append(b, 0)
	}
	if r.tsize {
		b = append(b, optTsize+"\x000\x00"...)
	}
	return b
}
