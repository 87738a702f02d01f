package kurrentdb

import (
	"context"
	"errors"
	"fmt"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// ErrUnsupportedServer: the server is older than the store needs (KurrentDB
// 25.1, for atomic appends to several streams).
var ErrUnsupportedServer = errors.New("KurrentDB server too old: the store needs KurrentDB 25.1 or later (MultiStreamAppend)")

// ErrReadOnly: Append on a store opened read-only.
var ErrReadOnly = errors.New("event store opened read-only")

// errNotFound: a stream read found no stream.
var errNotFound = errors.New("stream not found")

// revisionConflict is the server's report that a stream was not at the
// revision an append expected. Actual is the stream's version (-1: no
// stream); known is false when the server did not say.
type revisionConflict struct {
	Stream string
	Actual int64
	Known  bool
}

func (e *revisionConflict) Error() string {
	if !e.Known {
		return fmt.Sprintf("stream %q: wrong expected revision", e.Stream)
	}
	return fmt.Sprintf("stream %q: wrong expected revision (actual %d)", e.Stream, e.Actual)
}

// mapError turns an error of the KurrentDB client into what the store deals
// with:
//
//   - nil stays nil (kdb.FromError reports ok only for a nil error, so the
//     store looks at the error with errors.As instead: the client also wraps
//     its *kdb.Error in other errors);
//   - the context's own error, as it is;
//   - a stream revision conflict (MultiStreamAppend) or a wrong expected
//     version (AppendToStream): a *revisionConflict, with the actual
//     revision when the server gave it;
//   - a stream that does not exist: errNotFound;
//   - an unsupported feature (the server lacks MultiStreamAppend, or answers
//     Unimplemented): ErrUnsupportedServer;
//   - an unreachable server, a deadline, a closed connection, a node that is
//     not the leader, an aborted request: eventstore.ErrUnavailable;
//   - a deleted or tombstoned stream: eventstore.ErrCorrupt (events the
//     store wrote are gone);
//   - anything else, wrapped with its code.
func mapError(err error) error {
	if _, ok := kdb.FromError(err); ok {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if errors.Is(err, context.Canceled) {
			return context.Canceled
		}
		return context.DeadlineExceeded
	}
	var ke *kdb.Error
	if !errors.As(err, &ke) {
		return fmt.Errorf("kurrentdb: %w", err)
	}
	switch ke.Code() {
	case kdb.ErrorCodeStreamRevisionConflict:
		var rc *kdb.StreamRevisionConflictError
		if errors.As(ke.Err(), &rc) {
			actual, known := stateVersion(rc.ActualRevision)
			return &revisionConflict{Stream: rc.Stream, Actual: actual, Known: known}
		}
		return &revisionConflict{}
	case kdb.ErrorCodeWrongExpectedVersion:
		return &revisionConflict{}
	case kdb.ErrorCodeResourceNotFound:
		return errNotFound
	case kdb.ErrorCodeUnsupportedFeature:
		return fmt.Errorf("%w: %v", ErrUnsupportedServer, err)
	case kdb.ErrorUnavailable, kdb.ErrorCodeDeadlineExceeded, kdb.ErrorCodeConnectionClosed,
		kdb.ErrorCodeNotLeader, kdb.ErrorAborted:
		return fmt.Errorf("%w: kurrentdb: %v", eventstore.ErrUnavailable, err)
	case kdb.ErrorCodeStreamDeleted, kdb.ErrorCodeStreamTombstoned:
		return fmt.Errorf("%w: kurrentdb: a stream of the store was deleted: %v", eventstore.ErrCorrupt, err)
	case kdb.ErrorCodeUnauthenticated, kdb.ErrorCodeAccessDenied:
		return fmt.Errorf("kurrentdb: %w (check the credentials in the store URL: user name and password, or client certificate)", err)
	}
	return fmt.Errorf("kurrentdb: %w", err)
}

// conflictError is the port's conflict for a stream the append expected at
// expected and that is at actual (-1: no stream).
func conflictError(stream string, expected eventstore.ExpectedVersion, actual int64) *eventstore.ConflictError {
	return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual}
}
