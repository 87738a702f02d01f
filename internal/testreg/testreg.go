// Package testreg builds, for tests, a registrar's two sides over one
// event store as `registrar serve` does: the read side (projections.Reader,
// following the store) and the command side (command.Handler, reading
// through it the devices it does not hold). Registrar answers the reads the
// tests make through the read side, waiting for it to hold every event
// stored (read your own writes).
//
// It imports the command side, the read side and the domain; only tests
// import it.
package testreg

import (
	"context"
	"fmt"
	"testing"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// Registrar is the command handler with the read side it reads from.
type Registrar struct {
	*command.Handler
	Reader *projections.Reader
	t      testing.TB
}

// New starts the read side on store (following it until the test ends),
// then the command side with opt (its Devices set to the read side), and
// fails the test if either cannot start.
func New(t testing.TB, store eventstore.Store, opt command.Options) *Registrar {
	t.Helper()
	r, err := Open(t, store, opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Open is New returning the error rather than failing the test.
func Open(t testing.TB, store eventstore.Store, opt command.Options) (*Registrar, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := Start(ctx, store, opt)
	if r != nil {
		r.t = t
	}
	return r, err
}

// Start is Open outside a test: the read side follows the store until ctx
// ends, and a read that fails panics.
func Start(ctx context.Context, store eventstore.Store, opt command.Options) (*Registrar, error) {
	reader := projections.NewReader(store, opt.Clock)
	go func() { _ = reader.Run(ctx) }()
	opt.Devices = reader
	h, err := command.New(ctx, store, opt)
	if err != nil {
		return nil, err
	}
	return &Registrar{Handler: h, Reader: reader}, nil
}

func (r *Registrar) ok(err error) {
	if err == nil {
		return
	}
	if r.t == nil {
		panic(fmt.Sprintf("reading the read side: %v", err))
	}
	r.t.Helper()
	r.t.Fatalf("reading the read side: %v", err)
}

// Status is the autoregistration's state.
func (r *Registrar) Status() projections.Status {
	st, err := r.Reader.Status(context.Background())
	r.ok(err)
	return st
}

// Devices lists the devices that exist, sorted by name, as the domain holds them.
func (r *Registrar) Devices() []domain.DeviceState {
	list, err := r.Reader.Devices(context.Background())
	r.ok(err)
	out := make([]domain.DeviceState, 0, len(list))
	for _, d := range list {
		st, _, _ := r.Reader.DeviceState(d.Name)
		out = append(out, st)
	}
	return out
}

// Device returns one device that exists.
func (r *Registrar) Device(name string) (domain.DeviceState, bool) {
	_, ok, err := r.Reader.Device(context.Background(), name)
	r.ok(err)
	if !ok {
		return domain.DeviceState{}, false
	}
	st, _, _ := r.Reader.DeviceState(name)
	return st, true
}

// Cluster is the cluster's state.
func (r *Registrar) Cluster() domain.ClusterState {
	c, err := r.Reader.Cluster(context.Background())
	r.ok(err)
	return c
}

// Range is the range in force and the DNs in use (a copy).
func (r *Registrar) Range() domain.DNRangeState {
	rng, err := r.Reader.Range(context.Background())
	r.ok(err)
	st := domain.NewDNRange()
	st.Range = rng
	for _, h := range r.Reader.Holdings() {
		st.InUse.Hold(h.Partition, h.DN, h.Device)
	}
	return st
}

// MayDial answers "may device D dial N?".
func (r *Registrar) MayDial(device, number string) (domain.DialResult, error) {
	return r.Reader.MayDial(context.Background(), device, number)
}
