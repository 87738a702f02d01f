package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	_ "net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/autoreg/autoreg/adapters/admin"
	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sip"
	"github.com/autoreg/autoreg/adapters/snapshot"
	"github.com/autoreg/autoreg/adapters/tftp"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/sipauth"
	"github.com/autoreg/autoreg/projections"
	"github.com/autoreg/autoreg/replay"
	"github.com/autoreg/autoreg/replay/compliance"
)

func newServeCommand() *cobra.Command {
	v := config.New()
	var file string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the registrar: SIP, SCCP and the admin API on the event store",
		Long: `serve opens the event store (the embedded SQLite store under --data by
default), applies the configuration's cluster topology (only differences
become events), and serves phones over SIP (UDP and TCP) and SCCP, and
administrators over the admin API on loopback.

Without --config the compiled-in sample configuration is used (print it with
'registrar config sample'); a file's missing keys keep the sample's values,
except the cluster's topology. Every setting can also come from AUTOREG_* in the
environment, e.g. AUTOREG_ADMIN_TOKEN.

Autoregistration stays closed until an administrator opens it. If no admin
token is configured, one is made and written to DATA/admin.token (mode 0600),
where 'registrar admin' finds it.

With --signing-key KEY --checkpoints LOG (checkpoints.* in the
configuration), the registrar signs checkpoints of the store's hash chain
(position, chain head, time) every 1,000 events or 5 minutes and at the
stop, and appends them to LOG and to its log: 'replay verify --checkpoints
LOG --public-key KEY.pub' then proves the history was not rewritten or cut
(docs/security.md, "Anchored history").

SIGTERM or SIGINT: stop listening, finish the requests in flight, flush the
store, sign a last checkpoint, exit 0.`,
		Example: `  registrar serve
  registrar serve --config autoreg.yaml --log-format console
  registrar serve --data /var/lib/autoreg --sip-addr :5060 --sccp-addr :2000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(v, file)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			verify, _ := cmd.Flags().GetBool("verify-history")
			return serve(ctx, cfg, verify)
		},
	}
	f := c.Flags()
	f.StringVar(&file, "config", "", "YAML configuration file (default: the compiled-in sample)")
	f.String("data", "./data", "directory of the embedded store and the generated admin token")
	f.String("store", "", "event store URL: sqlite:///path/autoreg.db (default: sqlite under --data) or kurrentdb://host:2113")
	f.Bool("shared-store", false, "other registrars write to the same store: fold their events before each decision")
	f.String("node", "", "the CallManager of the cluster this process is (default: the autoregistration CallManager)")
	f.Int("gc-percent", 0, "the Go runtime's GOGC (default: the configuration's gc_percent, 25; GOGC in the environment wins)")
	f.String("sip-addr", ":5060", "SIP address (UDP and TCP)")
	f.String("sccp-addr", ":2000", "SCCP (Skinny) TCP address")
	f.String("tftp-addr", ":69", "the phones' TFTP server (UDP); \"\" turns it off (:69 needs root or CAP_NET_BIND_SERVICE: without, serve goes on without TFTP)")
	f.String("admin-addr", "127.0.0.1:8080", "admin API address (loopback unless a token and TLS are set)")
	f.String("log-format", "json", "log format: json or console")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	f.String("memory-limit", "", "soft memory limit of the Go runtime, e.g. 160MiB (default: none, or GOMEMLIMIT)")
	f.Bool("verify-history", false, "check the whole hash chain at start, as 'replay verify' does (by default the start checks it from the snapshot it starts from)")
	f.String("signing-key", "", "sign checkpoints of the store's hash chain with this Ed25519 key (registrar keygen; mode 0600, outside --data)")
	f.String("checkpoints", "", "the append-only file the signed checkpoints are appended to (with --signing-key)")
	f.Bool("admin-allow-plain-http", false, "serve the admin API in plain HTTP on a non-loopback address (tokens cross the network in clear: only behind a TLS proxy)")
	bind(v, c, map[string]string{
		"data": "data", "store": "store", "store_shared": "shared-store", "sip.addr": "sip-addr", "sccp.addr": "sccp-addr", "tftp.addr": "tftp-addr",
		"admin.addr": "admin-addr", "log.format": "log-format", "log.level": "log-level",
		"admin.allow_plain_http": "admin-allow-plain-http", "memory_limit": "memory-limit",
		"node": "node", "gc_percent": "gc-percent",
		"checkpoints.signing_key": "signing-key", "checkpoints.log": "checkpoints",
	})
	return c
}

// bind lets a flag override the file and the environment, but only when given.
func bind(v *viper.Viper, c *cobra.Command, keys map[string]string) {
	for key, flag := range keys {
		_ = v.BindPFlag(key, c.Flags().Lookup(flag))
	}
}

// newLogger writes the log on w: JSON, or for people (console) with
// colours only when w is a terminal, so a console log redirected to a file
// holds no escape codes.
func newLogger(cfg config.Log, w io.Writer) zerolog.Logger {
	var log zerolog.Logger
	if cfg.Format == "console" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)})
	} else {
		log = zerolog.New(w)
	}
	lvl, err := zerolog.ParseLevel(cfg.Level)
	if err != nil || cfg.Level == "" {
		lvl = zerolog.InfoLevel
	}
	return log.Level(lvl).With().Timestamp().Logger()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func serve(ctx context.Context, cfg config.Config, verify bool) error {
	log := newLogger(cfg.Log, os.Stderr)
	if n, _ := config.ParseMemoryLimit(cfg.MemoryLimit); n > 0 { // validated by Load
		debug.SetMemoryLimit(n)
	}
	if n := debug.SetMemoryLimit(-1); n < math.MaxInt64 {
		log.Info().Int64("bytes", n).Msg("soft memory limit")
	}
	if cfg.GCPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}

	// Every socket is bound before anything else happens: a taken port
	// fails the start before the store is created, the configuration
	// written or "serving" logged.
	tokens, err := configuredTokens(cfg)
	if err != nil {
		return err
	}
	if err := checkAdmin(cfg, tokens); err != nil {
		return &exitError{code: 2, err: err}
	}
	sipTLS, err := loadSIPTLS(cfg)
	if err != nil {
		return err
	}
	lns, err := bindListeners(ctx, cfg, sipTLS != nil)
	if err != nil {
		return err
	}
	defer lns.close() // those not handed to a server yet

	// The CallManager this process is, and its claims on the store: one
	// registrar alone on a store unless each has --shared-store, and one
	// process per CallManager (see nodes.go).
	node := cfg.Node
	if node == "" {
		node = cfg.Cluster.AutoregCallManager()
	}
	host, _ := os.Hostname()
	me := holder{Node: node, PID: os.Getpid(), Host: host, SIP: cfg.SIP.Addr, SCCP: cfg.SCCP.Addr, Since: time.Now().UTC()}
	spath, _ := storePath(cfg) // "" for KurrentDB: the lock files go in the data directory
	base := lockBase(spath, cfg.Data)
	if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	storeClaim, err := claimStore(base, cfg.StoreShared, me)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer storeClaim.Close()
	if node != "" {
		nodeClaim, err := claimNode(base, node, me)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer nodeClaim.Close()
		// Another host's registrar may serve the node on a shared
		// (KurrentDB) store, where this host's locks cannot see it.
		var local net.Addr
		if pc, ok := lns.sipUDP.(net.PacketConn); ok {
			local = pc.LocalAddr()
		}
		for _, cm := range cfg.Cluster.CallManagers {
			if cm.Name == node {
				if err := claimAddress(ctx, node, sipAddress(cm.Host, cm.SIPPort), local); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
		}
	}

	// The one log line of a store whose files were deleted or replaced
	// under it; the appends it refuses from then on are the adapters'
	// "store unavailable", and /healthz says why.
	journalLost := sqlite.WithJournalLost(func(err error) {
		log.Error().Err(err).Msg("event store journal lost: registrations refused until the registrar restarts")
	})
	store, path, err := openStore(ctx, cfg, journalLost)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error().Err(err).Msg("closing the event store")
		}
	}()
	head, err := store.Head(ctx)
	if err != nil {
		return fmt.Errorf("reading the event store %s: %w", path, err)
	}
	started := time.Now()
	metrics := admin.NewMetrics()
	if verify {
		if err := verifyHistory(ctx, store, path, log); err != nil {
			return err
		}
	}
	checkpoints, err := startCheckpoints(ctx, cfg, store, spath, node, log)
	if err != nil {
		return err
	}
	// The read side: the live read models every query is answered from,
	// and from which the command side reads the devices it does not hold.
	// It follows the store for the process's life. The audit models
	// (windows, configuration history) are built by `replay` and
	// `compliance` when asked, not held here: at 100,000 devices they would
	// cost the registrar ~15 MB. Both sides start from the snapshot if one
	// fits the store (docs/snapshots.md).
	secret, err := sipAuthSecret(cfg, base, log)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	snapPath := snapshotPath(cfg, path)
	sides, err := snapshot.Start(ctx, readCtx, store, snapshot.StartOptions{
		Path: snapPath, Log: log, CommandStore: metrics.Store(store),
		Command: command.Options{
			Node:        node,
			Shared:      cfg.StoreShared,
			VerifyChain: true, // refuse a store altered on disk rather than serve it
			OnError:     func(err error) { log.Error().Err(err).Msg("background work failed; retrying") },
			Floods:      floodLimits(cfg),
			Credentials: secret,
		},
	})
	if err != nil {
		return fmt.Errorf("loading state from %s: %w", path, err)
	}
	reader, svc, readErr := sides.Reader, sides.Handler, sides.ReadDone
	written, err := svc.Configure(ctx, cfg.Cluster.Commands(head == 0, "config"), command.Origin{Actor: "config"})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log.Info().Str("store", path).Str("node", node).Uint64("events", head).Int("config_events", written).
		Uint64("snapshot_position", sides.From).Int("snapshot_bytes", sides.SnapshotBytes).
		Int64("load_ms", time.Since(started).Milliseconds()).Msg("event store open")
	var snaps *snapshot.Writer
	if snapPath != "" {
		snaps = snapshot.NewWriter(store, reader, snapPath, sides.From, snapshot.WriterOptions{
			EveryEvents: uint64(cfg.Snapshot.EveryEvents), Every: cfg.Snapshot.Every, Log: log})
	}

	if len(tokens) == 0 {
		if tokens, err = generatedToken(cfg, log); err != nil {
			return err
		}
	}

	prov := &provisioning{reader: reader, minExpires: cfg.SIP.MinExpires, maxExpires: cfg.SIP.MaxExpires, secret: secret}

	// A reset reaches the phone through its adapter, made below.
	var (
		sccpReset  func(device string, restart bool) error
		sipNotify  func(device, event string) error
		sipBinding func(device string) (sip.Binding, bool)
	)
	adm, err := admin.New(admin.Config{
		Addr: cfg.Admin.Addr, Tokens: tokens, AllowPlainHTTP: cfg.Admin.AllowPlainHTTP,
		TLSCert: cfg.Admin.TLSCert, TLSKey: cfg.Admin.TLSKey, Metrics: metrics,
		ConfigFile: func(ctx context.Context, device string) ([]byte, error) {
			f, err := prov.Open(ctx, device+".cnf.xml", netip.AddrPort{})
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(f)
		},
		Credentials: func(device, salt string) (string, string, string) {
			return device, secret.Password(device, salt), cfg.SIP.Auth.Realm
		},
		SIPBinding: func(device string) (time.Time, string, bool) {
			if sipBinding == nil {
				return time.Time{}, "", false
			}
			b, ok := sipBinding(device)
			return b.Expires, b.Transport, ok
		},
		Reset: func(device string, p domain.Protocol, restart bool) error {
			switch p {
			case domain.SCCP:
				return sccpReset(device, restart)
			case domain.SIP:
				event := "check-sync"
				if !restart {
					event += ";reboot=true"
				}
				return sipNotify(device, event)
			}
			return fmt.Errorf("device %s speaks %q: no adapter resets it", device, p)
		},
		NodeUp: func(ctx context.Context, cm domain.CallManager) (bool, string) {
			if up, h := nodeUp(base, cm.Name); up {
				return true, h.String()
			}
			// Not on this host's store: a node on another host answers
			// SIP at its CallManager's address.
			if addr := sipAddress(cm.Host, cm.SIPPort); cm.Name != node && answersSIP(ctx, addr) {
				return true, "answers SIP at " + addr
			}
			return false, ""
		},
		Report:  complianceReport(store, path),
		Healthy: storeHealth(store),
	}, svc, reader, log.With().Str("component", "admin").Logger())
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	reg := metrics.Instrument(svc)

	known := func(device string) bool { d, _, ok := reader.DeviceState(device); return ok && d.Exists }
	sipTrusted, _ := config.Prefixes(cfg.SIP.TrustedSources) // checked by Load
	sccpTrusted, _ := config.Prefixes(cfg.SCCP.TrustedSources)
	sipSrv, err := sip.NewServer(sip.Config{
		Registrar: reg, Logger: log.With().Str("component", "sip").Logger(), Host: cfg.SIP.Host,
		MinExpires: cfg.SIP.MinExpires, MaxExpires: cfg.SIP.MaxExpires, TLS: sipTLS,
		SourceRate: cfg.SIP.SourceRate, SourceBurst: cfg.SIP.SourceBurst, TrustedSources: sipTrusted,
		MaxConnectionsPerSource: cfg.SIP.MaxConnsPerSource, MaxInFlight: cfg.SIP.MaxInFlight,
		Known: known, Refused: metrics.CountRefused("sip"),
		Credentials: prov, NonceKey: secret.Key("sip nonce"), Realm: cfg.SIP.Auth.Realm,
		NonceLifetime: cfg.SIP.Auth.NonceLifetime, Algorithms: cfg.SIP.Auth.Algorithms, AuthFailed: metrics.CountAuthFailed,
	})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	metrics.WatchSIPBindings(sipSrv.Devices)
	sccpSrv := sccp.NewServer(sccp.Config{
		Registrar: reg, Logger: log.With().Str("component", "sccp").Logger(),
		KeepAlive: cfg.SCCP.KeepAlive, MissedKeepAlives: cfg.SCCP.MissedKeepAlives,
		IdleTimeout: cfg.SCCP.IdleTimeout, MaxConns: cfg.SCCP.MaxConns, MaxConnsPerSource: cfg.SCCP.MaxConnsPerSource,
		SourceRate: cfg.SCCP.SourceRate, SourceBurst: cfg.SCCP.SourceBurst, TrustedSources: sccpTrusted,
		Known: known, Refused: metrics.CountRefused("sccp"), Provisioning: prov,
	})
	sccpReset, sipNotify, sipBinding = sccpSrv.Reset, sipSrv.Notify, sipSrv.Binding
	metrics.WatchSCCPConnections(sccpSrv.Connections)

	var tftpSrv *tftp.Server
	if pc := lns.take(&lns.tftp); pc != nil {
		files := tftp.Files(prov)
		if dir := cfg.TFTP.FilesDir; dir != "" {
			d, err := tftp.OpenDir(dir, 0)
			if err != nil {
				pc.Close()
				return &exitError{code: 2, err: fmt.Errorf("tftp.files_dir: %w", err)}
			}
			files = tftp.Chain(prov, d)
		}
		tftpTrusted, _ := config.Prefixes(cfg.TFTP.TrustedSources) // checked by Load
		tftpSrv, err = tftp.NewServer(tftp.Config{Files: files, Logger: log.With().Str("component", "tftp").Logger(),
			SourceRate: cfg.TFTP.SourceRate, SourceBurst: cfg.TFTP.SourceBurst, TrustedSources: tftpTrusted,
			OnServed: func(sv tftp.Served) { metrics.CountTFTP(tftpKind(sv.Name), tftpResult(sv.Err), sv.Bytes) }})
		if err != nil {
			pc.Close()
			return &exitError{code: 2, err: err}
		}
		lns.tftp = pc // handed to the server below
	} else if lns.noTFTP != "" {
		log.Warn().Msg(lns.noTFTP)
	}

	// Registrations the previous process left in the store: SIP bindings
	// lived in its memory, SCCP phones on its TCP connections.
	var sipBack []sip.Restored
	var sccpBack []string
	devices, err := reader.Devices(ctx)
	if err != nil {
		return fmt.Errorf("reading the devices from %s: %w", path, err)
	}
	for _, d := range devices {
		switch {
		case !d.Registered:
		case d.Node != "" && d.Node != node:
			// Registered with another CallManager of the cluster: not ours.
		case d.Protocol == domain.SIP:
			sipBack = append(sipBack, sip.Restored{Device: d.Name, Contact: d.Address, DN: d.DN})
		case d.Protocol == domain.SCCP:
			sccpBack = append(sccpBack, d.Name)
		}
	}
	if n := sipSrv.Restore(sipBack); n > 0 {
		log.Info().Int("devices", n).Int64("until_ms", cfg.SIP.MaxExpires.Milliseconds()).Msg("SIP bindings restored; they expire unless refreshed")
	}
	// What the start read (a snapshot, the store's events) and the list of
	// every device (350 bytes each) are garbage now: give them back rather
	// than start larger than a registrar that registered the same devices.
	debug.FreeOSMemory()

	errc := make(chan error, 8)
	// run serves one listener; its errors already name their adapter
	// ("sip: ", "sccp: ", "admin API: ").
	run := func(fn func() error) {
		go func() {
			if err := fn(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	srvCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	servers := 0
	if pc := lns.take(&lns.sipUDP); pc != nil {
		servers++
		run(func() error { return sipSrv.ServeUDP(srvCtx, pc.(net.PacketConn)) })
	}
	if ln := lns.take(&lns.sipTCP); ln != nil {
		servers++
		run(func() error { return sipSrv.ServeTCP(srvCtx, ln.(net.Listener)) })
	}
	if ln := lns.take(&lns.sipTLS); ln != nil {
		servers++
		run(func() error { return sipSrv.ServeTLS(srvCtx, ln.(net.Listener)) })
	}
	sccpLn := lns.take(&lns.sccp).(net.Listener)
	servers++
	run(func() error { return sccpSrv.Serve(srvCtx, sccpLn) })
	sccpSrv.ExpectBack(srvCtx, sccpBack, cfg.SCCP.KeepAlive*time.Duration(cfg.SCCP.MissedKeepAlives))
	if tftpSrv != nil {
		pc := lns.take(&lns.tftp).(net.PacketConn)
		servers++
		run(func() error { return tftpSrv.Serve(srvCtx, pc) })
	}
	adminLn := lns.take(&lns.admin).(net.Listener)
	servers++
	run(func() error { return adm.Serve(srvCtx, adminLn) })
	go func() { _ = svc.Run(srvCtx, time.Second) }()
	go trimWhenIdle(srvCtx, 30*time.Second, heapAllocated, func() {
		// The read connections' caches and mapped pages, then the heap.
		if r, ok := store.(interface{ ReleaseMemory() }); ok {
			r.ReleaseMemory()
		}
		debug.FreeOSMemory()
		log.Debug().Msg("idle: memory returned to the operating system")
	})
	if snaps != nil {
		go snaps.Run(srvCtx)
	}
	if checkpoints != nil {
		go checkpoints.Run(srvCtx)
	}
	go func() {
		if err := <-readErr; err != nil && !errors.Is(err, context.Canceled) {
			log.Error().Err(err).Msg("read models stopped following the store")
		}
	}()
	if addr := os.Getenv("AUTOREG_PPROF"); addr != "" {
		// Profiling for developers, on loopback only: AUTOREG_PPROF=127.0.0.1:6060.
		if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
			return &exitError{code: 2, err: fmt.Errorf("AUTOREG_PPROF %q: want a loopback host:port", addr)}
		}
		go func() { _ = http.ListenAndServe(addr, nil) }() // net/http/pprof registers on the default mux
		log.Warn().Str("addr", addr).Msg("pprof enabled (AUTOREG_PPROF)")
	}

	tftpAddr := ""
	if tftpSrv != nil {
		tftpAddr = cfg.TFTP.Addr
	}
	log.Info().Str("sip", cfg.SIP.Addr).Strs("sip_transports", cfg.SIP.Transports).Str("sccp", cfg.SCCP.Addr).Str("tftp", tftpAddr).
		Str("admin", cfg.Admin.Addr).Msg("registrar serving; autoregistration is " + openOrClosed(ctx, reader))

	var failure error
	select {
	case <-ctx.Done():
		log.Info().Msg("stopping: finishing requests in flight")
	case failure = <-errc:
		servers--
		if failure == nil {
			failure = errors.New("a listener stopped unexpectedly")
		}
		log.Error().Err(failure).Msg("stopping")
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = sipSrv.Shutdown(shutdownCtx)
	_ = sccpSrv.Shutdown(shutdownCtx)
	_ = adm.Shutdown(shutdownCtx)
	cancel()
	for ; servers > 0; servers-- {
		select {
		case <-errc:
		case <-shutdownCtx.Done():
			servers = 0
		}
	}
	if checkpoints != nil {
		finalCheckpoint(checkpoints, log)
	}
	if failure != nil {
		return failure
	}
	if snaps != nil {
		finalSnapshot(sides, snaps, store, log)
	}
	log.Info().Msg("stopped")
	return nil
}

// complianceReport is the console's compliance report: the compliance
// checks over the registrar's store, read as `compliance report` reads it,
// written as its HTML page.
func complianceReport(store eventstore.Store, location string) admin.ReportFunc {
	return func(ctx context.Context, w io.Writer, since, until time.Time) error {
		r, err := compliance.Build(ctx, replay.Env{Store: store}, compliance.Options{Since: since, Until: until, Store: location})
		if err != nil {
			return err
		}
		return compliance.WriteHTML(w, r)
	}
}

func openOrClosed(ctx context.Context, reader *projections.Reader) string {
	if st, err := reader.Status(ctx); err == nil && st.Open {
		return "open"
	}
	return "closed (open it with `registrar admin autoreg open --reason ...`)"
}

// configuredTokens gathers the configured admin tokens (none: see
// generatedToken).
func configuredTokens(cfg config.Config) ([]admin.Token, error) {
	var out []admin.Token
	for _, t := range cfg.Admin.Tokens {
		scope := t.Scope
		if scope == "" {
			scope = "admin"
		}
		out = append(out, admin.Token{User: t.User, Token: t.Token, Scope: scope})
	}
	if cfg.Admin.Token != "" {
		out = append(out, admin.Token{User: "admin", Token: cfg.Admin.Token, Scope: "admin"})
	}
	return out, nil
}

// generatedToken is the token of an admin API configured with none: the one
// in DATA/admin.token, made and written there the first time for
// `registrar admin` to find.
func generatedToken(cfg config.Config, log zerolog.Logger) ([]admin.Token, error) {
	path := filepath.Join(cfg.Data, "admin.token")
	b, err := os.ReadFile(path)
	tok := strings.TrimSpace(string(b))
	if err != nil || tok == "" {
		raw := make([]byte, 24)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		tok = hex.EncodeToString(raw)
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing the generated admin token: %w", err)
		}
		log.Info().Str("file", path).Msg("no admin token configured: generated one")
	}
	return []admin.Token{{User: "admin", Token: tok, Scope: "admin"}}, nil
}

// sipAuthSecret is the secret the SIP devices' digest passwords derive
// from: sip.auth.secret_file, or beside the store (base: the SQLite file,
// so that the nodes of a cluster on one store share it; DATA/registrar for
// KurrentDB) with .sip-auth.key added, made there the first time.
func sipAuthSecret(cfg config.Config, base string, log zerolog.Logger) (*sipauth.Secret, error) {
	path := cfg.SIP.Auth.SecretFile
	if path == "" {
		path = base + ".sip-auth.key"
	}
	secret, created, err := sipauth.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("sip.auth.secret_file: %w", err)
	}
	if created {
		log.Info().Str("file", path).Msg("SIP digest authentication: generated the secret the devices' passwords derive from")
	}
	return secret, nil
}
