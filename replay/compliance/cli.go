package compliance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/replay"
)

// Exit statuses of Main.
const (
	ExitOK       = 0 // no finding reached --fail-on
	ExitFindings = 1 // a finding reached --fail-on (the report was written)
	ExitError    = 2 // a bad command line, policy or store; nothing was written
)

// Option configures Main.
type Option = replay.Option

// WithOpener replaces how stores are opened (tests give memory stores).
func WithOpener(o replay.Opener) Option { return replay.WithOpener(o) }

// WithTerminal says whether stderr is a terminal (progress bar), instead
// of asking it.
func WithTerminal(b bool) Option { return replay.WithTerminal(b) }

// WithNow sets the clock: the report's generated_at, and the end of the
// period without --until.
func WithNow(now func() time.Time) Option { return replay.WithNow(now) }

// FindingsError says that findings reached the --fail-on severity.
type FindingsError struct {
	Count int
	Level Severity
}

func (e *FindingsError) Error() string {
	return fmt.Sprintf("%d finding(s) at or above %s", e.Count, e.Level)
}

// Main runs the compliance command line (args without the program's name)
// and returns the exit status: ExitOK, ExitFindings when a finding reaches
// --fail-on, ExitError for anything that went wrong (a bad flag, time or
// policy, a store that is not there or cannot be read), in which case
// nothing is written on stdout nor to -o.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	a := &app{replay.NewProgram("compliance", stdout, stderr, opts...)}
	err := a.Execute(ctx, a.command(), args)
	var ferr *FindingsError
	var perr *PolicyError
	switch {
	case errors.As(err, &ferr):
		fmt.Fprintf(stderr, "compliance: %v\n", err)
		return ExitFindings
	case errors.As(err, &perr):
		err = &replay.UsageError{Err: err} // a bad policy is a mistake in the command line
	}
	return a.Exit(err, ExitError)
}

// app is the compliance program; its methods make its commands.
type app struct{ *replay.Program }

func usagef(format string, a ...any) error {
	return &replay.UsageError{Err: fmt.Errorf(format, a...)}
}

func noArgs(c *cobra.Command, args []string) error {
	if len(args) != 0 {
		return usagef("%s takes no arguments, got %q", c.CommandPath(), args)
	}
	return nil
}

func (a *app) command() *cobra.Command {
	root := a.Root(&cobra.Command{
		Use:   "compliance",
		Short: "Check the registrar's event log against Cisco's autoregistration advice",
		Long: `compliance reads the registrar's event store read-only (the registrar may be
writing it at the same time) and checks what happened over a period against
the CallManager guide's advice on autoregistration:

  window-too-long                a window open longer than the policy allows (1h)
  too-many-phones                100 phones or more in a window, or in the period
  multiple-autoreg-callmanagers  more than one CallManager with autoregistration enabled
  autoreg-group-mismatch         the autoregistration group's first CallManager is not
                                 the autoregistration one (or no group while open)
  no-autoreg-css                 a window open with no autoregistration calling search space
  autoreg-css-reaches-external   autoregistered phones may dial external numbers
  not-reconfigured               autoregistered devices left in the default or rogue
                                 pool more than 7 days (checklist step 8)
  business-hours                 a window opened during business hours
  missing-device-default-load    a phone autoregistered with no firmware load in
                                 Device Defaults for its model and protocol
  rogue-attempts                 unknown devices refused while closed, per device
  protocol-mixed-batch           SIP and SCCP batches mixed in one window
  left-open                      a window still open at the end of the period
  registered-outside-group       a phone registered with a CallManager outside its pool's group
  history-not-anchored           no signed checkpoints given (--checkpoints, --public-key), so
                                 the log's authenticity is unproven; critical when the store
                                 disagrees with them
  sip-unauthenticated            SIP phones that register without digest authentication (no
                                 credentials, or their pool's profile is none)

Thresholds and severities come from a policy file (YAML; see 'compliance
policy sample' and docs/compliance.md).

The store is --store (sqlite:///abs/path.db, a path, or kurrentdb://...), else --data DIR
(DIR/autoreg.db), else ./data/autoreg.db. Times are RFC 3339
(2026-03-02T09:00:00Z), or 2026-03-02T09:00 and 2026-03-02, read as UTC.

Exit status: 0 no finding reaches --fail-on; 1 a finding does (the report
is written); 2 an error (bad flag, time, policy or store; nothing written).`,
		Example: `  compliance report --since 2026-03-01 --until 2026-04-01
  compliance report --data /var/lib/autoreg --format html -o march.html
  compliance report --policy policy.yaml --fail-on warning --format json
  compliance policy sample > policy.yaml
  compliance checks`,
	})
	root.AddCommand(a.reportCmd(), a.policyCmd(), a.checksCmd())
	return root
}

func (a *app) reportCmd() *cobra.Command {
	var since, until, policyFile, output, failOn, logFile string
	var keyFiles []string
	var level Severity
	var iv replay.Interval
	var pol *Policy
	c := a.Query(&cobra.Command{
		Use:   "report",
		Short: "Run every check over a period and write the findings",
		Long: `report replays the log up to --until (the whole log without it) and runs
every check of the policy over the period [--since, --until]: the windows
open at some instant of the period, the registrations and refusals recorded
in it, the configuration at every instant of it, and the devices as they
are at its end. Each finding has a check id, a severity, a title, a message
and its evidence: event positions, devices, windows and times.

Without --until the period ends now, and a window still open counts until
now. Without --policy the defaults apply (compliance policy sample).

--format text: the findings grouped by severity, then the windows.
--format json: the stable schema of docs/compliance.md.
--format csv:  one row per finding.
--format html: one self-contained page (inline CSS and SVG, no script): a
               timeline of the windows and their registrations, the findings.

The report goes to stdout, or to -o FILE (written whole or not at all).
--fail-on sets the severity from which findings make the exit status 1
(default critical).`,
		Example: `  compliance report
  compliance report --since 2026-03-01 --until 2026-03-31T23:59 --format json
  compliance report --store sqlite:///var/lib/autoreg/autoreg.db --format html -o report.html
  compliance report --policy strict.yaml --fail-on warning --format csv`,
		Args: noArgs,
	}, replay.Query{
		Formats:    []replay.Format{Text, JSON, CSV, HTML},
		FormatHelp: "text, json, csv or html",
		Check: func([]string) (err error) {
			if level, err = ParseSeverity(failOn); err != nil {
				return usagef("--fail-on: %w", err)
			}
			if iv, err = replay.ParseInterval(since, until); err != nil {
				return err
			}
			if now := a.Now(); iv.Until.IsZero() && iv.Since.After(now) {
				return usagef("--since %s is after now (%s), where the period ends without --until",
					iv.Since.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			}
			pol = DefaultPolicy()
			if policyFile != "" {
				if pol, err = LoadPolicy(policyFile); err != nil {
					return err
				}
			}
			if (logFile == "") != (len(keyFiles) == 0) {
				return usagef("--checkpoints LOG and --public-key KEY.pub go together: the checkpoints are worth nothing unverified")
			}
			return checkOutput(output)
		},
		Run: func(ctx context.Context, src replay.Source) error {
			anchored := &Anchor{}
			if logFile != "" {
				var err error
				if anchored, err = CheckAnchor(ctx, src.Env, logFile, keyFiles); err != nil {
					return err
				}
			}
			r, err := Build(ctx, src.Env, Options{Since: iv.Since, Until: iv.Until, Now: a.Now, Policy: pol, Store: src.Location, Anchor: anchored})
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := Write(&buf, src.Format, r); err != nil {
				return fmt.Errorf("writing the report: %w", err)
			}
			if err := a.emit(output, buf.Bytes()); err != nil {
				return err
			}
			if n := r.Reached(level); n > 0 {
				return &FindingsError{Count: n, Level: level}
			}
			return nil
		},
	})
	c.Flags().StringVar(&since, "since", "", "the period's start (default: the first event)")
	c.Flags().StringVar(&until, "until", "", "the period's end (default: now)")
	c.Flags().StringVar(&policyFile, "policy", "", "policy file (YAML; default: the built-in defaults)")
	c.Flags().StringVarP(&output, "output", "o", "", "write the report to FILE instead of stdout")
	c.Flags().StringVar(&logFile, "checkpoints", "", "the signed checkpoint log (registrar serve --checkpoints): the report states the last one the store agrees with")
	c.Flags().StringArrayVar(&keyFiles, "public-key", nil, "the public key the checkpoints are signed with (registrar keygen's FILE.pub); repeat for several")
	c.Flags().StringVar(&failOn, "fail-on", "critical", "exit 1 when a finding is at least this severe: info, warning or critical")
	return c
}

// checkOutput refuses, before any work, an -o that cannot be written: a
// directory, or a file in a directory that does not exist.
func checkOutput(file string) error {
	if file == "" || file == "-" {
		return nil
	}
	if info, err := os.Stat(file); err == nil && info.IsDir() {
		return usagef("-o %s is a directory: name a file", file)
	}
	dir := filepath.Dir(file)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return usagef("-o %s: no directory %s", file, dir)
	}
	return nil
}

// emit writes the report to stdout, or to file (through a temporary file
// renamed into place, so that a failure leaves nothing half written).
func (a *app) emit(file string, b []byte) error {
	if file == "" || file == "-" {
		_, err := a.Stdout.Write(b)
		return err
	}
	if info, err := os.Stat(file); err == nil && !info.Mode().IsRegular() {
		// /dev/stdout, /dev/null, a pipe: written to, never replaced.
		if info.IsDir() {
			return usagef("-o %s is a directory: name a file", file)
		}
		f, err := os.OpenFile(file, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("writing the report to %s: %w", file, err)
		}
		return f.Close()
	}
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the report to %s: %w", file, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the report to %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the report to %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("writing the report to %s: %w", file, err)
	}
	return nil
}

func (a *app) policyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Print the sample policy, or check a policy file",
		Long: `A policy sets, per check, whether it runs, its severity and its thresholds.
'policy sample' prints the defaults as a commented YAML file to start from;
'policy check FILE' reads a policy as 'report --policy FILE' would and says
what is wrong with it (exit status 2), naming the line and the key.`,
		Example: `  compliance policy sample > policy.yaml
  compliance policy check policy.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("policy needs a command: sample or check FILE")
		},
	}
	sample := &cobra.Command{
		Use:   "sample",
		Short: "Print the sample policy (the defaults, commented)",
		Long: `sample prints the sample policy: every key with its default value and a
comment saying what it does. Save it, change what differs, and give it to
'compliance report --policy FILE'; keys left out keep their defaults.`,
		Example: `  compliance policy sample > policy.yaml`,
		Args:    noArgs,
		RunE: a.Run(func(cmd *cobra.Command, _ []string) error {
			_, err := a.Stdout.Write(SamplePolicy)
			return err
		}),
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a policy file",
		Long: `check reads a policy file as 'compliance report --policy FILE' does and
prints "FILE: ok", or says what is wrong (not YAML, an unknown key or check
id, a value of the wrong type or out of range), naming the line and the key,
and exits 2.`,
		Example: `  compliance policy check policy.yaml`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("%s takes one file, got %d arguments", c.CommandPath(), len(args))
			}
			return nil
		},
		RunE: a.Run(func(cmd *cobra.Command, args []string) error {
			if _, err := LoadPolicy(args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(a.Stdout, "%s: ok\n", args[0])
			return err
		}),
	}
	c.AddCommand(sample, check)
	return c
}

func (a *app) checksCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "checks",
		Short: "List the checks: id, default severity and title",
		Long: `checks lists every check the report runs: its id (as in policies and
reports), its default severity and its title. docs/compliance.md defines
each exactly.`,
		Example: `  compliance checks`,
		Args:    noArgs,
		RunE: a.Run(func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CHECK\tSEVERITY\tTITLE")
			for _, c := range Checks {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, c.Severity, c.Title)
			}
			return tw.Flush()
		}),
	}
}
