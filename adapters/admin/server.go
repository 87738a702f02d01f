package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/projections"
)

// Limits of the HTTP server.
const (
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 64 << 10
	// ShutdownTimeout bounds the graceful shutdown when Serve's context ends.
	ShutdownTimeout = 5 * time.Second
)

// access says who may use a route.
type access int

const (
	accessPublic  access = iota // no token (/healthz)
	accessMetrics               // a token of any scope, or none from loopback when listening on loopback
	accessRead                  // a token of any scope
	accessWrite                 // an admin token
	accessPage                  // a console page: a session, else the sign-in page
)

// handlerFunc serves a request made by who; an error becomes a JSON error
// response (see writeError).
type handlerFunc func(w http.ResponseWriter, r *http.Request, who principal) error

// Server is the admin HTTP API. It is an http.Handler; Serve and
// ListenAndServe run it on a socket.
type Server struct {
	cfg      Config
	svc      *command.Handler    // every change goes through the command side
	reader   *projections.Reader // every read through the read side
	log      zerolog.Logger
	metrics  *Metrics
	tokens   tokenSet
	throttle *throttle
	mux      *http.ServeMux
	now      func() time.Time
	// hold waits d before a failure is answered (false when ctx ended
	// first); tests replace it to see the delays without waiting.
	hold func(ctx context.Context, d time.Duration) bool
	// loopback: the server listens on loopback only, so /metrics may be
	// scraped without a token from loopback.
	loopback atomic.Bool

	// The console: its sessions, the windows of its Audit page (built when
	// first shown), its live-update streams, which end when closing does.
	sessions    *sessions
	audit       *projections.AuditWindows
	watchers    atomic.Int64
	reporting   chan struct{} // holds a token while a compliance report is made
	closing     context.Context
	stopClosing context.CancelFunc

	mu      sync.Mutex
	srv     *http.Server
	addr    net.Addr
	serving bool
}

// New checks cfg and returns the server. It refuses (an error wrapping
// ErrUnsafe) a non-loopback address without a token, or without TLS unless
// cfg.AllowPlainHTTP.
func New(cfg Config, svc *command.Handler, reader *projections.Reader, log zerolog.Logger) (*Server, error) {
	if svc == nil || reader == nil {
		return nil, errors.New("admin API: it needs the command handler and the reader")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		svc:     svc,
		reader:  reader,
		log:     log,
		metrics: cfg.Metrics,
		tokens:  newTokenSet(cfg.Tokens),
		mux:     http.NewServeMux(),
		now:     time.Now,
		hold:    sleepCtx,
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.throttle = newThrottle(func() time.Time { return s.now() }, log)
	s.sessions = newSessions(func() time.Time { return s.now() })
	s.audit = reader.AuditWindows()
	s.reporting = make(chan struct{}, 1)
	s.closing, s.stopClosing = context.WithCancel(context.Background())
	host, _, _ := net.SplitHostPort(cfg.addr())
	s.loopback.Store(isLoopbackHost(host))
	s.routes()
	if s.tokens.empty() {
		s.log.Warn().Str("addr", cfg.addr()).Msg("admin API has no token: any local process may change the registrar as user " + AnonymousUser)
	}
	return s, nil
}

// Metrics returns the metrics /metrics serves, for the SIP and SCCP
// adapters to register theirs on and count registrations with.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handler returns the API as an http.Handler (the Server itself).
func (s *Server) Handler() http.Handler { return s }

// Addr is the address the server listens on once Serve has started (nil before).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ListenAndServe listens on the configured address and serves until ctx ends
// or Shutdown is called; then it returns nil.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.cfg.checkAddr(s.cfg.addr()); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.addr())
	if err != nil {
		return fmt.Errorf("admin API: listen on %s: %w", s.cfg.addr(), err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (HTTPS when TLSCert and TLSKey are set) until ctx ends
// or Shutdown is called; then it shuts down gracefully and returns nil. It
// refuses, closing ln, a listener beyond loopback that the configuration
// does not allow (see New).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.cfg.checkAddr(ln.Addr().String()); err != nil {
		_ = ln.Close()
		return err
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          stdlog.New(s.log.With().Str("source", "net/http").Logger(), "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.cfg.tls() {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		_ = ln.Close()
		return errors.New("admin API: already serving")
	}
	s.serving, s.srv, s.addr = true, srv, ln.Addr()
	srv.RegisterOnShutdown(s.stopClosing) // end the live-update streams, which never go idle
	s.loopback.Store(isLoopbackHost(host))
	s.mu.Unlock()

	stopped := make(chan struct{})
	defer close(stopped)
	// The summaries of failed authentications are logged every
	// throttleSummaryEvery while serving, and what is pending when serving
	// ends.
	sumCtx, stopSums := context.WithCancel(context.Background())
	sumsDone := make(chan struct{})
	go func() { defer close(sumsDone); s.throttle.run(sumCtx) }()
	defer func() { stopSums(); <-sumsDone }()
	shutdownDone := make(chan struct{})
	go func() {
		defer close(shutdownDone)
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				s.log.Warn().Err(err).Msg("admin API: graceful shutdown cut short")
				_ = srv.Close()
			}
		case <-stopped:
		}
	}()

	s.log.Info().Str("addr", ln.Addr().String()).Bool("tls", s.cfg.tls()).Int("tokens", len(s.cfg.Tokens)).Msg("admin API listening")
	var err error
	if s.cfg.tls() {
		err = srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		if ctx.Err() != nil {
			<-shutdownDone
		}
		return nil
	}
	return fmt.Errorf("admin API: %w", err)
}

// Shutdown stops the server gracefully: no new connections, and in-flight
// requests finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopClosing()
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// ---- Request pipeline ------------------------------------------------------

// route is a registered endpoint: who may use it, and its handler.
type route struct {
	s      *Server
	access access
	h      handlerFunc
}

// handle registers pattern ("METHOD /path") with its access and handler.
func (s *Server) handle(pattern string, a access, h handlerFunc) {
	s.mux.Handle(pattern, route{s: s, access: a, h: h})
}

// ServeHTTP authenticates the request and runs the handler (the mux calls
// it, having set the path values).
func (rt route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	who, r, ok := rt.s.authenticate(w, r, rt.access)
	if !ok {
		return
	}
	infoOf(r).user = who.User
	if err := rt.h(w, r, who); err != nil {
		rt.s.writeError(w, r, err)
	}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type ctxKey struct{}

// requestInfo rides in the request's context for logging.
type requestInfo struct {
	id   string
	user string
}

func infoOf(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// ServeHTTP authenticates the request, runs its route and records it.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &requestInfo{id: uuid.NewString()}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
	w := &statusWriter{ResponseWriter: rw}
	h := w.Header()
	h.Set("X-Request-Id", ri.id)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", apiCSP) // the console's pages set theirs

	handler, pattern := s.mux.Handler(r)
	routeLabel := pattern
	if _, ok := handler.(route); ok {
		s.mux.ServeHTTP(w, r)
	} else {
		routeLabel = "unmatched"
		s.unmatched(w, r, handler)
	}

	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	s.metrics.Requests.WithLabelValues(r.Method, routeLabel, strconv.Itoa(status)).Inc()
	s.metrics.RequestDuration.WithLabelValues(routeLabel).Observe(elapsed.Seconds())
	ev := s.log.Debug()
	switch {
	case status >= 500:
		ev = s.log.Error()
	case r.Method != http.MethodGet && r.Method != http.MethodHead && status < 400:
		ev = s.log.Info()
	}
	ev.Str("request_id", ri.id).Str("method", r.Method).Str("route", routeLabel).Str("path", r.URL.Path).
		Int("status", status).Float64("duration_ms", float64(elapsed.Microseconds())/1000).Str("user", ri.user).Str("peer", r.RemoteAddr).
		Msg("admin request")
}

// unmatched answers a request no route takes, in JSON, with the status the
// mux would have used (404, or 405 with Allow).
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusFound:
		h.ServeHTTP(w, r) // the mux cleaning a path: let it redirect
	case http.StatusMethodNotAllowed:
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeJSON(w, http.StatusMethodNotAllowed, api.Error{
			Error: fmt.Sprintf("%s is not allowed on %s (allowed: %s); see docs/admin-api.md", r.Method, r.URL.Path, probe.header.Get("Allow")),
			Code:  api.CodeMethod})
	default:
		writeJSON(w, http.StatusNotFound, api.Error{
			Error: fmt.Sprintf("no endpoint %s %s: the API's endpoints are under /v1 (see docs/admin-api.md)", r.Method, r.URL.Path),
			Code:  api.CodeNotFound})
	}
}

// headerProbe captures what the mux's own 404/405 handler would send.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// authenticate decides whether the request may use a route of access a,
// and answers it (401, 403, 429) when not.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, a access) (principal, *http.Request, bool) {
	if a == accessPublic {
		return principal{}, r, true
	}
	peer := r.RemoteAddr
	if a == accessPage {
		// The console's pages: a session only (no token in a page's
		// request); without one, the sign-in page.
		return s.authenticateSession(w, r, a, sessionID(r))
	}
	if s.tokens.empty() {
		// No token configured: the server listens on loopback only (New and
		// Serve refuse otherwise). Refuse requests whose Host is not a
		// loopback name, so a web page cannot reach the API by DNS rebinding.
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !isLoopbackHost(host) || !isLoopbackPeer(peer) {
			s.metrics.AuthFailures.WithLabelValues(authInvalid).Inc()
			writeJSON(w, http.StatusForbidden, api.Error{
				Error: fmt.Sprintf("this registrar's admin API has no token and answers only local requests to localhost or 127.0.0.1, not %q", r.Host),
				Code:  api.CodeForbidden})
			return principal{}, r, false
		}
		return principal{User: AnonymousUser, Scope: ScopeAdmin}, r, true
	}

	auth := r.Header.Get("Authorization")
	if auth == "" && a == accessMetrics && s.loopback.Load() && isLoopbackPeer(peer) {
		return principal{User: "metrics", Scope: ScopeRead}, r, true
	}
	if id := sessionID(r); auth == "" && id != "" {
		return s.authenticateSession(w, r, a, id)
	}
	token, ok := bearer(auth)
	if !ok {
		s.metrics.AuthFailures.WithLabelValues(authMissing).Inc()
		s.throttle.missing(peer, r.URL.Path, "admin request without a bearer token")
		w.Header().Set("WWW-Authenticate", `Bearer realm="autoreg-admin"`)
		msg := "this endpoint needs a token: send the header \"Authorization: Bearer <token>\" (with the CLI: --token or AUTOREG_ADMIN_TOKEN)"
		if auth != "" {
			msg = "the Authorization header is not \"Bearer <token>\": send \"Authorization: Bearer <token>\""
		}
		writeJSON(w, http.StatusUnauthorized, api.Error{Error: msg, Code: api.CodeUnauthorized})
		return principal{}, r, false
	}
	// The token first, in constant time: a right one is never held back
	// by the throttle, which only decides how a failure is answered.
	who, ok := s.tokens.lookup(token)
	if !ok {
		v := s.throttle.fail(peer, r.URL.Path, "admin request with a wrong token")
		if v.refuse {
			s.metrics.AuthFailures.WithLabelValues(authThrottled).Inc()
			w.Header().Set("Retry-After", retryAfter(v.retryAfter))
			writeJSON(w, http.StatusTooManyRequests, api.Error{
				Error: "too many wrong tokens from your address, your network or everywhere: wait a little and check the token (a right token is always let in)",
				Code:  api.CodeTooMany})
			return principal{}, r, false
		}
		s.metrics.AuthFailures.WithLabelValues(authInvalid).Inc()
		if v.wait > 0 && !s.hold(r.Context(), v.wait) {
			return principal{}, r, false
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="autoreg-admin", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, api.Error{
			Error: "the token is not valid: check --token or AUTOREG_ADMIN_TOKEN against the registrar's admin.tokens",
			Code:  api.CodeUnauthorized})
		return principal{}, r, false
	}
	if a == accessWrite && !who.canWrite() {
		s.metrics.AuthFailures.WithLabelValues(authReadOnly).Inc()
		s.log.Warn().Str("peer", peer).Str("user", who.User).Str("method", r.Method).Str("path", r.URL.Path).Msg("read-only token asked for a change")
		writeJSON(w, http.StatusForbidden, api.Error{
			Error: fmt.Sprintf("the token of %s is read-only: changes need a token with scope admin", who.User),
			Code:  api.CodeForbidden})
		return principal{}, r, false
	}
	return who, r, true
}

// sleepCtx waits d, or until ctx ends (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryAfter is d in whole seconds for a Retry-After header, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// metricsHandler serves /metrics after refreshing the gauges that mirror
// the service's state.
func (s *Server) metricsHandler() handlerFunc {
	h := promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return func(w http.ResponseWriter, r *http.Request, _ principal) error {
		if _, err := s.status(r.Context()); err != nil {
			s.log.Debug().Err(err).Msg("metrics: the status gauges keep their last values")
		} else {
			s.metrics.observeRegistered(s.reader.RegisteredByProtocol())
		}
		h.ServeHTTP(w, r)
		return nil
	}
}
