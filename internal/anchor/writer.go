package anchor

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// Source is what a Writer reads of the store.
type Source interface {
	Head(ctx context.Context) (uint64, error)
	ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error
}

// WriterOptions say when a Writer signs a checkpoint, and who hears of it.
type WriterOptions struct {
	// EveryEvents: sign once the head is this many events past the last
	// checkpoint (0: not for this reason).
	EveryEvents uint64
	// Every: sign once this long has passed since the last checkpoint, if
	// the head moved (0: not for this reason).
	Every time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// OnWrite is told of each checkpoint written (the registrar logs it:
	// the log is the checkpoints' second copy).
	OnWrite func(Checkpoint)
	// OnError is told of a failure of Run (it retries when the next
	// checkpoint is due).
	OnError func(error)
}

// Writer signs checkpoints of a store's head and appends them to a log.
type Writer struct {
	src    Source
	signer *Signer
	log    *Log
	opt    WriterOptions

	mu     sync.Mutex
	last   uint64 // the position of the last checkpoint written (or found in the log)
	lastAt time.Time
}

// NewWriter opens the log at path for s's checkpoints of src. When the log
// holds checkpoints of s's key already, the last of them must agree with
// the store (the same chain head at its position, a store that reaches
// it): otherwise the store was rewritten or cut while the registrar was
// stopped, or it is another store, and NewWriter refuses with an error
// wrapping ErrMismatch. A log that does not parse, or whose lines of s's
// key do not verify, is refused too (ErrBadLog).
func NewWriter(ctx context.Context, src Source, path string, s *Signer, opt WriterOptions) (*Writer, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	w := &Writer{src: src, signer: s, opt: opt, lastAt: opt.Now()}
	es, err := ReadLogFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var mine []Entry
	for _, e := range es {
		if e.Key == s.KeyID() {
			mine = append(mine, e)
		}
	}
	if len(mine) > 0 {
		a, err := VerifyLog(path, mine, s.Public())
		if err != nil {
			return nil, err
		}
		lastEntry := a.Entries[len(a.Entries)-1]
		head, err := src.Head(ctx)
		if err != nil {
			return nil, err
		}
		last := &Anchors{File: path, Entries: []Entry{lastEntry}}
		if lastEntry.Position > head {
			return nil, last.End(head)
		}
		hash, err := eventstore.HashAt(ctx, src, lastEntry.Position)
		if err != nil {
			return nil, err
		}
		if err := last.Check(lastEntry.Position, hash); err != nil {
			return nil, err
		}
		w.last = lastEntry.Position
	}
	if w.log, err = OpenLog(path); err != nil {
		return nil, err
	}
	return w, nil
}

// Last is the position of the last checkpoint written or found.
func (w *Writer) Last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Run signs checkpoints when they are due, until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	tick := time.Second
	if e := w.opt.Every; e > 0 && e < 2*time.Second {
		tick = max(e/2, 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		head, err := w.src.Head(ctx)
		if err != nil {
			w.fail(ctx, err)
			continue
		}
		if !w.due(head) {
			continue
		}
		if _, _, err := w.Write(ctx); err != nil {
			w.fail(ctx, err)
			w.mu.Lock()
			w.lastAt = w.opt.Now() // not again at once
			w.mu.Unlock()
		}
	}
}

func (w *Writer) fail(ctx context.Context, err error) {
	if ctx.Err() == nil && w.opt.OnError != nil {
		w.opt.OnError(err)
	}
}

// due reports whether a checkpoint of head is due.
func (w *Writer) due(head uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if head <= w.last {
		return false
	}
	return w.opt.EveryEvents > 0 && head-w.last >= w.opt.EveryEvents ||
		w.opt.Every > 0 && w.opt.Now().Sub(w.lastAt) >= w.opt.Every
}

// Write signs a checkpoint of the store's head now and appends it, unless
// the head has not moved since the last one (it then returns false).
func (w *Writer) Write(ctx context.Context) (Checkpoint, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	head, err := w.src.Head(ctx)
	if err != nil {
		return Checkpoint{}, false, err
	}
	if head == 0 || head <= w.last {
		return Checkpoint{}, false, nil
	}
	hash, err := eventstore.HashAt(ctx, w.src, head)
	if err != nil {
		return Checkpoint{}, false, err
	}
	now := w.opt.Now()
	c := w.signer.Sign(head, hash, now)
	if err := w.log.Append(c); err != nil {
		return Checkpoint{}, false, err
	}
	w.last, w.lastAt = head, now
	if w.opt.OnWrite != nil {
		w.opt.OnWrite(c)
	}
	return c, true, nil
}

// Close closes the log.
func (w *Writer) Close() error { return w.log.Close() }

// CheckStore verifies the whole hash chain of r (eventstore.VerifyChainEach)
// and that it agrees with a's checkpoints. It returns the number of events
// verified and what the checkpoints covered.
func CheckStore(ctx context.Context, r eventstore.AllReader, a *Anchors) (uint64, Coverage, error) {
	a.Reset()
	n, err := eventstore.VerifyChainEach(ctx, r, nil, func(e eventstore.RecordedEvent) error {
		return a.Check(e.Position, e.Hash)
	})
	if err != nil {
		return n, Coverage{}, err
	}
	if err := a.End(n); err != nil {
		return n, Coverage{}, err
	}
	return n, a.Coverage(n), nil
}
