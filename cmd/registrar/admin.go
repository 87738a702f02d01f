package main

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

// call runs fn with a client, explaining its error.
func (a *adminCLI) call(cmd *cobra.Command, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := a.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := fn(ctx, c); err != nil {
		return a.explain(err)
	}
	return nil
}

// output prints v as JSON, or calls text with a tabwriter for people.
func (a *adminCLI) output(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	out := cmd.OutOrStdout()
	if a.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

// changed prints the result of a change: what was done, or that nothing was.
func (a *adminCLI) changed(cmd *cobra.Command, res api.Result, done string) error {
	return a.output(cmd, res, func(w io.Writer) {
		if !res.Changed {
			fmt.Fprintln(w, "no change: it already was so")
			return
		}
		fmt.Fprintf(w, "%s\t(%s)\n", done, strings.Join(res.Events, ", "))
	})
}

// change is the RunE of the simple changes: fn makes the call, done says
// what happened.
func (a *adminCLI) change(fn func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return a.call(cmd, func(ctx context.Context, c *client.Client) error {
			res, done, err := fn(ctx, c, args)
			if err != nil {
				return err
			}
			return a.changed(cmd, res, done)
		})
	}
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

// ---- autoreg ---------------------------------------------------------------

func (a *adminCLI) autoregCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "autoreg",
		Short: "Open or close autoregistration, set its protocol and calling search space",
		Long: `autoreg controls autoregistration: while a window is open, unknown phones
that connect get the next free directory number of the range.

Cisco's advice holds: open it only for brief periods, for bulk adds, and close
it afterwards, so rogue phones cannot register.`,
		Example: `  registrar admin autoreg open --reason "bulk add, ticket 42" --for 30m --max 50
  registrar admin autoreg close --reason "batch done"
  registrar admin autoreg protocol sip
  registrar admin autoreg css Autoreg`,
	}
	group(c)

	var reason string
	var dur time.Duration
	var maxRegs int
	open := &cobra.Command{
		Use:   "open --reason TEXT [--for DURATION] [--max N]",
		Short: "Open an autoregistration window",
		Long: `open opens an autoregistration window. The reason is recorded with your
name in the event log. --for closes it by itself after a duration, --max
after that many phones autoregistered; both are optional but recommended.

It is refused while the cluster's security is mixed, while the range is
disabled (starting DN equal to the ending DN), or when the autoregistration
group or CallManagers are misconfigured: 'registrar admin status' says why.`,
		Example: `  registrar admin autoreg open --reason "bulk add, ticket 42" --for 30m --max 50
  registrar admin autoreg open --reason "lab phones"`,
		Args: nArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "reason"); err != nil {
				return err
			}
			if dur < 0 || maxRegs < 0 {
				return usageError(cmd, "--for and --max cannot be negative")
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				req := api.OpenWindow{Reason: reason, Max: maxRegs}
				if dur > 0 {
					req.For = dur.String()
				}
				res, err := c.Open(ctx, req)
				if err != nil {
					return err
				}
				return a.output(cmd, res, func(w io.Writer) {
					wn := res.Window
					if wn == nil {
						fmt.Fprintln(w, "autoregistration is open")
						return
					}
					fmt.Fprintf(w, "autoregistration is open: window %s, by %s\n", wn.ID, wn.By)
					fmt.Fprintf(w, "  protocol\t%s\n", wn.Protocol)
					fmt.Fprintf(w, "  until\t%s\n", untilText(wn))
					fmt.Fprintf(w, "  at most\t%s\n", maxText(wn.MaxRegistrations))
					fmt.Fprintln(w, "close it when done: registrar admin autoreg close --reason TEXT")
				})
			})
		},
	}
	open.Flags().StringVar(&reason, "reason", "", "why (recorded in the event log; required)")
	open.Flags().DurationVar(&dur, "for", 0, "close by itself after this long (30m, 1h30m)")
	open.Flags().IntVar(&maxRegs, "max", 0, "close by itself after this many autoregistrations")

	var closeReason string
	closeCmd := &cobra.Command{
		Use:     "close --reason TEXT",
		Short:   "Close the autoregistration window",
		Long:    `close closes the open autoregistration window; unknown phones are refused from then on.`,
		Example: `  registrar admin autoreg close --reason "batch done"`,
		Args:    nArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "reason"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.Close(ctx, closeReason)
				if err != nil {
					return err
				}
				return a.changed(cmd, res, "autoregistration is closed")
			})
		},
	}
	closeCmd.Flags().StringVar(&closeReason, "reason", "", "why (recorded in the event log; required)")

	protocol := &cobra.Command{
		Use:   "protocol sip|sccp",
		Short: "Set the Auto Registration Phone Protocol",
		Long: `protocol sets the enterprise parameter Auto Registration Phone Protocol.
Phones that speak both SIP and SCCP autoregister only with this protocol;
single-protocol phones (the 7902 speaks only SCCP) use theirs regardless.
To add a mixed batch, register the SCCP phones, then switch to SIP.`,
		Example: `  registrar admin autoreg protocol sip`,
		Args:    nArgs("PROTOCOL"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.SetProtocol(ctx, args[0])
			return res, "autoregistration protocol set to " + strings.ToUpper(args[0]), err
		}),
	}

	css := &cobra.Command{
		Use:     "css NAME",
		Short:   "Set the calling search space autoregistered phones get",
		Long:    `css sets the calling search space given to autoregistered phones, for example one allowing internal and emergency calls only. An empty NAME ("") clears it.`,
		Example: `  registrar admin autoreg css Autoreg`,
		Args:    nArgs("NAME"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.SetAutoregCSS(ctx, args[0])
			return res, fmt.Sprintf("autoregistration calling search space set to %q", args[0]), err
		}),
	}
	c.AddCommand(open, closeCmd, protocol, css)
	return c
}

func rangeText(r api.Range) string {
	if r.Start == "" {
		return "not configured"
	}
	s := fmt.Sprintf("%s-%s in partition %s", r.Start, r.End, orDash(r.Partition))
	if r.Mask != "" {
		s += ", mask " + r.Mask
	}
	if r.Start == r.End {
		s += " (start equals end: autoregistration disabled)"
	}
	return s
}

func untilText(w *api.Window) string {
	if w.Until.IsZero() {
		return "closed by hand (no time limit)"
	}
	return when(w.Until)
}

func maxText(n int) string {
	if n == 0 {
		return "no limit"
	}
	return fmt.Sprintf("%d registrations", n)
}

// ---- security --------------------------------------------------------------

func (a *adminCLI) securityCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "security mixed|nonsecure",
		Short: "Set the clusterwide security mode",
		Long: `security sets the clusterwide security mode. Mixed mode disables
autoregistration: an open window closes at once, and none can open until the
mode is nonsecure again.`,
		Example: `  registrar admin security nonsecure
  registrar admin security mixed`,
		Args: nArgs("MODE"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.SetSecurity(ctx, args[0])
			return res, "security mode set to " + strings.ToLower(args[0]), err
		}),
	}
}

// ---- status ----------------------------------------------------------------

func (a *adminCLI) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show whether autoregistration is open, and the range, protocol and security",
		Long: `status shows the autoregistration window (who opened it, why, until when,
how many phones registered in it), the protocol and security parameters,
the range and how many DNs are left, the devices, and, when closed, what
would stop a window from opening.`,
		Example: `  registrar admin status
  registrar admin status --format json | jq .dns_left`,
		Args: nArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				st, err := c.Status(ctx)
				if err != nil {
					return err
				}
				return a.output(cmd, st, func(w io.Writer) { printStatus(w, st) })
			})
		},
	}
}

func printStatus(w io.Writer, st api.Status) {
	state := "closed"
	if st.Open {
		state = "open"
	} else if st.Window != nil {
		state = "closing (its time is up)"
	}
	fmt.Fprintf(w, "Autoregistration:\t%s\n", state)
	if wn := st.Window; wn != nil {
		fmt.Fprintf(w, "Window:\t%s, opened by %s at %s\n", wn.ID, wn.By, when(wn.OpenedAt))
		fmt.Fprintf(w, "Reason:\t%s\n", wn.Reason)
		fmt.Fprintf(w, "Until:\t%s\n", untilText(wn))
		reg := fmt.Sprintf("%d", st.RegistrationsInWindow)
		if wn.MaxRegistrations > 0 {
			reg += fmt.Sprintf(" of at most %d", wn.MaxRegistrations)
		}
		fmt.Fprintf(w, "Registered in window:\t%s\n", reg)
	}
	fmt.Fprintf(w, "Protocol:\t%s\n", st.Protocol)
	fmt.Fprintf(w, "Security:\t%s\n", st.Security)
	fmt.Fprintf(w, "Range:\t%s\n", rangeText(st.Range))
	fmt.Fprintf(w, "DNs left:\t%d\n", st.DNsLeft)
	fmt.Fprintf(w, "Devices:\t%d (%d registered)\n", st.Devices, st.Registered)
	if st.Problem != "" {
		fmt.Fprintf(w, "Problem:\t%s\n", st.Problem)
	}
}

// ---- devices ---------------------------------------------------------------

func (a *adminCLI) devicesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the devices",
		Long:  `devices lists the known devices, autoregistered or provisioned, sorted by name.`,
		Example: `  registrar admin devices
  registrar admin devices --format json`,
		Args: nArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				devs, err := c.Devices(ctx)
				if err != nil {
					return err
				}
				return a.output(cmd, api.Devices{Devices: devs}, func(w io.Writer) {
					if len(devs) == 0 {
						fmt.Fprintln(w, "no devices")
						return
					}
					fmt.Fprintln(w, "NAME\tMODEL\tPROTOCOL\tDN\tPARTITION\tPOOL\tCSS\tREGISTERED\tADDRESS\tORIGIN")
					for _, d := range devs {
						origin := "provisioned"
						if d.Autoregistered {
							origin = "autoreg " + d.Window
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Model, d.Protocol, d.DN,
							orDash(d.Partition), orDash(d.Pool), orDash(d.CSS), yesNo(d.Registered), orDash(d.Address), origin)
					}
				})
			})
		},
	}
}

func printDevice(w io.Writer, d api.Device) {
	fmt.Fprintf(w, "Name:\t%s\n", d.Name)
	fmt.Fprintf(w, "Model:\t%s\n", d.Model)
	fmt.Fprintf(w, "Protocol:\t%s\n", d.Protocol)
	fmt.Fprintf(w, "DN:\t%s\n", d.DN)
	fmt.Fprintf(w, "Partition:\t%s\n", orDash(d.Partition))
	if d.ExternalNumber != "" {
		fmt.Fprintf(w, "External number:\t%s\n", d.ExternalNumber)
	}
	fmt.Fprintf(w, "Pool:\t%s\n", orDash(d.Pool))
	fmt.Fprintf(w, "CSS:\t%s\n", orDash(d.CSS))
	if d.Description != "" {
		fmt.Fprintf(w, "Description:\t%s\n", d.Description)
	}
	origin := "provisioned"
	if d.Autoregistered {
		origin = "autoregistered in window " + d.Window
	}
	fmt.Fprintf(w, "Origin:\t%s\n", origin)
	reg := "no"
	if d.Registered {
		reg = "yes, from " + orDash(d.Address)
	}
	fmt.Fprintf(w, "Registered:\t%s\n", reg)
}

func (a *adminCLI) deviceCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "device",
		Short: "Show, add, change or delete one device",
		Long: `device works on one device. After phones autoregister, move them to their
permanent device pool (checklist step 8) with 'device set'.`,
		Example: `  registrar admin device show SEP00112233AABB
  registrar admin device set SEP00112233AABB --pool Staff --dn 2001 --description "desk 12"
  registrar admin device add SEP0011223344CC --model 7940 --protocol sip --dn 2000 --pool Staff
  registrar admin device delete SEP0011223344CC`,
	}
	group(c)

	show := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a device",
		Long:    `show shows a device: model, protocol, DN and external number, pool, calling search space, how it came, and whether it is registered.`,
		Example: `  registrar admin device show SEP00112233AABB`,
		Args:    nArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				d, err := c.Device(ctx, args[0])
				if err != nil {
					return err
				}
				return a.output(cmd, d, func(w io.Writer) { printDevice(w, d) })
			})
		},
	}

	del := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a device; its DN is free again",
		Long:    `delete deletes a device. Its directory number becomes free; if the phone connects again it is a stranger, and autoregisters only while a window is open.`,
		Example: `  registrar admin device delete SEP0011223344CC`,
		Args:    nArgs("NAME"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.DeleteDevice(ctx, args[0])
			return res, "device " + args[0] + " deleted", err
		}),
	}

	var set api.ReconfigureDevice
	setCmd := &cobra.Command{
		Use:   "set NAME [--pool P] [--css C] [--dn N] [--partition P] [--description D]",
		Short: "Change a device (its pool, calling search space, DN, partition, description)",
		Long: `set changes a device; what you do not give stays as it is. A new pool
brings its own calling search space unless --css is given too. A new DN must
be free in its partition; the old one is released.`,
		Example: `  registrar admin device set SEP00112233AABB --pool Staff
  registrar admin device set SEP00112233AABB --dn 2001 --partition Internal`,
		Args: nArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if set == (api.ReconfigureDevice{}) {
				return usageError(cmd, "nothing to change: give at least one of --pool, --css, --dn, --partition, --description")
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.ReconfigureDevice(ctx, args[0], set)
				if err != nil {
					return err
				}
				return a.deviceResult(cmd, res, "device "+args[0]+" changed")
			})
		},
	}
	sf := setCmd.Flags()
	sf.StringVar(&set.Pool, "pool", "", "device pool")
	sf.StringVar(&set.CSS, "css", "", "calling search space")
	sf.StringVar(&set.DN, "dn", "", "directory number")
	sf.StringVar(&set.Partition, "partition", "", "partition of the DN")
	sf.StringVar(&set.Description, "description", "", "description")

	var add api.ProvisionDevice
	addCmd := &cobra.Command{
		Use:   "add NAME --model M [--protocol P] --dn N [--pool P] [--partition P] [--css C] [--description D]",
		Short: "Add a device by hand, with its DN",
		Long: `add provisions a device by hand (no window needed). NAME is SEP and the 12
hex digits of the MAC. The protocol defaults to the autoregistration protocol
when the model speaks it; the partition to the range's; the pool to the
cluster default pool.`,
		Example: `  registrar admin device add SEP0011223344CC --model 7940 --dn 2000
  registrar admin device add SEP0011223344DD --model 7961 --protocol sip --dn 2002 --pool Staff`,
		Args: nArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "model", "dn"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				req := add
				req.Name = args[0]
				res, err := c.ProvisionDevice(ctx, req)
				if err != nil {
					return err
				}
				return a.deviceResult(cmd, res, "device "+args[0]+" added")
			})
		},
	}
	af := addCmd.Flags()
	af.StringVar(&add.Model, "model", "", "model, as in the catalogue (7940, 7961, ...; required)")
	af.StringVar(&add.Protocol, "protocol", "", "sip or sccp (default: the autoregistration protocol if the model speaks it)")
	af.StringVar(&add.DN, "dn", "", "directory number (required)")
	af.StringVar(&add.Pool, "pool", "", "device pool (default: the cluster default pool)")
	af.StringVar(&add.Partition, "partition", "", "partition of the DN (default: the range's)")
	af.StringVar(&add.CSS, "css", "", "calling search space (default: the pool's)")
	af.StringVar(&add.Description, "description", "", "description")

	c.AddCommand(show, setCmd, addCmd, del)
	return c
}

// deviceResult prints a device change and the device after it.
func (a *adminCLI) deviceResult(cmd *cobra.Command, res api.Result, done string) error {
	return a.output(cmd, res, func(w io.Writer) {
		if !res.Changed {
			fmt.Fprintln(w, "no change: it already was so")
		} else {
			fmt.Fprintln(w, done)
		}
		if res.Device != nil {
			printDevice(w, *res.Device)
		}
	})
}

func (a *adminCLI) mayDialCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "may-dial DEVICE NUMBER",
		Short: "Tell whether a device may dial a number, and why",
		Long: `may-dial looks up NUMBER in the device's calling search space (its own, else
its device pool's): the closest match among the route patterns and DNs of
the space's partitions decides; a blocking pattern or no match refuses the
call. The answer is not an error either way: the exit status is 0.`,
		Example: `  registrar admin may-dial SEP00112233AABB 911
  registrar admin may-dial SEP00112233AABB 95551234 --format json`,
		Args: nArgs("DEVICE", "NUMBER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				m, err := c.MayDial(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				return a.output(cmd, m, func(w io.Writer) {
					verdict := "refused"
					if m.Allowed {
						verdict = "allowed"
					}
					fmt.Fprintf(w, "%s:\t%s\n", verdict, m.Reason)
				})
			})
		},
	}
}

// ---- range and cluster -----------------------------------------------------

func (a *adminCLI) rangeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "range",
		Short: "Set the autoregistration range of directory numbers",
		Long: `range sets the directory numbers autoregistration assigns. When every one
is in use, no more phones can autoregister.`,
		Example: `  registrar admin range set --start 1000 --end 1099 --partition Internal`,
	}
	group(c)
	var r api.PutRange
	set := &cobra.Command{
		Use:   "set --start DN --end DN [--partition P] [--mask M]",
		Short: "Set the range autoregistration assigns DNs from",
		Long: `set sets the range of directory numbers autoregistration gives, lowest
free first. A starting DN equal to the ending DN disables autoregistration
(an open window closes). The mask is the external phone number mask: its X's
take the DN's last digits (40855510XX and DN 1023 give 4085551023).`,
		Example: `  registrar admin range set --start 1000 --end 1099 --partition Internal
  registrar admin range set --start 1000 --end 1099 --partition Internal --mask 40855510XX`,
		Args: nArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "start", "end"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.SetRange(ctx, r)
				if err != nil {
					return err
				}
				return a.changed(cmd, res, fmt.Sprintf("range set to %s-%s", r.Start, r.End))
			})
		},
	}
	f := set.Flags()
	f.StringVar(&r.Start, "start", "", "first DN (required)")
	f.StringVar(&r.End, "end", "", "last DN, as many digits as --start (required)")
	f.StringVar(&r.Partition, "partition", "", "partition of the DNs")
	f.StringVar(&r.Mask, "mask", "", "external phone number mask (X's take the DN's digits)")
	c.AddCommand(set)
	return c
}

func (a *adminCLI) clusterCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster's configuration",
		Long: `cluster shows the whole configuration autoregistration depends on:
CallManagers, groups, partitions, route patterns, calling search spaces,
device pools, Device Defaults, and the range.`,
		Example: `  registrar admin cluster
  registrar admin cluster --format json`,
		Args: nArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				cl, err := c.Cluster(ctx)
				if err != nil {
					return err
				}
				return a.output(cmd, cl, func(w io.Writer) { printCluster(w, cl) })
			})
		},
	}
}

func printCluster(w io.Writer, cl api.Cluster) {
	fmt.Fprintf(w, "Protocol:\t%s\n", cl.Protocol)
	fmt.Fprintf(w, "Security:\t%s\n", cl.Security)
	fmt.Fprintf(w, "Autoregistration group:\t%s\n", orDash(cl.AutoregGroup))
	fmt.Fprintf(w, "Autoregistration CSS:\t%s\n", orDash(cl.AutoregCSS))
	fmt.Fprintf(w, "Default pool:\t%s\n", orDash(cl.DefaultPool))
	fmt.Fprintf(w, "Range:\t%s\n", rangeText(cl.Range))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CALLMANAGER\tAUTOREG\tDESCRIPTION")
	for _, cm := range cl.CallManagers {
		fmt.Fprintf(w, "%s\t%s\t%s\n", cm.Name, map[bool]string{true: "enabled", false: "disabled"}[cm.AutoregEnabled], cm.Description)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "GROUP\tCALLMANAGERS\tAUTOREG")
	for _, g := range cl.Groups {
		fmt.Fprintf(w, "%s\t%s\t%s\n", g.Name, strings.Join(g.CallManagers, ","), yesNo(g.Autoreg))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "PARTITIONS\t"+strings.Join(cl.Partitions, ", "))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "PATTERN\tPARTITION\tBLOCK")
	for _, p := range cl.Patterns {
		fmt.Fprintf(w, "%s\t%s\t%s\n", p.Pattern, p.Partition, yesNo(p.Block))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CSS\tPARTITIONS")
	for _, s := range cl.CSS {
		fmt.Fprintf(w, "%s\t%s\n", s.Name, strings.Join(s.Partitions, ","))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "POOL\tGROUP\tCSS")
	for _, p := range cl.Pools {
		fmt.Fprintf(w, "%s\t%s\t%s\n", p.Name, p.Group, orDash(p.CSS))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "MODEL\tLOAD SCCP\tLOAD SIP\tPOOL")
	for _, d := range cl.DeviceDefaults {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.Model, orDash(d.LoadSCCP), orDash(d.LoadSIP), orDash(d.Pool))
	}
}

// ---- topology --------------------------------------------------------------

func (a *adminCLI) callManagerCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "callmanager",
		Short: "Add, change or delete a CallManager",
		Long: `callmanager manages the cluster's CallManagers. Configure only one of them
for autoregistration (checklist step 2): the first CallManager of the
autoregistration group.`,
		Example: `  registrar admin callmanager set CM1 --autoreg-enabled
  registrar admin callmanager delete CM3`,
	}
	group(c)
	var cm api.PutCallManager
	set := &cobra.Command{
		Use:   "set NAME [--autoreg-enabled] [--description D]",
		Short: "Add or change a CallManager",
		Long: `set adds or changes a CallManager. Autoregistration is disabled on it
("Auto-registration Disabled on this Cisco CallManager" checked) unless
--autoreg-enabled: enable it on exactly one CallManager, the first of the
autoregistration group.`,
		Example: `  registrar admin callmanager set CM1 --autoreg-enabled --description publisher
  registrar admin callmanager set CM2`,
		Args: nArgs("NAME"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.PutCallManager(ctx, args[0], cm)
			state := "disabled"
			if cm.AutoregEnabled {
				state = "enabled"
			}
			return res, fmt.Sprintf("CallManager %s set (autoregistration %s)", args[0], state), err
		}),
	}
	set.Flags().BoolVar(&cm.AutoregEnabled, "autoreg-enabled", false, "allow autoregistration on this CallManager")
	set.Flags().StringVar(&cm.Description, "description", "", "description")
	c.AddCommand(set, a.deleteCommand("CallManager", (*client.Client).DeleteCallManager, "registrar admin callmanager delete CM3"))
	return c
}

// deleteCommand is `delete NAME` of a topology object.
func (a *adminCLI) deleteCommand(what string, del func(*client.Client, context.Context, string) (api.Result, error), example string) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a " + what,
		Long:    "delete deletes a " + what + ". It is refused while something uses it; the message says what.",
		Example: "  " + example,
		Args:    nArgs("NAME"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := del(c, ctx, args[0])
			return res, what + " " + args[0] + " deleted", err
		}),
	}
}

func (a *adminCLI) groupCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "group",
		Short: "Add, change or delete a CallManager group",
		Long: `group manages CallManager groups. One group is the Auto-registration
CallManager Group (checklist step 3); at least one CallManager must be in it.`,
		Example: `  registrar admin group set Default --callmanagers CM1,CM2 --autoreg
  registrar admin group delete Old`,
	}
	group(c)
	var cms string
	var autoreg bool
	set := &cobra.Command{
		Use:   "set NAME --callmanagers CM1,CM2 [--autoreg]",
		Short: "Add or change a CallManager group",
		Long: `set adds or changes a CallManager group, its CallManagers in priority
order. --autoreg flags it as the Auto-registration CallManager Group (the
flag leaves any other group); new phones autoregister with its first
CallManager.`,
		Example: `  registrar admin group set Default --callmanagers CM1,CM2 --autoreg`,
		Args:    nArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "callmanagers"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				req := api.PutGroup{CallManagers: splitList(cms)}
				if autoreg {
					req.Autoreg = &autoreg
				}
				res, err := c.PutGroup(ctx, args[0], req)
				if err != nil {
					return err
				}
				done := "group " + args[0] + " set"
				if autoreg {
					done += " (the autoregistration group)"
				}
				return a.changed(cmd, res, done)
			})
		},
	}
	set.Flags().StringVar(&cms, "callmanagers", "", "CallManagers in priority order, comma-separated (required)")
	set.Flags().BoolVar(&autoreg, "autoreg", false, "flag it as the Auto-registration CallManager Group")
	c.AddCommand(set, a.deleteCommand("group", (*client.Client).DeleteGroup, "registrar admin group delete Old"))
	return c
}

func (a *adminCLI) partitionCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "partition",
		Short: "Add or delete a partition",
		Long: `partition manages partitions: named sets of directory numbers and route
patterns that calling search spaces list.`,
		Example: `  registrar admin partition add Internal
  registrar admin partition delete Old`,
	}
	group(c)
	var desc string
	add := &cobra.Command{
		Use:     "add NAME [--description D]",
		Short:   "Add a partition",
		Long:    `add adds a partition; adding one that exists changes nothing.`,
		Example: `  registrar admin partition add Internal --description "internal DNs"`,
		Args:    nArgs("NAME"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.PutPartition(ctx, args[0], desc)
			return res, "partition " + args[0] + " added", err
		}),
	}
	add.Flags().StringVar(&desc, "description", "", "description")
	c.AddCommand(add, a.deleteCommand("partition", (*client.Client).DeletePartition, "registrar admin partition delete Old"))
	return c
}

func (a *adminCLI) patternCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "pattern",
		Short: "Add or delete a route pattern",
		Long: `pattern manages route patterns, which decide (with the directory numbers)
what a calling search space lets a phone dial.`,
		Example: `  registrar admin pattern add 911 --partition Emergency
  registrar admin pattern delete 911 --partition Emergency`,
	}
	group(c)
	var p api.AddPattern
	add := &cobra.Command{
		Use:   "add PATTERN --partition P [--block] [--description D]",
		Short: "Add a route pattern to a partition",
		Long: `add adds a route pattern (Cisco digit syntax: X any digit, [2-9] a range,
! one or more digits, . the end of the access code) to a partition. --block
makes it a blocking pattern: it matches and refuses the call.`,
		Example: `  registrar admin pattern add 911 --partition Emergency
  registrar admin pattern add '9.1900XXXXXXX' --partition PSTN --block`,
		Args: nArgs("PATTERN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "partition"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				req := p
				req.Pattern = args[0]
				res, err := c.AddPattern(ctx, req)
				if err != nil {
					return err
				}
				return a.changed(cmd, res, "route pattern "+args[0]+" added to "+p.Partition)
			})
		},
	}
	add.Flags().StringVar(&p.Partition, "partition", "", "partition (required)")
	add.Flags().BoolVar(&p.Block, "block", false, "block calls that match")
	add.Flags().StringVar(&p.Description, "description", "", "description")

	var part string
	del := &cobra.Command{
		Use:     "delete PATTERN --partition P",
		Short:   "Delete a route pattern",
		Long:    `delete deletes the route pattern PATTERN of partition --partition.`,
		Example: `  registrar admin pattern delete '9.[2-9]XXXXXX' --partition PSTN`,
		Args:    nArgs("PATTERN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "partition"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.DeletePattern(ctx, args[0], part)
				if err != nil {
					return err
				}
				return a.changed(cmd, res, "route pattern "+args[0]+" deleted from "+part)
			})
		},
	}
	del.Flags().StringVar(&part, "partition", "", "partition (required)")
	c.AddCommand(add, del)
	return c
}

func (a *adminCLI) cssCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "css",
		Short: "Add, change or delete a calling search space",
		Long: `css manages calling search spaces: ordered lists of partitions a phone may
reach. Give autoregistered phones one limited to internal and emergency calls
(checklist step 4).`,
		Example: `  registrar admin css set Autoreg --partitions Internal,Emergency
  registrar admin css delete Old`,
	}
	group(c)
	var parts string
	set := &cobra.Command{
		Use:     "set NAME --partitions A,B",
		Short:   "Add or change a calling search space (its partitions, in search order)",
		Long:    `set adds or changes a calling search space: the partitions are searched in the order given.`,
		Example: `  registrar admin css set Autoreg --partitions Internal,Emergency`,
		Args:    nArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "partitions"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.PutCSS(ctx, args[0], splitList(parts))
				if err != nil {
					return err
				}
				return a.changed(cmd, res, "calling search space "+args[0]+" set")
			})
		},
	}
	set.Flags().StringVar(&parts, "partitions", "", "partitions in search order, comma-separated (required)")
	c.AddCommand(set, a.deleteCommand("calling search space", (*client.Client).DeleteCSS, "registrar admin css delete Old"))
	return c
}

func (a *adminCLI) poolCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "pool",
		Short: "Add, change or delete a device pool",
		Long: `pool manages device pools: a CallManager group and a calling search space
given to the devices in the pool (checklist step 5).`,
		Example: `  registrar admin pool set Default --group Default --css Autoreg
  registrar admin pool delete Old`,
	}
	group(c)
	var p api.PutPool
	set := &cobra.Command{
		Use:   "set NAME --group G [--css C]",
		Short: "Add or change a device pool (its CallManager group and calling search space)",
		Long: `set adds or changes a device pool. A Rogue pool whose calling search space
reaches only 911 and 0 lets unknown phones register yet call only
emergency and the operator.`,
		Example: `  registrar admin pool set Default --group Default --css Autoreg
  registrar admin pool set Rogue --group Default --css Rogue`,
		Args: nArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "group"); err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client.Client) error {
				res, err := c.PutPool(ctx, args[0], p)
				if err != nil {
					return err
				}
				return a.changed(cmd, res, "device pool "+args[0]+" set")
			})
		},
	}
	set.Flags().StringVar(&p.Group, "group", "", "CallManager group (required)")
	set.Flags().StringVar(&p.CSS, "css", "", "calling search space")
	c.AddCommand(set, a.deleteCommand("device pool", (*client.Client).DeletePool, "registrar admin pool delete Old"))
	return c
}

func (a *adminCLI) defaultPoolCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "default-pool POOL",
		Short:   "Set the cluster default device pool",
		Long:    `default-pool sets the device pool autoregistered phones land in when their model's Device Defaults name none.`,
		Example: `  registrar admin default-pool Default`,
		Args:    nArgs("POOL"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.SetDefaultPool(ctx, args[0])
			return res, "default device pool set to " + args[0], err
		}),
	}
}

func (a *adminCLI) deviceDefaultsCommand() *cobra.Command {
	var d api.PutDeviceDefaults
	c := &cobra.Command{
		Use:   "device-defaults MODEL [--load-sccp L] [--load-sip L] [--pool P]",
		Short: "Set a model's Device Defaults (firmware loads and device pool)",
		Long: `device-defaults sets the Device Defaults of one model: the firmware load
names for SCCP and SIP (they must be right for autoregistration to work) and
the device pool its autoregistered phones get (default: the cluster default
pool). What you do not give is cleared.`,
		Example: `  registrar admin device-defaults 7961 --load-sccp SCCP41.9-4-2SR3-1S --load-sip SIP41.9-4-2SR3-1S
  registrar admin device-defaults 7902 --load-sccp CP7902080002SCCP060817A --pool Rogue`,
		Args: nArgs("MODEL"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.PutDeviceDefaults(ctx, args[0], d)
			return res, "Device Defaults of " + args[0] + " set", err
		}),
	}
	c.Flags().StringVar(&d.LoadSCCP, "load-sccp", "", "firmware load name for SCCP")
	c.Flags().StringVar(&d.LoadSIP, "load-sip", "", "firmware load name for SIP")
	c.Flags().StringVar(&d.Pool, "pool", "", "device pool of its autoregistered phones")
	return c
}
