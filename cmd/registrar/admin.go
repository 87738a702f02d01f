package main

// The admin command (registrar admin): its shared flags, how it finds the
// registrar and its token, how it explains errors, and the two shapes of
// its commands: show (one call, its answer printed) and change. The
// commands are in admin_autoreg.go, admin_devices.go and admin_cluster.go.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/admin/client"

	"github.com/autoreg/autoreg/internal/terminal"
)

// Environment variables the admin commands read.
const (
	envAdminAddr  = "AUTOREG_ADMIN_ADDR"
	envAdminToken = "AUTOREG_ADMIN_TOKEN"
	envData       = "AUTOREG_DATA"
)

const defaultAdminURL = "http://127.0.0.1:8080"

// adminCLI holds the flags every admin command shares.
type adminCLI struct {
	addr      string
	token     string
	tokenFile string
	caCert    string
	format    string
	timeout   time.Duration
	// tokenGiven records whether a token was found, to explain a 401.
	tokenGiven bool
}

// newAdminCommand is `registrar admin`: the admin API's command-line client.
func newAdminCommand() *cobra.Command {
	a := &adminCLI{}
	addr := os.Getenv(envAdminAddr)
	if addr == "" {
		addr = defaultAdminURL
	}
	c := &cobra.Command{
		Use:   "admin",
		Short: "Talk to a running registrar: open autoregistration, look at devices, configure the cluster",
		Long: `admin is the client of a running registrar's admin API.

It finds the registrar at --addr (default ` + defaultAdminURL + `, or
$` + envAdminAddr + `) and authenticates with a bearer token: --token, else
$` + envAdminToken + `, else the file --token-file (default DATA/admin.token,
where 'registrar serve' writes the token it generates when none is
configured; DATA is $` + envData + ` or ./data).

Output is text for people; --format json prints the API's JSON for scripts.
Errors print the registrar's message on stderr and exit 1; usage errors
exit 2.`,
		Example: `  registrar admin status
  registrar admin autoreg open --reason "bulk add, ticket 42" --for 30m --max 50
  registrar admin devices --format json
  AUTOREG_ADMIN_TOKEN=... registrar admin --addr https://registrar.example:8443 status`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	group(c)
	pf := c.PersistentFlags()
	pf.StringVar(&a.addr, "addr", addr, "admin API URL (env "+envAdminAddr+")")
	pf.StringVar(&a.token, "token", "", "bearer token (default: env "+envAdminToken+", else --token-file)")
	pf.StringVar(&a.tokenFile, "token-file", "", "file holding the token (default: $"+envData+"/admin.token or ./data/admin.token)")
	pf.StringVar(&a.caCert, "cacert", "", "PEM file of the CA that signed the registrar's TLS certificate")
	pf.StringVar(&a.format, "format", "text", "output format: text or json")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "how long to wait for the registrar")
	c.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, "%v", err) })

	c.AddCommand(
		a.autoregCommand(),
		a.securityCommand(),
		a.statusCommand(),
		a.devicesCommand(),
		a.deviceCommand(),
		a.mayDialCommand(),
		a.rangeCommand(),
		a.clusterCommand(),
		a.nodesCommand(),
		a.configFileCommand(),
		a.callManagerCommand(),
		a.groupCommand(),
		a.partitionCommand(),
		a.patternCommand(),
		a.cssCommand(),
		a.poolCommand(),
		a.defaultPoolCommand(),
		a.deviceDefaultsCommand(),
	)
	return c
}

// ---- Plumbing --------------------------------------------------------------

// usageError is a mistake in the command line: exit status 2, with the usage.
func usageError(cmd *cobra.Command, format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("%s\nUsage: %s\nRun '%s --help' for more",
		fmt.Sprintf(format, args...), cmd.UseLine(), cmd.CommandPath())}
}

// group makes cmd a parent of subcommands: alone it prints its help; an
// unknown subcommand is a usage error.
func group(cmd *cobra.Command) {
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			var names []string
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() {
					names = append(names, s.Name())
				}
			}
			return usageError(cmd, "unknown command %q for %q: use one of %s", args[0], cmd.CommandPath(), strings.Join(names, ", "))
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// nArgs checks the number of positional arguments, naming them in the error.
func nArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usageError(cmd, "missing %s", strings.Join(names[len(args):], " and "))
		}
		if len(args) > len(names) {
			return usageError(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// required checks that flags were given.
func required(cmd *cobra.Command, flags ...string) error {
	var missing []string
	for _, f := range flags {
		if !cmd.Flags().Changed(f) {
			missing = append(missing, "--"+f)
		}
	}
	if len(missing) > 0 {
		return usageError(cmd, "missing %s", strings.Join(missing, " and "))
	}
	return nil
}

// resolveToken finds the token: --token, $AUTOREG_ADMIN_TOKEN, the token file.
func (a *adminCLI) resolveToken() (string, error) {
	if a.token != "" {
		return a.token, nil
	}
	if t := strings.TrimSpace(os.Getenv(envAdminToken)); t != "" {
		return t, nil
	}
	file, explicit := a.tokenFile, a.tokenFile != ""
	if !explicit {
		dir := os.Getenv(envData)
		if dir == "" {
			dir = "data"
		}
		file = filepath.Join(dir, "admin.token")
	}
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		return strings.TrimSpace(string(b)), nil
	case errors.Is(err, os.ErrNotExist) && !explicit:
		return "", nil
	default:
		return "", fmt.Errorf("reading the admin token: %w", err)
	}
}

// client builds the API client from the shared flags.
func (a *adminCLI) client(cmd *cobra.Command) (*client.Client, error) {
	if a.format != "text" && a.format != "json" {
		return nil, usageError(cmd, "--format %q: use text or json", a.format)
	}
	token, err := a.resolveToken()
	if err != nil {
		return nil, err
	}
	a.tokenGiven = token != ""
	hc := &http.Client{Timeout: a.timeout}
	if a.caCert != "" {
		pem, err := os.ReadFile(a.caCert)
		if err != nil {
			return nil, fmt.Errorf("reading --cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s holds no PEM certificate", a.caCert)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	c, err := client.New(a.addr, token, client.WithHTTPClient(hc))
	if err != nil {
		return nil, usageError(cmd, "--addr: %v", err)
	}
	return c, nil
}

// explain turns a client error into what the person should read.
func (a *adminCLI) explain(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		if ce.StatusCode == http.StatusUnauthorized && !a.tokenGiven {
			return fmt.Errorf("the registrar at %s wants a token: pass --token T, set %s, or point --token-file at the admin.token that 'registrar serve' wrote under its data directory", a.addr, envAdminToken)
		}
		if ce.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%s (the token came from --token, %s or the token file)", ce.Message, envAdminToken)
		}
		return errors.New(ce.Message)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot connect to the registrar at %s: is the registrar running? start it with `make run` or `registrar serve`", a.addr)
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return fmt.Errorf("the registrar at %s did not answer within %s (--timeout)", a.addr, a.timeout)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot find the registrar's host: %w (check --addr or %s)", dnsErr, envAdminAddr)
	}
	return err
}

// runE is what cobra runs for a command.
type runE = func(cmd *cobra.Command, args []string) error

// show is the RunE of a command that makes one call and prints its answer:
// get makes the call with a client from the shared flags (which bound it by
// --timeout); the answer prints as JSON with --format json, else text prints
// it for people, through a tabwriter. Errors are explained.
func show[T any](a *adminCLI, get func(ctx context.Context, c *client.Client, args []string) (T, error), text func(w io.Writer, v T)) runE {
	return func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cmd)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		v, err := get(ctx, c, args)
		if err == nil {
			err = output(cmd, a.format, v, text)
		}
		if err != nil {
			return a.explain(err)
		}
		return nil
	}
}

// output prints v as JSON, or calls text with a tabwriter for people.
func output[T any](cmd *cobra.Command, format string, v T, text func(w io.Writer, v T)) error {
	out := cmd.OutOrStdout()
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	// Values from the store (a window's reason, a description) reach a
	// terminal: their control characters are shown escaped.
	tw := tabwriter.NewWriter(terminal.NewWriter(out), 0, 4, 2, ' ', 0)
	text(tw, v)
	return tw.Flush()
}

// changeFunc makes a change and says, in words, what it did.
type changeFunc func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error)

// changed is what a change answers: the API's result, and what was done in
// words. It prints as the result's JSON (done is for people only).
type changed struct {
	api.Result
	done string
}

func (do changeFunc) call(ctx context.Context, c *client.Client, args []string) (changed, error) {
	res, done, err := do(ctx, c, args)
	return changed{Result: res, done: done}, err
}

// change is the RunE of a command that changes the registrar: do makes the
// call. It prints what was done and the events written, or that nothing was.
func (a *adminCLI) change(do changeFunc) runE {
	return show(a, do.call, func(w io.Writer, ch changed) {
		if !ch.Changed {
			fmt.Fprintln(w, "no change: it already was so")
			return
		}
		fmt.Fprintf(w, "%s\t(%s)\n", ch.done, strings.Join(ch.Events, ", "))
	})
}

// requires is the PreRunE of a command that needs flags: a usage error,
// before any call, names those missing.
func requires(flags ...string) runE {
	return func(cmd *cobra.Command, _ []string) error { return required(cmd, flags...) }
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
