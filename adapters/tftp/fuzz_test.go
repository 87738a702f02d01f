package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// The seed corpora under testdata/fuzz hold the requests curl, tftp-hpa and
// atftp send (captured on loopback), and the hostile names and requests the
// tests above refuse.

// FuzzNormalize checks that whatever a client sends, a name Normalize
// accepts is relative, clean and stable, and no longer than what was sent.
func FuzzNormalize(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeNotFound && e.Code != CodeAccess) {
				t.Fatalf("Normalize(%q): %v, want a *Error with code 1 or 2", in, err)
			}
			return
		}
		if out == "" || len(out) > len(in) || len(out) > MaxNameLength || !utf8.ValidString(out) {
			t.Fatalf("Normalize(%q) = %q", in, out)
		}
		if strings.HasPrefix(out, "/") || strings.HasSuffix(out, "/") || strings.Contains(out, `\`) {
			t.Fatalf("Normalize(%q) = %q: not a clean relative path", in, out)
		}
		for _, elem := range strings.Split(out, "/") {
			if elem == "" || elem == "." || elem == ".." {
				t.Fatalf("Normalize(%q) = %q: element %q", in, out, elem)
			}
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] == 0x7f {
				t.Fatalf("Normalize(%q) = %q: control character", in, out)
			}
		}
		if again, err := Normalize(out); err != nil || again != out {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}

// FuzzRequest runs the server's decision on a packet read on the request
// port (everything before Files is asked) and checks what it hands to
// pin/tftp: an RRQ for a normalised name with only the options it
// negotiates, which reads back the same.
func FuzzRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		r, name, e, drop := admit(p)
		op := uint16(0)
		if len(p) >= 2 {
			op = binary.BigEndian.Uint16(p)
		}
		if drop {
			if len(p) >= 2 && op != opERROR {
				t.Fatalf("%q dropped: only ERROR packets and runts are", p)
			}
			return
		}
		if e != nil {
			switch e.Code {
			case CodeNotFound, CodeAccess, CodeIllegal, CodeUnknownTID, CodeOptionRefused:
			default:
				t.Fatalf("%q: answered code %d", p, e.Code)
			}
			if op == opWRQ && e.Code != CodeAccess && e.Code != CodeIllegal && e.Code != CodeOptionRefused {
				t.Fatalf("write request %q answered %d", p, e.Code)
			}
			if pkt := appendError(nil, e.Code, e.Message); len(pkt) > maxRequest {
				t.Fatalf("error packet of %d bytes", len(pkt))
			}
			return
		}
		if op != opRRQ {
			t.Fatalf("%q accepted with opcode %d", p, op)
		}
		if n, err := Normalize(name); err != nil || n != name || SecurityFile(name) {
			t.Fatalf("%q accepted for name %q", p, name)
		}
		if _, ok := decimal(r.blksize, 8, 65464); r.blksize != "" && !ok {
			t.Fatalf("%q accepted with blksize %q", p, r.blksize)
		}
		handed := appendRRQ(nil, name, r)
		if len(handed) > len(p) || len(handed) > maxRequest {
			t.Fatalf("handed %d bytes for a request of %d", len(handed), len(p))
		}
		r2, name2, e2, drop2 := admit(handed)
		if e2 != nil || drop2 || name2 != name || r2.mode != r.mode || r2.blksize != r.blksize || r2.tsize != r.tsize ||
			len(r2.dropped) != 0 || len(r2.ignored) != 0 {
			t.Fatalf("handed %q reads back as %+v %q %v; from %+v %q", handed, r2, name2, e2, r, name)
		}
		if r.tsize && !bytes.Contains(handed, []byte("tsize\x000\x00")) {
			t.Fatalf("handed %q: tsize is not 0", handed)
		}
	})
}

// FuzzDirOpen asks Dir for any name, normalised and raw, in a folder with
// symbolic links leading out of it, and checks it only ever reads the files
// inside.
func FuzzDirOpen(f *testing.F) {
	folder := newTestFolder(f)
	d, err := OpenDir(folder.dir, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	inside := func(b []byte) bool {
		for _, c := range folder.files {
			if bytes.Equal(b, c) {
				return true
			}
		}
		return false
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name string) {
		try := func(n string) {
			file, err := d.Open(ctx, n, netip.AddrPort{})
			if err != nil {
				return
			}
			defer file.Close()
			b, err := io.ReadAll(file)
			if err != nil {
				t.Fatalf("%q: %v", n, err)
			}
			if bytes.Contains(b, []byte("SECRET")) || !inside(b) {
				t.Fatalf("%q read %q: not a file of the folder", n, b)
			}
		}
		try(name)
		if n, err := Normalize(name); err == nil {
			try(n)
		}
	})
}
