package admin_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/admin"
	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/testreg"
)

// browser is a person's browser on the console: a cookie jar, no
// redirects followed (the tests look at them).
type browser struct {
	t    *testing.T
	e    *env
	hc   *http.Client
	csrf string // the page's CSRF token, once signed in
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Transport: e.http.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: e.t, e: e, hc: hc}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, header http.Header, body string) page {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.e.http.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfMeta  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

// signIn signs in with token through the form and reads the page's CSRF token.
func (b *browser) signIn(token string) page {
	b.t.Helper()
	login := b.do("GET", "/login", nil, "")
	m := csrfField.FindStringSubmatch(login.body)
	if login.status != 200 || m == nil {
		b.t.Fatalf("sign-in page: %d %s", login.status, login.body)
	}
	form := url.Values{"token": {token}, "csrf": {m[1]}, "next": {"/devices"}}
	p := b.do("POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
	if p.status == http.StatusSeeOther {
		page := b.do("GET", "/devices", nil, "")
		if mm := csrfMeta.FindStringSubmatch(page.body); mm != nil {
			b.csrf = mm[1]
		}
	}
	return p
}

// change makes a JSON change with the session (and the CSRF token unless
// csrf is "-").
func (b *browser) change(method, path, body, csrf string) page {
	b.t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if csrf != "-" {
		h.Set("X-CSRF-Token", csrf)
	}
	return b.do(method, path, h, body)
}

func apiErr(t *testing.T, p page) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal([]byte(p.body), &e); err != nil {
		t.Fatalf("not an API error (%d): %s", p.status, p.body)
	}
	return e
}

// Signing in: a page sends a stranger to the form; the form's own CSRF
// token and the token are checked; a session cookie (HttpOnly,
// SameSite=Strict) follows, and the pages carry the session's CSRF token.
func TestConsoleSignIn(t *testing.T) {
	e := newEnv(t, admin.Config{})
	b := e.browser()
	p := b.do("GET", "/devices?pool=Staff", nil, "")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?next=%2Fdevices%3Fpool%3DStaff" {
		t.Fatalf("a page without a session: %d to %q", p.status, p.header.Get("Location"))
	}
	login := b.do("GET", "/login", nil, "")
	if csp := login.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") {
		t.Errorf("sign-in page CSP: %q", csp)
	}
	m := csrfField.FindStringSubmatch(login.body)
	if m == nil {
		t.Fatalf("no CSRF field in the sign-in form:\n%s", login.body)
	}
	post := func(token, csrf string, h http.Header) page {
		if h == nil {
			h = http.Header{}
		}
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		return b.do("POST", "/login", h, url.Values{"token": {token}, "csrf": {csrf}, "next": {"//evil.example/"}}.Encode())
	}
	if p := post(aliceToken, "forged", nil); p.status != http.StatusForbidden || !strings.Contains(p.body, "expired or came from elsewhere") {
		t.Errorf("sign-in with a forged form token: %d", p.status)
	}
	login = b.do("GET", "/login", nil, "")
	m = csrfField.FindStringSubmatch(login.body)
	if p := post(aliceToken, m[1], http.Header{"Origin": {"https://evil.example"}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in from another origin: %d", p.status)
	}
	login = b.do("GET", "/login", nil, "")
	m = csrfField.FindStringSubmatch(login.body)
	if p := post("wrong-token-0123456789", m[1], nil); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "That token is not valid") {
		t.Errorf("sign-in with a wrong token: %d", p.status)
	}
	login = b.do("GET", "/login", nil, "")
	m = csrfField.FindStringSubmatch(login.body)
	p = post(aliceToken, m[1], nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d to %q (a foreign next must go to /)", p.status, p.header.Get("Location"))
	}
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "autoreg_session=") {
			cookie = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie over plain HTTP is Secure: %q", cookie)
	}
	dev := b.do("GET", "/devices", nil, "")
	if dev.status != 200 || !csrfMeta.MatchString(dev.body) || !strings.Contains(dev.body, `data-user="alice"`) || !strings.Contains(dev.body, `data-scope="admin"`) {
		t.Fatalf("the devices page: %d\n%s", dev.status, dev.body)
	}
	if csp := dev.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'; script-src 'self'; style-src 'self'") {
		t.Errorf("page CSP: %q", csp)
	}
	if dev.header.Get("X-Frame-Options") != "DENY" {
		t.Error("the page may be framed")
	}
	// Signed in, the form goes straight to the pages.
	if p := b.do("GET", "/login?next=/audit", nil, ""); p.status != http.StatusSeeOther || p.header.Get("Location") != "/audit" {
		t.Errorf("the sign-in page when signed in: %d to %q", p.status, p.header.Get("Location"))
	}
}

// Under TLS (or behind a proxy that says so) the session cookie is Secure
// and __Host- prefixed.
func TestConsoleCookieUnderTLS(t *testing.T) {
	e := newEnv(t, admin.Config{})
	b := e.browser()
	login := b.do("GET", "/login", http.Header{"X-Forwarded-Proto": {"https"}}, "")
	m := csrfField.FindStringSubmatch(login.body)
	p := b.do("POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-Proto": {"https"}},
		url.Values{"token": {aliceToken}, "csrf": {m[1]}}.Encode())
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-autoreg_session=") {
			cookie = c
		}
	}
	if !strings.Contains(cookie, "Secure") || !strings.Contains(cookie, "HttpOnly") || strings.Contains(cookie, "Domain") {
		t.Errorf("session cookie under TLS: %q (all: %q)", cookie, p.header.Values("Set-Cookie"))
	}
}

// Every change made with the session cookie carries the page's CSRF
// token, or is refused 403 with nothing done; with it, it is the API's
// command, recorded as made by the signed-in user.
func TestConsoleCSRF(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	b := e.browser()
	if p := b.signIn(aliceToken); p.status != http.StatusSeeOther || b.csrf == "" {
		t.Fatalf("sign-in: %d", p.status)
	}
	if p := b.do("GET", "/v1/status", nil, ""); p.status != 200 {
		t.Fatalf("a read with the session: %d %s", p.status, p.body)
	}
	before := e.svc.Reader.Position()
	for _, c := range []struct {
		name, csrf string
		header     http.Header
	}{
		{"no token", "-", nil},
		{"a wrong token", "not-the-token", nil},
		{"another origin", b.csrf, http.Header{"Origin": {"https://evil.example"}}},
	} {
		h := http.Header{"Content-Type": {"application/json"}}
		if c.csrf != "-" {
			h.Set("X-CSRF-Token", c.csrf)
		}
		for k, v := range c.header {
			h[k] = v
		}
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/v1/autoreg/open", `{"reason":"forged"}`},
			{"PUT", "/v1/autoreg/protocol", `{"protocol":"sip"}`},
			{"DELETE", "/v1/pools/Staff", ""},
		} {
			p := b.do(r.method, r.path, h, r.body)
			if p.status != http.StatusForbidden || !strings.Contains(apiErr(t, p).Error, "CSRF token") {
				t.Errorf("%s: %s %s: %d %s", c.name, r.method, r.path, p.status, p.body)
			}
		}
	}
	if after := e.svc.Reader.Position(); after != before {
		t.Fatalf("refused changes wrote %d events", after-before)
	}
	p := b.change("POST", "/v1/autoreg/open", `{"reason":"console batch","for":"30m"}`, b.csrf)
	if p.status != 200 {
		t.Fatalf("open with the CSRF token: %d %s", p.status, p.body)
	}
	// The same command and event as through the API, naming alice.
	st, err := e.bob.Status(context.Background())
	if err != nil || !st.Open || st.Window.By != "admin:alice" {
		t.Errorf("status after the console's open: %+v %v", st, err)
	}
	metrics := e.do("GET", "/metrics", "", "")
	if !strings.Contains(string(metrics.body), `autoreg_admin_auth_failures_total{reason="csrf"} 9`) {
		t.Errorf("CSRF refusals not counted:\n%s", grepLines(string(metrics.body), "auth_failures"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A read token signs in, reads everything, and changes nothing: its page
// says so and its changes are refused even with the CSRF token.
func TestConsoleReadOnly(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	b := e.browser()
	b.signIn(bobToken)
	page := b.do("GET", "/", nil, "")
	if page.status != 200 || !strings.Contains(page.body, `data-scope="read"`) || !strings.Contains(page.body, `id="readonly"`) {
		t.Fatalf("the read-only page: %d\n%s", page.status, page.body)
	}
	for _, path := range []string{"/v1/status", "/v1/cluster", "/v1/devices", "/v1/windows"} {
		if p := b.do("GET", path, nil, ""); p.status != 200 {
			t.Errorf("GET %s: %d", path, p.status)
		}
	}
	p := b.change("POST", "/v1/autoreg/open", `{"reason":"auditor"}`, b.csrf)
	if p.status != http.StatusForbidden || !strings.Contains(apiErr(t, p).Error, "read-only token") {
		t.Errorf("the auditor's open: %d %s", p.status, p.body)
	}
}

// Signing out needs the page's CSRF token; it ends the session.
func TestConsoleSignOut(t *testing.T) {
	e := newEnv(t, admin.Config{})
	b := e.browser()
	b.signIn(aliceToken)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if p := b.do("POST", "/logout", form, "csrf=forged"); p.status != http.StatusForbidden {
		t.Errorf("sign-out with a forged token: %d", p.status)
	}
	if p := b.do("GET", "/v1/status", nil, ""); p.status != 200 {
		t.Fatalf("the session ended with a forged sign-out: %d", p.status)
	}
	p := b.do("POST", "/logout", form, "csrf="+url.QueryEscape(b.csrf))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("sign-out: %d to %q", p.status, p.header.Get("Location"))
	}
	if p := b.do("GET", "/v1/status", nil, ""); p.status != http.StatusUnauthorized {
		t.Errorf("a read after signing out: %d", p.status)
	}
	if p := b.do("GET", "/", nil, ""); p.status != http.StatusSeeOther {
		t.Errorf("a page after signing out: %d", p.status)
	}
}

// Without any token configured the console cannot sign anyone in (and
// says so); the API's loopback rules are unchanged.
func TestConsoleNeedsATokenConfigured(t *testing.T) {
	e := newEnv(t, admin.Config{Tokens: []admin.Token{}})
	b := e.browser()
	login := b.do("GET", "/login", nil, "")
	if !strings.Contains(login.body, "no admin token configured") {
		t.Errorf("the sign-in page does not say the console needs a token:\n%s", login.body)
	}
	m := csrfField.FindStringSubmatch(login.body)
	p := b.do("POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, url.Values{"token": {""}, "csrf": {m[1]}}.Encode())
	if p.status != http.StatusForbidden {
		t.Errorf("a sign-in without tokens configured: %d", p.status)
	}
	if p := b.do("GET", "/", nil, ""); p.status != http.StatusSeeOther {
		t.Errorf("a page without tokens configured: %d", p.status)
	}
}

// The embedded assets load nothing from elsewhere and the pages run no
// inline script or style, so the CSP (default-src 'self') holds.
func TestConsoleAssetsAreSelfContained(t *testing.T) {
	e := newEnv(t, admin.Config{})
	for _, c := range []struct{ path, ctype string }{
		{"/assets/console.js", "javascript"}, {"/assets/console.css", "text/css"}, {"/assets/favicon.svg", "image/svg+xml"},
	} {
		p := e.browser().do("GET", c.path, nil, "")
		if p.status != 200 || !strings.Contains(p.header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s: %d %s", c.path, p.status, p.header.Get("Content-Type"))
		}
	}
	if p := e.browser().do("GET", "/assets/page.html", nil, ""); p.status != 404 {
		t.Errorf("a template served as an asset: %d", p.status)
	}
	if p := e.browser().do("GET", "/assets/..%2fconsole.go", nil, ""); p.status != 404 {
		t.Errorf("a path outside the assets: %d", p.status)
	}
	outside := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|<script>|\son[a-z]+\s*=|\sstyle\s*=|javascript:`)
	err := fs.WalkDir(admin.ConsoleFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(admin.ConsoleFS(), path)
		if err != nil {
			return err
		}
		if loc := outside.FindIndex(b); loc != nil {
			t.Errorf("%s: %q reaches outside or runs inline", path, b[max(loc[0]-20, 0):min(loc[1]+20, len(b))])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// GET /v1/watch streams an event each time the read models move: a page
// knows when to refresh.
func TestWatchStreamsChanges(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/v1/watch", nil)
	req.Header.Set("Authorization", "Bearer "+bobToken)
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(resp.Body)
	next := func() uint64 {
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				var d struct{ Position uint64 }
				if err := json.Unmarshal([]byte(rest), &d); err != nil {
					t.Fatal(err)
				}
				return d.Position
			}
		}
	}
	first := next()
	if first != e.svc.Reader.Position() || first == 0 {
		t.Errorf("first position %d, the read models are at %d", first, e.svc.Reader.Position())
	}
	if _, err := e.alice.Open(context.Background(), api.OpenWindow{Reason: "watch me"}); err != nil {
		t.Fatal(err)
	}
	if second := next(); second <= first {
		t.Errorf("after a change the stream says %d, before %d", second, first)
	}
}

// A device's history is its stream's events, with who made each; the
// windows list says what happened in each window.
func TestDeviceHistoryAndWindows(t *testing.T) {
	e := newEnv(t, admin.Config{})
	e.seed()
	ctx := context.Background()
	if _, err := e.alice.Open(ctx, api.OpenWindow{Reason: "bulk add", Max: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Register(ctx, command.Registration{Device: "SEP00112233AABB", Model: "7961", Protocol: domain.SCCP, Address: "10.0.0.5:2000", Adapter: "sccp"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.alice.ReconfigureDevice(ctx, "SEP00112233AABB", api.ReconfigureDevice{Pool: "Staff"}); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/devices/SEP00112233AABB/history", bobToken, "")
	var h api.History
	if err := json.Unmarshal(r.body, &h); err != nil || r.status != 200 {
		t.Fatalf("history: %d %s", r.status, r.body)
	}
	var got []string
	for _, ev := range h.Events {
		got = append(got, ev.Type+" "+ev.Actor)
	}
	want := []string{"device.autoregistered sccp", "device.reconfigured admin:alice"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("history: %v, want %v", got, want)
	}
	var data map[string]any
	if err := json.Unmarshal(h.Events[1].Data, &data); err != nil || data["pool"] != "Staff" || data["schema_version"] != nil {
		t.Errorf("history data: %s", h.Events[1].Data)
	}
	e.expectError(e.do("GET", "/v1/devices/SEP999999999999/history", bobToken, ""), 404, api.CodeNotFound)
	e.expectError(e.do("GET", "/v1/devices/SEP99/history", bobToken, ""), 400, api.CodeInvalid)

	r = e.do("GET", "/v1/windows", bobToken, "")
	var ws api.Windows
	if err := json.Unmarshal(r.body, &ws); err != nil || len(ws.Windows) != 1 {
		t.Fatalf("windows: %d %s", r.status, r.body)
	}
	w := ws.Windows[0]
	if w.ID != "W1" || !w.Open || w.OpenedBy != "admin:alice" || w.Registrations != 1 || w.RegistrationsByProtocol["SCCP"] != 1 || w.MaxRegistrations != 10 || ws.Report {
		t.Errorf("window: %+v (report %v)", w, ws.Report)
	}
	if _, err := e.alice.Close(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/v1/windows", bobToken, "")
	if err := json.Unmarshal(r.body, &ws); err != nil || ws.Windows[0].Open || ws.Windows[0].CloseCause != "admin" || ws.Windows[0].CloseReason != "done" {
		t.Errorf("closed window: %s", r.body)
	}
	// Without a report, the Audit page points to the command line.
	if ae := e.expectError(e.do("GET", "/audit/report", bobToken, ""), 404, api.CodeNotFound); !strings.Contains(ae.Error, "compliance report --format html") {
		t.Errorf("no report: %q", ae.Error)
	}
}

// The compliance report is served under a policy that lets nothing load or
// run: its own style blocks are allowed by their hashes, not inline style in
// general.
func TestReportPolicy(t *testing.T) {
	const style = "body { color: #111; }"
	var asked [2]time.Time
	e := newEnv(t, admin.Config{Report: func(_ context.Context, w io.Writer, since, until time.Time) error {
		asked = [2]time.Time{since, until}
		_, err := io.WriteString(w, "<!doctype html><html><head><style>"+style+"</style></head><body>W1</body></html>")
		return err
	}})
	r := e.do("GET", "/audit/report?since=2026-11-01&until=2026-11-30", bobToken, "")
	if r.status != 200 || !strings.Contains(string(r.body), "W1") {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	sum := sha256.Sum256([]byte(style))
	want := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
	if csp := r.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, want) || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script") {
		t.Errorf("report CSP %q, want it to start %q", csp, want)
	}
	if asked[0] != time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) || asked[1] != time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.UTC) {
		t.Errorf("report asked for %v", asked)
	}
	e.expectError(e.do("GET", "/audit/report?since=yesterday", bobToken, ""), 400, api.CodeBadRequest)
	e.expectError(e.do("GET", "/audit/report?since=2026-12-01&until=2026-11-01", bobToken, ""), 400, api.CodeBadRequest)
}

// Shutting down ends the live-update streams, which never go idle, rather
// than waiting out the shutdown's time.
func TestShutdownEndsWatchers(t *testing.T) {
	svc, err := testreg.Open(t, memory.New(), command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Tokens: testTokens}, svc.Handler, svc.Reader, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/watch", nil)
	req.Header.Set("Authorization", "Bearer "+bobToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), admin.ShutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown with a live-update stream open: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A compliance report reads the whole log: while one is being made,
// another is refused (429) rather than read in parallel.
func TestOneReportAtATime(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	e := newEnv(t, admin.Config{Report: func(ctx context.Context, w io.Writer, _, _ time.Time) error {
		close(entered)
		<-release
		_, err := io.WriteString(w, "<html><body>done</body></html>")
		return err
	}})
	first := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.http.URL+"/audit/report", nil)
		req.Header.Set("Authorization", "Bearer "+bobToken)
		resp, err := e.http.Client().Do(req)
		if err != nil {
			first <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		first <- resp.Status + " " + string(b)
	}()
	<-entered
	r := e.do("GET", "/audit/report", bobToken, "")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("a second report while one is made: %d %s", r.status, r.body)
	}
	close(release)
	if got := <-first; !strings.HasPrefix(got, "200 OK") || !strings.Contains(got, "done") {
		t.Errorf("the first report: %s", got)
	}
}
