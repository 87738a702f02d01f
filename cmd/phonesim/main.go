// Command phonesim simulates Cisco IP phones registering with the autoreg
// registrar over SIP, SCCP or both, and reports what each phone got: its
// directory number, or the reason it was rejected.
//
//	phonesim --phones 10                               # ten 7961s over SCCP
//	phonesim --phones 10 --mix --models 7961,8961      # SCCP and SIP phones
//	phonesim --phones 1000 --rate 200 --format json    # a paced run, for machines
//
// It is used by tests, benchmarks and the README walkthrough; see
// docs/phonesim.md.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/spf13/cobra"
)

// exitError carries an exit status through cobra; status 2 (a usage error)
// is printed with a pointer to --help.
type exitError struct {
	code int
	err  error // nil: nothing to print
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func main() {
	quietSipgo()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status: 0 when
// every phone got an answer, 1 when some did not, 2 for a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	fmt.Fprintln(stderr, "phonesim:", err)
	if code == 2 {
		fmt.Fprintln(stderr, "Run 'phonesim --help' for usage.")
	}
	return code
}

// flags are the command line's values.
type flags struct {
	sip, sipTransport, sccp, tftp, authTFTP string
	callmanagers, sipCMs                    []string
	phones                                  int
	protocol                                string
	mix                                     bool
	models                                  []string
	seed                                    uint64
	macs                                    string
	rate                                    float64
	concurrency                             int
	timeout, hold                           time.Duration
	unregister                              bool
	expires                                 int
	format                                  string
	summary                                 bool
	debug                                   bool
}

func newRootCommand() *cobra.Command {
	var f flags
	c := &cobra.Command{
		Use:   "phonesim",
		Short: "Simulate Cisco IP phones registering with the registrar over SIP and SCCP",
		Long: `phonesim makes N phones register with the autoreg registrar, the way Cisco IP
phones register with CallManager, and reports what each got: the directory
number the registrar assigned, or the reason it was rejected.

Phones:
  --phones N phones of the --models given in turn (default 7961; a name
  outside the catalogue, e.g. 1234, is sent as is and should be rejected as
  unknown_model). Their MACs are derived from --seed (the same seed gives the
  same phones, so a second run finds them registered already; use another
  seed for new phones), or read from --macs FILE (one MAC a line, any
  notation, # comments; - reads standard input).

Protocols:
  --protocol sccp (the default) dials --sccp for each phone: RegisterMessage
  with the model's device type code, then LineStatReq for the DN.
  --protocol sip sends REGISTERs to --sip from one shared socket: the device
  is named by the Contact's +sip.instance and the To user SEP<MAC>, the model
  by the User-Agent (Cisco-CP7961G/9.4.2); the DN comes from
  P-Associated-URI, the rejection reason from the Warning.
  --protocol mix (or --mix): phone 1, 3, 5 ... over SCCP and phone 2, 4, 6 ...
  over SIP, except that a model speaking only one protocol always uses it.
  A phone speaking both registers only over the cluster's Auto Registration
  Phone Protocol (SCCP in the sample configuration); over the other it is
  rejected with wrong_protocol.

Booting from TFTP:
  --tftp host:port makes each phone boot as a Cisco phone does: it fetches
  SEP<MAC>.cnf.xml, or XmlDefault.cnf.xml when the registrar does not know
  it yet, registers with the CallManagers the file lists (priority order,
  failing over as with --callmanagers), holds the whole SCCP conversation
  after RegisterAck (version, server list, templates, lines, time), and once
  autoregistered fetches its own SEP<MAC>.cnf.xml. Held (--hold), a phone
  its CallManager resets (SCCP Reset; SIP NOTIFY Event: check-sync)
  unregisters and boots again: its file may now name another pool's
  CallManagers. It reports the file it went by last, the firmware load the
  file names and its resets ("config", "load", "resets"; "version_load":
  what the SCCP VersionMessage said).

At the end, phones are left registered: SIP bindings stay until they expire
(--expires), SCCP connections are closed (the registrar sees them drop). With
--hold they stay registered that long first (SCCP keepalives, SIP
refreshes); with --unregister they unregister (SIP Expires: 0, SCCP
UnregisterMessage). Ctrl-C ends the hold early.

Output: the counts (registered, rejected by reason, errors by kind, elapsed,
answers per second, latency), then a table of device, model, protocol, DN
and result. --format json writes the same as one JSON document:
  {"registered", "rejected": {reason: n}, "errors", "error_kinds": {kind: n},
   "unregistered", "lost", "elapsed_ms", "rate", "latency_ms": {p50, p90, p99, max},
   "phones": [{"device", "model", "protocol", "dn", "result", "reason",
               "detail", "latency_ms"}]}

Exit status: 0 when every phone got an answer (registered or rejected), 1
when some got none (timeout, connection refused ...) or failed after
registering, 2 for a usage error.`,
		Example: `  # ten 7961s over SCCP to a local registrar (make run)
  phonesim --phones 10

  # the README walkthrough: a dual-protocol and a SIP-only model, SCCP and SIP
  phonesim --sccp 127.0.0.1:2000 --sip 127.0.0.1:5060 --phones 10 --mix --models 7961,8961 --seed 1

  # SIP over TCP, paced at 50 phones a second, unregistering at the end
  phonesim --protocol sip --sip-transport tcp --models 8961 --phones 200 --rate 50 --unregister

  # the phones of a file, kept registered for a minute
  phonesim --macs macs.txt --hold 1m --unregister

  # 100 phones of three models booting from the registrar's TFTP server
  phonesim --tftp 127.0.0.1:69 --phones 100 --mix --models 7961,7941,8961

  # a benchmark: counts only, as JSON
  phonesim --phones 5000 --concurrency 256 --format json --summary`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q: phonesim takes flags only", args[0])}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return execute(cmd, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.sip, "sip", "127.0.0.1:5060", "the registrar's SIP address `ADDR` (host:port)")
	fl.StringVar(&f.sipTransport, "sip-transport", "udp", "SIP `TRANSPORT`: udp or tcp")
	fl.StringVar(&f.sccp, "sccp", "127.0.0.1:2000", "the registrar's SCCP address `ADDR` (host:port)")
	fl.StringSliceVar(&f.callmanagers, "callmanagers", nil, "the SCCP phones' CallManager list `ADDRS` (host:port,...): register with the first that accepts, keep a standby connection to the next, fail over and fall back (replaces --sccp)")
	fl.StringVar(&f.tftp, "tftp", "", "boot the phones from the TFTP server at `ADDR` (host:port): SEP<MAC>.cnf.xml or XmlDefault.cnf.xml names their CallManagers and load (replaces --sccp, --sip and the CallManager lists)")
	fl.StringSliceVar(&f.sipCMs, "sip-callmanagers", nil, "the SIP phones' CallManager list `ADDRS` (host:port,...): each refresh goes to the first that answers (replaces --sip)")
	fl.IntVarP(&f.phones, "phones", "n", 1, "register `N` phones (with --macs: one per MAC unless given)")
	fl.StringVar(&f.authTFTP, "auth-tftp", "", "without --tftp: a SIP phone the registrar challenges (401) fetches its SEP<MAC>.cnf.xml from the TFTP server at `ADDR` (host:port) for its digest credentials, as a phone holds the file it booted from")
	fl.StringVarP(&f.protocol, "protocol", "p", "sccp", "the phones' `PROTOCOL`: sip, sccp or mix")
	fl.BoolVar(&f.mix, "mix", false, "shorthand for --protocol mix")
	fl.StringSliceVarP(&f.models, "models", "m", []string{"7961"}, "`MODELS` given to the phones in turn, comma-separated (e.g. 7961,8961)")
	fl.Uint64Var(&f.seed, "seed", 1, "derive the phones' MACs from `SEED`")
	fl.StringVar(&f.macs, "macs", "", "read the MACs from `FILE`, one a line (- for standard input)")
	fl.Float64VarP(&f.rate, "rate", "r", 0, "start `R` phones per second (0: as fast as --concurrency allows)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 64, "at most `C` registrations in flight")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "time limit of each registration")
	fl.DurationVar(&f.hold, "hold", 0, "keep the phones registered for `DURATION` before the end")
	fl.BoolVar(&f.unregister, "unregister", false, "unregister the phones at the end")
	fl.IntVar(&f.expires, "expires", 3600, "ask for SIP registrations of `SECONDS`")
	fl.StringVarP(&f.format, "format", "o", "text", "output `FORMAT`: text or json")
	fl.BoolVar(&f.summary, "summary", false, "print the counts only, not every phone")
	fl.BoolVar(&f.debug, "debug", false, "print the SIP messages and sipgo's debug log to standard error")
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: 2, err: err} })
	return c
}

// execute runs the simulation the flags describe and prints its result.
func execute(cmd *cobra.Command, f flags) error {
	usage := func(err error) error { return &exitError{code: 2, err: err} }
	changed := cmd.Flags().Changed
	switch {
	case changed("seed") && changed("macs"):
		return usage(errors.New("--seed and --macs both name the phones: give one"))
	case f.tftp != "" && (len(f.callmanagers) > 0 || len(f.sipCMs) > 0):
		return usage(errors.New("--tftp gives the phones their CallManagers: drop --callmanagers and --sip-callmanagers"))
	case changed("protocol") && f.mix:
		return usage(errors.New("--mix is --protocol mix: give one"))
	case f.timeout <= 0:
		return usage(fmt.Errorf("--timeout %v: must be positive", f.timeout))
	case f.concurrency < 1:
		return usage(fmt.Errorf("--concurrency %d: at least 1", f.concurrency))
	case f.expires < 1:
		return usage(fmt.Errorf("--expires %d: at least 1 second", f.expires))
	case f.phones < 1:
		return usage(fmt.Errorf("--phones %d: at least one phone", f.phones))
	}
	format := strings.ToLower(f.format)
	if format != "text" && format != "json" {
		return usage(fmt.Errorf("--format %q: use text or json", f.format))
	}
	o := Options{
		SIPAddr: f.sip, SIPTransport: f.sipTransport, SCCPAddr: f.sccp,
		SCCPCallManagers: f.callmanagers, SIPCallManagers: f.sipCMs, TFTPAddr: f.tftp, AuthTFTP: f.authTFTP,
		Phones: f.phones, Protocol: f.protocol, Models: f.models, Seed: f.seed,
		Rate: f.rate, Concurrency: f.concurrency, Timeout: f.timeout, Hold: f.hold,
		Unregister: f.unregister, Expires: f.expires,
	}
	if f.mix {
		o.Protocol = ProtocolMix
	}
	if f.macs != "" {
		devices, err := readDeviceFile(f.macs, cmd.InOrStdin())
		if err != nil {
			return usage(err)
		}
		if len(devices) == 0 {
			return usage(fmt.Errorf("--macs %s: no MAC in the file", f.macs))
		}
		o.Devices = devices
		if !changed("phones") {
			o.Phones = len(devices)
		}
	}
	if f.debug {
		h := slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug})
		o.Logger = slog.New(h)
		sipgoLog.set(h)
		sip.SIPDebugTracer(&tracer{w: cmd.ErrOrStderr()})
		sip.SIPDebug = true
	}
	for _, m := range o.Models {
		if n := normaliseModel(m); modelName.MatchString(n) && !inCatalogue(n) {
			fmt.Fprintf(cmd.ErrOrStderr(), "phonesim: model %s is not in the catalogue: expect unknown_model\n", n)
		}
	}

	res, err := Run(cmd.Context(), o)
	var ue *UsageError
	if errors.As(err, &ue) {
		return usage(err)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if format == "json" {
		err = writeJSON(out, res, !f.summary)
	} else {
		err = writeText(out, res, !f.summary)
	}
	if err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	if code := res.ExitCode(); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// readDeviceFile reads the MACs of --macs (- is stdin).
func readDeviceFile(name string, stdin io.Reader) ([]string, error) {
	r := stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--macs: %w", err)
		}
		defer file.Close()
		r = file
	}
	devices, err := ReadDevices(r)
	if err != nil {
		return nil, fmt.Errorf("--macs %s: %w", name, err)
	}
	return devices, nil
}

// sipgoLog is sipgo's package logger (sip.DefaultLogger), which some of
// its code logs to whatever the transports were given (connection
// reference counts at close). It discards everything unless --debug
// switches it to standard error.
var sipgoLog switchHandler

// quietSipgo makes sipgoLog sipgo's package logger. sipgo reads it from
// its goroutines, so it is set once, before any use.
func quietSipgo() {
	sip.SetDefaultLogger(slog.New(&sipgoLog))
}

// switchHandler is a slog.Handler whose destination can change while it is
// in use; until set, it discards.
type switchHandler struct{ target atomic.Pointer[slog.Handler] }

func (s *switchHandler) set(h slog.Handler) { s.target.Store(&h) }

func (s *switchHandler) handler() slog.Handler {
	if h := s.target.Load(); h != nil {
		return *h
	}
	return slog.DiscardHandler
}

func (s *switchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.handler().Enabled(ctx, l)
}

func (s *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.handler().Handle(ctx, r)
}

func (s *switchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return s.handler().WithAttrs(attrs)
}

func (s *switchHandler) WithGroup(name string) slog.Handler { return s.handler().WithGroup(name) }

// tracer prints the SIP messages sipgo reads and writes (--debug).
type tracer struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *tracer) SIPTraceRead(transport, laddr, raddr string, msg []byte) {
	t.print(transport, laddr+" <- "+raddr, msg)
}

func (t *tracer) SIPTraceWrite(transport, laddr, raddr string, msg []byte) {
	t.print(transport, laddr+" -> "+raddr, msg)
}

func (t *tracer) print(transport, path string, msg []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "=== %s %s ===\n%s\n", transport, path, bytes.TrimRight(msg, "\r\n"))
}
