// Package snapshot keeps the registrar's snapshots on disk and starts the
// registrar from them: a file (internal/snapfile's format) holding the read
// models (projections: Cluster, Assignment, Devices) and the command side's
// state (the cluster, the range with the DNs in use, the recent refusals,
// the versions of the cluster's and the range's streams), all at one store
// position, with the hash chain's head there.
//
// Start loads the snapshot if it fits the store and starts both sides from
// it: the read side catches up from its position, the command side folds
// the events after it, checking the hash chain from the snapshot's event
// (the anchor) to the head. A snapshot that does not fit (another format
// version, truncated or altered, a position past the store's head, a chain
// head that is not the store's event's there) is ignored with a warning
// naming it, and the start replays the store as it would without one: a
// snapshot is derived data, and deleting it only slows the next start.
//
// Writer writes snapshots in the background (every N events or T, and
// when asked: at a clean shutdown), atomically (a temporary file beside it,
// fsynced, renamed).
//
// It is an adapter (files on disk) and imports the command side, the read
// side and the store port.
package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/snapfile"
	"github.com/autoreg/autoreg/projections"
)

// Store is what snapshots need of the event store: the registrar's read
// side follows it, the command side appends to it.
type Store = eventstore.Store

// Loaded is a snapshot read from its file that fits the store.
type Loaded struct {
	Path   string
	Header snapfile.Header
	Body   []byte
	Bytes  int // the file's size
}

// Load reads the snapshot at path and checks that it fits store. It
// returns nil and no error when there is no snapshot, or one that does not
// fit (warned about on log, naming it and why); an error only when the
// store cannot be read.
func Load(ctx context.Context, store Store, path string, log zerolog.Logger) (*Loaded, error) {
	h, body, err := snapfile.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info().Str("snapshot", path).Msg("no snapshot: the start replays the store")
		return nil, nil
	}
	ignore := func(err error) (*Loaded, error) {
		log.Warn().Str("snapshot", path).Err(err).Msg("snapshot ignored: the start replays the store")
		return nil, nil
	}
	if err != nil {
		return ignore(fmt.Errorf("reading %s: %w", path, err))
	}
	head, err := store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the store's head: %w", err)
	}
	if h.Position == 0 || h.Position > head {
		return ignore(fmt.Errorf("%s is at position %d, past the store's last event (%d)", path, h.Position, head))
	}
	hash, err := eventstore.HashAt(ctx, store, h.Position)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(hash, h.Hash) {
		return ignore(fmt.Errorf("%s: the store's event at position %d has hash %x, the snapshot's chain head is %x: it is another store's, or the store was rewritten",
			path, h.Position, hash, h.Hash))
	}
	return &Loaded{Path: path, Header: h, Body: body, Bytes: snapfile.FileSize(len(body))}, nil
}

// StartOptions say how to start.
type StartOptions struct {
	// Path is the snapshot file ("": start without one).
	Path string
	// Command are the command side's options; Start sets Devices and
	// Start.
	Command command.Options
	// CommandStore is the store the command side appends to and reads
	// (nil: the store given to Start), an instrumented one say.
	CommandStore Store
	// Clock is the read side's clock (nil: time.Now).
	Clock func() time.Time
	Log   zerolog.Logger
}

// Started is a registrar's two sides, running.
type Started struct {
	Reader  *projections.Reader
	Handler *command.Handler
	// ReadDone receives what the read side's Run returned, once it has.
	ReadDone <-chan error
	// From is the position of the snapshot the start used (0: none); the
	// start read the events after it.
	From uint64
	// SnapshotBytes is the size of the snapshot file used (0: none).
	SnapshotBytes int
}

// Start starts a registrar's read side and command side on store, from the
// snapshot at opt.Path when there is one that fits (see Load), else from
// the store. The read side follows the store until readCtx ends; ctx
// bounds the start.
func Start(ctx, readCtx context.Context, store Store, opt StartOptions) (*Started, error) {
	var snap *Loaded
	if opt.Path != "" {
		for _, name := range snapfile.RemoveTemp(opt.Path, time.Now().Add(-time.Minute)) {
			opt.Log.Info().Str("file", name).Msg("removed a snapshot left half-written")
		}
		var err error
		if snap, err = Load(ctx, store, opt.Path, opt.Log); err != nil {
			return nil, err
		}
	}
	st, err := start(ctx, readCtx, store, opt, snap)
	if snap != nil && errors.Is(err, command.ErrSnapshot) {
		opt.Log.Warn().Str("snapshot", snap.Path).Err(err).Msg("snapshot ignored: the start replays the store")
		st, err = start(ctx, readCtx, store, opt, nil)
	}
	if err != nil {
		return nil, err
	}
	// The store's pages the start read stay mapped in the process: give
	// them back (the SQLite store's ReleaseMemory). The snapshot's bytes
	// are garbage once Start returns.
	if r, ok := store.(interface{ ReleaseMemory() }); ok {
		r.ReleaseMemory()
	}
	return st, nil
}

// start starts both sides, from snap if not nil.
func start(ctx, readCtx context.Context, store Store, opt StartOptions, snap *Loaded) (*Started, error) {
	var (
		reader *projections.Reader
		from   *command.Snapshot
		st     = &Started{}
	)
	if snap != nil {
		r, cs, err := projections.RestoreReader(store, opt.Clock, snap.Header.Position, snap.Body)
		if err != nil {
			opt.Log.Warn().Str("snapshot", snap.Path).Err(err).Msg("snapshot ignored: the start replays the store")
			snap = nil
		} else {
			reader = r
			from = &command.Snapshot{Position: snap.Header.Position, Hash: snap.Header.Hash,
				Cluster: cs.Cluster, ClusterVersion: cs.ClusterVersion, Range: cs.Range, RangeVersion: cs.RangeVersion,
				Rejections: cs.Refusals}
			st.From, st.SnapshotBytes = snap.Header.Position, snap.Bytes
		}
	}
	if reader == nil {
		reader = projections.NewReader(store, opt.Clock)
	}
	rctx, stop := context.WithCancel(readCtx)
	done := make(chan error, 1)
	go func() { done <- reader.Run(rctx) }()
	copt := opt.Command
	copt.Devices, copt.Start = reader, from
	cstore := opt.CommandStore
	if cstore == nil {
		cstore = store
	}
	h, err := command.New(ctx, cstore, copt)
	if err != nil {
		stop()
		<-done
		return nil, err
	}
	context.AfterFunc(readCtx, stop) // stop releases rctx's resources with readCtx
	st.Reader, st.Handler, st.ReadDone = reader, h, done
	return st, nil
}

// Written describes a snapshot written.
type Written struct {
	Position uint64
	Bytes    int
	// Encode is how long the read side paused to encode it; Write how long
	// writing the file took (fsync and rename included).
	Encode, Write time.Duration
}

// WriterOptions say when a Writer writes.
type WriterOptions struct {
	// EveryEvents: write once the read side is this many events past the
	// last snapshot (0: never for this reason).
	EveryEvents uint64
	// Every: write once this long has passed since the last snapshot, if
	// events came (0: never for this reason).
	Every time.Duration
	Log   zerolog.Logger
}

// Writer writes snapshots of a registrar's read side (which holds the
// command side's state too: see projections.Reader.Snapshot) to a file.
type Writer struct {
	store  Store
	reader *projections.Reader
	path   string
	opt    WriterOptions

	mu     sync.Mutex // one write at a time
	last   uint64     // the position of the last snapshot written or started from
	lastAt time.Time
}

// NewWriter returns a Writer of snapshots of reader to path; from is the
// position of the snapshot the registrar started from (0: none).
func NewWriter(store Store, reader *projections.Reader, path string, from uint64, opt WriterOptions) *Writer {
	return &Writer{store: store, reader: reader, path: path, opt: opt, last: from, lastAt: time.Now()}
}

// Path is the snapshot file.
func (w *Writer) Path() string { return w.path }

// Run writes snapshots when they are due, until ctx ends. Failures are
// logged and retried when the next one is due.
func (w *Writer) Run(ctx context.Context) {
	tick := time.Second
	if e := w.opt.Every; e > 0 && e < 2*time.Second {
		tick = max(e/2, 10*time.Millisecond)
	}
	if w.opt.EveryEvents > 0 && w.opt.EveryEvents < 1000 {
		tick = min(tick, 50*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !w.due() {
			continue
		}
		if _, err := w.Write(ctx); err != nil && ctx.Err() == nil {
			w.opt.Log.Error().Str("snapshot", w.path).Err(err).Msg("writing a snapshot failed; the next one is retried when due")
			w.mu.Lock()
			w.lastAt = time.Now() // not again at once
			w.mu.Unlock()
		}
	}
}

// due reports whether a snapshot is due.
func (w *Writer) due() bool {
	pos := w.reader.Position()
	w.mu.Lock()
	defer w.mu.Unlock()
	if pos <= w.last {
		return false
	}
	return w.opt.EveryEvents > 0 && pos-w.last >= w.opt.EveryEvents ||
		w.opt.Every > 0 && time.Since(w.lastAt) >= w.opt.Every
}

// Write writes a snapshot now, unless the read side holds nothing since
// the last one (Written is then zero).
func (w *Writer) Write(ctx context.Context) (Written, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out Written
	t0 := time.Now()
	pos, body, err := w.reader.Snapshot()
	if err != nil {
		return out, fmt.Errorf("encoding a snapshot: %w", err)
	}
	out.Encode = time.Since(t0)
	if pos == 0 || pos <= w.last {
		return Written{}, nil
	}
	t1 := time.Now()
	hash, err := eventstore.HashAt(ctx, w.store, pos)
	if err != nil {
		return out, err
	}
	parts, err := snapfile.Parts(snapfile.Header{Position: pos, Hash: hash, Written: t1}, body)
	if err != nil {
		return out, err
	}
	if err := snapfile.WriteFile(w.path, parts...); err != nil {
		return out, fmt.Errorf("writing the snapshot %s: %w", w.path, err)
	}
	out.Position, out.Bytes, out.Write = pos, snapfile.FileSize(len(body)), time.Since(t1)
	w.last, w.lastAt = pos, time.Now()
	w.opt.Log.Info().Str("snapshot", w.path).Uint64("position", pos).Int("bytes", out.Bytes).
		Dur("encode_ms", out.Encode).Dur("write_ms", out.Write).Msg("snapshot written")
	return out, nil
}
