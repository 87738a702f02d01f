package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/autoreg/autoreg/adapters/eventstore"
	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/config"
)

// storePath resolves where the embedded store lives.
func storePath(cfg config.Config) (string, error) {
	u := cfg.Store
	if u == "" {
		return filepath.Join(cfg.Data, "autoreg.db"), nil
	}
	switch {
	case strings.HasPrefix(u, "sqlite://"):
		p := strings.TrimPrefix(u, "sqlite://")
		if p == "" {
			return "", fmt.Errorf("store URL %q names no file: use sqlite:///path/autoreg.db", u)
		}
		return p, nil
	case strings.HasPrefix(u, "kurrentdb://"), strings.HasPrefix(u, "esdb://"), strings.Contains(u, "+discover://"):
		return "", fmt.Errorf("store URL %q: the KurrentDB store is not in this build yet; use the embedded store (sqlite:///path)", u)
	case strings.Contains(u, "://"):
		return "", fmt.Errorf("store URL %q: unknown scheme; use sqlite:///path/autoreg.db", u)
	}
	return u, nil
}

// openStore opens the event store the configuration names and says where it
// is, for logs and errors.
func openStore(ctx context.Context, cfg config.Config) (eventstore.Store, string, error) {
	path, err := storePath(cfg)
	if err != nil {
		return nil, "", &exitError{code: 2, err: err}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("creating the data directory: %w", err)
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, "", fmt.Errorf("opening the event store: %w", err)
	}
	return store, path, nil
}
