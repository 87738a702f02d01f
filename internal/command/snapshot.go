package command

import (
	"errors"
	"maps"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/pack"
)

// ErrSnapshot: the snapshot New was given does not fit the store (there is
// no event at its position, that event's hash is not the snapshot's, or
// the events after it do not follow from it). New fails with it, naming
// why; the caller starts again without the snapshot.
var ErrSnapshot = errors.New("the snapshot does not fit the store")

// Snapshot is the handler's state at a store position, to start from
// (Options.Start) instead of folding the whole store: New then folds only
// the events after Position.
type Snapshot struct {
	// Position is the global position of the last event the state holds
	// (at least 1).
	Position uint64
	// Hash is the chain hash of the event at Position (its
	// RecordedEvent.Hash): New checks that the store's event there has it,
	// and with Options.VerifyChain checks the chain from it to the head.
	Hash []byte
	// Cluster and ClusterVersion: the Cluster aggregate's state and its
	// stream's version (-1: no stream).
	Cluster        domain.ClusterState
	ClusterVersion int64
	// Range and RangeVersion: the DNRange aggregate's state and its
	// stream's version. Range.InUse (a *pack.DNSet, or nil for none) is
	// the handler's from then on.
	Range        domain.DNRangeState
	RangeVersion int64
	// Rejections: when each refusal of a device for a reason was last
	// recorded (those older than domain.RejectionInterval may be left
	// out); the handler's from then on.
	Rejections map[string]map[domain.RejectReason]time.Time
}

// restore sets the handler's state to snap's.
func (s *Handler) restore(snap *Snapshot) {
	s.cluster, s.cVersion = snap.Cluster, snap.ClusterVersion
	rng := snap.Range
	if rng.InUse == nil {
		rng.InUse = pack.NewDNSet()
	}
	// The range's next-free hint is the domain's own (unexported): a
	// RangeConfigured of the range in force sets it again from the DNs in
	// use, and changes nothing else.
	r := rng.Range
	s.rng = domain.EvolveDNRange(rng, domain.RangeConfigured{Start: r.Start, End: r.End, Partition: r.Partition, Mask: r.Mask})
	s.rVersion = snap.RangeVersion
	s.rejected = snap.Rejections
	if s.rejected == nil {
		s.rejected = make(map[string]map[domain.RejectReason]time.Time)
	}
	s.head = snap.Position
}

// Snapshot returns a copy of the handler's state: what Options.Start takes,
// at the position of the last event folded from the store (Hash left nil).
// Decisions apply their events to the state before they are durable, so
// the state is a fold of the store only while no append is in flight; the
// registrar's snapshots are taken from the read side instead (see
// projections.Reader.Snapshot), and tests compare the two.
func (s *Handler) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	rej := make(map[string]map[domain.RejectReason]time.Time, len(s.rejected))
	for d, m := range s.rejected {
		rej[d] = maps.Clone(m)
	}
	return Snapshot{Position: s.head, Cluster: s.cluster.Clone(), ClusterVersion: s.cVersion,
		Range: s.rng.Clone(), RangeVersion: s.rVersion, Rejections: rej}
}
