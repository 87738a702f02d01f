package sqlite

// The journal watch: the database file and its WAL must stay the files the
// store opened.
//
// The writer's connection holds both open for the store's life. If the WAL
// is deleted (rm) under it, SQLite does not notice: it goes on appending to
// the unlinked file, the commits' fsyncs succeed, and whatever was not
// checkpointed yet vanishes at the next crash, although every one of those
// appends was acknowledged. The same goes for the database file deleted or
// replaced (another file renamed over it): the store writes to a file
// nobody will open again.
//
// So after each group commit, before any append of the group is answered,
// the writer compares the two paths with what it opened (os.Stat and
// os.SameFile: device and inode), and does so once a second while idle.
// Two stat calls per group, whatever the group's size (the benchmark
// BenchmarkJournalCheck has the cost).
//
// SQLite itself never replaces the WAL while the store runs: it deletes the
// file only when the last connection to the database closes (or when the
// journal mode changes), and the writer's connection, open for the store's
// life, holds a SHARED lock on the database file that no other connection
// (of this process or another) can get past to do so. A checkpoint resets
// the WAL in place and journal_size_limit truncates it in place: same
// inode. So the identity recorded at open holds until Close, and any change
// is someone else's doing.
//
// Once a file is found deleted or replaced, the store saves what it can and
// refuses every write until it is opened again (sticky):
//
//   - the WAL gone (the database file still in place): the writer's
//     connection still has the unlinked WAL open, with every committed
//     frame, so a checkpoint (PRAGMA wal_checkpoint(TRUNCATE)) copies them
//     into the database file and syncs it. The acknowledged events are then
//     in the database file, and a restart finds them there;
//   - the database file gone or replaced: nothing at its path is ours any
//     more, so the writer checkpoints into the file it has open and copies
//     the whole store (VACUUM INTO) to a new file beside it,
//     <path>.rescued-<time>, which the operator may move back into place.
//
// The failed appends wrap eventstore.ErrUnavailable and ErrJournalLost;
// Healthy reports the same error, and the WithJournalLost callback gets it
// once.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// ErrJournalLost: the store's database file or its WAL was deleted or
// replaced while the store had it open. The store refuses writes until it is
// opened again; the error says which file, what happened and what the store
// saved. It comes wrapped with eventstore.ErrUnavailable.
var ErrJournalLost = errors.New("the event store's files were deleted or replaced under it")

// DefaultJournalCheckInterval is how often an idle writer checks its files.
const DefaultJournalCheckInterval = time.Second

// WithJournalLost sets a function the store calls once, from its writer
// goroutine, when it finds its database file or WAL deleted or replaced
// (err wraps ErrJournalLost and names the file). The registrar logs it.
func WithJournalLost(f func(err error)) Option {
	return func(o *options) { o.onLost = f }
}

// WithJournalCheckInterval sets how often an idle writer checks that its
// files are still in place (default DefaultJournalCheckInterval; 0 or less:
// only after each group commit).
func WithJournalCheckInterval(d time.Duration) Option {
	return func(o *options) { o.watchEvery = d }
}

// journal is the identity of the files the writer opened.
type journal struct {
	db, wal         string
	dbInfo, walInfo os.FileInfo
}

// openJournal records the identity of the database file and its WAL, which
// the writer's connection has open (its first read transaction made the
// WAL).
//
// A path through a symbolic link is watched as given (the link replaced is
// the database file replaced), and the WAL where SQLite puts it: beside the
// file the link leads to.
func openJournal(path string) (*journal, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	j := &journal{db: path, wal: real + "-wal"}
	if j.dbInfo, err = os.Stat(j.db); err != nil {
		return nil, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	if j.walInfo, err = os.Stat(j.wal); err != nil {
		return nil, fmt.Errorf("%w: the WAL of an open store: %w", eventstore.ErrUnavailable, err)
	}
	return j, nil
}

// lostFile is what check found: which file, and what happened to it.
type lostFile struct {
	file   string
	what   string // "deleted" or "replaced"
	dbGone bool   // the database file (not only the WAL)
}

// check stats both paths. lost is set when one of them no longer names the
// file the store opened; err is a stat that failed otherwise (the files
// could not be checked: the group is not acknowledged, but nothing is known
// to be lost).
func (j *journal) check() (lost *lostFile, err error) {
	for _, f := range []struct {
		path string
		info os.FileInfo
		db   bool
	}{{j.db, j.dbInfo, true}, {j.wal, j.walInfo, false}} {
		now, err := os.Stat(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return &lostFile{file: f.path, what: "deleted", dbGone: f.db}, nil
		case err != nil:
			return nil, fmt.Errorf("%w: cannot check %s: %w", eventstore.ErrUnavailable, f.path, err)
		case !os.SameFile(now, f.info):
			return &lostFile{file: f.path, what: "replaced", dbGone: f.db}, nil
		}
	}
	return nil, nil
}

// watchJournal checks the files, after a group commit or while idle: nil if
// they are the store's. On the first loss it saves what it can, makes the
// store refuse writes from then on, and reports the loss once.
func (s *Store) watchJournal() error {
	if err := s.lost.Load(); err != nil {
		return *err
	}
	lost, err := s.w.journal.check()
	if lost == nil {
		return err
	}
	err = fmt.Errorf("%w: %w: %s was %s while the store had it open; %s; %w",
		eventstore.ErrUnavailable, ErrJournalLost, lost.file, lost.what, s.w.salvage(lost), eventstore.ErrUntilRestart)
	s.lost.Store(&err)
	if s.onLost != nil {
		s.onLost(err)
	}
	return err
}

// lostErr is the loss watchJournal found, or nil.
func (s *Store) lostErr() error {
	if err := s.lost.Load(); err != nil {
		return *err
	}
	return nil
}

// Healthy reports whether the store can take writes: nil, or the error
// that makes it refuse them for good (its files were deleted or replaced:
// see ErrJournalLost), or eventstore.ErrClosed once closed. A full disk or
// a lock held elsewhere passes: those clear by themselves.
func (s *Store) Healthy() error {
	if s.readOnly {
		return fmt.Errorf("%s: %w", s.path, ErrReadOnly)
	}
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	return s.lostErr()
}

// salvage saves what the lost files held, through the writer's connection,
// and says what it did. The connection is between transactions.
func (w *writer) salvage(lost *lostFile) string {
	if !w.conn.Autocommit() {
		w.rollback.Exec()
	}
	var saved string
	st, err := w.conn.Prepare(`PRAGMA wal_checkpoint(TRUNCATE)`)
	if err == nil {
		var row bool
		row, err = st.Step()
		if err == nil && row && st.Int64(0) != 0 {
			err = fmt.Errorf("checkpoint busy: %d of %d frames copied", st.Int64(2), st.Int64(1))
		}
		if rerr := st.Reset(); err == nil {
			err = rerr
		}
	}
	switch {
	case err != nil:
		saved = fmt.Sprintf("the checkpoint of the WAL into %s failed (%v): what the WAL held since the last checkpoint is lost at the next restart", w.path, err)
	case !lost.dbGone:
		saved = fmt.Sprintf("the WAL's committed events were checkpointed into %s", w.path)
	default:
		saved = "the WAL was checkpointed into the database file the store had open"
	}
	if !lost.dbGone {
		return saved
	}
	rescue := fmt.Sprintf("%s.rescued-%s", w.path, time.Now().UTC().Format("20060102T150405.000000000"))
	if err := w.vacuumInto(rescue); err != nil {
		os.Remove(rescue)
		return fmt.Sprintf("%s; copying it to %s failed (%v): its events are lost when the registrar stops", saved, rescue, err)
	}
	return fmt.Sprintf("%s; the store's events up to position %d were copied to %s (move it to %s, with no -wal beside it, to use it)",
		saved, w.head, rescue, filepath.Base(w.path))
}

// vacuumInto copies the database, as the writer's connection sees it, to a
// new file and syncs it.
func (w *writer) vacuumInto(name string) error {
	st, err := w.conn.Prepare(`VACUUM INTO ?1`)
	if err != nil {
		return err
	}
	if err := st.BindText(1, name); err != nil {
		return err
	}
	if err := st.Exec(); err != nil {
		return err
	}
	if err := syncFile(name); err != nil {
		return err
	}
	return syncFile(filepath.Dir(name))
}
