package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/autoreg/autoreg/adapters/eventstore/kurrentdb"
	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// storePath resolves where the embedded store lives: DATA/autoreg.db by
// default, else the file a sqlite URL (sqlite:///abs/path.db,
// sqlite:rel/path.db) or a bare path names. It refuses a KurrentDB URL
// (use openStore) and any other scheme.
func storePath(cfg config.Config) (string, error) {
	u := cfg.Store
	if u == "" {
		return filepath.Join(cfg.Data, "autoreg.db"), nil
	}
	if kurrentdb.IsURL(u) {
		return "", fmt.Errorf("store URL %q names a KurrentDB server, not a file", u)
	}
	loc, err := eventstore.ParseURL(u)
	if err != nil {
		return "", fmt.Errorf("store URL %q: %w (use sqlite:///path/autoreg.db or kurrentdb://host:2113)", u, err)
	}
	if loc.Scheme != "sqlite" {
		return "", fmt.Errorf("store URL %q: unknown scheme %q; use sqlite:///path/autoreg.db, or kurrentdb://host:2113 (also esdb://, and their +discover forms for a cluster)", u, loc.Scheme)
	}
	return loc.Path, nil
}

// openStore opens the event store the configuration names and says where it
// is, for logs and errors: the embedded SQLite file (the default), or a
// KurrentDB server for a kurrentdb://, kurrentdb+discover://, esdb:// or
// esdb+discover:// URL (see kurrentdb.ParseURL for its settings: TLS,
// credentials, a namespace). The SQLite store's options come from
// serve (its journal watch's report, for one).
func openStore(ctx context.Context, cfg config.Config, opts ...sqlite.Option) (eventstore.Store, string, error) {
	if kurrentdb.IsURL(cfg.Store) {
		kc, err := kurrentdb.ParseURL(cfg.Store)
		if err != nil {
			return nil, "", &exitError{code: 2, err: err}
		}
		store, err := kurrentdb.Open(ctx, kc)
		if err != nil {
			return nil, "", fmt.Errorf("opening the event store: %w", err)
		}
		return store, store.Location(), nil
	}
	path, err := storePath(cfg)
	if err != nil {
		return nil, "", &exitError{code: 2, err: err}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("creating the data directory: %w", err)
	}
	store, err := sqlite.Open(ctx, path, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("opening the event store: %w", err)
	}
	return store, path, nil
}

// storeHealth is the store's health for the admin API's /healthz: the
// SQLite store's (its files deleted or replaced under it: see
// sqlite.ErrJournalLost); nil for a store that has none to report.
func storeHealth(store eventstore.Store) func() error {
	if h, ok := store.(interface{ Healthy() error }); ok {
		return h.Healthy
	}
	return nil
}
