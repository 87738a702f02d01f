package command

import (
	"context"
	"fmt"
	"strings"

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
