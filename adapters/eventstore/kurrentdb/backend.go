package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
)

// backend is the part of the KurrentDB client the store uses. Its errors
// are those of mapError (*revisionConflict, errNotFound, wrapped port
// errors). The store's tests run the conformance suite on a fake of it.
type backend interface {
	// version is the server's version (0.0.0 for a server too old to say).
	version(ctx context.Context) (kdb.ServerVersion, error)
	// multiAppend appends to several streams atomically.
	multiAppend(ctx context.Context, reqs []kdb.AppendStreamRequest) error
	// readStream reads up to count events of a stream from revision from
	// (forwards), or the last count events (backwards, newest first,
	// from is ignored). leader asks for the leader node, for reads that
	// must see every committed write. A stream that does not exist yields
	// errNotFound.
	readStream(ctx context.Context, stream string, from uint64, backwards bool, count uint64, leader bool, fn func(rawEvent) error) error
	// subscribeAll follows $all, filtered on a stream name prefix, from
	// just after position (nil: from the start), calling fn for each
	// event and caughtUp when the subscription has caught up with the end,
	// until ctx ends, fn fails or the subscription drops (an error).
	// leader asks for the leader node.
	subscribeAll(ctx context.Context, after *kdb.Position, prefix string, leader bool, fn func(rawEvent) error, caughtUp func() error) error
	close() error
}

// client is the backend on the real client.
type client struct{ c *kdb.Client }

func (c client) version(ctx context.Context) (kdb.ServerVersion, error) {
	type result struct {
		v   *kdb.ServerVersion
		err error
	}
	ch := make(chan result, 1)
	go func() { // GetServerVersion takes no context: do not let it hold ctx up
		v, err := c.c.GetServerVersion()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return kdb.ServerVersion{}, mapError(r.err)
		}
		return *r.v, nil
	case <-ctx.Done():
		return kdb.ServerVersion{}, ctx.Err()
	}
}

func (c client) multiAppend(ctx context.Context, reqs []kdb.AppendStreamRequest) error {
	_, err := c.c.MultiStreamAppend(ctx, slices.Values(reqs))
	return mapError(err)
}

func (c client) readStream(ctx context.Context, stream string, from uint64, backwards bool, count uint64, leader bool, fn func(rawEvent) error) error {
	opts := kdb.ReadStreamOptions{From: kdb.Revision(from), RequiresLeader: leader}
	if backwards {
		opts.Direction, opts.From = kdb.Backwards, kdb.End{}
	}
	rs, err := c.c.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return mapError(err)
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return mapError(err)
		}
		if e := ev.OriginalEvent(); e != nil {
			if err := fn(fromRecorded(e)); err != nil {
				return err
			}
		}
	}
}

func (c client) subscribeAll(ctx context.Context, after *kdb.Position, prefix string, leader bool, fn func(rawEvent) error, caughtUp func() error) error {
	opts := kdb.SubscribeToAllOptions{
		From:           kdb.Start{},
		Filter:         &kdb.SubscriptionFilter{Type: kdb.StreamFilterType, Prefixes: []string{prefix}},
		RequiresLeader: leader,
	}
	if after != nil {
		opts.From = *after
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the goroutine below
	sub, err := c.c.SubscribeToAll(ctx, opts)
	if err != nil {
		return mapError(err)
	}
	defer sub.Close()
	go func() { // Recv does not watch ctx
		<-ctx.Done()
		sub.Close()
	}()
	for {
		ev := sub.Recv()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case ev.SubscriptionDropped != nil:
			if err := mapError(ev.SubscriptionDropped.Error); err != nil {
				return err
			}
			return fmt.Errorf("%w: kurrentdb: the subscription dropped", errDropped)
		case ev.EventAppeared != nil:
			if e := ev.EventAppeared.OriginalEvent(); e != nil {
				if err := fn(fromRecorded(e)); err != nil {
					return err
				}
			}
		case ev.CaughtUp != nil:
			if err := caughtUp(); err != nil {
				return err
			}
		}
	}
}

func (c client) close() error { return c.c.Close() }

// errDropped: a subscription ended without saying why.
var errDropped = errors.New("subscription dropped")

// readAllEvents is the count that reads a whole stream.
const readAllEvents = math.MaxUint64
