// Command compliance checks the registrar's event log, read-only, against
// Cisco's advice on autoregistration (brief windows, fewer than 100 phones,
// one autoregistration CallManager, a restricted calling search space,
// phones moved to their permanent pools, firmware loads in Device Defaults,
// mixed SIP/SCCP batches in two steps) and writes the findings as text,
// JSON, CSV or a self-contained HTML page. See `compliance --help` and
// docs/compliance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/autoreg/autoreg/replay/compliance"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := compliance.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
