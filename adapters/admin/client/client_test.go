package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/admin"
	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/admin/client"
	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/projections"
)

func TestNewAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":   "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":  "http://127.0.0.1:8080",
		"127.0.0.1:8080":          "http://127.0.0.1:8080",
		"https://reg.example/api": "https://reg.example/api",
	} {
		c, err := client.New(in, "")
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if c.BaseURL() != want {
			t.Errorf("%q: base %q, want %q", in, c.BaseURL(), want)
		}
	}
	for _, in := range []string{"", "ftp://x", "http://"} {
		if _, err := client.New(in, ""); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestErrorsCarryTheServersMessage(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status":
			w.Header().Set("Retry-After", "5")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":"event store unavailable: try again shortly","code":"unavailable"}`)
		default:
			if r.URL.RawPath == "/v1/devices/SEP%2F1" { // the name escaped into one segment
				w.WriteHeader(404)
				fmt.Fprint(w, `{"error":"no device SEP/1","code":"not_found"}`)
				return
			}
			w.WriteHeader(502)
			fmt.Fprint(w, "bad gateway from the proxy")
		}
	}))
	defer hs.Close()
	c, err := client.New(hs.URL, "t")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	_, err = c.Status(ctx)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != 503 || ce.Code != api.CodeUnavailable || ce.RetryAfter != 5*time.Second ||
		err.Error() != "event store unavailable: try again shortly" {
		t.Errorf("503: %#v", err)
	}
	_, err = c.Device(ctx, "SEP/1")
	if client.CodeOf(err) != api.CodeNotFound {
		t.Errorf("escaped name: %v", err)
	}
	_, err = c.Cluster(ctx)
	if !errors.As(err, &ce) || ce.StatusCode != 502 || ce.Code != "" || ce.Message != "admin API answered 502 Bad Gateway: bad gateway from the proxy" {
		t.Errorf("non-JSON error: %#v", err)
	}
	if client.CodeOf(errors.New("x")) != "" {
		t.Error("CodeOf of a plain error")
	}
}

// The client against a registrar's admin API: open autoregistration and
// read the status back.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New()
	reader := projections.NewReader(store, nil) // the read side, following the store
	go func() { _ = reader.Run(ctx) }()
	svc, _ := command.New(ctx, store, command.Options{Devices: reader})
	srv, _ := admin.New(admin.Config{Tokens: []admin.Token{{User: "alice", Token: "alice-secret-token"}}}, svc, reader, zerolog.Nop())
	hs := httptest.NewServer(srv)
	defer hs.Close()

	c, _ := client.New(hs.URL, "alice-secret-token")
	_, err := c.Open(ctx, api.OpenWindow{Reason: "bulk add", For: "30m"})
	fmt.Println(client.CodeOf(err), "-", err)

	st, _ := c.Status(ctx)
	fmt.Println("open:", st.Open, "protocol:", st.Protocol)
	// Output:
	// range_disabled - autoregistration range is disabled: no autoregistration range is configured: set a starting and an ending DN
	// open: false protocol: SCCP
}
