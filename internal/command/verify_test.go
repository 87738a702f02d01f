package command_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
)

// tampered reads a store as if one event had been altered on disk, or
// lost: the store itself does not notice.
type tampered struct {
	eventstore.Store
	at   uint64
	drop bool
}

func (s tampered) ReadAll(ctx context.Context, from uint64, fn func(eventstore.RecordedEvent) error) error {
	return s.Store.ReadAll(ctx, from, func(e eventstore.RecordedEvent) error {
		if e.Position == s.at {
			if s.drop {
				return nil
			}
			e.Data = []byte(strings.Replace(string(e.Data), "CM1", "CMX", 1))
		}
		return fn(e)
	})
}

// With VerifyChain, New refuses a store whose events do not chain (one
// altered, one missing), naming the position; without it, it loads it.
func TestNewVerifiesTheChain(t *testing.T) {
	store := memory.New()
	sample(t, store, &clock{now: t0}, "1099", false)
	ctx := context.Background()
	if _, err := testreg.Open(t, store, command.Options{VerifyChain: true}); err != nil {
		t.Fatalf("an intact store: %v", err)
	}
	var at uint64
	if err := store.ReadAll(ctx, 1, func(e eventstore.RecordedEvent) error {
		if at == 0 && e.Stream == domain.ClusterStream && strings.Contains(string(e.Data), "CM1") {
			at = e.Position
		}
		return nil
	}); err != nil || at == 0 {
		t.Fatalf("no event naming CM1: %v", err)
	}
	for _, tc := range []struct {
		name string
		s    tampered
		want string
	}{
		{"altered", tampered{Store: store, at: at}, "position " + itoa(at)},
		{"missing", tampered{Store: store, at: at, drop: true}, "position " + itoa(at)},
	} {
		_, err := testreg.Open(t, tc.s, command.Options{VerifyChain: true})
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s event: New = %v; want ErrCorrupt naming %q", tc.name, err, tc.want)
		}
		if _, err := testreg.Open(t, tc.s, command.Options{}); err != nil {
			t.Errorf("%s event without VerifyChain: %v", tc.name, err)
		}
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
