package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/internal/command"
)

// Defaults for the zero fields of Config.
const (
	DefaultMinExpires     = 60 * time.Second
	DefaultMaxExpires     = 3600 * time.Second
	DefaultDefaultExpires = 3600 * time.Second

	DefaultSweepInterval       = time.Second
	DefaultRequestTimeout      = 10 * time.Second
	DefaultTransactionTTL      = 32 * time.Second // Timer J = 64*T1 with T1 = 500 ms
	DefaultMaxInFlight         = 8192
	DefaultWorkers             = 256
	DefaultMaxTransactions     = 1 << 20
	DefaultMaxDevices          = 1 << 20
	DefaultMaxContacts         = 8
	DefaultMaxConnections      = 100000
	DefaultRetryAfterMin       = 5 * time.Second
	DefaultRetryAfterMax       = 30 * time.Second
	DefaultSourceRate          = 50
	DefaultSourceBurst         = 200
	DefaultRefusalLogInterval  = 10 * time.Second
	DefaultMaxConnsPerSource   = 200
	DefaultFirstRequestTimeout = 30 * time.Second
	defaultUDPReadBufferBytes  = 4 << 20
)

// Config configures a Server. Only Registrar is required.
type Config struct {
	// Registrar is the registration service the adapter reports to.
	Registrar command.Registrar
	// Logger receives the adapter's logs (fields device, dn, peer). The zero
	// value discards them.
	Logger zerolog.Logger

	// Host is the registrar's domain or host, used in P-Associated-URI
	// (<sip:DN@Host>) and as the warn-agent of Warning headers. Empty means
	// the host the server listens on or, when that is a wildcard address,
	// the host of the REGISTER's Request-URI.
	Host string

	// MinExpires is the shortest registration accepted; a shorter non-zero
	// request is answered 423 Interval Too Brief with Min-Expires. Default 60s.
	MinExpires time.Duration
	// MaxExpires caps the expiry granted. Default 3600s.
	MaxExpires time.Duration
	// DefaultExpires applies to a contact with neither an expires parameter
	// nor an Expires header. Default 3600s.
	DefaultExpires time.Duration

	// TLS enables ListenAndServe(ctx, "tls", addr) and ServeTLS.
	TLS *tls.Config

	// SweepInterval is how often expired bindings are removed. Default 1s.
	SweepInterval time.Duration
	// RequestTimeout bounds one request's registrar call. Default 10s.
	RequestTimeout time.Duration
	// TransactionTTL is how long a completed UDP transaction's outcome is
	// kept to answer retransmissions (RFC 3261 Timer J = 64*T1). Default 32s.
	TransactionTTL time.Duration
	// MaxInFlight bounds the requests being processed at once; beyond it a
	// new request waits up to QueueWait for a place (the reader stops
	// reading meanwhile), then gets 503 with Retry-After. Default 4096.
	MaxInFlight int
	// QueueWait is how long a request may wait for a MaxInFlight place
	// before 503 (0, the default: answer 503 at once). Waiting stops the
	// reader, so the backlog stays in the socket buffer; under a sustained
	// overload over UDP that makes the phones' retransmissions crowd out
	// new requests, so an immediate 503 with Retry-After is the default.
	QueueWait time.Duration
	// Workers is the number of goroutines processing REGISTERs, that is
	// the registrar calls made at once; more requests wait (up to
	// MaxInFlight). Default 256.
	Workers int
	// MaxTransactions bounds the transaction table (in-flight requests plus
	// completed ones kept for retransmissions); beyond it the server answers
	// 503. Default 1,048,576 (about 40 MB).
	MaxTransactions int
	// MaxDevices bounds the devices with bindings; a new device beyond it is
	// answered 503. Default 1,048,576.
	MaxDevices int
	// MaxContacts bounds the bindings of one device; a REGISTER that would
	// exceed it is answered 403. Default 8.
	MaxContacts int
	// MaxConnections bounds the TCP and TLS connections open at once; one
	// more is closed as soon as accepted. Default 100,000.
	MaxConnections int
	// MaxConnectionsPerSource bounds the TCP and TLS connections open at
	// once from one source IP address (TrustedSources excepted); one more is
	// closed as soon as accepted. Default 200; negative: no bound.
	MaxConnectionsPerSource int
	// FirstRequestTimeout closes a TCP/TLS connection that has not sent a
	// whole request this long after it was accepted (idle, or trickling a
	// partial one). Default 30s.
	FirstRequestTimeout time.Duration
	// StreamIdleTimeout closes a TCP/TLS connection that carried nothing
	// (not even a CRLF keepalive) for this long. Default MaxExpires + 5 min.
	StreamIdleTimeout time.Duration
	// UDPReaders is the number of goroutines reading each UDP socket.
	// Default GOMAXPROCS.
	UDPReaders int
	// RetryAfterMin and RetryAfterMax bound the random Retry-After sent with
	// 503 responses. Defaults 5s and 30s.
	RetryAfterMin, RetryAfterMax time.Duration

	// SourceRate is how many REGISTERs a second one source IP address may
	// have reach the registrar, on average, for devices that are not known
	// (see Known); SourceBurst how many at once. Beyond them the answer is
	// 503 with Retry-After, before the registrar is called. Known devices
	// (a binding made from the same IP address, or Known true) are never
	// refused for their source's sake. Defaults 50/s and 200; a negative
	// SourceRate turns the limit off.
	SourceRate  float64
	SourceBurst int
	// TrustedSources are addresses not rate limited (a local SBC, say).
	// Default none.
	TrustedSources []netip.Prefix
	// Known reports whether the registrar knows a device (SEP<MAC>): its
	// REGISTERs pass the per-source limit. Called only for requests the
	// limit would refuse. Nil: only devices with a binding count as known.
	Known func(device string) bool
	// Refused, when set, is called for every REGISTER answered 503 before
	// reaching the registrar, with the reason: "rate_limited",
	// "transactions", "in_flight", "devices", "device_queue"; and for every
	// TCP or TLS connection closed at accept: "connections",
	// "connections_per_source". For metrics.
	Refused func(reason string)
	// RefusalLogInterval is how often a burst of refusals (503s, and 403s
	// of the registrar) is summed up in one log line. Default 10s.
	RefusalLogInterval time.Duration

	// Credentials, when set, turns on digest authentication of the devices
	// that have credentials (see auth.go); NonceKey (at least 16 bytes) is
	// then required.
	Credentials Credentials
	NonceKey    []byte
	// Realm of the challenges. Default DefaultRealm.
	Realm string
	// NonceLifetime: older nonces are stale. Default DefaultNonceLifetime.
	NonceLifetime time.Duration
	// Algorithms offered in a 401, in order of preference. Default
	// SHA-256 then MD5.
	Algorithms []string
	// AuthFailed, when set, is called for every REGISTER whose credentials
	// failed (stale: only its nonce was too old). For metrics.
	AuthFailed func(stale bool)
}

// withDefaults returns c with its zero fields set and checks it.
func (c Config) withDefaults() (Config, error) {
	if c.Registrar == nil {
		return c, errors.New("sip: Config.Registrar is required")
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setInt := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	setDur(&c.MinExpires, DefaultMinExpires)
	setDur(&c.MaxExpires, DefaultMaxExpires)
	setDur(&c.DefaultExpires, DefaultDefaultExpires)
	setDur(&c.SweepInterval, DefaultSweepInterval)
	setDur(&c.RequestTimeout, DefaultRequestTimeout)
	setDur(&c.TransactionTTL, DefaultTransactionTTL)
	setDur(&c.StreamIdleTimeout, c.MaxExpires+5*time.Minute)
	setDur(&c.RetryAfterMin, DefaultRetryAfterMin)
	setDur(&c.RetryAfterMax, DefaultRetryAfterMax)
	setDur(&c.RefusalLogInterval, DefaultRefusalLogInterval)
	if c.SourceRate == 0 {
		c.SourceRate = DefaultSourceRate
	}
	setInt(&c.SourceBurst, DefaultSourceBurst)
	setInt(&c.MaxInFlight, DefaultMaxInFlight)
	setInt(&c.Workers, DefaultWorkers)
	setInt(&c.MaxTransactions, DefaultMaxTransactions)
	setInt(&c.MaxDevices, DefaultMaxDevices)
	setInt(&c.MaxContacts, DefaultMaxContacts)
	setInt(&c.MaxConnections, DefaultMaxConnections)
	setInt(&c.MaxConnectionsPerSource, DefaultMaxConnsPerSource)
	setDur(&c.FirstRequestTimeout, DefaultFirstRequestTimeout)
	setInt(&c.UDPReaders, runtime.GOMAXPROCS(0))
	setDur(&c.NonceLifetime, DefaultNonceLifetime)
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = defaultAlgorithms
	}
	for _, a := range c.Algorithms {
		if a != "SHA-256" && a != "MD5" {
			return c, fmt.Errorf("sip: digest algorithm %q: SHA-256 or MD5", a)
		}
	}
	if c.Credentials != nil && len(c.NonceKey) < 16 {
		return c, errors.New("sip: Config.NonceKey (at least 16 bytes) is required with Credentials")
	}

	switch {
	case c.MinExpires < time.Second || c.MaxExpires < time.Second || c.DefaultExpires < time.Second:
		return c, errors.New("sip: MinExpires, MaxExpires and DefaultExpires must be at least 1s")
	case c.MinExpires > c.MaxExpires:
		return c, fmt.Errorf("sip: MinExpires %v is above MaxExpires %v", c.MinExpires, c.MaxExpires)
	case c.RetryAfterMin < time.Second || c.RetryAfterMax < c.RetryAfterMin:
		return c, fmt.Errorf("sip: Retry-After range %v..%v is invalid", c.RetryAfterMin, c.RetryAfterMax)
	case c.SweepInterval < 0 || c.RequestTimeout < 0 || c.TransactionTTL < 0 || c.StreamIdleTimeout < 0 || c.FirstRequestTimeout < 0:
		return c, errors.New("sip: durations must not be negative")
	case min(c.MaxInFlight, c.Workers, c.MaxTransactions, c.MaxDevices, c.MaxContacts, c.MaxConnections, c.UDPReaders, c.SourceBurst) < 0:
		return c, errors.New("sip: limits must not be negative")
	}
	// The default expiry is a request like any other: keep it in range.
	c.DefaultExpires = min(max(c.DefaultExpires, c.MinExpires), c.MaxExpires)
	return c, nil
}
