package admin

// The console: the admin API's web pages, served from / on the admin
// address. A person signs in with a token (admin or read); the browser then
// holds a session cookie, and the pages' scripts call the same /v1
// endpoints as the CLI, with the cookie and the session's CSRF token, so
// that every change is the same command, recorded as the same events,
// naming the same user. Every asset is embedded; the Content-Security-Policy
// lets nothing come from another origin and no inline script run.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

//go:embed console
var consoleFS embed.FS

// consoleCSP is the console's Content-Security-Policy: its own origin only,
// no inline script or style, no framing.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// apiCSP is the policy of every other answer (JSON, text): nothing may load.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

// consolePages are the console's pages: path, name, title.
var consolePages = []struct{ path, name, title string }{
	{"/{$}", "autoreg", "Autoregistration"},
	{"/devices", "devices", "Devices"},
	{"/cluster", "cluster", "Cluster"},
	{"/audit", "audit", "Audit"},
}

// maxWatchers bounds the live-update streams open at once.
const maxWatchers = 256

// ReportFunc writes the compliance report of a period (zero bounds: the
// whole log) as a self-contained HTML page. `registrar serve` gives one
// (package compliance, over the registrar's store); without it the console
// points to the command line.
type ReportFunc func(ctx context.Context, w io.Writer, since, until time.Time) error

// consoleRoutes registers the console's pages, its assets, sign-in and
// sign-out, and the endpoints only the console needs.
func (s *Server) consoleRoutes() {
	for _, p := range consolePages {
		s.handle("GET "+p.path, accessPage, s.page(p.name, p.title))
	}
	s.handle("GET /login", accessPublic, s.loginPage)
	s.handle("POST /login", accessPublic, s.login)
	s.handle("POST /logout", accessPublic, s.logout)
	s.handle("GET /assets/{file}", accessPublic, s.asset)
	s.handle("GET /favicon.ico", accessPublic, func(w http.ResponseWriter, r *http.Request, _ principal) error {
		http.Redirect(w, r, "/assets/favicon.svg", http.StatusMovedPermanently)
		return nil
	})
	s.handle("GET /audit/report", accessRead, s.report)

	s.handle("GET /v1/watch", accessRead, s.watch)
	s.handle("GET /v1/windows", accessRead, s.listWindows)
	s.handle("GET /v1/devices/{name}/history", accessRead, s.deviceHistory)
}

// templates are the console's HTML pages.
var templates = template.Must(template.New("").ParseFS(consoleFS, "console/*.html"))

// pageData is what a page's template gets.
type pageData struct {
	Page, Title string
	User, Scope string
	CanWrite    bool
	CSRF        string
	Pages       []navItem
	Error       string // the sign-in page's
	Next        string
	NoTokens    bool
}

type navItem struct {
	Href, Name, Title string
	Active            bool
}

func nav(active string) []navItem {
	out := make([]navItem, 0, len(consolePages))
	for _, p := range consolePages {
		href := strings.TrimSuffix(p.path, "{$}")
		out = append(out, navItem{Href: href, Name: p.name, Title: p.title, Active: p.name == active})
	}
	return out
}

// render writes a template as an HTML page under the console's policy.
func render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// page serves one of the console's pages to a signed-in person.
func (s *Server) page(name, title string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who principal) error {
		sess := sessionOf(r)
		return render(w, http.StatusOK, "page.html", pageData{Page: name, Title: title, User: who.User, Scope: who.Scope,
			CanWrite: who.canWrite(), CSRF: sess.csrf, Pages: nav(name)})
	}
}

// asset serves an embedded file.
func (s *Server) asset(w http.ResponseWriter, r *http.Request, _ principal) error {
	name := r.PathValue("file")
	b, err := consoleFS.ReadFile("console/" + path.Base(name))
	if err != nil || strings.HasSuffix(name, ".html") {
		return fmt.Errorf("%w: no asset %s", domain.ErrNotFound, name)
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Security-Policy", consoleCSP)
	w.Header().Set("Cache-Control", "no-cache")
	_, err = w.Write(b)
	return err
}

// safeNext is where to go after signing in: a path of this server only.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return u.RequestURI()
}

// loginPage shows the sign-in form. The form carries a token also set in a
// short-lived SameSite=Strict cookie (the sign-in's own CSRF protection).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, _ principal) error {
	if _, ok := s.sessions.get(sessionID(r)); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return s.renderLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: secureRequest(r),
		SameSite: http.SameSiteStrictMode, MaxAge: 900})
	next := r.URL.Query().Get("next")
	if next == "" {
		next = r.PostFormValue("next")
	}
	return render(w, status, "login.html", pageData{Title: "Sign in", CSRF: tok, Error: msg, Next: safeNext(next), NoTokens: s.tokens.empty()})
}

// sameOrigin refuses a request whose Origin (when the browser sent one)
// is not this server.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// login checks the token of the sign-in form and starts a session.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("the sign-in form could not be read: %v", err)
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(c.Value, r.PostFormValue("csrf")) || !sameOrigin(r) {
		s.metrics.AuthFailures.WithLabelValues(authCSRF).Inc()
		return s.renderLogin(w, r, http.StatusForbidden, "The sign-in form had expired or came from elsewhere: sign in again.")
	}
	if s.tokens.empty() {
		return s.renderLogin(w, r, http.StatusForbidden, "This registrar has no admin token: the console needs one (admin.tokens, or AUTOREG_ADMIN_TOKEN).")
	}
	peer := r.RemoteAddr
	// The token first: a right one is never held back by the throttle.
	who, ok := s.tokens.lookup(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		v := s.throttle.fail(peer, r.URL.Path, "console sign-in with a wrong token")
		if v.refuse {
			s.metrics.AuthFailures.WithLabelValues(authThrottled).Inc()
			w.Header().Set("Retry-After", retryAfter(v.retryAfter))
			return s.renderLogin(w, r, http.StatusTooManyRequests, "Too many wrong tokens from your address, your network or everywhere: wait a little and check the token.")
		}
		s.metrics.AuthFailures.WithLabelValues(authInvalid).Inc()
		if v.wait > 0 && !s.hold(r.Context(), v.wait) {
			return nil
		}
		return s.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
	}
	id, _ := s.sessions.create(who)
	setSessionCookie(w, r, id)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	infoOf(r).user = who.User
	s.log.Info().Str("user", who.User).Str("scope", who.Scope).Str("peer", peer).Msg("console sign-in")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// logout ends the session (the form carries its CSRF token).
func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	_ = r.ParseForm()
	id := sessionID(r)
	sess, ok := s.sessions.get(id)
	if ok && (!sameToken(sess.csrf, r.PostFormValue("csrf")) || !sameOrigin(r)) {
		s.metrics.AuthFailures.WithLabelValues(authCSRF).Inc()
		writeJSON(w, http.StatusForbidden, api.Error{Error: "sign-out without the page's CSRF token: sign out from the console's own button", Code: api.CodeForbidden})
		return nil
	}
	if ok {
		s.sessions.end(id)
		s.log.Info().Str("user", sess.User).Str("peer", r.RemoteAddr).Msg("console sign-out")
	}
	clearSessionCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

type sessionKey struct{}

// sessionOf is the console session a request was authenticated with (the
// zero session for a bearer token).
func sessionOf(r *http.Request) session {
	if s, ok := r.Context().Value(sessionKey{}).(*session); ok {
		return *s
	}
	return session{}
}

// authenticateSession authenticates a request made with a session cookie:
// a live session, and for a change, the session's CSRF token in
// X-CSRF-Token and no foreign Origin. Pages redirect to the sign-in
// instead of answering 401.
func (s *Server) authenticateSession(w http.ResponseWriter, r *http.Request, a access, id string) (principal, *http.Request, bool) {
	sess, ok := s.sessions.get(id)
	if !ok {
		if a == accessPage {
			clearSessionCookie(w, r)
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return principal{}, r, false
		}
		s.metrics.AuthFailures.WithLabelValues(authInvalid).Inc()
		writeJSON(w, http.StatusUnauthorized, api.Error{Error: "the console session has ended: sign in again", Code: api.CodeUnauthorized})
		return principal{}, r, false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !sameToken(sess.csrf, r.Header.Get(csrfHeader)) || !sameOrigin(r) {
			s.metrics.AuthFailures.WithLabelValues(authCSRF).Inc()
			s.log.Warn().Str("peer", r.RemoteAddr).Str("user", sess.User).Str("method", r.Method).Str("path", r.URL.Path).
				Msg("console change without the session's CSRF token")
			writeJSON(w, http.StatusForbidden, api.Error{
				Error: "a change made with the console's session must carry the page's CSRF token (header " + csrfHeader + "): reload the page",
				Code:  api.CodeForbidden})
			return principal{}, r, false
		}
	}
	if a == accessWrite && !sess.canWrite() {
		s.metrics.AuthFailures.WithLabelValues(authReadOnly).Inc()
		writeJSON(w, http.StatusForbidden, api.Error{
			Error: fmt.Sprintf("%s signed in with a read-only token: changes need a token with scope admin", sess.User),
			Code:  api.CodeForbidden})
		return principal{}, r, false
	}
	r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
	return sess.principal, r, true
}

// ---- Live updates ----------------------------------------------------------

// watch streams Server-Sent Events: "change" with the read models'
// position each time they apply new events (at most every 200 ms), and a
// comment every 15 s to keep proxies from closing the stream. It ends when
// the client goes, or the server shuts down.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, _ principal) error {
	if s.watchers.Add(1) > maxWatchers {
		s.watchers.Add(-1)
		w.Header().Set("Retry-After", "30")
		writeJSON(w, http.StatusTooManyRequests, api.Error{Error: "too many live-update streams are open: try again later", Code: api.CodeTooMany})
		return nil
	}
	defer s.watchers.Add(-1)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	pos := s.reader.Position()
	if _, err := fmt.Fprintf(w, "retry: 2000\nevent: change\ndata: {\"position\":%d}\n\n", pos); err != nil {
		return nil
	}
	_ = rc.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	for {
		wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
		err := s.reader.WaitFor(wctx, pos+1)
		wcancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			pos = s.reader.Position()
			_, err = fmt.Fprintf(w, "event: change\ndata: {\"position\":%d}\n\n", pos)
		case errors.Is(err, context.DeadlineExceeded):
			_, err = io.WriteString(w, ": still here\n\n")
		default:
			return nil // the read side stopped
		}
		if err != nil || rc.Flush() != nil {
			return nil
		}
		select { // coalesce bursts: one event per 200 ms at most
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil
		}
	}
}

// ---- Audit -----------------------------------------------------------------

func (s *Server) deviceHistory(w http.ResponseWriter, r *http.Request, _ principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	if err := s.reader.Fresh(r.Context()); err != nil {
		return err
	}
	recs, err := s.reader.History(r.Context(), name)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("%w: no device %s was ever seen", domain.ErrNotFound, name)
	}
	out := api.History{Device: name, Events: make([]api.Event, 0, len(recs))}
	for _, e := range recs {
		out.Events = append(out.Events, api.Event{Position: e.Position, Version: e.Version, Type: e.Type,
			RecordedAt: e.RecordedAt, Actor: projections.ActorOf(e.Metadata, nil), Data: projections.PayloadData(e.Data)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listWindows(w http.ResponseWriter, r *http.Request, _ principal) error {
	ws, err := s.audit.List(r.Context())
	if err != nil {
		return err
	}
	out := api.Windows{Windows: make([]api.WindowReport, 0, len(ws)), Report: s.cfg.Report != nil}
	for _, win := range ws {
		by := map[string]int{}
		for _, reg := range win.Registrations {
			by[string(reg.Protocol)]++
		}
		out.Windows = append(out.Windows, api.WindowReport{ID: win.ID, OpenedAt: win.OpenedAt, OpenedBy: win.OpenedBy,
			OpenReason: win.OpenReason, Until: win.Until, MaxRegistrations: win.MaxRegistrations, Open: win.Open,
			ClosedAt: win.ClosedAt, ClosedBy: win.ClosedBy, CloseReason: win.CloseReason, CloseCause: string(win.CloseCause),
			Protocol: string(win.Protocol), ProtocolChanges: len(win.ProtocolChanges), Registrations: len(win.Registrations),
			RegistrationsByProtocol: by, Rejected: win.Rejected})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var styleBlock = regexp.MustCompile(`(?s)<style[^>]*>(.*?)</style>`)

// report serves the compliance report of a period as HTML. Its policy
// lets nothing load and no script run; its own style blocks are allowed by
// their hashes.
func (s *Server) report(w http.ResponseWriter, r *http.Request, _ principal) error {
	if s.cfg.Report == nil {
		return fmt.Errorf("%w: this registrar serves no compliance report: run `compliance report --format html` against its store", domain.ErrNotFound)
	}
	var since, until time.Time
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &since}, {"until", &until}} {
		v := r.URL.Query().Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse("2006-01-02", v); err != nil {
				return badRequest("%s %q: give a date (2026-11-27) or a time (RFC 3339)", p.name, v)
			}
			if p.name == "until" {
				t = t.Add(24*time.Hour - time.Nanosecond)
			}
		}
		*p.to = t.UTC()
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return badRequest("until %s is before since %s", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	// A report reads the whole log: one at a time.
	select {
	case s.reporting <- struct{}{}:
		defer func() { <-s.reporting }()
	default:
		w.Header().Set("Retry-After", "10")
		writeJSON(w, http.StatusTooManyRequests, api.Error{Error: "another compliance report is being made: try again in a few seconds", Code: api.CodeTooMany})
		return nil
	}
	var buf bytes.Buffer
	if err := s.cfg.Report(r.Context(), &buf, since, until); err != nil {
		return err
	}
	hashes := map[string]bool{}
	for _, m := range styleBlock.FindAllSubmatch(buf.Bytes(), -1) {
		sum := sha256.Sum256(m[1])
		hashes["'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'"] = true
	}
	style := "'none'"
	if len(hashes) > 0 {
		style = strings.Join(slices.Sorted(maps.Keys(hashes)), " ")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+style+"; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	_, err := w.Write(buf.Bytes())
	return err
}
