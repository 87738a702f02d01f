package projections

import (
	"iter"
	"maps"
	"sync"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// CommandState is what the command side folds from the store besides the
// devices (which it reads from the Devices read model) and the DNs in use
// (which the Assignment read model holds too): the Cluster aggregate's
// state and its stream's version, the DNRange aggregate's state and its
// stream's version, and the refusals recorded in the last
// domain.RejectionInterval, per device and reason. With a snapshot of the
// read models at a position, it is a snapshot of the command side there
// (see Reader.Snapshot, RestoreReader).
type CommandState struct {
	Cluster        domain.ClusterState
	ClusterVersion int64 // -1: no stream
	// Range is the DNRange aggregate's state; its InUse is a copy of the
	// DNs in use, the caller's to keep.
	Range        domain.DNRangeState
	RangeVersion int64 // -1: no stream
	// Refusals: when a refusal of a device for a reason was last recorded,
	// for those recorded less than domain.RejectionInterval before the
	// last one (the command side forgets the others).
	Refusals map[string]map[domain.RejectReason]time.Time
}

// commandState keeps, behind the Reader's Runner, the part of the command
// side's state that no read model holds: it folds the events exactly as
// the command side's fold does (internal/command), with the range's DNs
// left out (noDNs): the Assignment read model holds them. It costs the
// cluster's configuration (small) and the refusals of the last minute.
type commandState struct {
	mu       sync.RWMutex
	pos      uint64
	cluster  domain.ClusterState
	cVersion int64
	rng      domain.DNRangeState // InUse: noDNs
	rVersion int64
	refusals map[string]map[domain.RejectReason]time.Time
	latest   time.Time // the latest refusal's time
	pruned   time.Time // latest when the refusals were last pruned
}

func newCommandState() *commandState {
	c := &commandState{}
	c.reset()
	return c
}

func (c *commandState) reset() {
	c.pos, c.cluster, c.cVersion = 0, domain.NewCluster(), -1
	c.rng, c.rVersion = domain.NewDNRangeIn(noDNs{}), -1
	c.refusals, c.latest, c.pruned = map[string]map[domain.RejectReason]time.Time{}, time.Time{}, time.Time{}
}

// Reset implements Projection.
func (c *commandState) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset()
}

// Checkpoint implements Projection.
func (c *commandState) Checkpoint() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pos
}

// Apply implements Projection: the command side's fold (internal/command),
// but the DNs in use.
func (c *commandState) Apply(e *Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = e.Position
	switch e.Stream {
	case domain.ClusterStream:
		c.cluster = domain.EvolveCluster(c.cluster, e.Payload)
		c.cVersion = int64(e.Version)
	case domain.RangeStream:
		c.rng = domain.EvolveDNRange(c.rng, e.Payload)
		c.rVersion = int64(e.Version)
	default:
		rej, ok := e.Payload.(domain.RegistrationRejected)
		if !ok {
			return
		}
		at := rej.At
		if at.IsZero() {
			at = e.RecordedAt
		}
		m := c.refusals[rej.Device]
		if m == nil {
			m = make(map[domain.RejectReason]time.Time, 1)
			c.refusals[rej.Device] = m
		}
		if at.After(m[rej.Reason]) {
			m[rej.Reason] = at
		}
		if at.After(c.latest) {
			c.latest = at
		}
		if c.latest.Sub(c.pruned) >= domain.RejectionInterval {
			c.prune()
		}
	}
}

// prune forgets the refusals recorded domain.RejectionInterval or more
// before the latest one: the command side forgets them too, by then.
func (c *commandState) prune() {
	for d, m := range c.refusals {
		for r, at := range m {
			if c.latest.Sub(at) >= domain.RejectionInterval {
				delete(m, r)
			}
		}
		if len(m) == 0 {
			delete(c.refusals, d)
		}
	}
	c.pruned = c.latest
}

// noDNs is a domain.DNSet that holds nothing: commandState folds the
// range's events without the DNs in use, which the Assignment read model
// holds.
type noDNs struct{}

func (noDNs) Holder(string, string) (string, bool) { return "", false }
func (noDNs) Held(string, string) bool             { return false }
func (noDNs) HeldIn(domain.DNRange) int            { return 0 }
func (noDNs) Len() int                             { return 0 }
func (noDNs) All() iter.Seq2[domain.DNKey, string] { return maps.All(map[domain.DNKey]string(nil)) }
func (noDNs) Hold(string, string, string)          {}
func (noDNs) Release(string, string)               {}
func (noDNs) Clone() domain.DNSet                  { return noDNs{} }
