package replay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/internal/anchor"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailure = 1 // verify found a problem; the store could not be read
	ExitUsage   = 2 // a bad command line, or no store where it says
)

// Main runs the replay command line (args without the program's name) and
// returns the exit status: ExitOK; ExitFailure when verify finds a problem
// or the store cannot be read; ExitUsage for a bad command line or a store
// that is not there, in which case nothing is written on stdout.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	a := &app{NewProgram("replay", stdout, stderr, opts...)}
	err := a.Execute(ctx, a.command(), args)
	var verr *VerifyError
	if errors.As(err, &verr) {
		fmt.Fprintf(stderr, "replay verify: FAILED at %v\n", verr)
		return ExitFailure
	}
	return a.Exit(err, ExitFailure)
}

// app is the replay program; its methods make its commands.
type app struct{ *Program }

func (a *app) command() *cobra.Command {
	root := a.Root(&cobra.Command{
		Use:   "replay",
		Short: "Audit the registrar's event log: windows, devices, past states, events, integrity",
		Long: `replay reads the registrar's event store read-only (the registrar may be
writing it at the same time) and answers the auditor's questions:

  windows   who opened autoregistration, when, why, for how long, and
            which phones registered in each window
  device    the whole history of one device
  state     the cluster, the ranges and the devices as they were at an instant
  events    the raw events, filtered
  verify    is the log intact? (hash chain, positions, the registrar's rules;
            with --checkpoints and --public-key, signed checkpoints too)

and writes realistic histories for tests and benchmarks (generate).

The store is --store (sqlite:///abs/path.db or a path), else --data DIR
(DIR/autoreg.db), else ./data/autoreg.db. Times are RFC 3339
(2026-03-02T09:00:00Z), or 2026-03-02T09:00 and 2026-03-02, read as UTC.
JSON output is a stable schema (docs/replay.md).

Exit status: 0 ok; 1 verify found a problem, or the store could not be read;
2 bad command line or no store there (nothing is written on stdout).`,
		Example: `  replay windows --since 2026-03-01 --format json
  replay device SEP001122334455
  replay state --at 2026-03-02T10:00 --store sqlite:///var/lib/autoreg/autoreg.db
  replay events --type 'device.*' --since 2026-03-02 --format jsonl
  replay verify --data /var/lib/autoreg`,
	})
	root.AddCommand(a.windowsCmd(), a.deviceCmd(), a.stateCmd(), a.eventsCmd(), a.verifyCmd(), a.generateCmd(), a.copyCmd())
	return root
}

// args checks the number of positional arguments.
func args(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if len(a) != n {
			return usagef("%s takes %d argument(s), got %d", c.CommandPath(), n, len(a))
		}
		return nil
	}
}

// answer is the Run of a query that gets its answer from the store, then
// writes it on a buffered stdout in the format asked for.
func answer[T any](p *Program, get func(ctx context.Context, env Env) (T, error), write func(w io.Writer, f Format, v T) error) func(context.Context, Source) error {
	return func(ctx context.Context, src Source) error {
		v, err := get(ctx, src.Env)
		if err != nil {
			return err
		}
		return p.output(func(w io.Writer) error { return write(w, src.Format, v) })
	}
}

func (a *app) windowsCmd() *cobra.Command {
	var since, until string
	var iv Interval
	c := a.Query(&cobra.Command{
		Use:   "windows",
		Short: "List the autoregistration windows and the phones registered in each",
		Long: `windows replays the whole log and lists every autoregistration window that
was open at some instant between --since and --until (both included; either
may be left out): who opened it, when and why, who or what closed it and
why (an administrator, its time up, its registration limit, the range
exhausted, mixed-mode security), the Auto Registration Phone Protocol while
it was open (with the changes made inside it), the phones that
autoregistered in it (device, model, protocol, DN, time) and the
registrations it refused.

text: a table for people, and how many registrations were refused while
autoregistration was closed. json: a list of windows (docs/replay.md).
csv: one row per window, with counts.`,
		Example: `  replay windows
  replay windows --since 2026-03-01 --until 2026-03-31T23:59 --format json
  replay windows --data /var/lib/autoreg --format csv > windows.csv`,
		Args: args(0),
	}, Query{
		Formats:    []Format{Text, JSON, CSV},
		FormatHelp: "text, json or csv",
		Check: func([]string) (err error) {
			iv, err = ParseInterval(since, until)
			return err
		},
		Run: answer(a.Program, func(ctx context.Context, env Env) (WindowsResult, error) {
			return Windows(ctx, env, iv)
		}, WriteWindows),
	})
	c.Flags().StringVar(&since, "since", "", "only windows open at or after this time")
	c.Flags().StringVar(&until, "until", "", "only windows open at or before this time")
	return c
}

func (a *app) deviceCmd() *cobra.Command {
	var name string
	return a.Query(&cobra.Command{
		Use:   "device NAME",
		Short: "Show the whole history of one device",
		Long: `device shows what became of one device: its state after its last event, then
every event about it in order: its registrations and refusals, its
autoregistration (and the DN the range gave it), moves, reconfigurations,
deletion, with who did each.

NAME is the device name (SEP and the 12 hex digits of its MAC, any case) or
its MAC address (00:11:22:33:44:55, 0011.2233.4455, ...).

text: the state and a table. json: {device, state, history} (docs/replay.md).
csv: the history.`,
		Example: `  replay device SEP001122334455
  replay device 00:11:22:33:44:55 --format json`,
		Args: args(1),
	}, Query{
		Formats:    []Format{Text, JSON, CSV},
		FormatHelp: "text, json or csv",
		Check: func(argv []string) (err error) {
			name, err = DeviceName(argv[0])
			return err
		},
		Run: answer(a.Program, func(ctx context.Context, env Env) (DeviceHistory, error) {
			return Device(ctx, env, name)
		}, WriteDevice),
	})
}

func (a *app) stateCmd() *cobra.Command {
	var at string
	var t time.Time
	c := a.Query(&cobra.Command{
		Use:   "state",
		Short: "Show the cluster, the ranges and the devices as they were at an instant",
		Long: `state replays the events recorded at or before --at (reading stops at the
first event recorded after it) and shows what they left: whether
autoregistration was open and in which window, the protocol parameter and
the security mode, the configuration autoregistration depends on, every
range configured so far with its usage and next DN, and the devices that
existed, with their DN, pool and registration.

Without --at, the state now (after the last event). An instant before the
first event, or an empty store, is an error (exit 1) that says so and when
the first event was recorded, rather than an empty state.

text: for people. json: see docs/replay.md. csv: the devices table.`,
		Example: `  replay state --at 2026-03-02T10:00
  replay state --at 2026-03-02T10:00:00Z --format json
  replay state --format csv > devices-now.csv`,
		Args: args(0),
	}, Query{
		Formats:    []Format{Text, JSON, CSV},
		FormatHelp: "text, json or csv",
		Check: func([]string) (err error) {
			t = a.Now().UTC()
			if at != "" {
				if t, err = ParseTime(at); err != nil {
					return fmt.Errorf("--at: %w", err)
				}
			}
			return nil
		},
		Run: answer(a.Program, func(ctx context.Context, env Env) (StateReport, error) {
			r, err := State(ctx, env, t)
			if err == nil && r.Position == 0 {
				err = nothingBefore(ctx, env, t)
			}
			return r, err
		}, WriteState),
	})
	c.Flags().StringVar(&at, "at", "", "the instant (default: now)")
	return c
}

func (a *app) eventsCmd() *cobra.Command {
	var stream, types, since, until string
	var follow bool
	var filter EventsFilter
	c := a.Query(&cobra.Command{
		Use:   "events",
		Short: "List the raw events, filtered by stream, type and time",
		Long: `events lists the stored events in order: position, stream, version, type,
when the store recorded it, who made it (the actor of its metadata:
admin:NAME, sip, sccp, system, config) and its data.

--stream takes a stream name (autoreg-cluster, autoreg-dnrange,
autoreg-device-SEP001122334455). --type takes event types or patterns,
comma-separated (autoregistration.window_opened, 'device.*').

text: a table with a sentence per event. json: an array; jsonl: one
object a line; csv: a header row, data as JSON (docs/replay.md).

--follow (-f) is a tail for operators: it prints the events the filters
select as the registrar appends them, each as soon as it is stored, until
interrupted (Ctrl-C, SIGTERM: exit 0). It starts at the end of the log; with
--since, the events stored since then come first. Text is then one line an
event; json cannot be followed (use jsonl); --until does not apply.`,
		Example: `  replay events --type 'autoregistration.*'
  replay events --stream autoreg-device-SEP001122334455 --format json
  replay events --since 2026-03-02T10:00 --until 2026-03-02T11:00 --format jsonl
  replay events --follow --data /var/lib/autoreg
  replay events -f --type 'device.*' --format jsonl`,
		Args: args(0),
	}, Query{
		Formats:    []Format{Text, JSON, JSONL, CSV},
		FormatHelp: "text, json, jsonl or csv",
		Check: func([]string) (err error) {
			filter = EventsFilter{Stream: stream}
			if filter.Types, err = ParseTypes(types); err != nil {
				return err
			}
			filter.Interval, err = ParseInterval(since, until)
			if err != nil || !follow {
				return err
			}
			if until != "" {
				return usagef("--follow prints events as they come, with no end: --until does not apply")
			}
			return nil
		},
		Run: func(ctx context.Context, src Source) error {
			if follow {
				if src.Format == JSON {
					return usagef("--follow writes each event as it comes, which a JSON array cannot hold: use --format jsonl")
				}
				ew := NewFollowWriter(a.Stdout, src.Format)
				if err := Follow(ctx, src.Env, filter, ew.Write); err != nil {
					ew.Close()
					return err
				}
				return ew.Close()
			}
			ew := NewEventWriter(a.Stdout, src.Format)
			if err := Events(ctx, src.Env, filter, ew.Write); err != nil {
				ew.Close()
				return err
			}
			return ew.Close()
		},
	})
	c.Flags().StringVar(&stream, "stream", "", "only this stream")
	c.Flags().StringVar(&types, "type", "", "only these event types or patterns, comma-separated")
	c.Flags().StringVar(&since, "since", "", "only events recorded at or after this time")
	c.Flags().StringVar(&until, "until", "", "only events recorded at or before this time")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "print new events as they are appended, until interrupted")
	return c
}

func (a *app) verifyCmd() *cobra.Command {
	var logFile string
	var keyFiles []string
	var anchors *anchor.Anchors
	c := a.Query(&cobra.Command{
		Use:   "verify",
		Short: "Check the log's integrity and the registrar's rules; exit 1 at the first bad event",
		Long: `verify reads the whole log and checks, event by event:

  - positions run from 1 without gaps, each stream's versions from 0;
  - the hash chain: each event's hash is SHA-256 over the previous hash and
    the event (an event edited, deleted, inserted or moved breaks it there);
  - every event decodes, and belongs to the stream it is in;
  - replayed through the aggregates, the registrar's rules held: no DN held
    by two devices; no autoregistration while no window was open, after the
    window's time was up or beyond its limit, while security was mixed, or
    outside the range; no window opened while another was open or while
    security was mixed.

The hash chain has no key: it proves integrity, not authenticity. Whoever
can write the store can edit an event and recompute every hash after it, or
cut the last events, and the chain still holds. With --checkpoints LOG
--public-key KEY.pub (the checkpoints 'registrar serve --signing-key' signs,
and its key's public half), verify also checks every line of LOG: its
Ed25519 signature (a line altered, or signed by another key, fails, naming
the line), its order, and that the store agrees with it: the chain hash at
the checkpoint's position is the signed head (else the history up to it was
rewritten), and the store reaches that position (else its tail was cut).
The summary says what the checkpoints covered, and how many events came
after the last one (covered by integrity only). --public-key may be given
more than once (a rotated key).

It exits 0 with a summary (events, streams, windows, devices, time), or 1
naming the first bad position (or checkpoint) and what is wrong with it.`,
		Example: `  replay verify
  replay verify --store sqlite:///var/lib/autoreg/autoreg.db
  replay verify --checkpoints /var/log/autoreg/checkpoints.log --public-key /etc/autoreg/signing.key.pub
  replay verify --format json`,
		Args: args(0),
	}, Query{
		Formats:    []Format{Text, JSON},
		FormatHelp: "text or json (the summary)",
		Check: func([]string) error {
			if (logFile == "") != (len(keyFiles) == 0) {
				return usagef("--checkpoints LOG and --public-key KEY.pub go together: the checkpoints are worth nothing unverified")
			}
			return nil
		},
		Corrupt: a.verifyRefused,
		Run: answer(a.Program, func(ctx context.Context, env Env) (VerifySummary, error) {
			if logFile != "" {
				var err error
				if anchors, err = LoadAnchors(logFile, keyFiles); err != nil {
					return VerifySummary{}, err
				}
			}
			return VerifyAnchored(ctx, env, env.Store, anchors)
		}, WriteVerify),
	})
	c.Flags().StringVar(&logFile, "checkpoints", "", "the signed checkpoint log (serve --checkpoints) the store must agree with")
	c.Flags().StringArrayVar(&keyFiles, "public-key", nil, "the public key (FILE.pub of registrar keygen) the checkpoints are signed with; repeat for several")
	return c
}

// LoadAnchors reads the public keys (a key that cannot be read is a
// *UsageError) and the checkpoint log, and verifies every line (a line
// that does not verify is a *VerifyError naming it).
func LoadAnchors(logFile string, keyFiles []string) (*anchor.Anchors, error) {
	var keys []ed25519.PublicKey
	for _, f := range keyFiles {
		k, err := anchor.ReadPublicKey(f)
		if err != nil {
			return nil, &UsageError{Err: fmt.Errorf("--public-key: %w", err)}
		}
		keys = append(keys, k)
	}
	a, err := anchor.VerifyLogFile(logFile, keys...)
	if err != nil {
		if errors.Is(err, anchor.ErrBadLog) {
			return nil, &VerifyError{Where: "the checkpoint log " + logFile, Problems: []string{err.Error()}}
		}
		return nil, err
	}
	return a, nil
}

// verifyRefused verifies a store the adapter refused to open as corrupt
// (openErr): its table is read directly, to name the first bad event rather
// than the symptom the adapter saw.
func (a *app) verifyRefused(ctx context.Context, loc string, openErr error) error {
	path, err := StorePath(loc)
	if err != nil {
		return openErr
	}
	raw, err := openRaw(path)
	if err != nil {
		return openErr
	}
	defer raw.Close()
	_, err = Verify(ctx, Env{}, raw)
	var verr *VerifyError
	switch {
	case errors.As(err, &verr):
		return err
	case err != nil:
		return fmt.Errorf("%w (and reading its table directly failed: %v)", openErr, err)
	}
	// Every event checks out, yet the store refused the file.
	return &VerifyError{Problems: []string{openErr.Error()}}
}

func (a *app) generateCmd() *cobra.Command {
	var out, start string
	var events int
	var seed uint64
	c := &cobra.Command{
		Use:   "generate --events N --out FILE",
		Short: "Write a realistic history into a new store (tests, benchmarks, demonstrations)",
		Long: `generate simulates a cluster's life through the registrar's own decisions
(domain.Decide on the current state, then Evolve) and writes the events into
a NEW SQLite store at --out: the configuration, autoregistration windows
opened and closed by several administrators (some closed by their time, their
limit, the range running out, mixed-mode security), batches of SCCP and SIP
phones (mostly under 100 a window, sometimes more), protocol switches between
and inside batches, phones refused for the wrong protocol or an unknown model,
re-registrations and moves, reconfigurations into permanent pools, deletions,
rogue phones refused while autoregistration is closed, range extensions, a
mixed-mode episode. The history passes 'replay verify'.

The same --seed gives the same history. --out must not exist, or be an empty
store; a store that holds events is never written to.`,
		Example: `  replay generate --events 1000000 --out /tmp/1m.db
  replay generate --events 10000000 --out sqlite:///tmp/10m.db --seed 7`,
		Args: args(0),
		RunE: a.Run(func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out FILE is required")
			}
			if events <= 0 {
				return usagef("--events N is required (a positive number)")
			}
			path, err := StorePath(out)
			if err != nil {
				return err
			}
			var t0 time.Time
			if start != "" {
				if t0, err = ParseTime(start); err != nil {
					return fmt.Errorf("--start: %w", err)
				}
			}
			// The generator allocates much and keeps little: collect less often.
			defer debug.SetGCPercent(debug.SetGCPercent(400))
			res, err := GenerateStore(cmd.Context(), path, GenerateOptions{Events: events, Seed: seed, Start: t0,
				Progress: a.Stderr, Terminal: a.terminal})
			if err != nil {
				return err
			}
			return a.output(func(w io.Writer) error { return WriteGenerate(w, path, res) })
		}),
	}
	c.Flags().StringVar(&out, "out", "", "the new store: a path or sqlite:///abs/path.db")
	c.Flags().IntVar(&events, "events", 0, "how many events to write")
	c.Flags().Uint64Var(&seed, "seed", 1, "selects the history")
	c.Flags().StringVar(&start, "start", "", "when the history starts (default 2024-01-08T08:00:00Z)")
	return c
}
