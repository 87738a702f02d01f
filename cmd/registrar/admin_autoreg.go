package main

// The admin commands about autoregistration itself: status, autoreg
// (open, close, protocol, css), security and range.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/admin/client"
)

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
		RunE: show(a, func(ctx context.Context, c *client.Client, _ []string) (api.Status, error) {
			return c.Status(ctx)
		}, printStatus),
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
	c.AddCommand(a.openCommand(), a.closeCommand(), a.protocolCommand(), a.autoregCSSCommand())
	return c
}

func (a *adminCLI) openCommand() *cobra.Command {
	var reason string
	var dur time.Duration
	var maxRegs int
	c := &cobra.Command{
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
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "reason"); err != nil {
				return err
			}
			if dur < 0 || maxRegs < 0 {
				return usageError(cmd, "--for and --max cannot be negative")
			}
			return nil
		},
		RunE: show(a, func(ctx context.Context, c *client.Client, _ []string) (api.Result, error) {
			req := api.OpenWindow{Reason: reason, Max: maxRegs}
			if dur > 0 {
				req.For = dur.String()
			}
			return c.Open(ctx, req)
		}, printOpened),
	}
	c.Flags().StringVar(&reason, "reason", "", "why (recorded in the event log; required)")
	c.Flags().DurationVar(&dur, "for", 0, "close by itself after this long (30m, 1h30m)")
	c.Flags().IntVar(&maxRegs, "max", 0, "close by itself after this many autoregistrations")
	return c
}

func printOpened(w io.Writer, res api.Result) {
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
}

func (a *adminCLI) closeCommand() *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:     "close --reason TEXT",
		Short:   "Close the autoregistration window",
		Long:    `close closes the open autoregistration window; unknown phones are refused from then on.`,
		Example: `  registrar admin autoreg close --reason "batch done"`,
		Args:    nArgs(),
		PreRunE: requires("reason"),
		RunE: a.change(func(ctx context.Context, c *client.Client, _ []string) (api.Result, string, error) {
			res, err := c.Close(ctx, reason)
			return res, "autoregistration is closed", err
		}),
	}
	c.Flags().StringVar(&reason, "reason", "", "why (recorded in the event log; required)")
	return c
}

func (a *adminCLI) protocolCommand() *cobra.Command {
	return &cobra.Command{
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
}

func (a *adminCLI) autoregCSSCommand() *cobra.Command {
	return &cobra.Command{
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
}

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
		Args:    nArgs(),
		PreRunE: requires("start", "end"),
		RunE: a.change(func(ctx context.Context, c *client.Client, _ []string) (api.Result, string, error) {
			res, err := c.SetRange(ctx, r)
			return res, fmt.Sprintf("range set to %s-%s", r.Start, r.End), err
		}),
	}
	f := set.Flags()
	f.StringVar(&r.Start, "start", "", "first DN (required)")
	f.StringVar(&r.End, "end", "", "last DN, as many digits as --start (required)")
	f.StringVar(&r.Partition, "partition", "", "partition of the DNs")
	f.StringVar(&r.Mask, "mask", "", "external phone number mask (X's take the DN's digits)")
	c.AddCommand(set)
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
