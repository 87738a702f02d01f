package projections

import (
	"context"
	"errors"
	"sync"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// streamReader is what a store offers to read one stream.
type streamReader interface {
	ReadStream(ctx context.Context, stream string, from uint64, fn func(eventstore.RecordedEvent) error) error
}

// ErrNoStreams is returned by Reader.History when the store the reader
// follows cannot read one stream.
var ErrNoStreams = errors.New("the event store cannot read a single stream")

// History reads the events of a device's stream, in order, from the store
// the reader follows (not from the read models, which keep no history):
// what an administrator's console shows of a device. A device never seen
// has none.
func (r *Reader) History(ctx context.Context, device string) ([]eventstore.RecordedEvent, error) {
	sr, ok := r.src.(streamReader)
	if !ok {
		return nil, ErrNoStreams
	}
	var out []eventstore.RecordedEvent
	err := sr.ReadStream(ctx, domain.DeviceStream(device), 0, func(e eventstore.RecordedEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// AuditWindows holds the windows read model (Windows) for a registrar that
// shows it now and then: it is built from the store the first time it is
// asked for, then brought up to date at each ask. A registrar that is never
// asked holds nothing (at 100,000 devices the model holds every window's
// registrations: some 15 MB).
type AuditWindows struct {
	mu      sync.Mutex
	src     Source
	runner  *Runner
	windows *Windows
}

// NewAuditWindows returns the windows of the store src, built when first
// asked for.
func NewAuditWindows(src Source) *AuditWindows { return &AuditWindows{src: src} }

// AuditWindows returns the windows of the store the reader follows (see
// AuditWindows).
func (r *Reader) AuditWindows() *AuditWindows { return NewAuditWindows(r.src) }

// List returns every window, in the order they opened, as of every event
// stored now.
func (a *AuditWindows) List(ctx context.Context) ([]Window, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runner == nil {
		a.windows = NewWindows()
		a.runner = NewRunner(a.src, a.windows)
	}
	if _, err := a.runner.CatchUp(ctx); err != nil {
		return nil, err
	}
	return a.windows.List(), nil
}
