package kurrentdb

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
)

// Schemes are the URL schemes of KurrentDB connection strings. The
// "+discover" forms find a cluster's nodes through DNS or gossip seeds.
var Schemes = []string{"kurrentdb", "kurrentdb+discover", "esdb", "esdb+discover", "kurrent", "kurrent+discover", "kdb", "kdb+discover"}

// IsURL reports whether s is a KurrentDB connection string (by its scheme).
func IsURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	for _, k := range Schemes {
		if scheme == k {
			return true
		}
	}
	return false
}

// Config says which server to use and how the store lives on it.
type Config struct {
	// Client is the KurrentDB client's configuration (from ParseURL).
	Client *kdb.Configuration
	// Namespace, when not empty, is put in front of every stream name on
	// the server, so that several stores (test runs, staging and
	// production) can share one server: the store then holds the streams
	// whose names start with Namespace. Without one the store holds the
	// streams that start with DefaultPrefix (the registrar's streams),
	// and refuses to append to any other.
	Namespace string
	// ReadOnly opens the store for reading only (the audit tool): Append
	// fails, and a server older than 25.1 is accepted.
	ReadOnly bool
	// Clock stamps RecordedAt (default time.Now).
	Clock func() time.Time
	// IDWindow is how many of the latest events' IDs the store keeps in
	// memory to recognise a retried append or an ID used again (default
	// DefaultIDWindow). See the package documentation.
	IDWindow int
	// Location is the connection string without its password, for
	// messages.
	Location string
}

// DefaultPrefix starts the names of the registrar's streams
// (domain.StreamPrefix).
const DefaultPrefix = "autoreg-"

// DefaultIDWindow is the default Config.IDWindow.
const DefaultIDWindow = 1 << 16

// ParseURL parses a KurrentDB connection string:
//
//	kurrentdb://host:2113?tls=false                       one node, no TLS
//	kurrentdb://user:pass@host:2113?tlsCAFile=/etc/ca.crt one node, TLS with a private CA
//	kurrentdb+discover://user:pass@cluster.dns:2113       a cluster, nodes found through DNS
//	kurrentdb://host1:2113,host2:2113,host3:2113          a cluster, from gossip seeds
//	esdb://..., esdb+discover://...                       the same (EventStoreDB's scheme)
//
// Every setting of the client's connection strings is accepted (tls,
// tlsVerifyCert, tlsCAFile, userCertFile, userKeyFile, nodePreference,
// defaultDeadline, keepAliveInterval, gossipTimeout, ...), and one of the
// store's own: namespace (see Config.Namespace), which is removed before the
// string is handed to the client.
func ParseURL(s string) (Config, error) {
	if !IsURL(s) {
		return Config{}, fmt.Errorf("%q is not a KurrentDB connection string: use %s://host:2113 (or %s)", redact(s), Schemes[0], strings.Join(Schemes[1:4], ", "))
	}
	var ns string
	conn := s
	if base, query, ok := strings.Cut(s, "?"); ok {
		values, err := url.ParseQuery(query)
		if err != nil {
			return Config{}, fmt.Errorf("KurrentDB connection string %q: %w", redact(s), err)
		}
		var kept []string
		for _, kv := range strings.Split(query, "&") {
			k, _, _ := strings.Cut(kv, "=")
			if strings.EqualFold(k, "namespace") {
				continue
			}
			if kv != "" {
				kept = append(kept, kv)
			}
		}
		for k, v := range values {
			if strings.EqualFold(k, "namespace") && len(v) > 0 {
				ns = v[0]
			}
		}
		conn = base
		if len(kept) > 0 {
			conn += "?" + strings.Join(kept, "&")
		}
	}
	// The client knows the lower-case schemes only.
	scheme, rest, _ := strings.Cut(conn, "://")
	conn = strings.ToLower(scheme) + "://" + rest
	cc, err := kdb.ParseConnectionString(conn)
	if err != nil {
		return Config{}, fmt.Errorf("KurrentDB connection string %q: %w", redact(s), err)
	}
	if ns != "" && strings.ContainsAny(ns, "$ /") {
		return Config{}, fmt.Errorf("KurrentDB connection string %q: namespace %q may not contain '$', '/' or spaces", redact(s), ns)
	}
	// The client logs to stderr in its own format, even at debug level;
	// the store reports what matters through its errors. Set
	// Config.Client.Logger to see the client's logs.
	cc.Logger = func(kdb.LogLevel, string, ...any) {}
	return Config{Client: cc, Namespace: ns, Location: redact(s)}, nil
}

// redact hides the password of a connection string.
func redact(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	auth, host, ok := strings.Cut(rest, "@")
	if !ok || strings.ContainsAny(auth, "/?") {
		return s
	}
	if user, _, hasPass := strings.Cut(auth, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return s
}
