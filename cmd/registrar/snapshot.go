package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/eventstore/kurrentdb"
	"github.com/autoreg/autoreg/adapters/snapshot"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// snapshotPath is where the snapshots of the registrar's state live ("":
// nowhere, they are off): beside the SQLite file (autoreg.db.snapshot), or
// under the data directory for a KurrentDB store (kurrentdb.snapshot).
func snapshotPath(cfg config.Config, storePath string) string {
	if !cfg.Snapshot.Enabled {
		return ""
	}
	if kurrentdb.IsURL(cfg.Store) {
		return filepath.Join(cfg.Data, "kurrentdb.snapshot")
	}
	return storePath + ".snapshot"
}

// verifyHistory checks the whole hash chain (serve --verify-history), as
// `replay verify` does; without it, the start checks the chain from the
// snapshot it starts from.
func verifyHistory(ctx context.Context, store eventstore.Store, path string, log zerolog.Logger) error {
	t0 := time.Now()
	n, err := eventstore.VerifyChain(ctx, store, nil)
	if err != nil {
		return fmt.Errorf("--verify-history: %s: %w", path, err)
	}
	log.Info().Uint64("events", n).Dur("took_ms", time.Since(t0)).Msg("history verified: every event chains to the one before it")
	return nil
}

// finalSnapshot writes a snapshot at a clean stop, once the read side
// holds everything stored.
func finalSnapshot(started *snapshot.Started, w *snapshot.Writer, store eventstore.Store, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	head, err := store.Head(ctx)
	if err == nil {
		err = started.Reader.WaitFor(ctx, head)
	}
	if err == nil {
		_, err = w.Write(ctx)
	}
	if err != nil {
		log.Error().Str("snapshot", w.Path()).Err(err).Msg("no snapshot at the stop: the next start reads more of the store")
	}
}
