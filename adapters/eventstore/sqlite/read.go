package sqlite

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite/internal/lite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// chunkSize is how many events a read takes from SQLite at a time. Each
// chunk is one short read transaction; the caller's function runs between
// chunks, never while SQLite holds a snapshot open for it.
const chunkSize = 1024

// eventColumns are the columns decodeRow reads, in its order.
const eventColumns = `position, stream, version, id, type, data, metadata, recorded_at, hash`

// readConn is a read-only connection with its prepared statements.
type readConn struct {
	conn     *lite.Conn
	layout   layout
	all      *lite.Stmt // events from a position
	stream   *lite.Stmt // a stream's events from a version (layout 2: the indexed ones)
	tail     *lite.Stmt // layout 2: a stream's events above the watermark
	begin    *lite.Stmt // layout 2: a read transaction around stream and tail
	commit   *lite.Stmt
	head     *lite.Stmt // the last position
	lastTwo  *lite.Stmt // the last two events, newest first
	firstPos *lite.Stmt // the first position
	marks    *lite.Stmt // layout 2: the watermark and the last position, in one snapshot
	broken   bool       // an error left it in doubt: close it
	gen      uint64     // the pool's generation when it was opened (see pool.release)
	// read counts the bytes of the events it read: the pages of the file
	// they lay in stay mapped, resident in the process, until the
	// connection closes (see maxMappedRead).
	read int64
}

// maxMappedRead bounds what a pooled read connection reads before it is
// closed rather than pooled again: it maps the file (mmap_size), and every
// page a read touched stays resident in the process until the connection
// closes. Following the store (Subscribe) reads every event appended: a
// connection kept for good would hold the whole file's pages resident.
// Reopening one costs a few hundred microseconds.
const maxMappedRead = 8 << 20

func openReadConn(path string, busy time.Duration) (_ *readConn, err error) {
	c, err := lite.Open(path, lite.OpenReadOnly|lite.OpenNoMutex)
	if err != nil {
		return nil, classify(path, err)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := c.BusyTimeout(busy); err != nil {
		return nil, classify(path, err)
	}
	if err := c.Exec(`PRAGMA query_only = 1; PRAGMA cache_size = -8192; PRAGMA mmap_size = 17179869184;`); err != nil {
		return nil, classify(path, err)
	}
	rc := &readConn{conn: c}
	if rc.layout, err = readLayout(c, path); err != nil {
		return nil, err
	}
	stmts := []struct {
		stmt **lite.Stmt
		sql  string
	}{
		{&rc.all, `SELECT ` + eventColumns + ` FROM events WHERE position >= ?1 ORDER BY position LIMIT ?2`},
		{&rc.stream, streamSQL(rc.layout)},
		{&rc.head, `SELECT max(position) FROM events`},
		{&rc.lastTwo, `SELECT ` + eventColumns + ` FROM events ORDER BY position DESC LIMIT 2`},
		{&rc.firstPos, `SELECT min(position) FROM events`},
	}
	if rc.layout == layoutDeferred {
		stmts = append(stmts, []struct {
			stmt **lite.Stmt
			sql  string
		}{
			{&rc.tail, streamTailSQL},
			{&rc.begin, `BEGIN`},
			{&rc.commit, `COMMIT`},
			{&rc.marks, `SELECT ` + watermarkSQL + `, (SELECT count(*) FROM stream_index_state), (SELECT max(position) FROM events)`},
		}...)
	}
	for _, p := range stmts {
		if *p.stmt, err = c.Prepare(p.sql); err != nil {
			return nil, schemaError(path, err)
		}
	}
	return rc, nil
}

// schemaError reports a statement that does not compile against the file:
// the file says it is a store but lacks the store's tables.
func schemaError(path string, err error) error {
	if e := classify(path, err); e != err {
		return e
	}
	return fmt.Errorf("%w: %s: the schema is not the event store's: %w", eventstore.ErrCorrupt, path, err)
}

// pool keeps idle read connections.
type pool struct {
	path    string
	busy    time.Duration
	maxIdle int

	mu     sync.Mutex
	idle   []*readConn
	closed bool
	gen    uint64 // see release
}

func (p *pool) get() (*readConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, eventstore.ErrClosed
	}
	if n := len(p.idle); n > 0 {
		rc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return rc, nil
	}
	gen := p.gen
	p.mu.Unlock()
	rc, err := openReadConn(p.path, p.busy)
	if rc != nil {
		rc.gen = gen
	}
	return rc, err
}

func (p *pool) put(rc *readConn) {
	p.mu.Lock()
	if !rc.broken && !p.closed && rc.gen == p.gen && rc.read < maxMappedRead && len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, rc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	rc.conn.Close()
}

// release closes the idle connections, and those in use when they come
// back: a connection maps the file (mmap_size), and the pages a long read
// touched stay resident in the process until it closes.
func (p *pool) release() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.gen++
	p.mu.Unlock()
	for _, rc := range idle {
		rc.conn.Close()
	}
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, rc := range idle {
		rc.conn.Close()
	}
}

// scalar runs a one-value query (NULL reads as 0).
func (rc *readConn) scalar(st *lite.Stmt) (int64, error) {
	row, err := st.Step()
	var v int64
	if row {
		v = st.Int64(0)
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		rc.broken = true
	}
	return v, err
}

// query runs st (bound by bind) and appends its rows to buf.
func (rc *readConn) query(st *lite.Stmt, buf []eventstore.RecordedEvent, bind func(*lite.Stmt) error) ([]eventstore.RecordedEvent, error) {
	err := bind(st)
	for err == nil {
		var row bool
		if row, err = st.Step(); err != nil || !row {
			break
		}
		buf = append(buf, decodeRow(st))
	}
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		rc.broken = true
	}
	return buf, err
}

// decodeRow copies the current row (eventColumns) out of SQLite's memory.
// All of an event's strings and byte slices share one allocation, sized
// exactly; the byte slices are capped so that appending to one cannot
// overwrite the next, and the strings are never reachable through them.
func decodeRow(st *lite.Stmt) eventstore.RecordedEvent {
	stream, id, typ := st.Text(1), st.Text(3), st.Text(4)
	data, meta, hash := st.Bytes(5), st.Bytes(6), st.Bytes(8)
	buf := make([]byte, len(stream)+len(id)+len(typ)+len(data)+len(meta)+len(hash))
	off := 0
	str := func(b []byte) string {
		if len(b) == 0 {
			return ""
		}
		n := copy(buf[off:], b)
		s := unsafe.String(&buf[off], n)
		off += n
		return s
	}
	bin := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		n := copy(buf[off:], b)
		s := buf[off : off+n : off+n]
		off += n
		return s
	}
	return eventstore.RecordedEvent{
		Position:   uint64(st.Int64(0)),
		Stream:     str(stream),
		Version:    uint64(st.Int64(2)),
		ID:         str(id),
		Type:       str(typ),
		Data:       bin(data),
		Metadata:   bin(meta),
		RecordedAt: time.Unix(0, st.Int64(7)).UTC(),
		Hash:       bin(hash),
	}
}

// readChunk reads up to limit events from position from into buf[:0].
func (s *Store) readChunk(from uint64, limit int, buf []eventstore.RecordedEvent) ([]eventstore.RecordedEvent, error) {
	rc, err := s.pool.get()
	if err != nil {
		return buf[:0], err
	}
	defer s.pool.put(rc)
	buf, err = rc.query(rc.all, buf[:0], func(st *lite.Stmt) error {
		if err := st.BindInt64(1, int64(from)); err != nil {
			return err
		}
		return st.BindInt64(2, int64(limit))
	})
	for i := range buf {
		rc.read += int64(len(buf[i].Data) + len(buf[i].Metadata) + len(buf[i].Stream) + 64)
	}
	if err != nil {
		return buf, s.readError(err)
	}
	return buf, nil
}

// readError names the file on a read error; after Close, reads fail with
// ErrClosed whatever SQLite said.
func (s *Store) readError(err error) error {
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	return fmt.Errorf("read: %w", classify(s.path, err))
}

// ReadAll implements eventstore.Store. Position 0 reads from the start.
// Events appended while ReadAll runs may or may not be included.
func (s *Store) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	_, err := s.readFrom(ctx, max(from, 1), fn, new([]eventstore.RecordedEvent))
	return err
}

// readFrom delivers the events from position `from` on, up to the end as
// some snapshot sees it, and returns the position after the last one
// delivered. A first chunk is read directly; if it is full, the rest is read
// by s.readers goroutines on their own connections, each taking every
// readers-th chunk, while this goroutine delivers the chunks in order.
// Positions are gap-free, so chunk k starts at from + k*chunkSize; any later
// snapshot agrees with an earlier one on every position both contain, so
// chunks read from different snapshots still form one consistent prefix,
// which ends at the first chunk that is not full.
//
// *spare is a chunk buffer to use (nil: make one); readFrom leaves one there
// for the next call (a subscription reads again and again).
func (s *Store) readFrom(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error, spare *[]eventstore.RecordedEvent) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return from, err
	}
	buf := *spare
	if buf == nil {
		buf = make([]eventstore.RecordedEvent, 0, chunkSize)
	}
	defer func() {
		clear(buf) // drop references to delivered events
		*spare = buf[:0]
	}()
	buf, err := s.readChunk(from, chunkSize, buf)
	if err != nil {
		return from, err
	}
	next, err := deliver(from, buf, fn)
	if err != nil || len(buf) < chunkSize {
		return next, err
	}
	if s.readers <= 1 {
		for {
			if err := s.check(ctx); err != nil {
				return next, err
			}
			if buf, err = s.readChunk(next, chunkSize, buf); err != nil {
				return next, err
			}
			if next, err = deliver(next, buf, fn); err != nil || len(buf) < chunkSize {
				return next, err
			}
		}
	}
	spareBuf := buf
	buf = nil // the parallel reader owns it now
	return s.readParallel(ctx, next, fn, spareBuf)
}

// deliver checks that chunk starts at position next and runs without gaps,
// and calls fn for each event.
func deliver(next uint64, chunk []eventstore.RecordedEvent, fn func(eventstore.RecordedEvent) error) (uint64, error) {
	for i := range chunk {
		if chunk[i].Position != next {
			return next, fmt.Errorf("%w: expected an event at position %d, found position %d", eventstore.ErrCorrupt, next, chunk[i].Position)
		}
		if err := fn(chunk[i]); err != nil {
			return next, err
		}
		next++
	}
	return next, nil
}

type chunkResult struct {
	events []eventstore.RecordedEvent
	err    error
}

func (s *Store) readParallel(ctx context.Context, base uint64, fn func(eventstore.RecordedEvent) error, spare []eventstore.RecordedEvent) (uint64, error) {
	n := s.readers
	stop := make(chan struct{})
	var wg sync.WaitGroup
	out := make([]chan chunkResult, n)
	free := make([]chan []eventstore.RecordedEvent, n)
	for w := range n {
		// Two buffers per worker: it reads one while the other is
		// being delivered.
		out[w] = make(chan chunkResult, 2)
		free[w] = make(chan []eventstore.RecordedEvent, 2)
		if w == 0 {
			free[w] <- spare[:0]
		} else {
			free[w] <- make([]eventstore.RecordedEvent, 0, chunkSize)
		}
		free[w] <- make([]eventstore.RecordedEvent, 0, chunkSize)
		wg.Go(func() {
			for k := uint64(w); ; k += uint64(n) {
				var buf []eventstore.RecordedEvent
				select {
				case buf = <-free[w]:
				case <-stop:
					return
				}
				buf, err := s.readChunk(base+k*chunkSize, chunkSize, buf)
				select {
				case out[w] <- chunkResult{buf, err}:
				case <-stop:
					return
				}
				if err != nil || len(buf) < chunkSize {
					return
				}
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	next := base
	for k := 0; ; k++ {
		if err := s.check(ctx); err != nil {
			return next, err
		}
		w := k % n
		r := <-out[w]
		if r.err != nil {
			return next, r.err
		}
		var err error
		if next, err = deliver(next, r.events, fn); err != nil || len(r.events) < chunkSize {
			return next, err
		}
		clear(r.events) // drop references to delivered events
		free[w] <- r.events[:0]
	}
}

// ReadStream implements eventstore.Store. Each chunk of the stream is read
// in one read transaction: in layout 2, the indexed events and then the
// tail's (see index.go).
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, fn func(eventstore.RecordedEvent) error) error {
	buf := make([]eventstore.RecordedEvent, 0, 64)
	for next := from; ; {
		if err := s.check(ctx); err != nil {
			return err
		}
		rc, err := s.pool.get()
		if err != nil {
			return err
		}
		buf, err = rc.readStream(stream, next, chunkSize, buf[:0])
		s.pool.put(rc)
		if err != nil {
			return s.readError(err)
		}
		for i := range buf {
			if buf[i].Version != next {
				return fmt.Errorf("%w: %s: stream %q: expected version %d, found version %d at position %d", eventstore.ErrCorrupt, s.path, stream, next, buf[i].Version, buf[i].Position)
			}
			if err := fn(buf[i]); err != nil {
				return err
			}
			next++
		}
		if len(buf) < chunkSize {
			return nil
		}
	}
}

// readStream appends to buf up to limit events of a stream from version
// from on, in version order, as one snapshot of the file has them.
func (rc *readConn) readStream(stream string, from uint64, limit int, buf []eventstore.RecordedEvent) ([]eventstore.RecordedEvent, error) {
	bind := func(limit int) func(*lite.Stmt) error {
		return func(st *lite.Stmt) error {
			if err := st.BindText(1, stream); err != nil {
				return err
			}
			if err := st.BindInt64(2, int64(from)); err != nil {
				return err
			}
			return st.BindInt64(3, int64(limit))
		}
	}
	if rc.layout == layoutInline {
		return rc.query(rc.stream, buf, bind(limit))
	}
	if err := rc.begin.Exec(); err != nil {
		rc.broken = true
		return buf, err
	}
	n := len(buf)
	buf, err := rc.query(rc.stream, buf, bind(limit))
	if got := len(buf) - n; err == nil && got < limit {
		// Within a stream, versions grow with positions: the tail's
		// events all come after the indexed ones.
		buf, err = rc.query(rc.tail, buf, bind(limit-got))
	}
	if cerr := rc.commit.Exec(); cerr != nil {
		rc.broken = true
		if err == nil {
			err = cerr
		}
	}
	return buf, err
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	rc, err := s.pool.get()
	if err != nil {
		return 0, err
	}
	defer s.pool.put(rc)
	h, err := rc.scalar(rc.head)
	if err != nil {
		return 0, s.readError(err)
	}
	return uint64(h), nil
}

// Subscribe implements eventstore.Store. It catches up from the table, then
// waits for more: appends through this Store wake it as soon as they commit;
// appends by another process on the same file are noticed within the poll
// interval (WithPollInterval). When the store closes, Subscribe returns an
// error wrapping eventstore.ErrClosed.
func (s *Store) Subscribe(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	next := max(from, 1)
	var buf []eventstore.RecordedEvent
	poll := time.NewTicker(s.poll)
	defer poll.Stop()
	for {
		// Take the wake-up channel before reading: a commit after this
		// point closes it, so no append can slip between the read and
		// the wait.
		wake := s.changes.wait()
		var err error
		if next, err = s.readFrom(ctx, next, fn, &buf); err != nil {
			return err
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return eventstore.ErrClosed
		}
	}
}

// broadcaster wakes every waiter at once.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcaster() *broadcaster { return &broadcaster{ch: make(chan struct{})} }

// wait returns a channel closed by the next broadcast.
func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcaster) broadcast() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
