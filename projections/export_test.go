package projections

import "github.com/autoreg/autoreg/domain"

// SetOf gives the tests the read models behind a Reader.
func SetOf(r *Reader) *Set { return r.set }

// SetForTest sets the cluster's state.
func (c *Cluster) SetForTest(st domain.ClusterState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st = st
}
