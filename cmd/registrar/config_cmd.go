package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
)

func newConfigCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Work with the registrar's configuration",
	}
	c.AddCommand(&cobra.Command{
		Use:   "sample",
		Short: "Print the sample configuration (the one used when no --config is given)",
		Example: `  registrar config sample > autoreg.yaml
  registrar serve --config autoreg.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(config.Sample)
			return err
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file without starting anything",
		Long: `check reads FILE as serve would: unknown keys, wrong types, durations without a
unit, values out of range, and the cluster section applied to a new store
(a range whose DNs differ in length, a pool naming a group that does not
exist ...). It exits 0 when serve would start with it, 2 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(config.New(), args[0])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			// The cluster section as a new store would take it: what
			// serve would refuse is refused here.
			if err := command.CheckTopology(cfg.Cluster.Commands(true, "config"), time.Now()); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			cmd.Println(args[0] + ": ok")
			return nil
		},
	})
	return c
}
