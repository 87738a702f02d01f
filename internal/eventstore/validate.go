package eventstore

import (
	"errors"
	"fmt"
)

// More sentinel errors. Implementations wrap them with %w and context.
var (
	// ErrInvalidAppend: an append is malformed (empty stream name or event
	// ID, a stream named twice, an ID used twice, a bad expected version).
	// Nothing is written.
	ErrInvalidAppend = errors.New("invalid append")
	// ErrDuplicateEvent: an event ID is already stored for other content,
	// or only some of an append's events are already stored. A retry of a
	// whole append that was stored is not an error (see EventData).
	ErrDuplicateEvent = errors.New("event id already used")
)

// Allows reports whether a stream whose last event is at version current
// (-1: the stream does not exist) satisfies e.
func (e ExpectedVersion) Allows(current int64) bool {
	switch {
	case e == Any:
		return true
	case e == NoStream:
		return current < 0
	default:
		return int64(e) == current
	}
}

// ValidateAppends checks what every store checks before writing: stream
// names and event IDs and types are non-empty, no stream appears twice and
// no event ID twice, and expected versions are Any, NoStream or >= 0.
// The error wraps ErrInvalidAppend.
func ValidateAppends(appends []StreamAppend) error {
	streams := make(map[string]struct{}, len(appends))
	var ids map[string]struct{}
	for i, a := range appends {
		if a.Stream == "" {
			return fmt.Errorf("%w: append %d: empty stream name", ErrInvalidAppend, i)
		}
		if _, dup := streams[a.Stream]; dup {
			return fmt.Errorf("%w: stream %q named twice", ErrInvalidAppend, a.Stream)
		}
		streams[a.Stream] = struct{}{}
		if a.Expected < Any {
			return fmt.Errorf("%w: stream %q: bad expected version %d", ErrInvalidAppend, a.Stream, int64(a.Expected))
		}
		for j, e := range a.Events {
			if e.ID == "" {
				return fmt.Errorf("%w: stream %q: event %d: empty ID", ErrInvalidAppend, a.Stream, j)
			}
			if e.Type == "" {
				return fmt.Errorf("%w: stream %q: event %s: empty type", ErrInvalidAppend, a.Stream, e.ID)
			}
			if ids == nil {
				ids = make(map[string]struct{})
			}
			if _, dup := ids[e.ID]; dup {
				return fmt.Errorf("%w: event ID %s used twice", ErrInvalidAppend, e.ID)
			}
			ids[e.ID] = struct{}{}
		}
	}
	return nil
}

// CountEvents is the number of events in appends.
func CountEvents(appends []StreamAppend) int {
	n := 0
	for _, a := range appends {
		n += len(a.Events)
	}
	return n
}
