package admin

import (
	"context"
	"time"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

// ReadModels are the projections the admin API reads the device list,
// single devices and the status counts from. The registrar keeps them live
// from a subscription to the store (a projections.Runner); each read first
// waits, briefly, until they include every event stored so far, so an
// administrator reads what was just written.
type ReadModels struct {
	Runner *projections.Runner
	Set    *projections.Set
	// Head tells the store's last position.
	Head func(ctx context.Context) (uint64, error)
}

// catchUp waits until the read models hold everything stored when the
// request came in.
func (m *ReadModels) catchUp(ctx context.Context) error {
	head, err := m.Head(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return m.Runner.WaitFor(wctx, head)
}

func fromProjection(d projections.Device, rng domain.DNRange) api.Device {
	out := api.Device{Name: d.Name, Model: d.Model, Protocol: string(d.Protocol), DN: d.DN, Partition: d.Partition,
		Pool: d.Pool, CSS: d.CSS, Description: d.Description, Autoregistered: d.Autoregistered, Window: d.Window,
		Registered: d.Registered, Address: d.Address}
	if d.Partition == rng.Partition && d.DN != "" {
		out.ExternalNumber = rng.ExternalNumber(d.DN)
	}
	return out
}
