package sip

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// corpus reads the sample requests of testdata/requests: REGISTERs shaped
// like Cisco phones' and broken ones. A file's name starts with the status
// the server must answer, or "drop" when it must answer nothing.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "requests", "*.sip"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

// exchange runs one datagram through the server as the UDP transport does,
// synchronously.
func exchange(s *Server, data []byte, reliable bool) *sipmsg.Response {
	req, res := s.parseDatagram(data, testPeer)
	if req != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res = s.handle(ctx, req, testPeer, reliable)
	}
	return res
}

func TestRequestCorpus(t *testing.T) {
	for name, data := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			s, _ := newTestServer(t, nil)
			res := exchange(s, data, false)
			want := strings.SplitN(name, "-", 2)[0]
			switch {
			case want == "drop" && res != nil:
				t.Fatalf("answered %d %s", res.StatusCode, res.Reason)
			case want == "drop":
			case res == nil:
				t.Fatalf("no answer, want %s", want)
			case strconv.Itoa(res.StatusCode) != want:
				t.Fatalf("answered %d %s (Warning %q), want %s", res.StatusCode, res.Reason, header(res, "Warning"), want)
			}
			if res != nil {
				checkResponse(t, res)
			}
		})
	}
}

// ownHeaders are the headers the server writes itself (the others are
// copied from the request, as RFC 3261 8.2.6 says, whatever they hold).
var ownHeaders = map[string]bool{
	"contact": true, "p-associated-uri": true, "warning": true, "date": true, "retry-after": true,
	"min-expires": true, "allow": true, "unsupported": true,
}

// checkResponse checks an answer: a known status, one line per header, and
// the headers the server wrote parse back.
func checkResponse(t *testing.T, res *sipmsg.Response) {
	t.Helper()
	switch res.StatusCode {
	case 200, 400, 403, 404, 405, 420, 423, 481, 500, 503:
	default:
		t.Fatalf("status %d", res.StatusCode)
	}
	var own strings.Builder
	own.WriteString("SIP/2.0 " + strconv.Itoa(res.StatusCode) + " " + res.Reason + "\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n" +
		"Call-ID: x\r\nCSeq: 1 REGISTER\r\n")
	contacts := 0
	for _, h := range res.Headers() {
		if strings.ContainsAny(h.Value(), "\r\n") {
			t.Fatalf("header %s spans lines: %q", h.Name(), h.Value())
		}
		name := strings.ToLower(h.Name())
		if ownHeaders[name] {
			own.WriteString(h.Name() + ": " + h.Value() + "\r\n")
		}
		if name == "contact" {
			contacts++
		}
	}
	own.WriteString("Content-Length: 0\r\n\r\n")
	back, err := sipmsg.ParseMessage([]byte(own.String()))
	if err != nil {
		t.Fatalf("the server's headers do not parse: %v\n%s", err, own.String())
	}
	if got := len(back.GetHeaders("contact")); got != contacts {
		t.Fatalf("%d Contact headers parse back as %d:\n%s", contacts, got, own.String())
	}
}

// FuzzRegister feeds arbitrary bytes through sipgo's parser (as a datagram,
// and as a stream) into the server's request handling, with a fake
// registrar whose answer depends on the input. Nothing may panic, and every
// answer must be well formed.
func FuzzRegister(f *testing.F) {
	for _, data := range corpus(f) {
		f.Add(data)
	}
	s, reg := newTestServer(f, func(c *Config) {
		c.Logger = zerolog.Nop()
		c.MaxDevices, c.MaxTransactions, c.MaxContacts = 1<<12, 1<<14, 4
		c.RequestTimeout = time.Second
		c.SourceRate = -1 // one peer sends everything: reach the registrar
	})
	// A server with no Host writes the Request-URI's host into Warning and
	// P-Associated-URI: the input reaches the response there too.
	bare, bareReg := newTestServer(f, func(c *Config) {
		c.Logger = zerolog.Nop()
		c.Host = ""
		c.MaxDevices, c.MaxTransactions, c.MaxContacts = 1<<12, 1<<14, 4
		c.RequestTimeout = time.Second
		c.SourceRate = -1
	})
	errs := []error{
		nil, nil, nil,
		&domain.Rejection{Device: testDevice, Reason: domain.RejectRangeExhausted, Detail: "no \"DN\" left\r\n"},
		command.ErrUnavailable,
		errors.New("boom"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := errs[len(data)%len(errs)]
		reg.set(func(f *fakeRegistrar) { f.regErr, f.unregErr = err, err })

		if res := exchange(s, data, false); res != nil {
			checkResponse(t, res)
		}
		bareReg.set(func(f *fakeRegistrar) { f.regErr, f.unregErr = err, err })
		if res := exchange(bare, data, false); res != nil {
			checkResponse(t, res)
		}

		// The stream transports' framing.
		par := s.parser.NewSIPStream()
		defer par.Close()
		_ = par.ParseSIPStream(data, func(msg sipmsg.Message) {
			req, ok := msg.(*sipmsg.Request)
			if !ok {
				return
			}
			req.SetTransport("TCP")
			req.SetSource(testPeer.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if res := s.handle(ctx, req, testPeer, true); res != nil {
				checkResponse(t, res)
			}
		})
	})
}
