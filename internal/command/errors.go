package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// The command side's errors, beside the domain's (domain.ErrInvalid,
// domain.ErrNotFound, *domain.Rejection, ...): what an adapter needs to
// know of the store's, so that no adapter imports it.
var (
	// ErrUnavailable: the store cannot take the write now (disk full, file
	// locked, server unreachable). Nothing was changed: the caller may try
	// again later (a phone is told to come back).
	ErrUnavailable = errors.New("registrar unavailable: the event store cannot take the write now")
	// ErrConflict: other changes kept colliding with this one, which was not
	// made; trying again may succeed.
	ErrConflict = errors.New("conflicting changes")
	// ErrBusy: the registrar declined a registration for now, to bound
	// what a flood writes: its device, or its source address, changed
	// registrations too often (*BusyError, floods.go). Nothing was
	// written. A *BusyError matches ErrUnavailable too: the phone is told
	// to come back later, as when the store cannot take the write.
	ErrBusy = errors.New("registrar busy")
)

// Unavailable reports whether err means "come back later": the store
// could not take the write, or the registrar did not answer in time (a
// deadline the caller set, not its shutting down).
func Unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// wrapStoreError gives a store's error the command side's meaning.
func wrapStoreError(err error) error {
	if err != nil && errors.Is(err, eventstore.ErrUnavailable) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
