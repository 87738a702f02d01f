package replay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/autoreg/autoreg/adapters/eventstore/kurrentdb"
	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// OpenStore opens the store a location names, read-only: a KurrentDB
// server for a kurrentdb://, esdb:// (or +discover) URL, else the SQLite
// file (OpenSQLite).
func OpenStore(ctx context.Context, location string) (eventstore.Store, error) {
	if !kurrentdb.IsURL(location) {
		return OpenSQLite(ctx, location)
	}
	cfg, err := kurrentdb.ParseURL(location)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	cfg.ReadOnly = true
	st, err := kurrentdb.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	return st, nil
}

// Importer is a store that can take a history recorded by another one, as
// it is (sqlite and kurrentdb stores).
type Importer interface {
	eventstore.Store
	Import(ctx context.Context, events []eventstore.RecordedEvent) error
}

// OpenTarget opens the store a location names for writing, creating a
// SQLite file (and its directory) if there is none: the target of copy.
func OpenTarget(ctx context.Context, location string) (Importer, error) {
	if kurrentdb.IsURL(location) {
		cfg, err := kurrentdb.ParseURL(location)
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		st, err := kurrentdb.Open(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("opening the target store: %w", err)
		}
		return st, nil
	}
	path, err := StorePath(location)
	if err != nil {
		return nil, err
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return nil, usagef("%s is a directory, not an event store", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the target's directory: %w", err)
	}
	st, err := sqlite.Open(ctx, path)
	if errors.Is(err, sqlite.ErrNotEventStore) {
		return nil, &UsageError{Err: fmt.Errorf("%s is not an autoreg event store: %w", path, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("opening the target store %s: %w", path, err)
	}
	return st, nil
}
