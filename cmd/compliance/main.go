// Command compliance checks the registrar's event log, read-only, against
// Cisco's advice on autoregistration (brief windows, fewer than 100 phones,
// one autoregistration CallManager, a restricted calling search space,
// phones moved to their permanent pools, firmware loads in Device Defaults,
// mixed SIP/SCCP batches in two steps) and writes the findings as text,
// JSON, CSV or a self-contained HTML page. See `compliance --help` and
// docs/compliance.md.
package main

import (
	"github.com/autoreg/autoreg/replay"
	"github.com/autoreg/autoreg/replay/compliance"
)

func main() { replay.Exec(compliance.Main) }
