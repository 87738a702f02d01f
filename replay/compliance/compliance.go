// Package compliance checks the registrar's event log against Cisco's
// advice on autoregistration (the CallManager guide's "Autoregistration"
// chapter and its configuration checklist): windows open only briefly, fewer
// than 100 phones at a time, one CallManager for autoregistration first in
// the autoregistration group, a restricted calling search space for
// autoregistered phones, phones moved to their permanent device pools
// afterwards, firmware loads in Device Defaults, mixed SIP/SCCP batches done
// in two steps, and rogue devices knocking while autoregistration is closed.
//
// Report reads the store read-only, once, through the project's read models
// (projections.Windows and projections.Devices) and one read model of its
// own (the auditor: the cluster's configuration at every instant, and what
// the checks need of it), and returns the findings of every check over a
// period, each with its evidence (event positions, devices, windows,
// times). The findings are written as text, JSON (a stable schema, see
// docs/compliance.md), CSV or a self-contained HTML page with a timeline.
//
// The thresholds and severities come from a Policy (YAML, strict: an unknown
// key or a value of the wrong type is an error naming the file, the line and
// the key). cmd/compliance is a thin main around Main.
//
// It imports the read side (projections), the store port, the domain and
// package replay.
package compliance

import (
	"fmt"
	"strings"
)

// Severity ranks a finding.
type Severity string

// The severities, from the least to the most serious.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Severities lists the severities from the most serious down.
var Severities = []Severity{Critical, Warning, Info}

// Rank orders severities: info 1, warning 2, critical 3 (0 for anything else).
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// ParseSeverity reads info, warning or critical (any case).
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToLower(strings.TrimSpace(s)))
	if v.Rank() == 0 {
		return "", fmt.Errorf("%q is not a severity: use info, warning or critical", s)
	}
	return v, nil
}

// CheckID names a check. The ids are stable: they appear in policies,
// reports and scripts.
type CheckID string

// The checks.
const (
	WindowTooLong               CheckID = "window-too-long"
	TooManyPhones               CheckID = "too-many-phones"
	MultipleAutoregCallManagers CheckID = "multiple-autoreg-callmanagers"
	AutoregGroupMismatch        CheckID = "autoreg-group-mismatch"
	NoAutoregCSS                CheckID = "no-autoreg-css"
	AutoregCSSReachesExternal   CheckID = "autoreg-css-reaches-external"
	NotReconfigured             CheckID = "not-reconfigured"
	BusinessHours               CheckID = "business-hours"
	MissingDeviceDefaultLoad    CheckID = "missing-device-default-load"
	RogueAttempts               CheckID = "rogue-attempts"
	ProtocolMixedBatch          CheckID = "protocol-mixed-batch"
	LeftOpen                    CheckID = "left-open"
	OutsideGroup                CheckID = "registered-outside-group"
	HistoryNotAnchored          CheckID = "history-not-anchored"
	SIPUnauthenticated          CheckID = "sip-unauthenticated"
)

// Check describes one check.
type Check struct {
	ID CheckID
	// Severity is the default severity (a policy may change it).
	Severity Severity
	Title    string
	// Advice is the guide's advice the check enforces, for people.
	Advice string
}

// Checks lists every check, in the order reports list them within a severity.
var Checks = []Check{
	{WindowTooLong, Warning, "Autoregistration window open too long",
		"Enable autoregistration only for brief periods (checklist step 6)."},
	{TooManyPhones, Warning, "Too many phones autoregistered",
		"Cisco recommends autoregistration to add fewer than 100 phones."},
	{MultipleAutoregCallManagers, Critical, "More than one CallManager with autoregistration enabled",
		"Configure only one CallManager in the cluster for autoregistration (step 2)."},
	{AutoregGroupMismatch, Critical, "Autoregistration group does not start with the autoregistration CallManager",
		"The first CallManager of the autoregistration group must be the one with autoregistration enabled (step 3)."},
	{NoAutoregCSS, Warning, "Window opened without an autoregistration calling search space",
		"Configure a calling search space specifically for autoregistration (step 4)."},
	{AutoregCSSReachesExternal, Critical, "Autoregistration calling search space reaches external numbers",
		"Limit autoregistered phones to internal and emergency calls (step 4; rogue phones)."},
	{NotReconfigured, Warning, "Autoregistered devices not moved to a permanent device pool",
		"Reconfigure autoregistered devices and assign them to their permanent device pools (step 8)."},
	{BusinessHours, Info, "Window opened during business hours",
		"Autoregister preferably when overall system usage is at a minimum (step 6)."},
	{MissingDeviceDefaultLoad, Warning, "No firmware load in Device Defaults",
		"Device Defaults must name the phone images for SIP and SCCP for autoregistration to work."},
	{RogueAttempts, Info, "Unknown devices refused",
		"Rogue phones try to register while autoregistration is closed; a Rogue device pool limits them."},
	{ProtocolMixedBatch, Warning, "Mixed SIP/SCCP batch in one window",
		"Autoregister a mixed batch in two steps: the SCCP phones with the protocol parameter at SCCP, then the SIP phones at SIP."},
	{LeftOpen, Warning, "Window left open",
		"Turn autoregistration off after installing the devices (step 6)."},
	{OutsideGroup, Warning, "Phones registered with a CallManager outside their device pool's group",
		"A phone registers with the CallManagers of its device pool's group; after it autoregisters, assign it to its permanent device pool and CallManager group (step 8)."},
	{HistoryNotAnchored, Warning, "History not anchored by signed checkpoints",
		"Sign checkpoints of the event log (registrar serve --signing-key --checkpoints) and give them to the report (--checkpoints --public-key): the hash chain alone proves integrity, not authenticity."},
	{SIPUnauthenticated, Warning, "SIP phones that register without digest authentication",
		"Keep digest authentication on for SIP phones (the phone security profile): anyone who knows a phone's MAC can otherwise move or unregister it. Issue credentials to the phones that have none (registrar admin device credentials NAME --rotate) and keep their pools' profile at digest."},
}

// CheckByID returns the check with this id.
func CheckByID(id CheckID) (Check, bool) {
	for _, c := range Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// checkOrder is a check's index in Checks (len(Checks) if unknown).
func checkOrder(id CheckID) int {
	for i, c := range Checks {
		if c.ID == id {
			return i
		}
	}
	return len(Checks)
}
