// Package projections holds the registrar's read models: views of the
// event log (DN assignments, devices, autoregistration windows, the
// configuration history) built by folding the events in global order.
//
// Every read model is a Projection: it applies decoded events one by one
// and remembers the global position of the last one it applied (its
// checkpoint), so it can be rebuilt from zero (Reset, then replay) or kept
// live behind a Runner that catches up from the store and then follows it
// with Subscribe. Reads are safe while events are applied: they take a read
// lock and return copies.
//
// The read models only look at the events of the project's streams
// (domain.StreamPrefix); they are shared by the registrar, the replay tool
// and the compliance reports. In the registrar, Reader is the one read
// path: every query of the admin API, and the devices the command side
// does not hold (it implements command.Devices).
//
// It is the read side: it imports the domain, the event store port
// (internal/eventstore), the packing of per-device values (internal/pack,
// internal/strtab) and the snapshots' format (internal/snapfile); never an
// adapter, never the command side.
package projections

import (
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// Event is a stored event with its payload decoded. The byte slices of the
// embedded RecordedEvent (Data, Metadata, Hash) belong to the caller of
// Apply and are valid only during the call: a projection that keeps them
// copies them.
type Event struct {
	eventstore.RecordedEvent
	// Payload is the decoded event (a domain value such as domain.DNAssigned).
	Payload domain.Event
}

// Projection is a read model built from the events.
type Projection interface {
	// Apply folds one event into the read model. Events come in global
	// order, each once; e is valid only during the call.
	Apply(e *Event)
	// Checkpoint is the global position of the last event applied (0 when
	// none was).
	Checkpoint() uint64
	// Reset empties the read model, so that it can be rebuilt from zero.
	Reset()
}

// Selective is implemented by projections that look at some event types
// only: the Runner decodes an event only when a projection wants it, and
// does not call Apply for the others (the projection's checkpoint then
// stays at the last event it applied).
type Selective interface {
	Wants(eventType string) bool
}

// Set is the registrar's read models, ready to be given to a Runner.
type Set struct {
	Cluster    *Cluster
	Assignment *Assignment
	Devices    *Devices
	Windows    *Windows
	Config     *ConfigHistory
}

// NewSet returns empty read models.
func NewSet() *Set {
	return &Set{Cluster: NewCluster(), Assignment: NewAssignment(), Devices: NewDevices(), Windows: NewWindows(), Config: NewConfigHistory()}
}

// All lists the read models as Projections.
func (s *Set) All() []Projection {
	return []Projection{s.Cluster, s.Assignment, s.Devices, s.Windows, s.Config}
}

// utc drops the location and monotonic reading of t, so that read models
// compare equal whatever store they were built from.
func utc(t time.Time) time.Time { return t.UTC().Round(0) }
