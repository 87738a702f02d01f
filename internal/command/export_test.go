package command

import "time"

// PruneStrangers exposes pruneStrangers to the tests.
func (s *Handler) PruneStrangers(now time.Time) int { return s.pruneStrangers(now) }
