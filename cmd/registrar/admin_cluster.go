package main

// The admin commands about the cluster's configuration: cluster,
// callmanager, group, partition, pattern, css, pool, default-pool and
// device-defaults.

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/adapters/admin/client"
)

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
		RunE: show(a, func(ctx context.Context, c *client.Client, _ []string) (api.Cluster, error) {
			return c.Cluster(ctx)
		}, printCluster),
	}
}

func (a *adminCLI) nodesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the CallManagers: where phones reach them, which are up, how many devices each holds",
		Long: `nodes lists the cluster's CallManagers (each registrar process is one,
'registrar serve --node NAME'): the addresses phones reach them at, whether
a registrar serves each now (and which process), whether it is the
autoregistration CallManager, and how many devices are registered with it.`,
		Example: `  registrar admin nodes
  registrar admin nodes --format json`,
		Args: nArgs(),
		RunE: show(a, func(ctx context.Context, c *client.Client, _ []string) (api.Nodes, error) {
			return c.Nodes(ctx)
		}, printNodes),
	}
}

func printNodes(w io.Writer, ns api.Nodes) {
	fmt.Fprintln(w, "CALLMANAGER\tUP\tAUTOREG\tDEVICES\tHOST\tSIP\tSCCP\tPROCESS")
	for _, n := range ns.Nodes {
		port := func(p, def int) string {
			if p == 0 {
				p = def
			}
			return fmt.Sprint(p)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", n.Name, yesNo(n.Up), yesNo(n.Autoreg), n.Devices,
			orDash(n.Host), port(n.SIPPort, 5060), port(n.SCCPPort, 2000), orDash(n.Process))
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
	fmt.Fprintln(w, "CALLMANAGER\tAUTOREG\tHOST\tDESCRIPTION")
	for _, cm := range cl.CallManagers {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", cm.Name, map[bool]string{true: "enabled", false: "disabled"}[cm.AutoregEnabled], orDash(cm.Host), cm.Description)
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
	fmt.Fprintln(w, "POOL\tGROUP\tCSS\tAUTOREG CSS\tSIP AUTH")
	for _, p := range cl.Pools {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Group, orDash(p.CSS), orDash(p.AutoregCSS), orDash(p.SIPAuth))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "MODEL\tLOAD SCCP\tLOAD SIP\tPOOL")
	for _, d := range cl.DeviceDefaults {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.Model, orDash(d.LoadSCCP), orDash(d.LoadSIP), orDash(d.Pool))
	}
}

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
	set.Flags().StringVar(&cm.Host, "host", "", "where phones reach it: host name or address")
	set.Flags().IntVar(&cm.SIPPort, "sip-port", 0, "its SIP port (0: 5060)")
	set.Flags().IntVar(&cm.SCCPPort, "sccp-port", 0, "its SCCP port (0: 2000)")
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
		PreRunE: requires("callmanagers"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			req := api.PutGroup{CallManagers: splitList(cms)}
			done := "group " + args[0] + " set"
			if autoreg {
				req.Autoreg = &autoreg
				done += " (the autoregistration group)"
			}
			res, err := c.PutGroup(ctx, args[0], req)
			return res, done, err
		}),
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
		Args:    nArgs("PATTERN"),
		PreRunE: requires("partition"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			req := p
			req.Pattern = args[0]
			res, err := c.AddPattern(ctx, req)
			return res, "route pattern " + args[0] + " added to " + p.Partition, err
		}),
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
		PreRunE: requires("partition"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.DeletePattern(ctx, args[0], part)
			return res, "route pattern " + args[0] + " deleted from " + part, err
		}),
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
		PreRunE: requires("partitions"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.PutCSS(ctx, args[0], splitList(parts))
			return res, "calling search space " + args[0] + " set", err
		}),
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
emergency and the operator. --sip-auth is the SIP authentication profile of
the pool's phones that hold digest credentials: digest (the default: a
REGISTER that moves, adds or removes a binding must authenticate),
digest-always (every REGISTER), none.`,
		Example: `  registrar admin pool set Default --group Default --css Autoreg
  registrar admin pool set Rogue --group Default --css Rogue
  registrar admin pool set Lobby --group Default --css Staff --sip-auth digest-always`,
		Args:    nArgs("NAME"),
		PreRunE: requires("group"),
		RunE: a.change(func(ctx context.Context, c *client.Client, args []string) (api.Result, string, error) {
			res, err := c.PutPool(ctx, args[0], p)
			return res, "device pool " + args[0] + " set", err
		}),
	}
	set.Flags().StringVar(&p.Group, "group", "", "CallManager group (required)")
	set.Flags().StringVar(&p.CSS, "css", "", "calling search space")
	set.Flags().StringVar(&p.AutoregCSS, "autoreg-css", "", "Calling Search Space for Auto-registration: given to the phones that autoregister into the pool")
	set.Flags().StringVar(&p.SIPAuth, "sip-auth", "digest", "SIP authentication profile: digest, digest-always or none")
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
