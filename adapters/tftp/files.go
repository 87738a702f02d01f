package tftp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/autoreg/autoreg/domain"
)

// Files is the port the server reads files from. The registrar implements it
// from its read models (or uses Generator), Dir serves a folder, and Chain
// puts several together.
//
// Open is called with a name already normalised (see Normalize) and the
// address of the phone asking. It returns:
//   - an error matching fs.ErrNotExist when it has no such file: the client
//     is answered "file not found" (code 1) and Chain asks the next Files;
//   - an error matching fs.ErrPermission or ErrTooLarge: "access violation"
//     (code 2);
//   - a *Error to choose the code and message;
//   - any other error: code 0 with a generic message (the error is logged,
//     not sent).
//
// Open may be called from many goroutines at once; ctx ends after
// Config.OpenTimeout.
type Files interface {
	Open(ctx context.Context, name string, peer netip.AddrPort) (File, error)
}

// FilesFunc lets a function be a Files.
type FilesFunc func(ctx context.Context, name string, peer netip.AddrPort) (File, error)

func (f FilesFunc) Open(ctx context.Context, name string, peer netip.AddrPort) (File, error) {
	return f(ctx, name, peer)
}

// File is one file being served: read once, from its start. Seek lets the
// transfer learn the size to answer the tsize option (RFC 2349). The
// server closes it when the transfer ends, however it ends.
type File interface {
	io.ReadSeeker
	io.Closer
}

// ErrTooLarge is returned for a file above the size bound; it is answered
// as an access violation.
var ErrTooLarge = errors.New("file too large")

// Bytes is a File over b (a file generated in memory). b is not copied and
// must not change while it is served.
func Bytes(b []byte) File { return bytesFile{bytes.NewReader(b)} }

type bytesFile struct{ *bytes.Reader }

func (bytesFile) Close() error { return nil }

// Chain asks each Files in turn and returns the first answer that is not
// "no such file" (fs.ErrNotExist): put generated names first, then the
// folder.
func Chain(files ...Files) Files {
	return FilesFunc(func(ctx context.Context, name string, peer netip.AddrPort) (File, error) {
		for _, f := range files {
			file, err := f.Open(ctx, name, peer)
			if err == nil || !errors.Is(err, fs.ErrNotExist) {
				return file, err
			}
		}
		return nil, fs.ErrNotExist
	})
}

// SecurityFile reports whether name (normalised) is one of the files of
// Cisco's security by default and mixed mode: CTLSEP<MAC>.tlv,
// ITLSEP<MAC>.tlv, ITLFile.tlv (and CTLFile.tlv). A non-secure CallManager
// has none of them and answers "file not found"; a phone then trusts any
// TFTP server and registers over plain TCP/UDP. The server answers them
// "file not found" itself, before asking Files, so a stray CTL in the
// folder cannot lock phones out (a phone that got a CTL wants signed
// configuration files and TLS). Names are matched regardless of case.
func SecurityFile(name string) bool {
	if len(name) < 4 || !strings.EqualFold(name[len(name)-4:], ".tlv") {
		return false
	}
	base := name[:len(name)-4]
	if strings.EqualFold(base, "ITLFile") || strings.EqualFold(base, "CTLFile") {
		return true
	}
	if len(base) != 3+15 {
		return false
	}
	prefix := strings.ToUpper(base[:3])
	return (prefix == "CTL" || prefix == "ITL") && domain.ValidDeviceName(strings.ToUpper(base[3:]))
}

// classify turns an Open error into the TFTP error answered to the client.
// internal is true for errors whose text must not be sent.
func classify(err error) (e *Error, internal bool) {
	var te *Error
	switch {
	case errors.As(err, &te):
		return te, false
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Code: CodeNotFound, Message: "file not found"}, false
	case errors.Is(err, ErrTooLarge):
		return &Error{Code: CodeAccess, Message: "file too large"}, false
	case errors.Is(err, fs.ErrPermission):
		return &Error{Code: CodeAccess, Message: "access violation"}, false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Error{Code: CodeUndefined, Message: "server busy, try again"}, true
	}
	return &Error{Code: CodeUndefined, Message: "server error"}, true
}
