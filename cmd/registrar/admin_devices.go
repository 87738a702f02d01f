package main

// The admin commands about devices: devices, device (show, add, set,
// delete) and may-dial.

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/admin/client"
)

func (a *adminCLI) devicesCommand() *cobra.Command {
	var q api.DeviceQuery
	c := &cobra.Command{
		Use:   "devices [--status S] [--pool P] [--model M] [--protocol P] [--window W] [--since T] [--name TEXT] [--sort F] [--limit N] [--offset N]",
		Short: "List the devices: filtered, sorted, a page at a time",
		Long: `devices lists the known devices, autoregistered or provisioned, sorted by
name, with their registration, when they were last seen and from where.

The filters combine: --status registered or unregistered, --pool, --model,
--protocol (sip, sccp), --window (autoregistered in it), --since (last seen
at or after a time, 2026-11-27T10:00:00Z, or within a duration back from
now, 24h), --name (a substring of the name, the DN or the address, any
case). --sort takes name, dn, model, protocol, pool, status, last_seen or
address, with a leading - to reverse it. --limit shows a page of that many
(at most 5000), from --offset; the last line says how many the filters
select and the --offset of the next page. Without them, every device.

LAST SEEN is the last time the phone reached the registrar with an effect
recorded (it registered, moved, was refused or unregistered): a SIP refresh
that changes nothing records nothing. The registrar does not record when a
SIP binding or an SCCP keepalive expires, so no expiry is shown.`,
		Example: `  registrar admin devices
  registrar admin devices --status unregistered --pool Default
  registrar admin devices --model 7961 --since 24h --sort -last_seen --limit 50
  registrar admin devices --name 00AA --format json`,
		Args: nArgs(),
		RunE: show(a, func(ctx context.Context, c *client.Client, _ []string) (api.Devices, error) {
			return c.QueryDevices(ctx, q)
		}, printDevices),
	}
	f := c.Flags()
	f.StringVar(&q.Status, "status", "", "registered or unregistered")
	f.StringVar(&q.Pool, "pool", "", "only this device pool")
	f.StringVar(&q.Model, "model", "", "only this model (7961, ...)")
	f.StringVar(&q.Protocol, "protocol", "", "only sip or sccp")
	f.StringVar(&q.Window, "window", "", "only the devices autoregistered in this window (W1, ...)")
	f.StringVar(&q.Node, "node", "", "only the devices registered now with this CallManager (CM1, ...)")
	f.StringVar(&q.Since, "since", "", "only devices last seen at or after a time (RFC 3339) or within a duration (24h)")
	f.StringVar(&q.Q, "name", "", "only devices whose name, DN or address contains this text (any case)")
	f.StringVar(&q.Sort, "sort", "", "name, dn, model, protocol, pool, status, last_seen or address; -F reverses")
	f.IntVar(&q.Limit, "limit", 0, "show at most this many (a page; at most 5000)")
	f.IntVar(&q.Offset, "offset", 0, "skip this many first (the page's start)")
	return c
}

func printDevices(w io.Writer, devs api.Devices) {
	if len(devs.Devices) == 0 {
		if devs.Total > 0 {
			fmt.Fprintf(w, "no devices from offset %d: the filters select %d\n", devs.Offset, devs.Total)
		} else {
			fmt.Fprintln(w, "no devices")
		}
		return
	}
	fmt.Fprintln(w, "NAME\tMODEL\tPROTOCOL\tDN\tPARTITION\tPOOL\tCSS\tREGISTERED\tNODE\tLAST SEEN\tEXPIRES\tADDRESS\tORIGIN")
	for _, d := range devs.Devices {
		origin := "provisioned"
		if d.Autoregistered {
			origin = "autoreg " + d.Window
		}
		// The calling search space it dials with: its own, else its pool's.
		css := d.CSS
		if css == "" && d.EffectiveCSS != "" {
			css = d.EffectiveCSS + " (pool)"
		}
		node := orDash(d.Node)
		if d.OutsideGroup {
			node += " (outside its group)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Model, d.Protocol, d.DN,
			orDash(d.Partition), orDash(d.Pool), orDash(css), yesNo(d.Registered), node, when(d.LastSeen), when(d.Expires), orDash(d.Address), origin)
	}
	if shown := devs.Offset + len(devs.Devices); devs.Offset > 0 || shown < devs.Total {
		fmt.Fprintf(w, "%d-%d of %d devices", devs.Offset+1, shown, devs.Total)
		if shown < devs.Total {
			fmt.Fprintf(w, "; next page: --offset %d", shown)
		}
		fmt.Fprintln(w)
	}
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
	c.AddCommand(a.deviceShowCommand(), a.deviceSetCommand(), a.deviceAddCommand(), a.deviceDeleteCommand(), a.deviceResetCommand(), a.deviceCredentialsCommand())
	return c
}

func (a *adminCLI) deviceShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a device",
		Long:    `show shows a device: model, protocol, DN and external number, pool, calling search space, how it came, and whether it is registered.`,
		Example: `  registrar admin device show SEP00112233AABB`,
		Args:    nArgs("NAME"),
		RunE: show(a, func(ctx context.Context, c *client.Client, args []string) (api.Device, error) {
			return c.Device(ctx, args[0])
		}, printDevice),
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

// changeDevice is the RunE of a change to a device: as change, but it
// prints what was done without the events, then the device after it.
func (a *adminCLI) changeDevice(do changeFunc) runE {
	return show(a, do.call, func(w io.Writer, ch changed) {
		if !ch.Changed {
			fmt.Fprintln(w, "no change: it already was so")
		} else {
			fmt.Fprintln(w, ch.done)
		}
		if ch.Device != nil {
			printDevice(w, *ch.Device)
		}
	})
}

func (a *adminCLI) deviceSetCommand() *cobra.Command {
	var set api.ReconfigureDevice
	c := &cobra.Command{
		Use:   "set NAME [--pool P] [--css C] [--dn N] [--partition P] [--description D]",
		Short: "Change a device (its pool, calling search space, DN, partition, description)",
		Long: `set changes a device; what you do not give stays as it is. A new pool
brings its own calling search space unless --css is given too. A new DN must
be free in its partition; the old one is released.`,
		Example: `  registrar admin device set SEP00112233AABB --pool Staff
  registrar admin device set SEP00112233AABB --dn 2001 --partition Internal`,
		Args: nArgs("NAME"),
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if set == (api.ReconfigureDevice{}) {
				return usageError(cmd, "nothing to change: give at least one of --pool, --css, --dn, --partition, --description")
			}
			return nil
		},
		RunE: a.changeDevice(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.ReconfigureDevice(ctx, args[0], set)
			return res, "device " + args[0] + " changed", err
		}),
	}
	f := c.Flags()
	f.StringVar(&set.Pool, "pool", "", "device pool")
	f.StringVar(&set.CSS, "css", "", "calling search space")
	f.StringVar(&set.DN, "dn", "", "directory number")
	f.StringVar(&set.Partition, "partition", "", "partition of the DN")
	f.StringVar(&set.Description, "description", "", "description")
	return c
}

func (a *adminCLI) deviceAddCommand() *cobra.Command {
	var add api.ProvisionDevice
	c := &cobra.Command{
		Use:   "add NAME --model M [--protocol P] --dn N [--pool P] [--partition P] [--css C] [--description D]",
		Short: "Add a device by hand, with its DN",
		Long: `add provisions a device by hand (no window needed). NAME is SEP and the 12
hex digits of the MAC. The protocol defaults to the autoregistration protocol
when the model speaks it; the partition to the range's; the pool to the
cluster default pool.`,
		Example: `  registrar admin device add SEP0011223344CC --model 7940 --dn 2000
  registrar admin device add SEP0011223344DD --model 7961 --protocol sip --dn 2002 --pool Staff`,
		Args:    nArgs("NAME"),
		PreRunE: requires("model", "dn"),
		RunE: a.changeDevice(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			req := add
			req.Name = args[0]
			res, err := c.ProvisionDevice(ctx, req)
			return res, "device " + args[0] + " added", err
		}),
	}
	f := c.Flags()
	f.StringVar(&add.Model, "model", "", "model, as in the catalogue (7940, 7961, ...; required)")
	f.StringVar(&add.Protocol, "protocol", "", "sip or sccp (default: the autoregistration protocol if the model speaks it)")
	f.StringVar(&add.DN, "dn", "", "directory number (required)")
	f.StringVar(&add.Pool, "pool", "", "device pool (default: the cluster default pool)")
	f.StringVar(&add.Partition, "partition", "", "partition of the DN (default: the range's)")
	f.StringVar(&add.CSS, "css", "", "calling search space (default: the pool's)")
	f.StringVar(&add.Description, "description", "", "description")
	return c
}

func (a *adminCLI) deviceDeleteCommand() *cobra.Command {
	return &cobra.Command{
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
}

func (a *adminCLI) deviceResetCommand() *cobra.Command {
	var restart bool
	c := &cobra.Command{
		Use:   "reset NAME [--restart]",
		Short: "Tell a phone to reset (or restart): it fetches its configuration again",
		Long: `reset records who asked (an event), then tells the phone: an SCCP phone gets
a Reset on its connection, a SIP phone a NOTIFY with Event: check-sync at its
contact. The phone fetches its configuration file again (TFTP) and registers
with its device pool's CallManagers: after 'device set --pool' (checklist
step 8), a reset moves it. --restart asks for a restart (reload the
configuration without a reboot) rather than a reset.`,
		Example: `  registrar admin device set SEP0011223344CC --pool Staff
  registrar admin device reset SEP0011223344CC`,
		Args: nArgs("NAME"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.ResetDevice(ctx, args[0], restart)
			what := "reset"
			if restart {
				what = "restart"
			}
			done := what + " of " + args[0] + " recorded"
			if res.Reset != nil {
				if res.Reset.Delivered {
					done += "; the phone was told"
				} else {
					done += "; the phone was not told: " + res.Reset.Detail
				}
			}
			return res, done, err
		}),
	}
	c.Flags().BoolVar(&restart, "restart", false, "restart rather than reset")
	return c
}

func (a *adminCLI) deviceCredentialsCommand() *cobra.Command {
	var rotate, disable bool
	c := &cobra.Command{
		Use:   "credentials NAME [--rotate | --disable]",
		Short: "Show, rotate or disable a SIP device's digest credentials",
		Long: `credentials shows a SIP device's digest user and password, as its
configuration file (SEP<MAC>.cnf.xml) carries them to the phone, and whether
it must authenticate (its device pool's profile). A SIP phone that
autoregisters is issued credentials; from then on a REGISTER that moves, adds
or removes its binding must answer a 401 challenge (docs/security.md).

--rotate issues new ones (an event naming who, with a salted verifier and
never the password) and tells the phone to fetch its configuration file
again. --disable withdraws them: the device registers without authentication
until they are rotated. Showing the password takes an admin token, and is
logged with who asked.`,
		Example: `  registrar admin device credentials SEP00112233AABB
  registrar admin device credentials SEP00112233AABB --rotate
  registrar admin device credentials SEP00112233AABB --disable`,
		Args: nArgs("NAME"),
	}
	shown := show(a, func(ctx context.Context, c *client.Client, args []string) (api.Credentials, error) {
		return c.Credentials(ctx, args[0])
	}, func(w io.Writer, cr api.Credentials) {
		fmt.Fprintf(w, "Device:\t%s\nStatus:\t%s\nProfile:\t%s\n", cr.Device, cr.Status, cr.Profile)
		if cr.User != "" {
			fmt.Fprintf(w, "User:\t%s\nPassword:\t%s\nRealm:\t%s\n", cr.User, cr.Password, cr.Realm)
		}
	})
	rotated := a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
		res, err := c.RotateCredentials(ctx, args[0])
		done := "credentials of " + args[0] + " rotated"
		if res.Reset != nil {
			if res.Reset.Delivered {
				done += "; the phone was told to fetch its configuration file"
			} else {
				done += "; the phone was not told: " + res.Reset.Detail
			}
		}
		return res, done, err
	})
	disabled := a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
		res, err := c.DisableCredentials(ctx, args[0])
		return res, "credentials of " + args[0] + " disabled", err
	})
	c.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case rotate && disable:
			return usageError(cmd, "--rotate and --disable: choose one")
		case rotate:
			return rotated(cmd, args)
		case disable:
			return disabled(cmd, args)
		}
		return shown(cmd, args)
	}
	c.Flags().BoolVar(&rotate, "rotate", false, "issue new credentials and tell the phone")
	c.Flags().BoolVar(&disable, "disable", false, "withdraw the credentials")
	return c
}

// configFileOut is what config-file prints: the file itself as text, with
// the device's name in JSON.
type configFileOut struct {
	Device string `json:"device"`
	File   string `json:"file"`
}

func (a *adminCLI) configFileCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "config-file NAME",
		Short: "Print the configuration file the registrar's TFTP server serves a device now (SEP<MAC>.cnf.xml)",
		Long: `config-file prints SEP<MAC>.cnf.xml as the registrar's TFTP server would serve
it to the phone now: its device pool's CallManagers (host, ports), its firmware
load from Device Defaults, and for a SIP phone its line. An unknown phone gets
XmlDefault.cnf.xml instead (docs/provisioning.md).`,
		Example: `  registrar admin config-file SEP00112233AABB
  registrar admin config-file SEP00112233AABB | xmllint --format -`,
		Args: nArgs("NAME"),
		RunE: show(a, func(ctx context.Context, c *client.Client, args []string) (configFileOut, error) {
			b, err := c.ConfigFile(ctx, args[0])
			return configFileOut{Device: args[0], File: string(b)}, err
		}, func(w io.Writer, f configFileOut) { fmt.Fprint(w, f.File) }),
	}
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
		RunE: show(a, func(ctx context.Context, c *client.Client, args []string) (api.MayDial, error) {
			return c.MayDial(ctx, args[0], args[1])
		}, func(w io.Writer, m api.MayDial) {
			verdict := "refused"
			if m.Allowed {
				verdict = "allowed"
			}
			fmt.Fprintf(w, "%s:\t%s\n", verdict, m.Reason)
		}),
	}
}
