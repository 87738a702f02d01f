package admin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/admin"
	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/admin/client"
	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
)

const (
	aliceToken = "alice-token-0123456789"
	bobToken   = "bob-read-token-0123456789"
)

var testTokens = []admin.Token{
	{User: "alice", Token: aliceToken, Scope: admin.ScopeAdmin},
	{User: "bob", Token: bobToken, Scope: admin.ScopeRead},
}

// flakyStore fails appends with ErrUnavailable while down is set.
type flakyStore struct {
	eventstore.Store
	down atomic.Bool
}

func (f *flakyStore) Append(ctx context.Context, a ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	if f.down.Load() {
		return eventstore.AppendResult{}, fmt.Errorf("disk full: %w", eventstore.ErrUnavailable)
	}
	return f.Store.Append(ctx, a...)
}

type env struct {
	t     *testing.T
	http  *httptest.Server
	srv   *admin.Server
	svc   *testreg.Registrar
	store *flakyStore
	alice *client.Client
	bob   *client.Client
}

func newEnv(t *testing.T, cfg admin.Config) *env {
	t.Helper()
	store := &flakyStore{Store: memory.New()}
	svc, err := testreg.Open(t, store, command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tokens == nil {
		cfg.Tokens = testTokens
	}
	srv, err := admin.New(cfg, svc.Handler, svc.Reader, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &env{t: t, http: hs, srv: srv, svc: svc, store: store}
	e.alice = e.client(aliceToken)
	e.bob = e.client(bobToken)
	return e
}

func (e *env) client(token string) *client.Client {
	c, err := client.New(e.http.URL, token, client.WithHTTPClient(e.http.Client()))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// seed configures a cluster ready for autoregistration through the API.
func (e *env) seed() {
	e.t.Helper()
	ctx := context.Background()
	c := e.alice
	yes := true
	steps := []func() (api.Result, error){
		func() (api.Result, error) {
			return c.PutCallManager(ctx, "CM1", api.PutCallManager{Description: "publisher", AutoregEnabled: true})
		},
		func() (api.Result, error) { return c.PutCallManager(ctx, "CM2", api.PutCallManager{}) },
		func() (api.Result, error) {
			return c.PutGroup(ctx, "Default", api.PutGroup{CallManagers: []string{"CM1", "CM2"}, Autoreg: &yes})
		},
		func() (api.Result, error) { return c.PutPartition(ctx, "Internal", "internal DNs") },
		func() (api.Result, error) { return c.PutPartition(ctx, "Emergency", "") },
		func() (api.Result, error) { return c.PutPartition(ctx, "PSTN", "") },
		func() (api.Result, error) {
			return c.AddPattern(ctx, api.AddPattern{Pattern: "911", Partition: "Emergency"})
		},
		func() (api.Result, error) {
			return c.AddPattern(ctx, api.AddPattern{Pattern: "9.1900XXXXXXX", Partition: "PSTN", Block: true})
		},
		func() (api.Result, error) {
			return c.AddPattern(ctx, api.AddPattern{Pattern: "9.[2-9]XXXXXX", Partition: "PSTN"})
		},
		func() (api.Result, error) { return c.PutCSS(ctx, "Autoreg", []string{"Internal", "Emergency"}) },
		func() (api.Result, error) { return c.PutCSS(ctx, "Staff", []string{"Internal", "PSTN", "Emergency"}) },
		func() (api.Result, error) {
			return c.PutPool(ctx, "Default", api.PutPool{Group: "Default", CSS: "Autoreg"})
		},
		func() (api.Result, error) {
			return c.PutPool(ctx, "Staff", api.PutPool{Group: "Default", CSS: "Staff"})
		},
		func() (api.Result, error) { return c.SetDefaultPool(ctx, "Default") },
		func() (api.Result, error) {
			return c.PutDeviceDefaults(ctx, "7961", api.PutDeviceDefaults{LoadSCCP: "SCCP41.9-4-2SR3-1S", LoadSIP: "SIP41.9-4-2SR3-1S"})
		},
		func() (api.Result, error) { return c.SetAutoregCSS(ctx, "Autoreg") },
		func() (api.Result, error) {
			return c.SetRange(ctx, api.PutRange{Start: "1000", End: "1009", Partition: "Internal", Mask: "40855510XX"})
		},
	}
	for i, step := range steps {
		res, err := step()
		if err != nil {
			e.t.Fatalf("seed step %d: %v", i, err)
		}
		if !res.Changed || len(res.Events) == 0 {
			e.t.Fatalf("seed step %d changed nothing: %+v", i, res)
		}
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) apiError(t *testing.T) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", r.body)
	}
	if e.Error == "" || e.Code == "" {
		t.Fatalf("error body lacks error or code: %q", r.body)
	}
	return e
}

// do sends a raw request; body "" sends none.
func (e *env) do(method, path, token, body string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// expectError checks status and code of an error answer.
func (e *env) expectError(r response, status int, code string) api.Error {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	ae := r.apiError(e.t)
	if ae.Code != code {
		e.t.Fatalf("code %q, want %q (%s)", ae.Code, code, ae.Error)
	}
	return ae
}

func TestHealthzNeedsNoToken(t *testing.T) {
	e := newEnv(t, admin.Config{})
	r := e.do("GET", "/healthz", "", "")
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "ok" {
		t.Fatalf("healthz: %d %q", r.status, r.body)
	}
}

// Once the store refuses writes for good (its files deleted under it),
// /healthz answers 503 with the reason, so that a supervisor or a load
// balancer takes the registrar out.
func TestHealthzFailsWhenTheStoreIsUnhealthy(t *testing.T) {
	var lost error
	e := newEnv(t, admin.Config{Healthy: func() error { return lost }})
	if r := e.do("GET", "/healthz", "", ""); r.status != 200 {
		t.Fatalf("healthz of a healthy store: %d %q", r.status, r.body)
	}
	lost = fmt.Errorf("%w: /data/autoreg.db-wal was deleted while the store had it open", eventstore.ErrUnavailable)
	r := e.do("GET", "/healthz", "", "")
	if r.status != 503 || !strings.Contains(string(r.body), "autoreg.db-wal was deleted") {
		t.Fatalf("healthz of a store that lost its WAL: %d %q, want 503 with the reason", r.status, r.body)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, admin.Config{})
	body := `{"reason":"bulk add"}`

	r := e.do("GET", "/v1/status", "", "")
	e.expectError(r, 401, api.CodeUnauthorized)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate Bearer: %q", r.header.Get("WWW-Authenticate"))
	}

	r = e.do("GET", "/v1/status", "not-the-token", "")
	e.expectError(r, 401, api.CodeUnauthorized)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("wrong token: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}

	req, _ := http.NewRequest("GET", e.http.URL+"/v1/status", nil)
	req.Header.Set("Authorization", "Basic YWxpY2U6cHc=")
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("Basic auth: %d, want 401", resp.StatusCode)
	}

	// A read token reads but cannot change anything.
	if r := e.do("GET", "/v1/status", bobToken, ""); r.status != 200 {
		t.Fatalf("read token GET: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/autoreg/open", body},
		{"POST", "/v1/autoreg/close", body},
		{"PUT", "/v1/security", `{"mode":"mixed"}`},
		{"PUT", "/v1/partitions/X", ""},
		{"DELETE", "/v1/devices/SEP001122334455", ""},
	} {
		r := e.do(c.method, c.path, bobToken, c.body)
		ae := e.expectError(r, 403, api.CodeForbidden)
		if !strings.Contains(ae.Error, "bob") || !strings.Contains(ae.Error, "read-only") {
			t.Errorf("%s %s: 403 message %q", c.method, c.path, ae.Error)
		}
	}
	// Nothing was written by the refused requests.
	if head, _ := e.store.Head(context.Background()); head != 0 {
		t.Errorf("refused requests wrote %d events", head)
	}

	// The client reports the server's code and message.
	_, err = e.client("").Status(context.Background())
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != 401 || ce.Code != api.CodeUnauthorized || !strings.Contains(ce.Message, "token") {
		t.Errorf("client error: %#v", err)
	}

	// Failures are counted.
	m := e.do("GET", "/metrics", "", "")
	for _, want := range []string{
		`autoreg_admin_auth_failures_total{reason="missing"} 3`,
		`autoreg_admin_auth_failures_total{reason="invalid"} 1`,
		`autoreg_admin_auth_failures_total{reason="read_only"} 5`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRefusesToStartExposed(t *testing.T) {
	svc, err := testreg.Open(t, memory.New(), command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := []admin.Token{{User: "alice", Token: aliceToken}}
	cases := []struct {
		name string
		cfg  admin.Config
		ok   bool
	}{
		{"wildcard without token", admin.Config{Addr: "0.0.0.0:8080"}, false},
		{"empty host without token", admin.Config{Addr: ":8080"}, false},
		{"public address without token", admin.Config{Addr: "192.0.2.1:8080", AllowPlainHTTP: true}, false},
		{"wildcard with token, no TLS", admin.Config{Addr: "0.0.0.0:8080", Tokens: long}, false},
		{"wildcard with a short token", admin.Config{Addr: "0.0.0.0:8080", Tokens: []admin.Token{{User: "a", Token: "change-me"}}, AllowPlainHTTP: true}, false},
		{"wildcard with token and plain HTTP allowed", admin.Config{Addr: "0.0.0.0:8080", Tokens: long, AllowPlainHTTP: true}, true},
		{"wildcard with token and TLS", admin.Config{Addr: "[::]:8443", Tokens: long, TLSCert: "c.pem", TLSKey: "k.pem"}, true},
		{"loopback without token", admin.Config{Addr: "127.0.0.1:8080"}, true},
		{"localhost without token", admin.Config{Addr: "localhost:8080"}, true},
		{"IPv6 loopback without token", admin.Config{Addr: "[::1]:8080"}, true},
		{"default address", admin.Config{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := admin.New(c.cfg, svc.Handler, svc.Reader, zerolog.Nop())
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok {
				if !errors.Is(err, admin.ErrUnsafe) {
					t.Fatalf("started (err %v), want ErrUnsafe", err)
				}
				t.Log(err)
			}
		})
	}

	for _, c := range []admin.Config{
		{Tokens: []admin.Token{{User: "", Token: aliceToken}}},
		{Tokens: []admin.Token{{User: "system", Token: aliceToken}}},
		{Tokens: []admin.Token{{User: "a", Token: aliceToken, Scope: "root"}}},
		{Tokens: []admin.Token{{User: "a", Token: aliceToken}, {User: "b", Token: aliceToken}}},
		{TLSCert: "c.pem"},
	} {
		if _, err := admin.New(c, svc.Handler, svc.Reader, zerolog.Nop()); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}

	// Serve checks the listener too: a loopback configuration handed a
	// wildcard listener refuses it.
	srv, err := admin.New(admin.Config{}, svc.Handler, svc.Reader, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip("cannot listen on 0.0.0.0:", err)
	}
	if err := srv.Serve(context.Background(), ln); !errors.Is(err, admin.ErrUnsafe) {
		t.Fatalf("Serve on %s without a token: %v, want ErrUnsafe", ln.Addr(), err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the refused listener is still open")
	}
}

func TestServeAndShutdown(t *testing.T) {
	svc, err := testreg.Open(t, memory.New(), command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Tokens: testTokens}, svc.Handler, svc.Reader, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("not listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := client.New(srv.Addr().String(), bobToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Open || st.Protocol != "SCCP" || st.Security != "nonsecure" {
		t.Fatalf("status %+v, %v", st, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenAndServe after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

func TestEventsNameTheTokensUser(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	if _, err := e.alice.Open(context.Background(), api.OpenWindow{Reason: "bulk add, ticket 42", For: "30m", Max: 5}); err != nil {
		t.Fatal(err)
	}
	var found bool
	err := e.store.ReadAll(context.Background(), 1, func(r eventstore.RecordedEvent) error {
		meta, err := command.DecodeMetadata(r.Metadata)
		if err != nil {
			return err
		}
		if meta.Actor != "admin:alice" {
			t.Errorf("event %d (%s) actor %q, want admin:alice", r.Position, r.Type, meta.Actor)
		}
		if host, _, _ := net.SplitHostPort(meta.Peer); host != "127.0.0.1" {
			t.Errorf("event %d peer %q", r.Position, meta.Peer)
		}
		if r.Type != domain.TypeWindowOpened {
			return nil
		}
		found = true
		ev, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			return err
		}
		w := ev.(domain.WindowOpened)
		if w.By != "admin:alice" || w.Reason != "bulk add, ticket 42" || w.MaxRegistrations != 5 || w.Until.Sub(w.At) != 30*time.Minute {
			t.Errorf("window opened: %+v", w)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("no window_opened event")
	}
}

func TestUnknownFieldsAndBadBodies(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	cases := []struct {
		name, method, path, body string
		status                   int
		code, mention            string
	}{
		{"unknown field", "POST", "/v1/autoreg/open", `{"reason":"x","duration":"1h"}`, 400, api.CodeBadRequest, `"duration"`},
		{"unknown field lists fields", "PUT", "/v1/range", `{"start":"1000","stop":"1099"}`, 400, api.CodeBadRequest, "start, end, partition, mask"},
		{"wrong type", "POST", "/v1/autoreg/open", `{"reason":"x","max":"ten"}`, 400, api.CodeBadRequest, `"max"`},
		{"not JSON", "POST", "/v1/autoreg/open", `reason=x`, 400, api.CodeBadRequest, "not valid JSON"},
		{"truncated", "POST", "/v1/autoreg/open", `{"reason":"x"`, 400, api.CodeBadRequest, "truncated"},
		{"two values", "POST", "/v1/autoreg/open", `{"reason":"x"}{"reason":"y"}`, 400, api.CodeBadRequest, "more than one"},
		{"array", "POST", "/v1/autoreg/open", `["x"]`, 400, api.CodeBadRequest, "object"},
		{"empty body", "POST", "/v1/autoreg/open", ``, 400, api.CodeBadRequest, "reason"},
		{"too large", "POST", "/v1/autoreg/open", `{"reason":"` + strings.Repeat("x", admin.MaxBodyBytes) + `"}`, 413, api.CodeTooLarge, "bytes"},
		{"bad duration", "POST", "/v1/autoreg/open", `{"reason":"x","for":"soon"}`, 400, api.CodeInvalid, "30m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, aliceToken, c.body)
			ae := e.expectError(r, c.status, c.code)
			if !strings.Contains(ae.Error, c.mention) {
				t.Errorf("message %q does not mention %q", ae.Error, c.mention)
			}
		})
	}

	// A body that is not declared JSON is refused (browsers' simple
	// cross-site requests are text/plain).
	req, _ := http.NewRequest("POST", e.http.URL+"/v1/autoreg/open", strings.NewReader(`{"reason":"x"}`))
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
	}
	if st := e.svc.Status(); st.Open {
		t.Error("a refused request opened the window")
	}
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.expectError(e.do("GET", "/v1/nothing", aliceToken, ""), 404, api.CodeNotFound)
	r := e.do("GET", "/v1/autoreg/open", aliceToken, "")
	e.expectError(r, 405, api.CodeMethod)
	if !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Errorf("405 Allow %q", r.header.Get("Allow"))
	}
}

func TestWindowLifecycle(t *testing.T) {
	e := newEnv(t, admin.Config{})
	ctx := context.Background()

	// Nothing configured: the status says why autoregistration cannot open.
	st, err := e.bob.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Open || !strings.Contains(st.Problem, "range") {
		t.Errorf("empty cluster status: %+v", st)
	}
	_, err = e.alice.Open(ctx, api.OpenWindow{Reason: "too early"})
	if client.CodeOf(err) != api.CodeRangeDisabled {
		t.Fatalf("open with no range: %v", err)
	}

	e.seed()
	res, err := e.alice.Open(ctx, api.OpenWindow{Reason: "bulk add", For: "1h", Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Window == nil || res.Window.ID != "W1" || res.Window.By != "admin:alice" || res.Window.MaxRegistrations != 3 || res.Window.Until.IsZero() {
		t.Fatalf("open: %+v (window %+v)", res, res.Window)
	}
	if diff := cmp.Diff([]string{domain.TypeWindowOpened}, res.Events); diff != "" {
		t.Errorf("open events (-want +got):\n%s", diff)
	}

	st, err = e.bob.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := api.Status{Open: true, Window: res.Window, Protocol: "SCCP", Security: "nonsecure",
		Range: api.Range{Start: "1000", End: "1009", Partition: "Internal", Mask: "40855510XX"}, DNsLeft: 10}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	_, err = e.alice.Open(ctx, api.OpenWindow{Reason: "again"})
	if client.CodeOf(err) != api.CodeWindowOpen || !strings.Contains(err.Error(), "close it first") {
		t.Fatalf("second open: %v", err)
	}
	e.expectError(e.do("POST", "/v1/autoreg/open", aliceToken, `{"reason":"  "}`), 400, api.CodeInvalid)

	// A phone autoregisters; the status counts it.
	reg, err := e.svc.Register(ctx, command.Registration{Device: "SEP00112233AABB", Model: "7961", Protocol: domain.SCCP, Address: "10.0.0.5:2000", Adapter: "sccp"})
	if err != nil || reg.DN != "1000" {
		t.Fatalf("register: %+v %v", reg, err)
	}
	st, _ = e.bob.Status(ctx)
	if st.RegistrationsInWindow != 1 || st.Devices != 1 || st.Registered != 1 || st.DNsLeft != 9 {
		t.Errorf("status after a registration: %+v", st)
	}

	e.expectError(e.do("POST", "/v1/autoreg/close", aliceToken, `{"reason":""}`), 400, api.CodeInvalid)
	res, err = e.alice.Close(ctx, "batch done")
	if err != nil || !res.Changed {
		t.Fatalf("close: %+v %v", res, err)
	}
	_, err = e.alice.Close(ctx, "batch done")
	if client.CodeOf(err) != api.CodeWindowClosed {
		t.Fatalf("second close: %v", err)
	}
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != 409 {
		t.Fatalf("second close: %#v", err)
	}

	// Mixed mode closes nothing now (closed) and forbids opening.
	if _, err := e.alice.SetSecurity(ctx, "MIXED"); err != nil {
		t.Fatal(err)
	}
	_, err = e.alice.Open(ctx, api.OpenWindow{Reason: "x"})
	if client.CodeOf(err) != api.CodeMixedMode || !strings.Contains(err.Error(), "nonsecure") {
		t.Fatalf("open in mixed mode: %v", err)
	}
	if _, err := e.alice.SetSecurity(ctx, "nonsecure"); err != nil {
		t.Fatal(err)
	}
	// Opening, then mixed mode: the window closes.
	if _, err := e.alice.Open(ctx, api.OpenWindow{Reason: "second batch"}); err != nil {
		t.Fatal(err)
	}
	res, err = e.alice.SetSecurity(ctx, "mixed")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{domain.TypeSecurityModeSet, domain.TypeWindowClosed}, res.Events); diff != "" {
		t.Errorf("mixed mode events (-want +got):\n%s", diff)
	}
	if _, err := e.alice.SetSecurity(ctx, "nonsecure"); err != nil {
		t.Fatal(err)
	}
	_, err = e.alice.SetSecurity(ctx, "paranoid")
	if client.CodeOf(err) != api.CodeInvalid {
		t.Errorf("bad security mode: %v", err)
	}

	// A range of one DN disables autoregistration.
	if _, err := e.alice.SetRange(ctx, api.PutRange{Start: "1000", End: "1000", Partition: "Internal"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.alice.Open(ctx, api.OpenWindow{Reason: "x"})
	if client.CodeOf(err) != api.CodeRangeDisabled {
		t.Errorf("open with a disabled range: %v", err)
	}
	_, err = e.alice.SetRange(ctx, api.PutRange{Start: "1099", End: "1000"})
	if client.CodeOf(err) != api.CodeInvalid {
		t.Errorf("backwards range: %v", err)
	}
	_, err = e.alice.SetRange(ctx, api.PutRange{Start: "1000", End: "1099", Partition: "Nowhere"})
	if client.CodeOf(err) != api.CodeNotFound {
		t.Errorf("range in an unknown partition: %v", err)
	}

	// The protocol parameter.
	res, err = e.alice.SetProtocol(ctx, "sip")
	if err != nil || !res.Changed {
		t.Fatalf("protocol sip: %+v %v", res, err)
	}
	res, err = e.alice.SetProtocol(ctx, "SIP")
	if err != nil || res.Changed {
		t.Fatalf("protocol SIP again should change nothing: %+v %v", res, err)
	}
	_, err = e.alice.SetProtocol(ctx, "h323")
	if client.CodeOf(err) != api.CodeInvalid {
		t.Errorf("protocol h323: %v", err)
	}
	if st, _ := e.bob.Status(ctx); st.Protocol != "SIP" {
		t.Errorf("status protocol %q", st.Protocol)
	}
}

func TestMisconfiguredAutoregistration(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx := context.Background()
	// A second CallManager with autoregistration enabled.
	if _, err := e.alice.PutCallManager(ctx, "CM2", api.PutCallManager{AutoregEnabled: true}); err != nil {
		t.Fatal(err)
	}
	_, err := e.alice.Open(ctx, api.OpenWindow{Reason: "x"})
	if client.CodeOf(err) != api.CodeMisconfigured || !strings.Contains(err.Error(), "CM2") {
		t.Fatalf("open with two autoreg CallManagers: %v", err)
	}
}

func TestStoreUnavailable(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	e.store.down.Store(true)
	r := e.do("POST", "/v1/autoreg/open", aliceToken, `{"reason":"x"}`)
	e.expectError(r, 503, api.CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.store.down.Store(false)
	if st := e.svc.Status(); st.Open {
		t.Error("the window is open although the append failed")
	}
	if _, err := e.alice.Open(context.Background(), api.OpenWindow{Reason: "x"}); err != nil {
		t.Fatalf("open once the store is back: %v", err)
	}
}

func TestTopology(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx := context.Background()
	c := e.alice
	no := false

	cl, err := e.bob.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := api.Cluster{
		Protocol: "SCCP", Security: "nonsecure",
		CallManagers: []api.CallManager{{Name: "CM1", Description: "publisher", AutoregEnabled: true}, {Name: "CM2"}},
		Groups:       []api.Group{{Name: "Default", CallManagers: []string{"CM1", "CM2"}, Autoreg: true}},
		AutoregGroup: "Default",
		Partitions:   []string{"Emergency", "Internal", "PSTN"},
		Patterns: []api.Pattern{{Pattern: "911", Partition: "Emergency"}, {Pattern: "9.1900XXXXXXX", Partition: "PSTN", Block: true},
			{Pattern: "9.[2-9]XXXXXX", Partition: "PSTN"}},
		CSS:            []api.CSS{{Name: "Autoreg", Partitions: []string{"Internal", "Emergency"}}, {Name: "Staff", Partitions: []string{"Internal", "PSTN", "Emergency"}}},
		Pools:          []api.Pool{{Name: "Default", Group: "Default", CSS: "Autoreg", SIPAuth: "digest"}, {Name: "Staff", Group: "Default", CSS: "Staff", SIPAuth: "digest"}},
		DefaultPool:    "Default",
		DeviceDefaults: []api.DeviceDefaults{{Model: "7961", LoadSCCP: "SCCP41.9-4-2SR3-1S", LoadSIP: "SIP41.9-4-2SR3-1S"}},
		AutoregCSS:     "Autoreg",
		Range:          api.Range{Start: "1000", End: "1009", Partition: "Internal", Mask: "40855510XX"},
	}
	if diff := cmp.Diff(want, cl); diff != "" {
		t.Errorf("cluster (-want +got):\n%s", diff)
	}

	// The same PUT again changes nothing.
	res, err := c.PutPool(ctx, "Staff", api.PutPool{Group: "Default", CSS: "Staff"})
	if err != nil || res.Changed || len(res.Events) != 0 {
		t.Errorf("idempotent PUT: %+v %v", res, err)
	}

	errs := []struct {
		name string
		call func() (api.Result, error)
		code string
	}{
		{"callmanager in a group", func() (api.Result, error) { return c.DeleteCallManager(ctx, "CM2") }, api.CodeInUse},
		{"unknown callmanager", func() (api.Result, error) { return c.DeleteCallManager(ctx, "CM9") }, api.CodeNotFound},
		{"callmanager without name", func() (api.Result, error) { return c.PutCallManager(ctx, " ", api.PutCallManager{}) }, api.CodeInvalid},
		{"group of an unknown CallManager", func() (api.Result, error) {
			return c.PutGroup(ctx, "G2", api.PutGroup{CallManagers: []string{"CM9"}})
		}, api.CodeNotFound},
		{"group without CallManagers", func() (api.Result, error) { return c.PutGroup(ctx, "G2", api.PutGroup{}) }, api.CodeInvalid},
		{"unflag the autoreg group", func() (api.Result, error) {
			return c.PutGroup(ctx, "Default", api.PutGroup{CallManagers: []string{"CM1"}, Autoreg: &no})
		}, api.CodeInUse},
		{"group used by a pool", func() (api.Result, error) { return c.DeleteGroup(ctx, "Default") }, api.CodeInUse},
		{"unknown group", func() (api.Result, error) { return c.DeleteGroup(ctx, "Nope") }, api.CodeNotFound},
		{"partition in a CSS", func() (api.Result, error) { return c.DeletePartition(ctx, "Emergency") }, api.CodeInUse},
		{"unknown partition", func() (api.Result, error) { return c.DeletePartition(ctx, "Nope") }, api.CodeNotFound},
		{"pattern in an unknown partition", func() (api.Result, error) {
			return c.AddPattern(ctx, api.AddPattern{Pattern: "0", Partition: "Nope"})
		}, api.CodeNotFound},
		{"bad pattern", func() (api.Result, error) {
			return c.AddPattern(ctx, api.AddPattern{Pattern: "9.[", Partition: "PSTN"})
		}, api.CodeInvalid},
		{"pattern both blocking and not", func() (api.Result, error) {
			return c.AddPattern(ctx, api.AddPattern{Pattern: "911", Partition: "Emergency", Block: true})
		}, api.CodeInUse},
		{"unknown pattern", func() (api.Result, error) { return c.DeletePattern(ctx, "912", "Emergency") }, api.CodeNotFound},
		{"CSS of an unknown partition", func() (api.Result, error) { return c.PutCSS(ctx, "X", []string{"Nope"}) }, api.CodeNotFound},
		{"autoreg CSS", func() (api.Result, error) { return c.DeleteCSS(ctx, "Autoreg") }, api.CodeInUse},
		{"unknown CSS", func() (api.Result, error) { return c.DeleteCSS(ctx, "Nope") }, api.CodeNotFound},
		{"pool of an unknown group", func() (api.Result, error) { return c.PutPool(ctx, "P", api.PutPool{Group: "Nope"}) }, api.CodeNotFound},
		{"pool of an unknown CSS", func() (api.Result, error) {
			return c.PutPool(ctx, "P", api.PutPool{Group: "Default", CSS: "Nope"})
		}, api.CodeNotFound},
		{"default pool", func() (api.Result, error) { return c.DeletePool(ctx, "Default") }, api.CodeInUse},
		{"unknown pool", func() (api.Result, error) { return c.DeletePool(ctx, "Nope") }, api.CodeNotFound},
		{"unknown default pool", func() (api.Result, error) { return c.SetDefaultPool(ctx, "Nope") }, api.CodeNotFound},
		{"defaults of an unknown model", func() (api.Result, error) {
			return c.PutDeviceDefaults(ctx, "9999", api.PutDeviceDefaults{})
		}, api.CodeNotFound},
		{"defaults with an unknown pool", func() (api.Result, error) {
			return c.PutDeviceDefaults(ctx, "7940", api.PutDeviceDefaults{Pool: "Nope"})
		}, api.CodeNotFound},
		{"unknown autoreg CSS", func() (api.Result, error) { return c.SetAutoregCSS(ctx, "Nope") }, api.CodeNotFound},
	}
	for _, x := range errs {
		t.Run(x.name, func(t *testing.T) {
			res, err := x.call()
			if client.CodeOf(err) != x.code {
				t.Fatalf("got %+v, %v; want code %s", res, err, x.code)
			}
		})
	}
	e.expectError(e.do("DELETE", "/v1/patterns?pattern=911", aliceToken, ""), 400, api.CodeBadRequest)

	// Happy removals, in dependency order.
	steps := []func() (api.Result, error){
		func() (api.Result, error) { return c.PutCallManager(ctx, "CM3", api.PutCallManager{}) },
		func() (api.Result, error) { return c.PutGroup(ctx, "G2", api.PutGroup{CallManagers: []string{"CM3"}}) },
		func() (api.Result, error) { return c.PutPool(ctx, "P2", api.PutPool{Group: "G2"}) },
		func() (api.Result, error) { return c.DeletePool(ctx, "P2") },
		func() (api.Result, error) { return c.DeleteGroup(ctx, "G2") },
		func() (api.Result, error) { return c.DeleteCallManager(ctx, "CM3") },
		func() (api.Result, error) { return c.DeletePattern(ctx, "9.[2-9]XXXXXX", "PSTN") },
		func() (api.Result, error) { return c.PutCSS(ctx, "Empty", nil) },
		func() (api.Result, error) { return c.DeleteCSS(ctx, "Empty") },
		func() (api.Result, error) { return c.PutPartition(ctx, "Spare", "") },
		func() (api.Result, error) { return c.DeletePartition(ctx, "Spare") },
		func() (api.Result, error) { return c.PutPool(ctx, "Rogue", api.PutPool{Group: "Default"}) },
		func() (api.Result, error) {
			return c.PutDeviceDefaults(ctx, "7940", api.PutDeviceDefaults{Pool: "Rogue"})
		},
		func() (api.Result, error) { return c.SetAutoregCSS(ctx, "") },
	}
	for i, step := range steps {
		if res, err := step(); err != nil || !res.Changed {
			t.Fatalf("step %d: %+v %v", i, res, err)
		}
	}
	// Flag another group: the flag moves.
	yes := true
	if _, err := c.PutCallManager(ctx, "CM4", api.PutCallManager{}); err != nil {
		t.Fatal(err)
	}
	res, err = c.PutGroup(ctx, "G4", api.PutGroup{CallManagers: []string{"CM4"}, Autoreg: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{domain.TypeGroupConfigured, domain.TypeAutoregGroupSet}, res.Events); diff != "" {
		t.Errorf("group flagged (-want +got):\n%s", diff)
	}
	if cl, _ := e.bob.Cluster(ctx); cl.AutoregGroup != "G4" {
		t.Errorf("autoreg group %q", cl.AutoregGroup)
	}
	// A partition PUT takes an empty body.
	if r := e.do("PUT", "/v1/partitions/Bare", aliceToken, ""); r.status != 200 {
		t.Errorf("partition without body: %d %s", r.status, r.body)
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx := context.Background()
	c := e.alice

	// One phone autoregisters.
	if _, err := c.Open(ctx, api.OpenWindow{Reason: "bulk add"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Register(ctx, command.Registration{Device: "SEP00112233AABB", Model: "7961", Protocol: domain.SCCP, Address: "10.0.0.5:2000", Adapter: "sccp"}); err != nil {
		t.Fatal(err)
	}

	// Another is provisioned by hand.
	r := e.do("POST", "/v1/devices", aliceToken, `{"name":"SEP0011223344CC","model":"7940","protocol":"sip","dn":"2000","partition":"Internal","pool":"Staff","description":"lobby"}`)
	if r.status != 201 {
		t.Fatalf("provision: %d %s", r.status, r.body)
	}
	var res api.Result
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	wantProv := &api.Device{Name: "SEP0011223344CC", Model: "7940", Protocol: "SIP", DN: "2000", Partition: "Internal",
		ExternalNumber: "40855510" + "00", Pool: "Staff", Description: "lobby",
		EffectiveCSS: "Staff", Status: "unregistered"} // it dials with its pool's CSS; it never registered
	if diff := cmp.Diff(wantProv, res.Device); diff != "" {
		t.Errorf("provisioned (-want +got):\n%s", diff)
	}

	devs, err := e.bob.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []api.Device{
		*wantProv, // sorted by name: '4' < 'A'
		{Name: "SEP00112233AABB", Model: "7961", Protocol: "SCCP", DN: "1000", Partition: "Internal", ExternalNumber: "4085551000",
			Pool: "Default", CSS: "Autoreg", Autoregistered: true, Window: "W1", Registered: true, Address: "10.0.0.5:2000",
			EffectiveCSS: "Autoreg", Status: "registered"},
	}
	// The phone was seen when it autoregistered; the provisioned one never was.
	if len(devs) == 2 {
		if devs[1].LastSeen.IsZero() || time.Since(devs[1].LastSeen) > time.Hour || !devs[0].LastSeen.IsZero() {
			t.Errorf("last seen: %v and %v", devs[0].LastSeen, devs[1].LastSeen)
		}
		want[1].LastSeen = devs[1].LastSeen
	}
	if diff := cmp.Diff(want, devs); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	d, err := e.bob.Device(ctx, "SEP00112233AABB")
	if err != nil || d != want[1] {
		t.Errorf("device: %+v %v", d, err)
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown device", func() error { _, err := e.bob.Device(ctx, "SEP999999999999"); return err }, api.CodeNotFound},
		{"provision twice", func() error {
			_, err := c.ProvisionDevice(ctx, api.ProvisionDevice{Name: "SEP0011223344CC", Model: "7940", DN: "2001"})
			return err
		}, api.CodeInUse},
		{"provision a held DN", func() error {
			_, err := c.ProvisionDevice(ctx, api.ProvisionDevice{Name: "SEP0011223344DD", Model: "7940", DN: "1000"})
			return err
		}, api.CodeDNInUse},
		{"provision a bad name", func() error {
			_, err := c.ProvisionDevice(ctx, api.ProvisionDevice{Name: "phone1", Model: "7940", DN: "2002"})
			return err
		}, api.CodeInvalid},
		{"provision an unknown model", func() error {
			_, err := c.ProvisionDevice(ctx, api.ProvisionDevice{Name: "SEP0011223344DD", Model: "8845", DN: "2002"})
			return err
		}, api.CodeNotFound},
		{"provision a bad protocol", func() error {
			_, err := c.ProvisionDevice(ctx, api.ProvisionDevice{Name: "SEP0011223344DD", Model: "7940", Protocol: "h323", DN: "2002"})
			return err
		}, api.CodeInvalid},
		{"reconfigure an unknown device", func() error {
			_, err := c.ReconfigureDevice(ctx, "SEP999999999999", api.ReconfigureDevice{Pool: "Staff"})
			return err
		}, api.CodeNotFound},
		{"reconfigure onto a held DN", func() error {
			_, err := c.ReconfigureDevice(ctx, "SEP00112233AABB", api.ReconfigureDevice{DN: "2000"})
			return err
		}, api.CodeDNInUse},
		{"reconfigure to an unknown pool", func() error {
			_, err := c.ReconfigureDevice(ctx, "SEP00112233AABB", api.ReconfigureDevice{Pool: "Nope"})
			return err
		}, api.CodeNotFound},
		{"delete an unknown device", func() error { _, err := c.DeleteDevice(ctx, "SEP999999999999"); return err }, api.CodeNotFound},
		{"may-dial of an unknown device", func() error { _, err := e.bob.MayDial(ctx, "SEP999999999999", "911"); return err }, api.CodeNotFound},
		{"may-dial a non-number", func() error { _, err := e.bob.MayDial(ctx, "SEP00112233AABB", "abc"); return err }, api.CodeInvalid},
	}
	for _, x := range errs {
		t.Run(x.name, func(t *testing.T) {
			if err := x.call(); client.CodeOf(err) != x.code {
				t.Fatalf("got %v; want code %s", err, x.code)
			}
		})
	}
	e.expectError(e.do("GET", "/v1/devices/SEP00112233AABB/may-dial", bobToken, ""), 400, api.CodeBadRequest)
	// A number longer than any dial string is refused before matching.
	e.expectError(e.do("GET", "/v1/devices/SEP00112233AABB/may-dial?number="+strings.Repeat("1", admin.MaxDialString+1), bobToken, ""), 400, api.CodeBadRequest)

	// May the autoregistered phone dial? Its CSS is Autoreg: internal and emergency.
	dials := []struct {
		number  string
		allowed bool
	}{{"911", true}, {"2000", true}, {"95551234", false}}
	for _, x := range dials {
		md, err := e.bob.MayDial(ctx, "SEP00112233AABB", x.number)
		if err != nil {
			t.Fatal(err)
		}
		if md.Allowed != x.allowed || md.CSS != "Autoreg" || md.Reason == "" {
			t.Errorf("may-dial %s: %+v", x.number, md)
		}
	}

	// Move it to its permanent pool and number (checklist step 8).
	res, err = c.ReconfigureDevice(ctx, "SEP00112233AABB", api.ReconfigureDevice{Pool: "Staff", DN: "2001", Description: "desk 12"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Device == nil || res.Device.Pool != "Staff" || res.Device.DN != "2001" || res.Device.Description != "desk 12" {
		t.Errorf("reconfigured: %+v", res.Device)
	}
	if diff := cmp.Diff([]string{domain.TypeDeviceReconfigured, domain.TypeDNReleased, domain.TypeDNClaimed}, res.Events); diff != "" {
		t.Errorf("reconfigure events (-want +got):\n%s", diff)
	}
	md, err := e.bob.MayDial(ctx, "SEP00112233AABB", "95551234")
	if err != nil || !md.Allowed || md.Partition != "PSTN" || md.Match != "9.[2-9]XXXXXX" {
		t.Errorf("may-dial after the move: %+v %v", md, err)
	}
	md, err = e.bob.MayDial(ctx, "SEP00112233AABB", "919005551234")
	if err != nil || md.Allowed || md.Match != "9.1900XXXXXXX" {
		t.Errorf("may-dial a blocked number: %+v %v", md, err)
	}

	res, err = c.DeleteDevice(ctx, "SEP0011223344CC")
	if err != nil || !res.Changed {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if _, err := e.bob.Device(ctx, "SEP0011223344CC"); client.CodeOf(err) != api.CodeNotFound {
		t.Errorf("deleted device: %v", err)
	}
	if st, _ := e.bob.Status(ctx); st.Devices != 1 {
		t.Errorf("devices after delete: %d", st.Devices)
	}
}

// A malformed device name is answered 400 before any command or read; a
// pool, CSS or partition that does not exist 404, listing those that do.
func TestDeviceNamesAndReferences(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	r := e.do("POST", "/v1/devices", aliceToken, `{"name":"SEP0011223344CC","model":"7940","dn":"2000"}`)
	if r.status != 201 {
		t.Fatalf("provision: %d %s", r.status, r.body)
	}
	before := e.svc.Reader.Position()
	cases := []struct {
		method, path, body string
		status             int
		code, want         string
	}{
		{"GET", "/v1/devices/SEP00AA", "", 400, api.CodeInvalid, `"SEP00AA" is malformed: a device name is SEP and the 12 hex digits of its MAC address in capitals`},
		{"GET", "/v1/devices/sep0011223344cc", "", 400, api.CodeInvalid, "did you mean SEP0011223344CC?"},
		{"PATCH", "/v1/devices/phone-12", `{"pool":"Staff"}`, 400, api.CodeInvalid, `"phone-12" is malformed`},
		{"DELETE", "/v1/devices/SEP0011223344C", "", 400, api.CodeInvalid, "is malformed"},
		{"GET", "/v1/devices/SEPXX11223344CC/may-dial?number=911", "", 400, api.CodeInvalid, "is malformed"},
		{"POST", "/v1/devices", `{"name":"SEP1","model":"7940","dn":"2001"}`, 400, api.CodeInvalid, `"SEP1" is malformed`},
		{"GET", "/v1/devices/SEP999999999999", "", 404, api.CodeNotFound, "no device SEP999999999999"},
		{"PATCH", "/v1/devices/SEP0011223344CC", `{"pool":"Staf"}`, 404, api.CodeNotFound, `no device pool "Staf": the pools are Default, Staff (did you mean Staff?)`},
		{"PATCH", "/v1/devices/SEP0011223344CC", `{"css":"Rogue"}`, 404, api.CodeNotFound, `no calling search space "Rogue": the calling search spaces are Autoreg, Staff`},
		{"PATCH", "/v1/devices/SEP0011223344CC", `{"partition":"internal"}`, 404, api.CodeNotFound, `the partitions are Emergency, Internal, PSTN (did you mean Internal?)`},
		{"POST", "/v1/devices", `{"name":"SEP0011223344DD","model":"7940","dn":"2001","pool":"Nowhere"}`, 404, api.CodeNotFound, `no device pool "Nowhere": the pools are Default, Staff`},
		{"PUT", "/v1/default-pool", `{"pool":"Defualt"}`, 404, api.CodeNotFound, `no device pool "Defualt": the pools are Default, Staff`},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, aliceToken, c.body)
		if r.status != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
			continue
		}
		if ae := r.apiError(t); ae.Code != c.code || !strings.Contains(ae.Error, c.want) {
			t.Errorf("%s %s: %+v, want code %s and %q", c.method, c.path, ae, c.code, c.want)
		}
	}
	if after := e.svc.Reader.Position(); after != before {
		t.Errorf("refused requests wrote %d events", after-before)
	}
}

// GET /v1/devices filters, sorts and pages from the read model, with the
// total the filter selects; without parameters it lists every device by
// name, as before.
func TestDeviceListingQuery(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx := context.Background()
	if _, err := e.alice.Open(ctx, api.OpenWindow{Reason: "bulk add"}); err != nil {
		t.Fatal(err)
	}
	models := []string{"7961", "7941", "7902", "7961", "7941", "7961"}
	var names []string
	for i, m := range models {
		name := fmt.Sprintf("SEP00AA000000%02X", 0x10-i) // registered in reverse name order
		names = append(names, name)
		if _, err := e.svc.Register(ctx, command.Registration{Device: name, Model: m, Protocol: domain.SCCP,
			Address: fmt.Sprintf("10.0.0.%d:2000", i+1), Adapter: "sccp"}); err != nil {
			t.Fatal(err)
		}
	}
	// names[0] (DN 1000) goes to Staff; names[1] unregisters.
	if _, err := e.alice.ReconfigureDevice(ctx, names[0], api.ReconfigureDevice{Pool: "Staff"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unregister(ctx, command.Unregistration{Device: names[1], Reason: command.UnregisterConnLost, Adapter: "sccp"}); err != nil {
		t.Fatal(err)
	}
	list := func(q api.DeviceQuery) ([]string, int) {
		t.Helper()
		d, err := e.bob.QueryDevices(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		var out []string
		for _, x := range d.Devices {
			out = append(out, x.Name)
		}
		if d.Offset != q.Offset || d.Limit != q.Limit {
			t.Errorf("%+v: page echoed as %d/%d", q, d.Offset, d.Limit)
		}
		return out, d.Total
	}
	sorted := slices.Sorted(slices.Values(names))
	cases := []struct {
		q     api.DeviceQuery
		want  []string
		total int
	}{
		{api.DeviceQuery{}, sorted, 6},
		{api.DeviceQuery{Status: "registered"}, without(sorted, names[1]), 5},
		{api.DeviceQuery{Status: "unregistered"}, []string{names[1]}, 1},
		{api.DeviceQuery{Pool: "Staff"}, []string{names[0]}, 1},
		{api.DeviceQuery{Pool: "Nowhere"}, nil, 0},
		{api.DeviceQuery{Model: "7961"}, []string{names[5], names[3], names[0]}, 3},
		{api.DeviceQuery{Model: "7941", Status: "registered"}, []string{names[4]}, 1},
		{api.DeviceQuery{Protocol: "sip"}, nil, 0},
		{api.DeviceQuery{Window: "W1", Protocol: "sccp"}, sorted, 6},
		{api.DeviceQuery{Q: "aa00000010"}, []string{names[0]}, 1},
		{api.DeviceQuery{Q: "10.0.0.3"}, []string{names[2]}, 1},
		{api.DeviceQuery{Q: "1005"}, []string{names[5]}, 1}, // its DN
		{api.DeviceQuery{Sort: "dn"}, names, 6},
		{api.DeviceQuery{Sort: "-dn", Limit: 2}, []string{names[5], names[4]}, 6},
		{api.DeviceQuery{Sort: "dn", Offset: 2, Limit: 3}, names[2:5], 6},
		{api.DeviceQuery{Offset: 4, Limit: 10}, sorted[4:], 6},
		{api.DeviceQuery{Offset: 10, Limit: 10}, nil, 6},
		{api.DeviceQuery{Sort: "status", Limit: 1}, []string{sorted[0]}, 6},
		{api.DeviceQuery{Sort: "-status", Limit: 1}, []string{names[1]}, 6},
		{api.DeviceQuery{Since: "1h"}, sorted, 6},
		{api.DeviceQuery{Since: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, nil, 0},
	}
	for _, c := range cases {
		got, total := list(c.q)
		if !slices.Equal(got, c.want) || total != c.total {
			t.Errorf("%+v: %v (total %d), want %v (total %d)", c.q, got, total, c.want, c.total)
		}
	}
	// The answer carries last seen.
	d, err := e.bob.QueryDevices(ctx, api.DeviceQuery{Q: names[1]})
	if err != nil || len(d.Devices) != 1 || d.Devices[0].LastSeen.IsZero() || d.Devices[0].Registered {
		t.Errorf("unregistered device: %+v %v", d, err)
	}

	for _, c := range []struct{ query, want string }{
		{"?status=online", `status "online": use registered or unregistered`},
		{"?sort=colour", `sort "colour": use one of`},
		{"?limit=-1", `limit "-1": give a whole number from 0 to 5000`},
		{"?limit=5001", "from 0 to 5000"},
		{"?offset=x", `offset "x"`},
		{"?since=yesterday", `since "yesterday": give a time`},
		{"?protocol=h323", `protocol "h323": use sip or sccp`},
		{"?colour=red", `unknown query parameter "colour": GET /v1/devices takes status, pool, model`},
		{"?pool=A&pool=B", `"pool" is given 2 times`},
	} {
		r := e.do("GET", "/v1/devices"+c.query, bobToken, "")
		if r.status != 400 {
			t.Errorf("%s: %d %s", c.query, r.status, r.body)
			continue
		}
		if ae := r.apiError(t); ae.Code != api.CodeBadRequest || !strings.Contains(ae.Error, c.want) {
			t.Errorf("%s: %+v, want %q", c.query, ae, c.want)
		}
	}
}

func without(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx := context.Background()
	m := e.srv.Metrics()
	reg := m.Registrar(e.svc)
	if _, err := e.alice.Open(ctx, api.OpenWindow{Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, command.Registration{Device: "SEP00112233AABB", Model: "7961", Protocol: domain.SCCP, Address: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, command.Registration{Device: "SEP00112233AABC", Model: "7961", Protocol: domain.SIP, Address: "b"}); err == nil {
		t.Fatal("a SIP 7961 autoregistered while the protocol is SCCP")
	}

	// From loopback, with the server on loopback, no token is needed.
	r := e.do("GET", "/metrics", "", "")
	if r.status != 200 {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	for _, want := range []string{
		`autoreg_window_open 1`,
		`autoreg_dns_left 9`,
		`autoreg_devices{state="known"} 1`,
		`autoreg_registrations_total{outcome="autoregistered",protocol="SCCP"} 1`,
		`autoreg_registrations_total{outcome="rejected",protocol="SIP"} 1`,
		`autoreg_registration_rejections_total{reason="wrong_protocol"} 1`,
		`autoreg_admin_requests_total{code="200",method="POST",route="POST /v1/autoreg/open"} 1`,
		`autoreg_admin_auth_failures_total{reason="missing"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// The window's gauges: how long it has been open, its time and
// registrations left (NaN when unlimited or closed), the range's size, the
// devices registered by protocol, the SIP bindings, the store's health.
func TestWindowAndDeviceMetrics(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx := context.Background()
	m := e.srv.Metrics()
	m.WatchSIPBindings(func() int { return 7 })
	scrape := func() map[string]float64 {
		t.Helper()
		r := e.do("GET", "/metrics", "", "")
		if r.status != 200 {
			t.Fatalf("metrics: %d %s", r.status, r.body)
		}
		out := map[string]float64{}
		for _, line := range strings.Split(string(r.body), "\n") {
			i := strings.LastIndexByte(line, ' ')
			if name, val := line[:max(i, 0)], line[i+1:]; i > 0 && strings.HasPrefix(name, "autoreg_") {
				f, err := strconv.ParseFloat(val, 64)
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				out[name] = f
			}
		}
		return out
	}
	closed := scrape()
	for name, want := range map[string]float64{"autoreg_window_open": 0, "autoreg_window_open_seconds": 0, "autoreg_window_registrations": 0,
		"autoreg_dns_range_size": 10, "autoreg_dns_left": 10, "autoreg_sip_bindings": 7, "autoreg_store_up": 1,
		`autoreg_devices_registered{protocol="SCCP"}`: 0, `autoreg_devices_registered{protocol="SIP"}`: 0} {
		if got, ok := closed[name]; !ok || got != want {
			t.Errorf("closed: %s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"autoreg_window_seconds_left", "autoreg_window_registrations_left"} {
		if !math.IsNaN(closed[name]) {
			t.Errorf("closed: %s = %v, want NaN", name, closed[name])
		}
	}

	if _, err := e.alice.Open(ctx, api.OpenWindow{Reason: "bulk add", For: "30m", Max: 5}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SEP00112233AAB1", "SEP00112233AAB2"} {
		if _, err := e.svc.Register(ctx, command.Registration{Device: name, Model: "7961", Protocol: domain.SCCP, Address: "10.0.0.1:2000", Adapter: "sccp"}); err != nil {
			t.Fatal(err)
		}
	}
	open := scrape()
	for name, want := range map[string]float64{"autoreg_window_open": 1, "autoreg_window_registrations": 2, "autoreg_window_registrations_left": 3,
		"autoreg_dns_left": 8, `autoreg_devices_registered{protocol="SCCP"}`: 2} {
		if got := open[name]; got != want {
			t.Errorf("open: %s = %v, want %v", name, got, want)
		}
	}
	if left := open["autoreg_window_seconds_left"]; !(left > 25*60 && left <= 30*60) {
		t.Errorf("open for 30m: %v seconds left", left)
	}
	if since := open["autoreg_window_open_seconds"]; !(since >= 0 && since < 5*60) {
		t.Errorf("just opened: open for %v seconds", since)
	}
	if _, err := e.alice.Open(ctx, api.OpenWindow{Reason: "x"}); err == nil {
		t.Fatal("a second window opened")
	}
	if _, err := e.alice.Close(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.alice.Open(ctx, api.OpenWindow{Reason: "no limits"}); err != nil {
		t.Fatal(err)
	}
	unlimited := scrape()
	if !math.IsNaN(unlimited["autoreg_window_seconds_left"]) || !math.IsNaN(unlimited["autoreg_window_registrations_left"]) || unlimited["autoreg_window_open"] != 1 {
		t.Errorf("an unlimited window: %v left, %v registrations left", unlimited["autoreg_window_seconds_left"], unlimited["autoreg_window_registrations_left"])
	}
}

func TestMetricsNeedATokenBeyondLoopback(t *testing.T) {
	e := newEnv(t, admin.Config{Addr: "0.0.0.0:8080", Tokens: testTokens, AllowPlainHTTP: true})
	e.expectError(e.do("GET", "/metrics", "", ""), 401, api.CodeUnauthorized)
	if r := e.do("GET", "/metrics", bobToken, ""); r.status != 200 || !strings.Contains(string(r.body), "autoreg_window_open") {
		t.Fatalf("metrics with a read token: %d", r.status)
	}
}

func TestStoreAppendLatency(t *testing.T) {
	m := admin.NewMetrics()
	store := m.Store(memory.New())
	svc, err := testreg.Open(t, store, command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Metrics: m, Tokens: testTokens}, svc.Handler, svc.Reader, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if srv.Metrics() != m {
		t.Fatal("the server does not use the given metrics")
	}
	if _, err := svc.Execute(context.Background(), domain.AddPartition{Name: "P", By: "t"}, command.Admin("t", "")); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	srv.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "autoreg_store_append_duration_seconds_count 1") {
		t.Errorf("append not timed:\n%s", rec.Body.String())
	}
}

func TestNoTokenMeansLocalAdmin(t *testing.T) {
	e := newEnv(t, admin.Config{Tokens: []admin.Token{}})
	e.seed()
	ctx := context.Background()
	anon := e.client("")
	if _, err := anon.Open(ctx, api.OpenWindow{Reason: "dev"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := anon.Status(ctx); st.Window == nil || st.Window.By != "admin:"+admin.AnonymousUser {
		t.Errorf("window by %+v", st.Window)
	}
	// A page served from elsewhere that rebinds its name to 127.0.0.1.
	req, _ := http.NewRequest("GET", e.http.URL+"/v1/status", nil)
	req.Host = "evil.example:8080"
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("foreign Host: %d, want 403", resp.StatusCode)
	}
}

// Over a real socket and clock: after 5 free failures the answer to the
// next wrong token is held back; the right token is answered as usual.
// (throttle_internal_test.go covers the budgets on a fake clock.)
func TestRepeatedFailuresAreSlowed(t *testing.T) {
	e := newEnv(t, admin.Config{})
	for i := 0; i < 5; i++ {
		e.expectError(e.do("GET", "/v1/status", "guess", ""), 401, api.CodeUnauthorized)
	}
	start := time.Now()
	e.expectError(e.do("GET", "/v1/status", "guess", ""), 401, api.CodeUnauthorized)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("the 6th wrong token from one address was answered in %v", d)
	}
	if r := e.do("GET", "/v1/status", bobToken, ""); r.status != 200 {
		t.Fatalf("right token: %d %s", r.status, r.body)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "autoreg test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	svc, err := testreg.Open(t, memory.New(), command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Tokens: testTokens, TLSCert: certFile, TLSKey: keyFile}, svc.Handler, svc.Reader, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c, err := client.New("https://"+ln.Addr().String(), bobToken, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("status over TLS: %v", err)
	}
	// Plain HTTP to the TLS port gets nowhere.
	plain, _ := client.New("http://"+ln.Addr().String(), bobToken)
	if _, err := plain.Status(ctx); err == nil {
		t.Error("plain HTTP answered on the TLS port")
	}
}
