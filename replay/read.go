package replay

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
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
	src := foldSource{store: e.Store, until: until, bar: bar}
	if tr, ok := e.Store.(typedReader); ok {
		src.types, src.typed = wantedTypes(ps), tr
	}
	r := projections.NewRunner(src, ps...)
	pos, err := r.CatchUp(ctx)
	if errors.Is(err, errStop) {
		err = nil
	}
	return pos, err
}

// wantedTypes lists the event types some projection wants; nil when one
// of them wants every event.
func wantedTypes(ps []projections.Projection) []string {
	var out []string
	for _, t := range domain.EventTypes() {
		for _, p := range ps {
			s, ok := p.(projections.Selective)
			if !ok {
				return nil
			}
			if s.Wants(t) {
				out = append(out, t)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// foldSource reads a store up to an instant, moving a progress bar. When
// the store can filter by type and the projections want few types, only
// those events are read.
type foldSource struct {
	store eventstore.Store
	until time.Time
	bar   *Progress
	typed typedReader
	types []string // nil: read everything
}

func (s foldSource) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	each := func(rec eventstore.RecordedEvent) error {
		if !s.until.IsZero() && rec.RecordedAt.After(s.until) {
			return errStop
		}
		s.bar.Update(rec.Position)
		return fn(rec)
	}
	if s.typed != nil && s.types != nil && len(s.types) < len(domain.EventTypes())/2 && from <= 1 {
		return s.typed.ReadTypes(ctx, s.types, each)
	}
	return s.store.ReadAll(ctx, from, each)
}

func (s foldSource) Subscribe(context.Context, uint64, func(eventstore.RecordedEvent) error) error {
	return errors.New("replay: a fold does not follow the store")
}
