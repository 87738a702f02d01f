// Package eventstore is the event store port, owned by its consumers: the
// small interface the registrar's command side (internal/command) and the
// read side (projections, replay) need, the types that cross it, the hash
// chain that makes the log tamper-evident (ChainHash, VerifyChain), and the
// checks every implementation runs before writing (ValidateAppends,
// MatchStored).
//
// Implementations live under adapters/eventstore (memory, sqlite, kurrentdb)
// and must all pass the conformance suite in adapters/eventstore/storetest.
//
// It imports only the standard library; any layer may depend on it, and it
// depends on none.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Implementations wrap them with %w and context.
var (
	// ErrWrongExpectedVersion: a stream was not at the version the append expected.
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	// ErrClosed: the store was used after Close.
	ErrClosed = errors.New("event store is closed")
	// ErrCorrupt: the stored data is not what the store wrote (truncated file,
	// broken hash chain, a row that does not decode).
	ErrCorrupt = errors.New("event store is corrupt")
	// ErrUnavailable: the store cannot take writes right now (disk full, file
	// locked, server unreachable). The caller may retry later.
	ErrUnavailable = errors.New("event store unavailable")
	// ErrUntilRestart comes with ErrUnavailable when the store refuses
	// writes until the registrar restarts (its files were deleted or
	// replaced under it): retrying sooner is no use.
	ErrUntilRestart = errors.New("writes are refused until the registrar restarts")
)

// ExpectedVersion says what an append expects of a stream.
//
// Versions count a stream's events from 0: a stream with one event is at
// version 0. The special values are Any and NoStream.
type ExpectedVersion int64

const (
	// Any: append whatever the stream's version (and create it if needed).
	Any ExpectedVersion = -2
	// NoStream: the stream must not exist yet.
	NoStream ExpectedVersion = -1
)

// Exact expects the stream's last event to be at version v.
func Exact(v uint64) ExpectedVersion { return ExpectedVersion(v) }

func (e ExpectedVersion) String() string {
	switch e {
	case Any:
		return "any"
	case NoStream:
		return "no stream"
	default:
		return fmt.Sprintf("version %d", int64(e))
	}
}

// EventData is an event to append. ID must be unique across the store: an
// append whose events' IDs were all already stored (in the same streams, in the
// same order) is a successful no-op, so a retried append is idempotent.
type EventData struct {
	ID       string // UUID
	Type     string // stable, explicit name such as "autoregistration.window_opened"
	Data     []byte // JSON payload
	Metadata []byte // JSON metadata (actor, correlation, causation, ...)
}

// StreamAppend is the part of an atomic append that goes to one stream.
// An entry with no events only checks the expected version: it lets a
// decision that read a stream fail if that stream moved, without writing to it.
type StreamAppend struct {
	Stream   string
	Expected ExpectedVersion
	Events   []EventData
}

// AppendResult tells where the events landed.
type AppendResult struct {
	// Position of the last event written (global, gap-free, from 1).
	// Zero when nothing was written.
	Position uint64
	// NextVersions: for each StreamAppend in order, the stream's version after
	// the append (-1 if the stream still does not exist).
	Versions []int64
}

// RecordedEvent is an event as the store keeps it.
type RecordedEvent struct {
	Position   uint64 // global, gap-free, from 1
	Stream     string
	Version    uint64 // within the stream, from 0
	ID         string
	Type       string
	Data       []byte
	Metadata   []byte
	RecordedAt time.Time // set by the store, UTC
	// Hash chains every event to the one before it in global order:
	// SHA-256 over the previous hash and the event's content (see Chain).
	// Stores that cannot keep it leave it nil.
	Hash []byte
}

// Store is the port. All methods are safe for concurrent use.
type Store interface {
	// Append writes the events of every StreamAppend atomically: all or none.
	// If any stream is not at its expected version, nothing is written and
	// the error wraps ErrWrongExpectedVersion (use errors.As with *ConflictError
	// for details). Append returns only once the events are durable.
	Append(ctx context.Context, appends ...StreamAppend) (AppendResult, error)

	// ReadStream reads one stream from version `from` (inclusive), in order.
	// A stream that does not exist yields no events and no error.
	ReadStream(ctx context.Context, stream string, from uint64, fn func(RecordedEvent) error) error

	// ReadAll reads every event from global position `from` (inclusive, from 1),
	// in global order, calling fn for each until fn returns an error (which
	// ReadAll returns) or the end is reached.
	ReadAll(ctx context.Context, from uint64, fn func(RecordedEvent) error) error

	// Subscribe calls fn for every event from global position `from`
	// (inclusive): first those already stored (catch-up), then each new one as
	// it is appended (live), in global order, until ctx ends or fn returns an
	// error. It returns ctx.Err() or fn's error.
	Subscribe(ctx context.Context, from uint64, fn func(RecordedEvent) error) error

	// Head is the global position of the last event (0 for an empty store).
	Head(ctx context.Context) (uint64, error)

	// Close flushes and releases the store.
	Close() error
}

// ConflictError details a wrong expected version.
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64 // -1: the stream does not exist
}

func (e *ConflictError) Error() string {
	actual := "no stream"
	if e.Actual >= 0 {
		actual = fmt.Sprintf("version %d", e.Actual)
	}
	return fmt.Sprintf("stream %q: expected %s, found %s: %v", e.Stream, e.Expected, actual, ErrWrongExpectedVersion)
}

func (e *ConflictError) Unwrap() error { return ErrWrongExpectedVersion }

// Pipeliner is implemented by stores that queue appends and commit them in
// the order they were queued (the SQLite store's single writer does). The
// registrar uses it to decide under a lock, queue the append in order, and
// wait for durability outside the lock, so that group commit can batch many
// registrations into one transaction.
type Pipeliner interface {
	// Enqueue queues the append; appends queued one after the other are
	// committed in that order. The returned function waits for the result
	// (the same as Append's).
	Enqueue(ctx context.Context, appends ...StreamAppend) (wait func() (AppendResult, error))
}
