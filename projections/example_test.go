package projections_test

import (
	"context"
	"fmt"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/projections"
)

// The registrar keeps its read models live behind a Runner, and a request
// that just wrote waits for them to include its events before reading.
func ExampleRunner() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New()
	set := projections.NewSet()
	runner := projections.NewRunner(store, set.All()...)
	go runner.Run(ctx) // catches up, then follows the store

	// The registrar's own read side, from which its command side reads the
	// devices it does not hold.
	reader := projections.NewReader(store, nil)
	go reader.Run(ctx)
	svc, _ := command.New(ctx, store, command.Options{Devices: reader})

	for _, cmd := range []domain.Command{
		domain.AddPartition{Name: "Internal", By: "admin:alice"},
		domain.ConfigureRange{Start: "1000", End: "1099", Partition: "Internal", By: "admin:alice"},
	} {
		if _, err := svc.Execute(ctx, cmd, command.Admin("alice", "")); err != nil {
			fmt.Println(err)
			return
		}
	}
	head, _ := store.Head(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := runner.WaitFor(wctx, head); err != nil {
		fmt.Println(err)
		return
	}
	r, _ := set.Assignment.Current()
	fmt.Printf("range %s-%s in %s: %d free, next %s\n", r.Start, r.End, r.Partition, r.Free, r.Next)
	for _, c := range set.Config.Changes(time.Time{}, time.Time{}) {
		fmt.Println(c.Position, c.Type, c.Actor)
	}
	// Output:
	// range 1000-1099 in Internal: 100 free, next 1000
	// 1 cluster.partition_added admin:alice
	// 2 dnrange.configured admin:alice
}
