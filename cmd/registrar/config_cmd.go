package main

import (
	"github.com/spf13/cobra"

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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.Load(config.New(), args[0]); err != nil {
				return &exitError{code: 2, err: err}
			}
			cmd.Println(args[0] + ": ok")
			return nil
		},
	})
	return c
}
