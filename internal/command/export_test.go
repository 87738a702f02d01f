package command

import "time"

// PruneStrangers exposes forget to the tests: it returns how many devices'
// refusals it forgot.
func (s *Handler) PruneStrangers(now time.Time) int { return s.forget(now) }
