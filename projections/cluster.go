package projections

import (
	"sync"

	"github.com/autoreg/autoreg/domain"
)

// Cluster is the read model of the cluster's configuration: the Cluster
// aggregate's state (domain.ClusterState) as the events left it, with the
// window open now, if any.
type Cluster struct {
	mu  sync.RWMutex
	pos uint64
	st  domain.ClusterState
}

// NewCluster returns the cluster before any event.
func NewCluster() *Cluster { return &Cluster{st: domain.NewCluster()} }

// Reset implements Projection.
func (c *Cluster) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos, c.st = 0, domain.NewCluster()
}

// Checkpoint implements Projection.
func (c *Cluster) Checkpoint() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pos
}

// Wants implements Selective: the cluster's events.
func (c *Cluster) Wants(eventType string) bool { return isClusterType(eventType) }

// Apply implements Projection.
func (c *Cluster) Apply(e *Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = e.Position
	if e.Stream == domain.ClusterStream {
		c.st = domain.EvolveCluster(c.st, e.Payload)
	}
}

// State returns a copy of the cluster's state.
func (c *Cluster) State() domain.ClusterState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.Clone()
}

func isClusterType(t string) bool {
	return len(t) > 8 && (t[:8] == "cluster." || t[:8] == "autoregi")
}

// Pool returns one device pool, without copying the cluster.
func (c *Cluster) Pool(name string) (domain.DevicePool, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.st.Pools[name]
	return p, ok
}
