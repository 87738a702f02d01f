// Package config loads the registrar's configuration with viper (a YAML file,
// AUTOREG_* environment variables, flags; the sample compiled in when no file
// is given), validates it, and turns its cluster topology into domain
// commands (Cluster.Commands). It runs nothing: the command side applies
// them. It imports the domain and viper, nothing else of the project.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/autoreg/autoreg/domain"
)

// Sample is the sample configuration, compiled in.
//
//go:embed sample.yaml
var Sample []byte

// Config is the registrar's whole configuration.
type Config struct {
	Log     Log     `mapstructure:"log"`
	Data    string  `mapstructure:"data"`
	Store   string  `mapstructure:"store"`
	SIP     SIP     `mapstructure:"sip"`
	SCCP    SCCP    `mapstructure:"sccp"`
	TFTP    TFTP    `mapstructure:"tftp"`
	Admin   Admin   `mapstructure:"admin"`
	Cluster Cluster `mapstructure:"cluster"`
	// StoreShared: other registrars write to the same store (command.Options.Shared).
	StoreShared bool `mapstructure:"store_shared"`
	// Node is the CallManager of the cluster this process is; "" is the
	// autoregistration CallManager (see Cluster.AutoregCallManager).
	Node string `mapstructure:"node"`
	// GCPercent is the Go runtime's GOGC for the registrar (0: the
	// runtime's default; GOGC in the environment wins).
	GCPercent int `mapstructure:"gc_percent"`
	// MemoryLimit is the Go runtime's soft memory limit ("" or "0": none;
	// GOMEMLIMIT's syntax: 160MiB, 1GiB, or bytes). See ParseMemoryLimit.
	MemoryLimit string `mapstructure:"memory_limit"`
	// Snapshot says when snapshots of the registrar's state are written.
	Snapshot Snapshot `mapstructure:"snapshot"`
	// Limits bound what floods write to the store.
	Limits Limits `mapstructure:"limits"`
	// Checkpoints say whether and when signed checkpoints of the store's
	// hash chain are written.
	Checkpoints Checkpoints `mapstructure:"checkpoints"`
}

// ParseMemoryLimit reads a memory limit as GOMEMLIMIT writes it: a number of
// bytes with an optional unit B, KiB, MiB, GiB or TiB. "" and "0" are no
// limit (0).
func ParseMemoryLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.shift
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("memory_limit %q: want a size such as 160MiB or 1GiB (units B, KiB, MiB, GiB, TiB), or 0 for none", s)
	}
	return int64(n << shift), nil
}

type Log struct {
	Format string `mapstructure:"format"`
	Level  string `mapstructure:"level"`
}

type SIP struct {
	Addr       string        `mapstructure:"addr"`
	Transports []string      `mapstructure:"transports"`
	Host       string        `mapstructure:"host"`
	TLSAddr    string        `mapstructure:"tls_addr"`
	TLSCert    string        `mapstructure:"tls_cert"`
	TLSKey     string        `mapstructure:"tls_key"`
	MinExpires time.Duration `mapstructure:"min_expires"`
	MaxExpires time.Duration `mapstructure:"max_expires"`
	// SourceRate and SourceBurst: REGISTERs a second (and at once) from one
	// IP address for unknown devices; 0 the adapter's default, negative off.
	SourceRate     float64  `mapstructure:"source_rate"`
	SourceBurst    int      `mapstructure:"source_burst"`
	TrustedSources []string `mapstructure:"trusted_sources"`
	// MaxConnsPerSource bounds the TCP/TLS connections from one IP address;
	// 0 the adapter's default (200), negative no bound.
	MaxConnsPerSource int `mapstructure:"max_conns_per_source"`
	// MaxInFlight bounds the REGISTERs being processed at once (beyond: 503
	// with Retry-After); 0 the adapter's default (sip.DefaultMaxInFlight).
	MaxInFlight int `mapstructure:"max_in_flight"`
	// Auth is SIP digest authentication.
	Auth SIPAuth `mapstructure:"auth"`
}

// SIPAuth configures SIP digest authentication (docs/security.md).
type SIPAuth struct {
	// SecretFile holds the secret the devices' digest passwords derive
	// from ("": sip-auth.key in the data directory, made at first start).
	SecretFile string `mapstructure:"secret_file"`
	// Realm is the digest realm of the challenges.
	Realm string `mapstructure:"realm"`
	// NonceLifetime: a nonce older than this is stale (the phone is
	// challenged again with stale=true).
	NonceLifetime time.Duration `mapstructure:"nonce_lifetime"`
	// Algorithms are offered in each 401, in order of preference: SHA-256
	// and MD5 (RFC 8760).
	Algorithms []string `mapstructure:"algorithms"`
}

// TFTP is the phones' configuration files server.
type TFTP struct {
	// Addr is where it listens (UDP); "" turns it off. The default ":69"
	// needs root or CAP_NET_BIND_SERVICE: without, serve says so once and
	// goes on without TFTP; another address that cannot be bound is an
	// error.
	Addr string `mapstructure:"addr"`
	// FilesDir holds the firmware loads and other static files served
	// read-only beside the generated configuration files ("": none).
	FilesDir string `mapstructure:"files_dir"`
	// SourceRate and SourceBurst: packets a second (and at once) one IP
	// address may send to the request port; beyond, dropped. 0: the
	// server's default; -1: no limit. TrustedSources are not limited (a
	// site's NAT address that boots many phones at once).
	SourceRate     float64  `mapstructure:"source_rate"`
	SourceBurst    int      `mapstructure:"source_burst"`
	TrustedSources []string `mapstructure:"trusted_sources"`
}

type SCCP struct {
	Addr             string        `mapstructure:"addr"`
	KeepAlive        time.Duration `mapstructure:"keepalive"`
	MissedKeepAlives int           `mapstructure:"missed_keepalives"`
	// IdleTimeout: how long a connection may stay without registering, and
	// a frame take to arrive; 0 the adapter's default.
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	MaxConns          int           `mapstructure:"max_conns"`
	MaxConnsPerSource int           `mapstructure:"max_conns_per_source"`
	SourceRate        float64       `mapstructure:"source_rate"`
	SourceBurst       int           `mapstructure:"source_burst"`
	TrustedSources    []string      `mapstructure:"trusted_sources"`
}

// Prefixes parses a trusted_sources list: CIDR prefixes or single
// addresses.
func Prefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

type Token struct {
	User  string `mapstructure:"user"`
	Token string `mapstructure:"token"`
	Scope string `mapstructure:"scope"`
}

type Admin struct {
	Addr           string  `mapstructure:"addr"`
	Token          string  `mapstructure:"token"` // a single admin token (AUTOREG_ADMIN_TOKEN)
	Tokens         []Token `mapstructure:"tokens"`
	AllowPlainHTTP bool    `mapstructure:"allow_plain_http"`
	TLSCert        string  `mapstructure:"tls_cert"`
	TLSKey         string  `mapstructure:"tls_key"`
}

type Cluster struct {
	Protocol       string           `mapstructure:"protocol"`
	Security       string           `mapstructure:"security"`
	CallManagers   []CallManager    `mapstructure:"callmanagers"`
	Groups         []Group          `mapstructure:"groups"`
	Partitions     []Partition      `mapstructure:"partitions"`
	Patterns       []Pattern        `mapstructure:"patterns"`
	CSS            []CSS            `mapstructure:"css"`
	Pools          []Pool           `mapstructure:"pools"`
	DefaultPool    string           `mapstructure:"default_pool"`
	AutoregCSS     string           `mapstructure:"autoreg_css"`
	Range          Range            `mapstructure:"range"`
	DeviceDefaults []DeviceDefaults `mapstructure:"device_defaults"`
}

type CallManager struct {
	Name           string `mapstructure:"name"`
	Description    string `mapstructure:"description"`
	AutoregEnabled bool   `mapstructure:"autoreg_enabled"`
	// Where phones reach it: host (name or address), SIP and SCCP ports.
	Host     string `mapstructure:"host"`
	SIPPort  int    `mapstructure:"sip_port"`
	SCCPPort int    `mapstructure:"sccp_port"`
}

type Group struct {
	Name         string   `mapstructure:"name"`
	CallManagers []string `mapstructure:"callmanagers"`
	Autoreg      bool     `mapstructure:"autoreg"`
}

type Partition struct {
	Name        string `mapstructure:"name"`
	Description string `mapstructure:"description"`
}

type Pattern struct {
	Pattern     string `mapstructure:"pattern"`
	Partition   string `mapstructure:"partition"`
	Block       bool   `mapstructure:"block"`
	Description string `mapstructure:"description"`
}

type CSS struct {
	Name       string   `mapstructure:"name"`
	Partitions []string `mapstructure:"partitions"`
}

type Pool struct {
	Name  string `mapstructure:"name"`
	Group string `mapstructure:"group"`
	CSS   string `mapstructure:"css"`
	// AutoregCSS is the pool's Calling Search Space for Auto-registration.
	AutoregCSS string `mapstructure:"autoreg_css"`
	// SIPAuth is the pool's SIP authentication profile: digest (default),
	// digest-always or none.
	SIPAuth string `mapstructure:"sip_auth"`
}

type Range struct {
	Start     string `mapstructure:"start"`
	End       string `mapstructure:"end"`
	Partition string `mapstructure:"partition"`
	Mask      string `mapstructure:"mask"`
}

type DeviceDefaults struct {
	Model    string `mapstructure:"model"`
	LoadSCCP string `mapstructure:"load_sccp"`
	LoadSIP  string `mapstructure:"load_sip"`
	Pool     string `mapstructure:"pool"`
}

// New returns a viper instance holding the sample's values as defaults and
// reading AUTOREG_* from the environment. Bind flags to it, then call Load.
func New() *viper.Viper {
	v := viper.New()
	v.SetConfigType("yaml")
	v.SetEnvPrefix("AUTOREG")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	setSnapshotDefaults(v)
	setSampleDefaults(v)
	return v
}

// setSampleDefaults makes the sample's settings the defaults of a file
// that leaves them out (a file that sets sccp.keepalive alone keeps the
// sample's other sccp keys), except the cluster's topology: CallManagers,
// groups, pools, the range ... are the file's alone.
func setSampleDefaults(v *viper.Viper) {
	sample := viper.New()
	sample.SetConfigType("yaml")
	if err := sample.ReadConfig(bytes.NewReader(Sample)); err != nil {
		panic("config: the compiled-in sample is not valid YAML: " + err.Error())
	}
	for _, k := range sample.AllKeys() {
		if strings.HasPrefix(k, "cluster.") && k != "cluster.protocol" && k != "cluster.security" {
			continue
		}
		if _, set := snapshotDefaults[k]; !set {
			v.SetDefault(k, sample.Get(k))
		}
	}
}

// Load reads the configuration: file (or the sample when file is ""), then
// the environment and the flags bound to v. Unknown keys and values of the
// wrong type are errors that name the key and the file.
func Load(v *viper.Viper, file string) (Config, error) {
	src, name := Sample, "the sample configuration"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Config{}, fmt.Errorf("reading the configuration: %w", err)
		}
		src, name = b, file
	}
	if err := v.ReadConfig(bytes.NewReader(src)); err != nil {
		return Config{}, fmt.Errorf("%s is not valid YAML: %w", name, err)
	}
	// Environment variables for keys that are not in the file still count.
	for _, k := range []string{"admin.token", "store", "data", "sip.addr", "sccp.addr", "admin.addr", "log.format", "log.level", "memory_limit", "node", "gc_percent", "tftp.addr", "tftp.files_dir", "checkpoints.signing_key", "checkpoints.log"} {
		_ = v.BindEnv(k)
	}
	var c Config
	err := v.UnmarshalExact(&c, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		)
		dc.WeaklyTypedInput = false
	})
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, cleanDecodeError(err))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// durationType is the type of every duration key.
var durationType = reflect.TypeFor[time.Duration]()

// durationHook decodes a duration key: a Go duration string with its unit
// ("30s", "5m", "1h30m"). A bare number (30, or "30" from the environment)
// is refused rather than read as nanoseconds, with the fix in the message.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil // zero needs no unit
		}
		return nil, fmt.Errorf("%v is a bare number: a duration needs a unit, e.g. \"%vs\" (s, m, h; ms for milliseconds)", data, data)
	case reflect.String:
		s := strings.TrimSpace(data.(string))
		if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
			return nil, fmt.Errorf("%q is a bare number: a duration needs a unit, e.g. \"%ss\" (s, m, h; ms for milliseconds)", s, s)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration: write it with a unit, e.g. \"30s\", \"5m\" or \"1h30m\"", s)
		}
		return d, nil
	}
	return data, nil
}

// cleanDecodeError keeps mapstructure's messages (they name the key) but
// drops its "decoding failed due to the following error(s):" preamble.
func cleanDecodeError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "error(s):"); i >= 0 {
		msg = strings.TrimSpace(msg[i+len("error(s):"):])
	}
	return fmt.Errorf("%s: %w", strings.ReplaceAll(msg, "\n\n", "; "), ErrInvalidConfig)
}

// MinDuration is the shortest value of every duration key (sip.min_expires,
// sip.max_expires, sccp.keepalive, sccp.idle_timeout, which may also be 0
// for its default).
const MinDuration = time.Second

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid configuration")

// Validate checks what the types cannot.
func (c Config) Validate() error {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	switch c.Log.Format {
	case "json", "console":
	default:
		add("log.format %q: use json or console", c.Log.Format)
	}
	for _, t := range c.SIP.Transports {
		if t != "udp" && t != "tcp" {
			add("sip.transports: %q: use udp and/or tcp (TLS comes with tls_cert and tls_key)", t)
		}
	}
	if (c.SIP.TLSCert == "") != (c.SIP.TLSKey == "") {
		add("sip.tls_cert and sip.tls_key go together")
	}
	// Durations: each has a floor below which the registrar cannot work
	// (a phone asked to re-register or keep alive every few milliseconds).
	if c.SIP.MinExpires < MinDuration {
		add("sip.min_expires %s: at least %s (e.g. 60s)", c.SIP.MinExpires, MinDuration)
	}
	if c.SIP.MaxExpires < MinDuration {
		add("sip.max_expires %s: at least %s (e.g. 3600s)", c.SIP.MaxExpires, MinDuration)
	} else if c.SIP.MaxExpires < c.SIP.MinExpires {
		add("sip.max_expires %s is below sip.min_expires %s", c.SIP.MaxExpires, c.SIP.MinExpires)
	}
	if c.SCCP.KeepAlive < MinDuration {
		add("sccp.keepalive %s: at least %s (e.g. 30s)", c.SCCP.KeepAlive, MinDuration)
	}
	if c.SCCP.MissedKeepAlives <= 0 {
		add("sccp.missed_keepalives must be positive")
	}
	if c.SCCP.IdleTimeout != 0 && c.SCCP.IdleTimeout < MinDuration {
		add("sccp.idle_timeout %s: at least %s (e.g. 30s), or 0 for the default", c.SCCP.IdleTimeout, MinDuration)
	}
	if c.SIP.MaxInFlight < 0 {
		add("sip.max_in_flight must not be negative (0: the default)")
	}
	if c.SIP.Auth.NonceLifetime < MinDuration {
		add("sip.auth.nonce_lifetime %s: at least %s (e.g. 5m)", c.SIP.Auth.NonceLifetime, MinDuration)
	}
	if strings.TrimSpace(c.SIP.Auth.Realm) == "" || strings.ContainsAny(c.SIP.Auth.Realm, "\"\\\r\n") {
		add("sip.auth.realm %q: a name without quotes, backslashes or line breaks", c.SIP.Auth.Realm)
	}
	if len(c.SIP.Auth.Algorithms) == 0 {
		add("sip.auth.algorithms: name one or both of SHA-256 and MD5")
	}
	for _, a := range c.SIP.Auth.Algorithms {
		if a != "SHA-256" && a != "MD5" {
			add("sip.auth.algorithms: %q: SHA-256 or MD5", a)
		}
	}
	for _, p := range c.Cluster.Pools {
		if _, err := domain.ParseAuthProfile(p.SIPAuth); err != nil {
			add("cluster.pools: %s: sip_auth %q: use digest, digest-always or none", p.Name, p.SIPAuth)
		}
	}
	for _, r := range []struct {
		key  string
		rate float64
	}{{"sip.source_rate", c.SIP.SourceRate}, {"sccp.source_rate", c.SCCP.SourceRate}, {"tftp.source_rate", c.TFTP.SourceRate}} {
		if r.rate < 0 && r.rate != -1 {
			add("%s %v: registrations a second from one address, 0 or more (0: the default), or -1 to turn the limit off", r.key, r.rate)
		}
	}
	if c.SCCP.MaxConns < 0 || c.SIP.SourceBurst < 0 || c.SCCP.SourceBurst < 0 || c.TFTP.SourceBurst < 0 {
		add("sccp.max_conns, sip.source_burst, sccp.source_burst and tftp.source_burst must not be negative")
	}
	for _, ts := range []struct {
		key  string
		list []string
	}{{"sip.trusted_sources", c.SIP.TrustedSources}, {"sccp.trusted_sources", c.SCCP.TrustedSources}, {"tftp.trusted_sources", c.TFTP.TrustedSources}} {
		if _, err := Prefixes(ts.list); err != nil {
			add("%s: %v", ts.key, err)
		}
	}
	for _, a := range []struct{ key, addr string }{{"sip.addr", c.SIP.Addr}, {"sccp.addr", c.SCCP.Addr}, {"admin.addr", c.Admin.Addr}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			add("%s %q: want host:port", a.key, a.addr)
		}
	}
	for i, t := range c.Admin.Tokens {
		if t.User == "" || t.Token == "" {
			add("admin.tokens[%d]: needs user and token", i)
		}
		if t.Scope != "" && t.Scope != "admin" && t.Scope != "read" {
			add("admin.tokens[%d].scope %q: use admin or read", i, t.Scope)
		}
	}
	if c.Cluster.Protocol != "" {
		if _, err := domain.ParseProtocol(c.Cluster.Protocol); err != nil {
			add("cluster.protocol: %v", err)
		}
	}
	if s := c.Cluster.Security; s != "" && s != "mixed" && s != "nonsecure" {
		add("cluster.security %q: use nonsecure or mixed", s)
	}
	if n, err := ParseMemoryLimit(c.MemoryLimit); err != nil {
		add("%v", err)
	} else if n > 0 && n < 16<<20 {
		add("memory_limit %q: below 16MiB the registrar cannot hold its own code and buffers", c.MemoryLimit)
	}
	if c.GCPercent != 0 && (c.GCPercent < 10 || c.GCPercent > 1000) {
		add("gc_percent %d: use 10-1000 (the runtime's GOGC), or 0 for its default", c.GCPercent)
	}
	cms := map[string]bool{}
	for i, cm := range c.Cluster.CallManagers {
		cms[cm.Name] = true
		for _, p := range []struct {
			key  string
			port int
		}{{"sip_port", cm.SIPPort}, {"sccp_port", cm.SCCPPort}} {
			if p.port < 0 || p.port > 65535 {
				add("cluster.callmanagers[%d].%s %d: use 1-65535, or 0 for the protocol's default", i, p.key, p.port)
			}
		}
	}
	if c.Node != "" && !cms[c.Node] {
		add("node %q: not a CallManager of cluster.callmanagers", c.Node)
	}
	errs = append(errs, c.Snapshot.validate()...)
	errs = append(errs, c.Limits.validate()...)
	errs = append(errs, c.Checkpoints.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(errs, "; "), ErrInvalidConfig)
	}
	return nil
}

// AutoregCallManager is the CallManager the configuration makes the
// autoregistration one: the first of the group flagged autoreg, when it has
// autoregistration enabled ("" otherwise).
func (c Cluster) AutoregCallManager() string {
	for _, g := range c.Groups {
		if !g.Autoreg || len(g.CallManagers) == 0 {
			continue
		}
		for _, cm := range c.CallManagers {
			if cm.Name == g.CallManagers[0] && cm.AutoregEnabled {
				return cm.Name
			}
		}
	}
	return ""
}

// Commands turns the cluster section into domain commands, in dependency
// order, each made by by; the command side runs them
// (command.Handler.Configure), so that only differences become events. The
// protocol and security parameters are included only when fresh is true (a
// new store): after that they belong to the administrators.
func (c Cluster) Commands(fresh bool, by string) []domain.Command {
	var cmds []domain.Command
	if fresh {
		if c.Protocol != "" {
			p, _ := domain.ParseProtocol(c.Protocol)
			cmds = append(cmds, domain.SetProtocol{Protocol: p, By: by})
		}
		if c.Security != "" {
			cmds = append(cmds, domain.SetSecurityMode{Mode: domain.SecurityMode(c.Security), By: by})
		}
	}
	for _, cm := range c.CallManagers {
		cmds = append(cmds, domain.ConfigureCallManager{Name: cm.Name, Description: cm.Description, AutoregEnabled: cm.AutoregEnabled,
			Host: cm.Host, SIPPort: cm.SIPPort, SCCPPort: cm.SCCPPort, By: by})
	}
	for _, g := range c.Groups {
		cmds = append(cmds, domain.ConfigureGroup{Name: g.Name, CallManagers: g.CallManagers, By: by})
	}
	for _, g := range c.Groups {
		if g.Autoreg {
			cmds = append(cmds, domain.SetAutoregGroup{Group: g.Name, By: by})
		}
	}
	for _, p := range c.Partitions {
		cmds = append(cmds, domain.AddPartition{Name: p.Name, Description: p.Description, By: by})
	}
	for _, p := range c.Patterns {
		cmds = append(cmds, domain.AddRoutePattern{Pattern: p.Pattern, Partition: p.Partition, Block: p.Block, Description: p.Description, By: by})
	}
	for _, s := range c.CSS {
		cmds = append(cmds, domain.ConfigureCSS{Name: s.Name, Partitions: s.Partitions, By: by})
	}
	for _, p := range c.Pools {
		profile, _ := domain.ParseAuthProfile(p.SIPAuth) // Validate refused a bad one
		cmds = append(cmds, domain.ConfigurePool{Name: p.Name, Group: p.Group, CSS: p.CSS, AutoregCSS: p.AutoregCSS, SIPAuth: profile, By: by})
	}
	if c.DefaultPool != "" {
		cmds = append(cmds, domain.SetDefaultPool{Pool: c.DefaultPool, By: by})
	}
	for _, d := range c.DeviceDefaults {
		cmds = append(cmds, domain.SetDeviceDefaults{Model: d.Model, LoadSCCP: d.LoadSCCP, LoadSIP: d.LoadSIP, Pool: d.Pool, By: by})
	}
	if c.AutoregCSS != "" {
		cmds = append(cmds, domain.SetAutoregCSS{CSS: c.AutoregCSS, By: by})
	}
	if c.Range.Start != "" {
		cmds = append(cmds, domain.ConfigureRange{Start: c.Range.Start, End: c.Range.End, Partition: c.Range.Partition, Mask: c.Range.Mask, By: by})
	}
	return cmds
}
