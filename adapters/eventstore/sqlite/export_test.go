package sqlite

import "time"

// WithIndexUpkeep sets when the writer indexes the tail (tests only):
// in a group's transaction (and at Open) once the tail has batch events,
// after idle without appends (0: never), and at Close if atClose.
func WithIndexUpkeep(batch uint64, idle time.Duration, atClose bool) Option {
	return func(o *options) { o.upkeep = upkeep{batch: batch, idle: idle, atClose: atClose} }
}

// SchemaVersion is the layout new files get.
const SchemaVersion = schemaVersion

// TailScans is how many times the writer scanned the tail for the streams
// in it.
func (s *Store) TailScans() uint64 { return s.w.tailScans.Load() }

// IdleReaders is how many read connections the pool keeps open, unused.
func (s *Store) IdleReaders() int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return len(s.pool.idle)
}

// CheckJournal runs the writer's check of its files once (what each group
// commit costs on top of its transaction). Only while no append runs.
func (s *Store) CheckJournal() error {
	lost, err := s.w.journal.check()
	if lost != nil {
		return ErrJournalLost
	}
	return err
}
