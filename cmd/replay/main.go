// Command replay audits the registrar's event log, read-only: the
// autoregistration windows, a device's history, the state at an instant,
// the raw events, and the log's integrity (verify). It also writes
// realistic histories into new stores (generate). See `replay --help` and
// docs/replay.md.
package main

import "github.com/autoreg/autoreg/replay"

func main() { replay.Exec(replay.Main) }
