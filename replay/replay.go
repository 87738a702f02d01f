// Package replay is the audit tool's logic: it reads the registrar's event
// log read-only and answers what happened (the autoregistration windows, a
// device's history, the events), how things were at an instant (state), and
// whether the log is intact (verify: the hash chain, the positions and
// versions, and the registrar's invariants re-checked through the
// aggregates). It also writes realistic histories into new stores
// (generate), for benchmarks and demonstrations.
//
// cmd/replay is a thin main around Main; every command is testable here.
// Program is the skeleton of the command line, which package compliance's
// shares.
// The JSON each command writes is a stable schema, documented in
// docs/replay.md.
//
// It reads through the read side (projections) and the store port, opening
// the stores of adapters/eventstore read-only; it never imports the command
// side outside its tests.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// DefaultStore is where the registrar keeps its store when run from the
// same directory with its defaults (--data ./data).
const DefaultStore = "./data/autoreg.db"

// UsageError is a mistake in the command line: a bad flag or argument, a
// store that does not exist or is not a store. The tool exits with status 2
// and writes nothing on its standard output.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }

// Opener opens a store for reading. location is what --store (or --data)
// named, resolved by StoreLocation.
type Opener func(ctx context.Context, location string) (eventstore.Store, error)

// StoreLocation resolves --store and --data into the location to open:
// --store as given, or DIR/autoreg.db for --data DIR, or DefaultStore.
func StoreLocation(store, data string) (string, error) {
	switch {
	case store != "" && data != "":
		return "", usagef("give --store or --data, not both")
	case store != "":
		return store, nil
	case data != "":
		return filepath.Join(data, "autoreg.db"), nil
	}
	return DefaultStore, nil
}

// StorePath returns the SQLite file a location names (sqlite:///abs/path.db,
// sqlite:rel.db or a bare path).
func StorePath(location string) (string, error) {
	loc, err := eventstore.ParseURL(location)
	if err != nil {
		return "", &UsageError{Err: err}
	}
	if loc.Scheme != "sqlite" {
		return "", usagef("store %q: the %s store is not supported by this build: use sqlite:///path/autoreg.db or a path", location, loc.Scheme)
	}
	return loc.Path, nil
}

// OpenSQLite opens the SQLite store a location names, read-only: it never
// creates, migrates or writes the file, and the registrar may be writing it
// at the same time (WAL). A file that does not exist or is not an event
// store is a *UsageError.
func OpenSQLite(ctx context.Context, location string) (eventstore.Store, error) {
	path, err := StorePath(location)
	if err != nil {
		return nil, err
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	st, err := sqlite.OpenReadOnly(ctx, path)
	switch {
	case err == nil:
		raw, rerr := openRaw(path)
		if rerr != nil {
			return st, nil
		}
		return sqliteStore{Store: st, raw: raw}, nil
	case errors.Is(err, sqlite.ErrNotEventStore):
		return nil, &UsageError{Err: fmt.Errorf("%s is not an autoreg event store: %w", path, err)}
	}
	return nil, fmt.Errorf("opening the store %s: %w", path, err)
}

// checkFile refuses a path that does not name an existing regular file.
func checkFile(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usagef("no event store at %s (give --store sqlite:///path/autoreg.db, a path, or --data DIR)", path)
	case err != nil:
		return usagef("event store %s: %w", path, err)
	case info.IsDir():
		return usagef("%s is a directory, not an event store (did you mean --data %s?)", path, path)
	}
	return nil
}

// ---- times -----------------------------------------------------------------

// timeLayouts are the forms ParseTime accepts; those without a zone are UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime reads an instant: RFC 3339 (2026-03-02T09:00:00Z,
// 2026-03-02T10:00:00+01:00), or 2006-01-02T15:04[:05] and 2006-01-02
// (midnight), which are UTC. The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usagef("%q is not a time: use RFC 3339 (2026-03-02T09:00:00Z), 2026-03-02T09:00 or 2026-03-02 (UTC)", s)
}

// Interval is [Since, Until]; a zero bound is no bound.
type Interval struct {
	Since, Until time.Time
}

// ParseInterval parses --since and --until ("" for none) and checks that
// since is not after until.
func ParseInterval(since, until string) (Interval, error) {
	var iv Interval
	var err error
	if since != "" {
		if iv.Since, err = ParseTime(since); err != nil {
			return iv, fmt.Errorf("--since: %w", err)
		}
	}
	if until != "" {
		if iv.Until, err = ParseTime(until); err != nil {
			return iv, fmt.Errorf("--until: %w", err)
		}
	}
	if !iv.Since.IsZero() && !iv.Until.IsZero() && iv.Since.After(iv.Until) {
		return iv, usagef("--since %s is after --until %s", iv.Since.Format(time.RFC3339), iv.Until.Format(time.RFC3339))
	}
	return iv, nil
}

// Contains reports whether t is in the interval (bounds included).
func (iv Interval) Contains(t time.Time) bool {
	return (iv.Since.IsZero() || !t.Before(iv.Since)) && (iv.Until.IsZero() || !t.After(iv.Until))
}
