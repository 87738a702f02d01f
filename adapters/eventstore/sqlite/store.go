// Package sqlite is the embedded, default event store: one SQLite file
// (through modernc.org/sqlite, pure Go) holding the events table.
//
// One writer goroutine owns the only write connection and commits appends in
// groups: everything queued is written in one transaction, with a SAVEPOINT
// per Append so that one append's conflict undoes only that append, and made
// durable by one fsync (WAL, synchronous=FULL). Each event is chained to the
// one before it by eventstore.ChainHash. Reads run on a pool of read-only
// connections, beside the writer (WAL), and another process may read the
// file while the registrar writes it (OpenReadOnly).
//
// Appends write the events table only. The index that finds a stream's
// events by version is a derived table the writer brings up to date in
// batches, up to a watermark; reads of a stream take the indexed events and
// scan the few above the watermark, in one read transaction (index.go).
// Files made before it (schema version 1) keep their inline UNIQUE
// (stream, version) index and are used as before.
//
// The file is marked as an event store (PRAGMA application_id, user_version).
// Open refuses, without writing to it, a file that is not one, and fails
// with eventstore.ErrCorrupt on one that is visibly damaged: a header that
// does not add up, a file shorter than its header says, a last event whose
// hash does not chain to the one before. The whole chain is checked by
// Verify (eventstore.VerifyChain): that finds any edited, inserted,
// reordered or deleted event, except deleted events at the very end, which
// no chain kept in the same file can tell from events never written.
//
// Times are stored as Unix nanoseconds (UTC). The store talks to SQLite
// through its C API (internal/lite) rather than database/sql, which costs
// several allocations per column and would cap ReadAll at a third of its
// speed. Read connections map the file into memory (mmap_size): the file
// only ever grows, but truncating it from outside while a reader has it
// mapped would crash the reading process rather than fail its read.
//
// The writer checks, after each group commit and before answering it, that
// the database file and its WAL are still the files it opened (watch.go):
// one deleted or replaced under it fails the appends, for good, rather than
// acknowledge events a crash would lose.
//
// It implements the port internal/eventstore and imports nothing else of the
// project.
package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// ErrReadOnly: Append on a store opened with OpenReadOnly.
var ErrReadOnly = errors.New("event store opened read-only")

// Defaults of the options.
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultPollInterval = 50 * time.Millisecond
)

// Option configures Open and OpenReadOnly.
type Option func(*options)

type options struct {
	clock   func() time.Time
	busy    time.Duration
	poll    time.Duration
	readers int
	upkeep  upkeep
	// The journal watch (watch.go).
	onLost     func(error)
	watchEvery time.Duration
}

// WithClock sets the clock that stamps RecordedAt (default time.Now). The
// time is stored in UTC with nanoseconds.
func WithClock(clock func() time.Time) Option {
	return func(o *options) { o.clock = clock }
}

// WithBusyTimeout sets how long a statement waits for a lock held by another
// process before the operation fails with eventstore.ErrUnavailable
// (default DefaultBusyTimeout).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busy = d }
}

// WithPollInterval sets how often an idle Subscribe looks for events
// appended by another process (default DefaultPollInterval). Events appended
// through the same Store wake subscribers at once.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) { o.poll = d }
}

// WithReadParallelism sets how many connections a long ReadAll (or a
// Subscribe catching up) reads on at once (default: GOMAXPROCS, at most 4).
func WithReadParallelism(n int) Option {
	return func(o *options) { o.readers = n }
}

// Store is the SQLite event store. It implements eventstore.Store.
type Store struct {
	path     string
	readOnly bool
	poll     time.Duration
	readers  int
	upkeep   upkeep

	pool    *pool
	changes *broadcaster

	// Appends go through queue to the writer goroutine; mu guards the
	// switch to closing against sends.
	mu      sync.RWMutex
	closing bool
	queue   chan *request
	w       *writer
	// shrink asks the writer to give back its page cache (see
	// ReleaseMemory); it does, between two groups.
	shrink chan struct{}

	groups, appends, events atomic.Uint64 // commit statistics

	// lost is set, once, when the writer finds its database file or WAL
	// deleted or replaced (watch.go): every later write fails with it.
	lost       atomic.Pointer[error]
	onLost     func(error)
	watchEvery time.Duration

	closeOnce  sync.Once
	closeErr   error
	writerDone chan struct{}
	closed     chan struct{}
}

var _ eventstore.Store = (*Store)(nil)

func newOptions(opts []Option) options {
	o := options{
		clock:   time.Now,
		busy:    DefaultBusyTimeout,
		poll:    DefaultPollInterval,
		readers: min(runtime.GOMAXPROCS(0), 4),
		upkeep:  defaultUpkeep,

		watchEvery: DefaultJournalCheckInterval,
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.readers = max(o.readers, 1)
	if o.poll <= 0 {
		o.poll = DefaultPollInterval
	}
	return o
}

// Open opens the store in the file at path for reading and writing,
// creating the file if it does not exist. An existing file must be an event
// store: Open fails, without writing to it, with an error wrapping
// ErrNotEventStore for any other file, and with one wrapping
// eventstore.ErrCorrupt (naming the file and, where known, the position) if
// the file is truncated, its last event does not chain to the one before,
// its stream index covers events that are gone, or SQLite finds it
// malformed. If many events are not indexed yet (a file another program
// loaded), Open indexes them before it returns, and fails with
// eventstore.ErrCorrupt if two of them have the same stream and version.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	exists, err := inspect(path)
	if err != nil {
		return nil, err
	}
	if !exists {
		if err := create(path); err != nil {
			return nil, err
		}
		// Check what is there now: ours, or a file that raced us in.
		if _, err := inspect(path); err != nil {
			return nil, err
		}
	}
	s := newStore(path, false, o)
	w, err := openWriter(path, o)
	if err != nil {
		s.pool.close()
		return nil, err
	}
	if err := s.checkTail(ctx, w.head, w.lastHash); err != nil {
		s.pool.close()
		w.conn.Close()
		return nil, err
	}
	// A long tail (a file loaded by another program, or a writer that
	// did not get to index): index it now.
	if w.head-w.indexed >= o.upkeep.batch {
		if err := w.catchUp(); err != nil {
			s.pool.close()
			w.conn.Close()
			return nil, fmt.Errorf("open: %w", err)
		}
	}
	s.w = w
	s.queue = make(chan *request, 1024)
	s.shrink = make(chan struct{}, 1)
	go s.run()
	return s, nil
}

// ReleaseMemory gives back the memory long reads leave behind: the read
// connections map the file into memory, and every page a read touched
// stays resident in the process (VmRSS: the whole file after a read of
// every event) until its connection closes. It closes the idle ones, and
// the others as they come back; later reads open new ones. It also has the
// writer give back its page cache (PRAGMA shrink_memory) before its next
// group. The registrar calls it once it has read what it needed at start,
// and when it has been idle a while after a burst.
func (s *Store) ReleaseMemory() {
	s.pool.release()
	if s.shrink != nil {
		select {
		case s.shrink <- struct{}{}:
		default: // asked already
		}
	}
}

// OpenReadOnly opens an existing store for reading only, for instance for
// the audit tool while the registrar writes to the same file. It never
// creates, migrates or writes the database (SQLite may create the -wal and
// -shm files beside it, which readers of a WAL database need), and so
// never indexes: reads of a stream scan whatever events the writers have
// not indexed yet. Subscribe on it sees the writer's appends by polling.
// The same checks as Open apply.
func OpenReadOnly(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	exists, err := inspect(path)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("%w: %s: no such file", eventstore.ErrUnavailable, path)
	}
	s := newStore(path, true, o)
	if err := s.checkTail(ctx, 0, nil); err != nil {
		s.pool.close()
		return nil, err
	}
	close(s.writerDone)
	return s, nil
}

func newStore(path string, readOnly bool, o options) *Store {
	return &Store{
		path:       path,
		readOnly:   readOnly,
		poll:       o.poll,
		readers:    o.readers,
		upkeep:     o.upkeep,
		onLost:     o.onLost,
		watchEvery: o.watchEvery,
		pool:       &pool{path: path, busy: o.busy, maxIdle: 2 * o.readers},
		changes:    newBroadcaster(),
		writerDone: make(chan struct{}),
		closed:     make(chan struct{}),
	}
}

// checkTail is the cheap integrity check at open: the last event, read
// through a fresh read connection, must chain to the one before it, and
// positions must start at 1. With a writer, what the read connection sees
// must also agree with the head the writer loaded (position and hash).
func (s *Store) checkTail(ctx context.Context, head uint64, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := s.pool.get()
	if err != nil {
		return err
	}
	defer s.pool.put(rc)
	last, err := rc.query(rc.lastTwo, nil, noBind)
	if err != nil {
		return fmt.Errorf("open: %w", classify(s.path, err))
	}
	first, err := rc.scalar(rc.firstPos)
	if err != nil {
		return fmt.Errorf("open: %w", classify(s.path, err))
	}
	if err := verifyTail(s.path, last, first, s.readOnly, head, hash); err != nil {
		return err
	}
	if rc.layout == layoutDeferred {
		return rc.checkWatermark(s.path)
	}
	return nil
}

// checkWatermark checks the stream index's watermark (layout 2): one, and
// not past the last event.
func (rc *readConn) checkWatermark(path string) error {
	st := rc.marks
	row, err := st.Step()
	var w, rows, head int64
	if row {
		w, rows, head = st.Int64(0), st.Int64(1), st.Int64(2)
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		rc.broken = true
		return fmt.Errorf("open: %w", classify(path, err))
	}
	if rows != 1 {
		return fmt.Errorf("%w: %s: the stream index's watermark is missing", eventstore.ErrCorrupt, path)
	}
	_, err = checkWatermark(path, w, uint64(max(head, 0)))
	return err
}

// verifyTail checks the last two events (newest first) and the first
// position.
func verifyTail(path string, last []eventstore.RecordedEvent, first int64, readOnly bool, head uint64, hash []byte) error {
	if len(last) == 0 {
		if !readOnly && head != 0 {
			return fmt.Errorf("%w: %s: the writer sees %d events, a reader none", eventstore.ErrCorrupt, path, head)
		}
		return nil
	}
	if first != 1 {
		return fmt.Errorf("%w: %s: the first event is at position %d, not 1", eventstore.ErrCorrupt, path, first)
	}
	e := last[0]
	var prev []byte
	if len(last) == 2 {
		if last[1].Position != e.Position-1 {
			return fmt.Errorf("%w: %s: position %d missing before position %d", eventstore.ErrCorrupt, path, e.Position-1, e.Position)
		}
		prev = last[1].Hash
	} else if e.Position != 1 {
		return fmt.Errorf("%w: %s: a single event at position %d", eventstore.ErrCorrupt, path, e.Position)
	}
	if want := eventstore.ChainHash(prev, e); string(want) != string(e.Hash) {
		return fmt.Errorf("%w: %s: position %d (stream %q version %d): hash does not chain to the previous event", eventstore.ErrCorrupt, path, e.Position, e.Stream, e.Version)
	}
	if !readOnly && (e.Position != head || string(e.Hash) != string(hash)) {
		return fmt.Errorf("%w: %s: the writer's last event (position %d) differs from a reader's (position %d)", eventstore.ErrCorrupt, path, head, e.Position)
	}
	return nil
}

// Stats counts the writer's work since Open.
type Stats struct {
	Groups  uint64 // commits that wrote events (one fsync each)
	Appends uint64 // appends those commits carried, failed ones included
	Events  uint64 // events written
}

// Stats reports the writer's work since Open: Appends/Groups is the
// average size of a commit group.
func (s *Store) Stats() Stats {
	return Stats{Groups: s.groups.Load(), Appends: s.appends.Load(), Events: s.events.Load()}
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Verify checks the whole hash chain: see eventstore.VerifyChain.
func (s *Store) Verify(ctx context.Context, progress func(position uint64)) (uint64, error) {
	return eventstore.VerifyChain(ctx, s, progress)
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// check fails once the store is closed or ctx is done.
func (s *Store) check(ctx context.Context) error {
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	return ctx.Err()
}

// Append implements eventstore.Store. It returns once the events are
// committed and synced to disk. If ctx ends first, Append returns ctx's error
// without waiting: the append may still be committed, and retrying it with
// the same event IDs is safe. Errors from a full disk, a lock held by another
// process or failing I/O wrap eventstore.ErrUnavailable; the store stays
// usable and a later Append may succeed. Once the database file or its WAL
// is found deleted or replaced, every Append fails, until the store is
// opened again, with an error wrapping eventstore.ErrUnavailable and
// ErrJournalLost (see Healthy and watch.go). If the commit that indexes the
// events finds two with the same stream and version (the table was edited
// behind the store's back), the appends of that group fail with
// eventstore.ErrCorrupt.
func (s *Store) Append(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	return s.Enqueue(ctx, appends...)()
}

// Enqueue implements eventstore.Pipeliner: it queues the append for the
// writer and returns at once; the writer commits queued appends in queue
// order, so appends enqueued one after the other by one goroutine are
// committed in that order (an append may count on the one queued before
// it, for instance by expecting the version it leads to). The returned
// function waits for the outcome, as Append does.
func (s *Store) Enqueue(ctx context.Context, appends ...eventstore.StreamAppend) (wait func() (eventstore.AppendResult, error)) {
	req, err := s.enqueue(ctx, appends)
	if err != nil {
		return func() (eventstore.AppendResult, error) { return eventstore.AppendResult{}, err }
	}
	return func() (eventstore.AppendResult, error) {
		select {
		case <-req.done:
			return req.res, req.err
		case <-ctx.Done():
			return eventstore.AppendResult{}, ctx.Err()
		}
	}
}

var _ eventstore.Pipeliner = (*Store)(nil)

func (s *Store) enqueue(ctx context.Context, appends []eventstore.StreamAppend) (*request, error) {
	if s.readOnly {
		return nil, fmt.Errorf("%s: %w", s.path, ErrReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateAppends(appends); err != nil {
		return nil, err
	}
	if err := s.lostErr(); err != nil {
		return nil, err
	}
	req := &request{ctx: ctx, appends: appends, done: make(chan struct{})}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closing {
		return nil, eventstore.ErrClosed
	}
	s.queue <- req
	return req, nil
}

// Close completes the appends already queued, then closes the store:
// later appends fail with eventstore.ErrClosed, and so do running reads and
// subscriptions. It indexes the events not indexed yet (if that fails,
// they stay for the next writer to index). Closing again returns the first
// Close's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		if s.queue != nil {
			close(s.queue)
		}
		s.mu.Unlock()
		<-s.writerDone
		close(s.closed)
		// Readers first, so that the writer's close can checkpoint the
		// WAL into the database and remove it.
		s.pool.close()
		if s.w != nil {
			if s.lostErr() != nil {
				s.w.upkeep.atClose = false // write nothing more to lost files
			}
			if err := s.w.close(); err != nil {
				s.closeErr = fmt.Errorf("close %s: %w", s.path, err)
			}
		}
	})
	return s.closeErr
}
