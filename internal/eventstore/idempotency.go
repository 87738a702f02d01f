package eventstore

import (
	"bytes"
	"fmt"
)

// MatchStored decides whether an append that could not be written as is (a
// stream was not at its expected version, or an event ID is taken) is the
// retry of an append already stored, which is then a successful no-op.
//
// lookup returns the stored event with a given ID (found false if none);
// version returns a stream's current version (-1 if it does not exist), used
// for the result of entries without events.
//
// MatchStored returns:
//   - stored true and the original result when every event of appends is
//     stored with the same stream, type, data and metadata, at consecutive
//     positions in the order of appends;
//   - stored false and no error when none of the events is stored (the
//     caller then reports its own error, such as the version conflict);
//   - an error wrapping ErrDuplicateEvent when only some events are stored,
//     or an ID is stored for other content or out of order.
//
// An append without events is never "stored": MatchStored returns false.
func MatchStored(
	appends []StreamAppend,
	lookup func(id string) (e RecordedEvent, found bool, err error),
	version func(stream string) (int64, error),
) (res AppendResult, stored bool, err error) {
	total := CountEvents(appends)
	if total == 0 {
		return AppendResult{}, false, nil
	}
	found := 0
	var missing string
	var prev uint64
	var mismatch error
	versions := make([]int64, len(appends))
	for i, a := range appends {
		versions[i] = -1
		for _, e := range a.Events {
			got, ok, err := lookup(e.ID)
			if err != nil {
				return AppendResult{}, false, err
			}
			if !ok {
				if missing == "" {
					missing = e.ID
				}
				continue
			}
			found++
			if mismatch != nil {
				continue
			}
			switch {
			case got.Stream != a.Stream:
				mismatch = fmt.Errorf("%w: event %s is stored in stream %q, not %q", ErrDuplicateEvent, e.ID, got.Stream, a.Stream)
			case got.Type != e.Type || !bytes.Equal(got.Data, e.Data) || !bytes.Equal(got.Metadata, e.Metadata):
				mismatch = fmt.Errorf("%w: event %s is stored with other content (position %d)", ErrDuplicateEvent, e.ID, got.Position)
			case prev != 0 && got.Position != prev+1:
				mismatch = fmt.Errorf("%w: event %s is stored at position %d, not after position %d as in this append", ErrDuplicateEvent, e.ID, got.Position, prev)
			}
			prev = got.Position
			versions[i] = int64(got.Version)
		}
	}
	switch {
	case found == 0:
		return AppendResult{}, false, nil
	case mismatch != nil:
		return AppendResult{}, false, mismatch
	case found < total:
		return AppendResult{}, false, fmt.Errorf("%w: %d of the append's %d events are already stored, but not event %s", ErrDuplicateEvent, found, total, missing)
	}
	for i, a := range appends {
		if len(a.Events) == 0 {
			if versions[i], err = version(a.Stream); err != nil {
				return AppendResult{}, false, err
			}
		}
	}
	return AppendResult{Position: prev, Versions: versions}, true, nil
}
