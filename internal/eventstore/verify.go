package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// AllReader is the part of a Store that VerifyChain needs.
type AllReader interface {
	ReadAll(ctx context.Context, from uint64, fn func(RecordedEvent) error) error
}

// verifyProgressEvery is how many events VerifyChain verifies between two
// calls of its progress function.
const verifyProgressEvery = 1 << 16

// VerifyChain reads the whole store in global order and checks that it is
// what the store wrote: positions run from 1 without gaps, each stream's
// versions run from 0 without gaps, and every event's hash is
// ChainHash(previous event's hash, event).
//
// It returns the number of events verified. The first discrepancy stops it
// with an error wrapping ErrCorrupt that names the event's position; any other
// error (from the store or ctx) is returned as is. progress, if not nil, is
// called with the last verified position every 65,536 events and at the end.
func VerifyChain(ctx context.Context, r AllReader, progress func(position uint64)) (uint64, error) {
	return VerifyChainEach(ctx, r, progress, nil)
}

// VerifyChainEach is VerifyChain that also calls each, if not nil, with
// every event once it is verified (its hash chains to the one before it),
// in global order; an error from each stops it and is returned as is.
// Checkpoints use it to compare the chain at the positions they signed.
func VerifyChainEach(ctx context.Context, r AllReader, progress func(position uint64), each func(RecordedEvent) error) (uint64, error) {
	var (
		prev     []byte
		next     uint64 = 1
		versions        = make(map[string]uint64)
	)
	err := r.ReadAll(ctx, 1, func(e RecordedEvent) error {
		if e.Position != next {
			return fmt.Errorf("%w: expected an event at position %d, found position %d", ErrCorrupt, next, e.Position)
		}
		if want := versions[e.Stream]; e.Version != want {
			return fmt.Errorf("%w: position %d: stream %q: expected version %d, found %d", ErrCorrupt, e.Position, e.Stream, want, e.Version)
		}
		if len(e.Hash) == 0 {
			return fmt.Errorf("%w: position %d: event has no hash", ErrCorrupt, e.Position)
		}
		want := ChainHash(prev, e)
		if !bytes.Equal(e.Hash, want) {
			return fmt.Errorf("%w: position %d (stream %q version %d): hash %x does not chain to the previous event (want %x): the event or one before it was altered", ErrCorrupt, e.Position, e.Stream, e.Version, e.Hash, want)
		}
		if each != nil {
			if err := each(e); err != nil {
				return err
			}
		}
		versions[e.Stream] = e.Version + 1
		prev = append(prev[:0], e.Hash...)
		if progress != nil && e.Position%verifyProgressEvery == 0 {
			progress(e.Position)
		}
		next++
		return nil
	})
	if err != nil {
		return next - 1, err
	}
	if progress != nil && next > 1 && (next-1)%verifyProgressEvery != 0 {
		progress(next - 1)
	}
	return next - 1, nil
}

// errStop ends a read early.
var errStop = errors.New("stop")

// HashAt returns the chain hash the store keeps for its event at position
// pos; an error wrapping ErrCorrupt when there is no such event, or it has
// no hash.
func HashAt(ctx context.Context, r AllReader, pos uint64) ([]byte, error) {
	var hash []byte
	found := false
	err := r.ReadAll(ctx, pos, func(e RecordedEvent) error {
		found = e.Position == pos
		hash = bytes.Clone(e.Hash)
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("reading the event at position %d: %w", pos, err)
	}
	if !found || len(hash) == 0 {
		return nil, fmt.Errorf("%w: no hashed event at position %d", ErrCorrupt, pos)
	}
	return hash, nil
}
