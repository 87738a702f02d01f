// Command replay audits the registrar's event log, read-only: the
// autoregistration windows, a device's history, the state at an instant,
// the raw events, and the log's integrity (verify). It also writes
// realistic histories into new stores (generate). See `replay --help` and
// docs/replay.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/autoreg/autoreg/replay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := replay.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
