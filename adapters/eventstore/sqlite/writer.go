package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite/internal/lite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// Bounds of a commit group.
const (
	maxGroupAppends = 512
	maxGroupEvents  = 8192
	// maxLinger bounds how long the writer waits for a group to fill;
	// it stops waiting sooner when no append arrived for lingerGap.
	maxLinger = time.Millisecond
	lingerGap = 100 * time.Microsecond
)

// request is one Append waiting for the writer.
type request struct {
	ctx     context.Context
	appends []eventstore.StreamAppend
	res     eventstore.AppendResult
	err     error
	done    chan struct{}
}

// writer owns the write connection. Only the writer goroutine uses it
// (after openWriter returns, and until it is done: then Close).
type writer struct {
	path   string
	conn   *lite.Conn
	clock  func() time.Time
	layout layout
	upkeep upkeep
	// ix keeps the stream index of a layout-2 file (nil in layout 1).
	ix *indexer
	// journal is the identity of the database file and WAL the
	// connection has open (watch.go).
	journal *journal

	begin, commit, rollback        *lite.Stmt
	savepoint, release, rollbackTo *lite.Stmt
	streamVersion                  *lite.Stmt
	indexVersion, tailScan         *lite.Stmt // layout 2
	insert                         *lite.Stmt
	byID                           *lite.Stmt
	last                           *lite.Stmt
	dataVersion                    *lite.Stmt

	// head and lastHash are the last committed event (as of the open
	// transaction, inside one).
	head     uint64
	lastHash []byte
	// indexed is the stream index's watermark as of head (layout 2). It
	// only decides when to index: the indexer reads the watermark itself.
	indexed uint64
	// dv is PRAGMA data_version after our last transaction: it changes
	// only when another connection commits, so a change means another
	// process wrote to the file and head must be reloaded.
	dv int64
	// versions caches streams' versions (-1: no stream) as the open
	// transaction sees them, saving a lookup of the (stream, version)
	// index (and in layout 2 a scan of the tail) per append. Entries are
	// dropped when what they say may be undone (a rolled-back append, an
	// aborted group) or changed elsewhere (another writer's commit), and
	// all of them when there are too many.
	versions map[string]int64
	// tail (layout 2) holds, when tailKnown, every stream with events above
	// the watermark and its last version there, as the open transaction
	// sees them: a stream not in it is looked up in the index alone (one
	// seek), not by scanning the tail, which matters when every
	// autoregistration starts a new stream. Whatever may make it wrong (a
	// rollback, another connection's commit, a partial indexing) sets
	// tailKnown false, and the next lookup rebuilds it with one scan of the
	// tail.
	tail      map[string]int64
	tailKnown bool
	tailScans atomic.Uint64 // loadTail calls, for tests
}

// maxCachedStreams bounds the writer's cache of stream versions. A miss
// costs one index seek; the cache saves it for the streams appended to
// again and again (the cluster's, the range's).
const maxCachedStreams = 1 << 12

func noBind(*lite.Stmt) error { return nil }

// openWriter opens and configures the write connection and loads the head.
func openWriter(path string, o options) (_ *writer, err error) {
	c, err := lite.Open(path, lite.OpenReadWrite|lite.OpenNoMutex)
	if err != nil {
		return nil, classify(path, err)
	}
	w := &writer{path: path, conn: c, clock: o.clock, upkeep: o.upkeep, versions: make(map[string]int64), tail: make(map[string]int64)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := c.BusyTimeout(o.busy); err != nil {
		return nil, classify(path, err)
	}
	if w.layout, err = readLayout(c, path); err != nil {
		return nil, err
	}
	// journal_mode is persistent (set at creation); setting it again
	// is a no-op unless someone switched the file back.
	if err := c.Exec(`
		PRAGMA journal_mode = WAL;
		PRAGMA synchronous = FULL;
		PRAGMA foreign_keys = OFF;
		PRAGMA temp_store = MEMORY;
		PRAGMA cache_size = -8192;
		PRAGMA journal_size_limit = 67108864;
	`); err != nil {
		return nil, classify(path, err)
	}
	for _, p := range []struct {
		stmt **lite.Stmt
		sql  string
	}{
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.rollback, `ROLLBACK`},
		{&w.savepoint, `SAVEPOINT append`},
		{&w.release, `RELEASE append`},
		{&w.rollbackTo, `ROLLBACK TO append`},
		{&w.streamVersion, streamVersionSQL(w.layout)},
		{&w.insert, `INSERT INTO events (` + eventColumns + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`},
		{&w.byID, `SELECT ` + eventColumns + ` FROM events WHERE id = ?1`},
		{&w.last, `SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`},
		{&w.dataVersion, `PRAGMA data_version`},
	} {
		if *p.stmt, err = c.Prepare(p.sql); err != nil {
			return nil, schemaError(path, err)
		}
	}
	if w.layout == layoutDeferred {
		if w.ix, err = newIndexer(c, path); err != nil {
			return nil, err
		}
		for _, p := range []struct {
			stmt **lite.Stmt
			sql  string
		}{
			{&w.indexVersion, `SELECT max(version) FROM stream_index WHERE stream = ?1`},
			{&w.tailScan, `SELECT stream, max(version) FROM events WHERE position > ` + watermarkSQL + ` GROUP BY stream`},
		} {
			if *p.stmt, err = c.Prepare(p.sql); err != nil {
				return nil, schemaError(path, err)
			}
		}
	}
	if err := w.begin.Exec(); err != nil {
		return nil, classify(path, err)
	}
	err = w.loadHead()
	if rerr := w.rollback.Exec(); err == nil && rerr != nil {
		err = classify(path, rerr)
	}
	if err != nil {
		return nil, err
	}
	// The read transaction above opened (or made) the WAL, which the
	// connection keeps open until it closes.
	if w.journal, err = openJournal(path); err != nil {
		return nil, err
	}
	return w, nil
}

// loadHead reads the last event's position and hash, the index's
// watermark, and data_version.
func (w *writer) loadHead() error {
	row, err := w.last.Step()
	if err == nil && row {
		w.head = uint64(w.last.Int64(0))
		w.lastHash = bytes.Clone(w.last.Bytes(1))
	} else if err == nil {
		w.head, w.lastHash = 0, nil
	}
	if rerr := w.last.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("load the last event: %w", classify(w.path, err))
	}
	if w.ix != nil {
		if w.indexed, err = w.ix.read(w.head); err != nil {
			return err
		}
	}
	clear(w.versions)
	w.forgetTail()
	if w.dv, err = w.scalar(w.dataVersion); err != nil {
		return fmt.Errorf("data_version: %w", classify(w.path, err))
	}
	return nil
}

func (w *writer) scalar(st *lite.Stmt) (int64, error) {
	row, err := st.Step()
	var v int64
	if row {
		v = st.Int64(0)
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	return v, err
}

// close closes the connection, once the writer goroutine is done. It
// indexes the tail first (when the upkeep says so), so that a store closed
// cleanly has no tail; failing that only leaves the tail for later.
func (w *writer) close() error {
	if w.upkeep.atClose {
		w.catchUp()
	}
	return w.conn.Close()
}

// lagging reports whether the stream index may lag behind the events (as
// of the last transaction).
func (w *writer) lagging() bool {
	return w.ix != nil && w.indexed < w.head
}

// catchUp indexes the tail up to the head, in transactions of their own.
func (w *writer) catchUp() error {
	if w.ix == nil {
		return nil
	}
	target := w.head
	for w.indexed < target {
		before := w.indexed
		if err := w.indexStep(target); err != nil {
			return err
		}
		if w.indexed <= before {
			return nil // no progress: do not spin
		}
	}
	return nil
}

// indexStep indexes the tail up to position target (at most maxIndexBatch
// events) in a transaction of its own. The events are durable already:
// the transaction's commit makes the index rows durable with them or not
// at all.
func (w *writer) indexStep(target uint64) error {
	if !w.conn.Autocommit() {
		w.rollback.Exec()
	}
	if err := w.begin.Exec(); err != nil {
		return fmt.Errorf("index: %w", classify(w.path, err))
	}
	indexed := w.indexed
	fail := func(err error) error {
		w.rollback.Exec()
		w.indexed = indexed
		w.forgetTail()
		return fmt.Errorf("index: %w", err)
	}
	dv, err := w.scalar(w.dataVersion)
	if err != nil {
		return fail(classify(w.path, err))
	}
	if dv != w.dv {
		// Another connection committed: our head is stale.
		if err := w.loadHead(); err != nil {
			return fail(err)
		}
		indexed = w.indexed
	}
	if err := w.index(min(target, w.head)); err != nil {
		return fail(err)
	}
	if err := w.commit.Exec(); err != nil {
		return fail(classify(w.path, err))
	}
	return nil
}

// index indexes the tail up to position to (at most maxIndexBatch events)
// inside the open transaction, and sets w.indexed.
func (w *writer) index(to uint64) error {
	from, err := w.ix.read(w.head)
	if err != nil {
		return err
	}
	w.indexed, err = w.ix.index(from, to)
	if err == nil && w.indexed == w.head {
		clear(w.tail) // no tail left
		w.tailKnown = true
	} else {
		w.forgetTail()
	}
	return err
}

// forgetTail marks the tail's streams unknown: the next lookup rescans it.
func (w *writer) forgetTail() {
	clear(w.tail)
	w.tailKnown = false
}

// loadTail rebuilds tail with one scan of the events above the watermark,
// inside the open transaction.
func (w *writer) loadTail() error {
	w.tailScans.Add(1)
	clear(w.tail)
	st := w.tailScan
	for {
		row, err := st.Step()
		if err != nil {
			st.Reset()
			return err
		}
		if !row {
			break
		}
		w.tail[string(st.Text(0))] = st.Int64(1)
	}
	if err := st.Reset(); err != nil {
		return err
	}
	w.tailKnown = true
	return nil
}

// run is the writer goroutine: it takes whatever is queued, up to the group
// bounds, commits it as one group, and answers; it returns once the queue
// is closed and drained.
//
// Appenders that wait for their commit cannot queue their next append
// until they are answered, so right after a commit the queue is empty while
// they come back one by one. Taking only the first of them would halve the
// groups (one tiny group, then one with all the others). So when the
// recent groups had several appends, the writer lingers for as many as the
// largest of the last eight had (one group cut short by a straggler does
// not shrink the next), as long as they keep arriving (lingerGap) and for
// at most half the time a commit takes (and maxLinger). A lone sequential
// appender has groups of one and is never delayed.
//
// Between groups, it keeps the stream index (see receive and commitGroup).
func (s *Store) run() {
	defer close(s.writerDone)
	group := make([]*request, 0, maxGroupAppends)
	var recent [8]int // sizes of the last groups, in a ring
	next := 0
	target := 1                        // the largest of them
	var commitTime time.Duration       // how long the last commit took
	linger := time.NewTimer(time.Hour) // reused
	linger.Stop()
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	var watch <-chan time.Time // the idle check of the files
	if s.watchEvery > 0 {
		t := time.NewTicker(s.watchEvery)
		defer t.Stop()
		watch = t.C
	}
	for {
		req, ok := s.receive(idle, watch)
		if !ok {
			return
		}
		group = append(group[:0], req)
		events := eventstore.CountEvents(req.appends)
		full := func() bool { return len(group) >= maxGroupAppends || events >= maxGroupEvents }
		take := func(r *request) {
			group = append(group, r)
			events += eventstore.CountEvents(r.appends)
		}
		open := true
	drain:
		for open && !full() {
			select {
			case r, ok := <-s.queue:
				if open = ok; ok {
					take(r)
				}
			default:
				break drain
			}
		}
		if wait := min(commitTime/2, maxLinger); open && len(group) < target && wait > 0 {
			// Wait while they keep coming: give up after a quiet gap
			// (the stragglers may not come back at all), or at the
			// deadline.
			deadline := time.Now().Add(wait)
		gather:
			for len(group) < target && !full() {
				left := time.Until(deadline)
				if left <= 0 {
					break
				}
				linger.Reset(min(left, lingerGap))
				select {
				case r, ok := <-s.queue:
					if !ok {
						break gather
					}
					take(r)
				case <-linger.C:
					break gather
				}
			}
			linger.Stop() // since Go 1.23 no stale tick survives Stop
		}

		start := time.Now()
		head := s.w.head
		if err := s.lostErr(); err != nil {
			for _, r := range group {
				r.res, r.err = eventstore.AppendResult{}, err
			}
		} else if s.w.commitGroup(group) {
			s.groups.Add(1)
			s.appends.Add(uint64(len(group)))
			s.events.Add(s.w.head - head)
			s.changes.broadcast()
		}
		// No append is acknowledged unless its files are still the
		// store's: committed into a deleted WAL, it would be lost at
		// the next crash (watch.go).
		if err := s.watchJournal(); err != nil {
			for _, r := range group {
				if r.err == nil {
					r.res, r.err = eventstore.AppendResult{}, err
				}
			}
		}
		commitTime = time.Since(start)
		recent[next] = len(group)
		next = (next + 1) % len(recent)
		target = slices.Max(recent[:])
		for _, r := range group {
			close(r.done)
		}
		clear(group)
	}
}

// receive waits for the next request; ok is false once the queue is closed
// and drained. While the stream index lags behind, a writer that got no
// request for upkeep.idle indexes the tail (a transaction at a time) in the
// meantime.
func (s *Store) receive(idle *time.Timer, watch <-chan time.Time) (req *request, ok bool) {
	for s.upkeep.idle > 0 && s.w.lagging() && s.lostErr() == nil {
		idle.Reset(s.upkeep.idle)
		select {
		case req, ok = <-s.queue:
			idle.Stop()
			return req, ok
		case <-idle.C:
		}
		if s.w.indexStep(s.w.head) != nil {
			break // the next group, or the next idle time, tries again
		}
	}
	for {
		select {
		case req, ok = <-s.queue:
			return req, ok
		case <-s.shrink:
			// Idle: the page cache the last groups filled goes back.
			_ = s.w.conn.Exec(`PRAGMA shrink_memory`)
		case <-watch:
			// Idle: the files the last groups went to are still the
			// store's, or what they hold is saved now rather than at
			// the next append (watch.go).
			_ = s.watchJournal()
		}
	}
}

// commitGroup writes the group's appends in one transaction, one savepoint
// each, and commits once. It sets each request's result and reports whether
// anything was committed. Once the tail is upkeep.batch events long, the
// same transaction indexes it; if that fails, the whole group fails.
func (w *writer) commitGroup(group []*request) (wrote bool) {
	fail := func(err error) {
		for _, r := range group {
			r.res, r.err = eventstore.AppendResult{}, err
		}
	}
	if !w.conn.Autocommit() {
		// A failed ROLLBACK left a transaction open: try again, or BEGIN
		// would fail from now on.
		w.rollback.Exec()
	}
	if err := w.begin.Exec(); err != nil {
		fail(fmt.Errorf("append: %w", classify(w.path, err)))
		return false
	}
	head, hash, indexed := w.head, w.lastHash, w.indexed
	abort := func(err error) bool {
		w.rollback.Exec() // the transaction may already be gone
		w.head, w.lastHash, w.indexed = head, hash, indexed
		clear(w.versions)
		w.forgetTail()
		fail(err)
		return false
	}
	dv, err := w.scalar(w.dataVersion)
	if err != nil {
		return abort(fmt.Errorf("append: %w", classify(w.path, err)))
	}
	if dv != w.dv {
		// Another connection committed: our head is stale.
		if err := w.loadHead(); err != nil {
			return abort(fmt.Errorf("append: %w", err))
		}
		head, hash, indexed = w.head, w.lastHash, w.indexed
	}

	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.res, r.err = eventstore.AppendResult{}, err
			continue
		}
		var fatal error
		r.res, r.err, fatal = w.appendOne(r.appends)
		if fatal != nil {
			return abort(fmt.Errorf("append: %w", classify(w.path, fatal)))
		}
	}

	// Index the tail with the group's events, once it is long enough:
	// the index rows and the watermark commit with them.
	if w.ix != nil && w.head-w.indexed >= w.upkeep.batch {
		if err := w.index(w.head); err != nil {
			return abort(fmt.Errorf("append: %w", err))
		}
	}

	if err := w.commit.Exec(); err != nil {
		return abort(fmt.Errorf("append: commit: %w", classify(w.path, err)))
	}
	return w.head != head
}

// appendOne runs one Append inside the group's transaction, under a
// savepoint. res and err are the Append's outcome; fatal is an error that
// dooms the whole transaction (I/O, full disk, ...).
func (w *writer) appendOne(appends []eventstore.StreamAppend) (res eventstore.AppendResult, err, fatal error) {
	if err := w.savepoint.Exec(); err != nil {
		return res, nil, err
	}
	head, hash := w.head, w.lastHash
	res, err, fatal = w.apply(appends)
	if err == nil && fatal == nil {
		if fatal = w.release.Exec(); fatal != nil {
			return eventstore.AppendResult{}, nil, fatal
		}
		return res, nil, nil
	}
	w.head, w.lastHash = head, hash
	for _, a := range appends {
		delete(w.versions, a.Stream)
	}
	w.forgetTail()
	if fatal != nil {
		return eventstore.AppendResult{}, nil, fatal
	}
	if fatal = w.rollbackTo.Exec(); fatal == nil {
		fatal = w.release.Exec()
	}
	if fatal != nil {
		return eventstore.AppendResult{}, nil, fatal
	}
	// A conflict or a taken ID: the retry of a stored append succeeds.
	stored, ok, merr := eventstore.MatchStored(appends, w.lookup, w.version)
	switch {
	case merr != nil:
		if lite.Code(merr) != 0 {
			return eventstore.AppendResult{}, nil, merr
		}
		return eventstore.AppendResult{}, merr, nil
	case ok:
		return stored, nil, nil
	}
	return eventstore.AppendResult{}, err, nil
}

// errIDTaken marks a UNIQUE violation on an event ID that MatchStored found
// no trace of (it cannot happen unless the table changed under us).
var errIDTaken = fmt.Errorf("%w: unique constraint", eventstore.ErrDuplicateEvent)

// apply checks every expected version, then inserts the events, chaining
// their hashes. err is a conflict or a taken ID; fatal anything else.
func (w *writer) apply(appends []eventstore.StreamAppend) (res eventstore.AppendResult, err, fatal error) {
	res.Versions = make([]int64, len(appends))
	for i, a := range appends {
		cur, err := w.version(a.Stream)
		if err != nil {
			return res, nil, err
		}
		if !a.Expected.Allows(cur) {
			return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: a.Stream, Expected: a.Expected, Actual: cur}, nil
		}
		res.Versions[i] = cur
	}
	if eventstore.CountEvents(appends) == 0 {
		return res, nil, nil
	}
	now := w.clock().UTC().Round(0)
	nanos := now.UnixNano()
	for i, a := range appends {
		for _, e := range a.Events {
			rec := eventstore.RecordedEvent{
				Position:   w.head + 1,
				Stream:     a.Stream,
				Version:    uint64(res.Versions[i] + 1),
				ID:         e.ID,
				Type:       e.Type,
				Data:       e.Data,
				Metadata:   e.Metadata,
				RecordedAt: now,
			}
			h := eventstore.ChainHash(w.lastHash, rec)
			if err := w.insertEvent(rec, nanos, h); err != nil {
				if lite.Code(err) == lite.CodeConstraint {
					return eventstore.AppendResult{}, fmt.Errorf("%w: %s", errIDTaken, e.ID), nil
				}
				return eventstore.AppendResult{}, nil, err
			}
			w.head, w.lastHash = rec.Position, h
			res.Versions[i]++
		}
		w.versions[a.Stream] = res.Versions[i]
		if w.tailKnown && len(a.Events) > 0 {
			w.tail[a.Stream] = res.Versions[i]
		}
	}
	res.Position = w.head
	return res, nil, nil
}

func (w *writer) insertEvent(e eventstore.RecordedEvent, nanos int64, hash []byte) error {
	st := w.insert
	if err := st.BindInt64(1, int64(e.Position)); err != nil {
		return err
	}
	if err := st.BindText(2, e.Stream); err != nil {
		return err
	}
	if err := st.BindInt64(3, int64(e.Version)); err != nil {
		return err
	}
	if err := st.BindText(4, e.ID); err != nil {
		return err
	}
	if err := st.BindText(5, e.Type); err != nil {
		return err
	}
	if err := st.BindBlob(6, e.Data); err != nil {
		return err
	}
	if err := st.BindBlob(7, e.Metadata); err != nil {
		return err
	}
	if err := st.BindInt64(8, nanos); err != nil {
		return err
	}
	if err := st.BindBlob(9, hash); err != nil {
		return err
	}
	return st.Exec()
}

// version is a stream's current version (-1: no stream).
func (w *writer) version(stream string) (int64, error) {
	if v, ok := w.versions[stream]; ok {
		return v, nil
	}
	if len(w.versions) >= maxCachedStreams {
		clear(w.versions)
	}
	st := w.streamVersion
	if w.ix != nil {
		if !w.tailKnown {
			if err := w.loadTail(); err != nil {
				return 0, err
			}
		}
		if v, ok := w.tail[stream]; ok {
			w.versions[stream] = v
			return v, nil
		}
		st = w.indexVersion // not in the tail: the index has it all
	}
	if err := st.BindText(1, stream); err != nil {
		return 0, err
	}
	row, err := st.Step()
	v := int64(-1)
	if row && !st.IsNull(0) {
		v = st.Int64(0)
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	if err == nil {
		w.versions[stream] = v
	}
	return v, err
}

// lookup finds a stored event by ID, for eventstore.MatchStored.
func (w *writer) lookup(id string) (eventstore.RecordedEvent, bool, error) {
	st := w.byID
	if err := st.BindText(1, id); err != nil {
		return eventstore.RecordedEvent{}, false, err
	}
	row, err := st.Step()
	var e eventstore.RecordedEvent
	if row {
		e = decodeRow(st)
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	return e, row && err == nil, err
}
