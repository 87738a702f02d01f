// Command registrar is the autoreg registrar service: it takes phones'
// registrations over SIP and SCCP, decides them against the cluster's
// autoregistration rules, and records every decision as events.
//
//	registrar serve                  # run it (the sample configuration when no --config)
//	registrar admin status           # talk to a running registrar
//	registrar config sample          # print the sample configuration
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit status through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(os.Stderr, "registrar:", err)
		os.Exit(code)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "registrar",
		Short: "Event-sourced registrar reproducing Cisco CallManager autoregistration",
		Long: `registrar takes phones' registrations over SIP and SCCP (Skinny), assigns
directory numbers to new phones while an administrator has autoregistration
open, and records every decision as an event that the replay and compliance
tools can audit.

Autoregistration is off until an administrator opens it:

  registrar serve &                                   # or: make run
  registrar admin autoreg open --reason "bulk add, ticket 42" --for 30m --max 50
  registrar admin status
  registrar admin autoreg close --reason "batch done"`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newConfigCommand(), newAdminCommand(), newKeygenCommand())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w (run '%s --help' for usage)", err, c.CommandPath())}
	})
	return root
}
