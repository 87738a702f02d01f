package domain

import "time"

// RegistrarStream holds the registrar's own records about floods: what it
// chose not to record one by one (RejectionsSuppressed). No aggregate is
// folded from it: decisions never read it, and it is appended to whatever
// its version (its events are independent summaries, in time order).
const RegistrarStream = StreamPrefix + "registrar"

// RejectionsSuppressed sums up the refusals that were not recorded one by
// one as RegistrationRejected because the registrar had already recorded
// its limit of them in the minute [From, To). Each refusal was still
// answered (SIP 403, SCCP RegisterReject) as the domain decided; only its
// event was left out. Reasons counts them by reason; Devices and Sources
// are the distinct devices and source addresses among them (counted up to
// a bound of the registrar's, so "at least" beyond it).
type RejectionsSuppressed struct {
	From    time.Time            `json:"from"`
	To      time.Time            `json:"to"`
	Count   int                  `json:"count"`
	Reasons map[RejectReason]int `json:"reasons"`
	Devices int                  `json:"devices"`
	Sources int                  `json:"sources"`
	// Limit is the number of RegistrationRejected events a minute beyond
	// which refusals are only counted.
	Limit int `json:"limit"`
}

func (RejectionsSuppressed) Stream() string { return RegistrarStream }
