package service

import "time"

// PruneStrangers exposes pruneStrangers to the tests.
func (s *Service) PruneStrangers(now time.Time) int { return s.pruneStrangers(now) }
