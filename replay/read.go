package replay

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// Env is what the commands run with: the store, where to report progress,
// and the clock (for "now").
type Env struct {
	Store eventstore.Store
	// Progress is where progress bars go (nil: none); Terminal says it is a
	// terminal, so that bars are drawn at all.
	Progress io.Writer
	Terminal bool
}

func (e Env) progress(ctx context.Context, label string) *Progress {
	if !e.Terminal || e.Progress == nil {
		return nil
	}
	head, err := e.Store.Head(ctx)
	if err != nil {
		head = 0
	}
	return NewProgress(e.Progress, true, label, head)
}

// errStop ends a read early.
var errStop = errors.New("stop")

// Fold replays the store into the projections, from the first event up to
// the last one recorded at or before until (the whole store when until is
// zero): reading stops at the first event recorded after until. It returns
// the position of the last event applied (0 if none).
func (e Env) Fold(ctx context.Context, until time.Time, ps ...projections.Projection) (uint64, error) {
	bar := e.progress(ctx, "replay")
	defer bar.Done()
	r := projections.NewRunner(foldSource{store: e.Store, until: until, bar: bar}, ps...)
	pos, err := r.CatchUp(ctx)
	if errors.Is(err, errStop) {
		err = nil
	}
	return pos, err
}

// foldSource reads a store up to an instant, moving a progress bar.
type foldSource struct {
	store eventstore.Store
	until time.Time
	bar   *Progress
}

func (s foldSource) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	return s.store.ReadAll(ctx, from, func(rec eventstore.RecordedEvent) error {
		if !s.until.IsZero() && rec.RecordedAt.After(s.until) {
			return errStop
		}
		s.bar.Update(rec.Position)
		return fn(rec)
	})
}

func (s foldSource) Subscribe(context.Context, uint64, func(eventstore.RecordedEvent) error) error {
	return errors.New("replay: a fold does not follow the store")
}
