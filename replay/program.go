package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// Program is the skeleton the replay and compliance command lines share:
// the options of their Main, the root command's --store and --data, the
// commands that answer from the store (Query), and how an error becomes an
// exit status (Exit).
type Program struct {
	Name           string // the command's name, which starts its messages
	Stdout, Stderr io.Writer
	Now            func() time.Time // the clock (time.Now unless WithNow)

	open        Opener // opens the store (OpenStore unless WithOpener)
	terminal    bool   // Stderr is a terminal: progress bars are drawn
	store, data string // --store and --data
	ran         bool   // a command's own code ran (errors before are usage errors)
}

// Option configures a Program (Main).
type Option func(*options)

type options struct {
	open     Opener
	terminal *bool
	now      func() time.Time
}

// WithOpener replaces how stores are opened (tests give memory stores).
func WithOpener(o Opener) Option { return func(c *options) { c.open = o } }

// WithTerminal says whether stderr is a terminal (progress bars), instead
// of asking it.
func WithTerminal(b bool) Option { return func(c *options) { c.terminal = &b } }

// WithNow sets the clock for "now" (state without --at).
func WithNow(now func() time.Time) Option { return func(c *options) { c.now = now } }

// NewProgram returns the program name writing on stdout and stderr: it
// opens stores with OpenStore, asks stderr whether it is a terminal, and
// reads the time from time.Now, unless opts say otherwise.
func NewProgram(name string, stdout, stderr io.Writer, opts ...Option) *Program {
	o := options{open: OpenStore, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	p := &Program{Name: name, Stdout: stdout, Stderr: stderr, Now: o.now, open: o.open}
	if o.terminal != nil {
		p.terminal = *o.terminal
	} else {
		p.terminal = IsTerminal(stderr)
	}
	return p
}

// Exec runs a program's Main as the process: on its arguments, standard
// output and error, its context cancelled by SIGINT or SIGTERM; the process
// exits with the status Main returns.
func Exec(main func(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Root gives the root command what every command of a program shares: the
// flags --store and --data, a flag error as a *UsageError, and no usage or
// error printed by cobra (Exit says what went wrong). It returns root.
func (p *Program) Root(root *cobra.Command) *cobra.Command {
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.PersistentFlags().StringVar(&p.store, "store", "", "event store: sqlite:///abs/path.db, a path, or kurrentdb://host:2113 (default ./data/autoreg.db)")
	root.PersistentFlags().StringVar(&p.data, "data", "", "the registrar's data directory: the store is DIR/autoreg.db")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &UsageError{Err: err} })
	return root
}

// Execute runs root (made by Root) on args, without the program's name.
func (p *Program) Execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.SetArgs(args)
	root.SetOut(p.Stdout)
	root.SetErr(p.Stderr)
	return root.ExecuteContext(ctx)
}

// Exit writes on Stderr what err (from Execute) says and returns the exit
// status: ExitOK for none; ExitUsage for a *UsageError, or an error before
// any command's own code ran (a bad flag, a missing argument), with a word
// on --help; else failure.
func (p *Program) Exit(err error, failure int) int {
	if err == nil {
		return ExitOK
	}
	var uerr *UsageError
	if errors.As(err, &uerr) || !p.ran {
		fmt.Fprintf(p.Stderr, "%s: %v\nRun '%s --help' for usage.\n", p.Name, err, p.Name)
		return ExitUsage
	}
	fmt.Fprintf(p.Stderr, "%s: %v\n", p.Name, err)
	return failure
}

// Run is the RunE of a command that does not read the store through Query:
// it notes that the command's own code ran (see Exit), then runs it.
func (p *Program) Run(run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		p.ran = true
		return run(cmd, args)
	}
}

// Query is a command that answers from the event store, opened read-only
// where --store or --data say.
type Query struct {
	// Formats are what --format offers, the first by default; FormatHelp
	// is the flag's help.
	Formats    []Format
	FormatHelp string
	// Check vets the rest of the command line (arguments and flags), after
	// --format and before the store is opened; nil when there is nothing.
	Check func(args []string) error
	// Corrupt, if not nil, answers instead of the error when the store
	// refuses to open as corrupt (eventstore.ErrCorrupt).
	Corrupt func(ctx context.Context, location string, err error) error
	// Run answers from the open store; it is closed afterwards.
	Run func(ctx context.Context, src Source) error
}

// Source is what a Query runs on.
type Source struct {
	Env             // the store, and where progress bars go
	Location string // where the store is, as --store or --data named it
	Format   Format // what --format asked for
}

// Query makes c a command that answers from the store as q says: it adds
// the --format flag and sets RunE. It returns c.
func (p *Program) Query(c *cobra.Command, q Query) *cobra.Command {
	var format string
	c.Flags().StringVar(&format, "format", string(q.Formats[0]), q.FormatHelp)
	c.RunE = p.Run(func(cmd *cobra.Command, args []string) error {
		f, err := ParseFormat(format, q.Formats...)
		if err != nil {
			return err
		}
		if q.Check != nil {
			if err := q.Check(args); err != nil {
				return err
			}
		}
		ctx := cmd.Context()
		loc, err := StoreLocation(p.store, p.data)
		if err != nil {
			return err
		}
		st, err := p.open(ctx, loc)
		if q.Corrupt != nil && errors.Is(err, eventstore.ErrCorrupt) {
			return q.Corrupt(ctx, loc, err)
		}
		if err != nil {
			return err
		}
		defer st.Close()
		env := Env{Store: st, Progress: p.Stderr, Terminal: p.terminal}
		return q.Run(ctx, Source{Env: env, Location: loc, Format: f})
	})
	return c
}

// output runs write on a buffered Stdout.
func (p *Program) output(write func(w io.Writer) error) error {
	bw := bufio.NewWriterSize(p.Stdout, 1<<16)
	if err := write(bw); err != nil {
		bw.Flush()
		return err
	}
	return bw.Flush()
}
