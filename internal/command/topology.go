package command

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// Configure applies a configured topology: it runs the commands in order
// (internal/config turns the configuration file's cluster section into
// them, in dependency order) as origin, stopping at the first error. Only
// differences become events; it returns how many were written.
func (s *Handler) Configure(ctx context.Context, cmds []domain.Command, origin Origin) (int, error) {
	written := 0
	for _, cmd := range cmds {
		out, err := s.Execute(ctx, cmd, origin)
		if err != nil {
			return written, fmt.Errorf("applying the configuration (%s): %w", describe(cmd), err)
		}
		written += len(out.Events)
	}
	return written, nil
}

func describe(cmd domain.Command) string {
	s := fmt.Sprintf("%T %+v", cmd, cmd)
	return strings.TrimPrefix(s, "domain.")
}

// CheckTopology decides cmds in order as Configure would on a new store,
// without a store: the first command the domain refuses, named as Configure
// names it, or nil. `registrar config check` uses it, so that it refuses
// what `registrar serve` would.
func CheckTopology(cmds []domain.Command, now time.Time) error {
	w := domain.NewWorld("")
	for _, cmd := range cmds {
		events, err := domain.Decide(w, cmd, now)
		if err != nil {
			return fmt.Errorf("applying the configuration (%s): %w", describe(cmd), err)
		}
		for _, e := range events {
			switch e.Stream() {
			case domain.ClusterStream:
				w.Cluster = domain.EvolveCluster(w.Cluster, e)
			case domain.RangeStream:
				w.Range = domain.EvolveDNRange(w.Range, e)
			}
		}
	}
	return nil
}
