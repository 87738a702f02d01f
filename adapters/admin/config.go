package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// DefaultAddr is where the admin API listens when Config.Addr is empty:
// loopback only.
const DefaultAddr = "127.0.0.1:8080"

// MinTokenLength is the shortest token accepted on a non-loopback address.
const MinTokenLength = 16

// Scopes of a token.
const (
	ScopeAdmin = "admin" // may read and change
	ScopeRead  = "read"  // may only read (GET), including /metrics
)

// ErrUnsafe is wrapped by the errors New and Serve return when the
// configuration would expose the API: a non-loopback address without a
// token, or without TLS unless AllowPlainHTTP.
var ErrUnsafe = errors.New("unsafe admin API configuration")

// Token lets one user in.
type Token struct {
	// User is who the token belongs to; changes are recorded as made by
	// "admin:<User>".
	User string
	// Token is the bearer secret (Authorization: Bearer <Token>).
	Token string
	// Scope is "admin" (may change things) or "read" (may only look).
	// Empty means "admin".
	Scope string
}

// Config configures the admin API server.
type Config struct {
	// Addr is host:port to listen on (default 127.0.0.1:8080). A
	// non-loopback address needs at least one token, and TLS unless
	// AllowPlainHTTP.
	Addr string
	// Tokens are the bearer tokens accepted. With none (allowed on loopback
	// only), every local request acts as user "local" with admin scope.
	Tokens []Token
	// AllowPlainHTTP serves plain HTTP on a non-loopback address (behind a
	// TLS-terminating proxy, say). Tokens then cross the network in clear
	// unless something else protects them.
	AllowPlainHTTP bool
	// TLSCert and TLSKey are PEM files; with both set the API serves HTTPS.
	TLSCert, TLSKey string
	// Metrics is the registry /metrics serves; nil makes a new one (see
	// Server.Metrics). Pass the same Metrics to the SIP and SCCP adapters.
	Metrics *Metrics
	// NodeUp tells whether a registrar process serves CallManager cm now,
	// and which (for GET /v1/nodes); nil: nodes are shown as unknown.
	NodeUp func(ctx context.Context, cm domain.CallManager) (up bool, process string)
	// SIPBinding tells when a SIP device's registration here expires and
	// over which transport (for the devices' expires); nil: not shown.
	SIPBinding func(device string) (expires time.Time, transport string, ok bool)
	// ConfigFile is what the TFTP server would serve a device now
	// (SEP<MAC>.cnf.xml), for GET /v1/devices/{name}/config-file; an error
	// matching fs.ErrNotExist for a device it does not know; nil: the
	// registrar serves no configuration files.
	ConfigFile func(ctx context.Context, device string) ([]byte, error)
	// Credentials derives a SIP device's digest user and password from
	// the salt it was issued (and gives the realm), for GET
	// /v1/devices/{name}/credentials; nil: the password is not shown.
	Credentials func(device, salt string) (user, password, realm string)
	// Reset tells a device to reset (restart: to restart), over its
	// protocol: the SCCP adapter's Reset, the SIP adapter's NOTIFY. nil:
	// resets are recorded but reach no phone.
	Reset func(device string, protocol domain.Protocol, restart bool) error
	// Healthy is the store's health, for GET /healthz: nil while it can
	// take writes, else why it cannot until the registrar restarts (its
	// files were deleted or replaced under it). nil: /healthz answers ok
	// while the process serves.
	Healthy func() error
	// Report, when set, serves the compliance report in HTML at
	// GET /audit/report (the console's Audit page links to it).
	Report ReportFunc
}

// AnonymousUser is the user of requests when no token is configured.
const AnonymousUser = "local"

func (c Config) addr() string {
	if c.Addr == "" {
		return DefaultAddr
	}
	return c.Addr
}

func (c Config) tls() bool { return c.TLSCert != "" && c.TLSKey != "" }

// Check checks the configuration as New does, without a server: the
// tokens, TLS files named in pairs, and whether the address may be served
// (ErrUnsafe). `registrar serve` calls it before binding anything.
func (c Config) Check() error { return c.validate() }

// validate checks the tokens and whether the configuration may serve addr.
func (c Config) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("admin API: TLS needs both a certificate and a key file (got cert %q, key %q)", c.TLSCert, c.TLSKey)
	}
	seenTok := map[string]string{}
	for i, t := range c.Tokens {
		switch {
		case strings.TrimSpace(t.User) == "":
			return fmt.Errorf("admin API: token %d has no user: every token names who uses it", i+1)
		case t.User == domain.SystemActor:
			return fmt.Errorf("admin API: token %d: user %q is reserved for the registrar's own changes: pick another name", i+1, t.User)
		case strings.ContainsAny(t.User, " \t\r\n\x00:"):
			return fmt.Errorf("admin API: token of %q: a user name has no spaces, control characters or colons", t.User)
		case t.Token == "":
			return fmt.Errorf("admin API: token of %s is empty", t.User)
		case strings.ContainsAny(t.Token, " \t\r\n"):
			return fmt.Errorf("admin API: token of %s contains white space, which cannot cross an Authorization header", t.User)
		case t.Scope != "" && t.Scope != ScopeAdmin && t.Scope != ScopeRead:
			return fmt.Errorf("admin API: token of %s has scope %q: use %q or %q", t.User, t.Scope, ScopeAdmin, ScopeRead)
		}
		if u, dup := seenTok[t.Token]; dup {
			return fmt.Errorf("admin API: %s and %s share a token: give each user their own", u, t.User)
		}
		seenTok[t.Token] = t.User
	}
	return c.checkAddr(c.addr())
}

// checkAddr refuses to expose the API beyond loopback without a token, or
// without TLS unless AllowPlainHTTP.
func (c Config) checkAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin API address %q: want host:port (such as %s): %w", addr, DefaultAddr, err)
	}
	if isLoopbackHost(host) {
		return nil
	}
	if len(c.Tokens) == 0 {
		return fmt.Errorf("%w: the admin API would listen on %s, beyond loopback, without a token: add admin.tokens (user, token, scope) or listen on %s", ErrUnsafe, addr, DefaultAddr)
	}
	for _, t := range c.Tokens {
		if len(t.Token) < MinTokenLength {
			return fmt.Errorf("%w: the token of %s is shorter than %d characters, too easy to guess on %s: use a long random one (openssl rand -hex 32)", ErrUnsafe, t.User, MinTokenLength, addr)
		}
	}
	if !c.tls() && !c.AllowPlainHTTP {
		return fmt.Errorf("%w: the admin API would listen on %s, beyond loopback, in plain HTTP where tokens travel in clear: set admin.tls_cert and admin.tls_key, or admin.allow_plain_http if a TLS proxy fronts it", ErrUnsafe, addr)
	}
	return nil
}

// isLoopbackHost reports whether host names only the loopback interface.
// An empty host (":8080") is every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackPeer reports whether a request's RemoteAddr is loopback.
func isLoopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
