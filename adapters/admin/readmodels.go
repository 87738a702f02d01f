package admin

import (
	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/projections"
)

// toDevice is a device of the read model as the API shows it: the one
// mapping of a device to the API. externalNumber applies the range's mask.
func toDevice(d projections.Device, externalNumber func(partition, dn string) string) api.Device {
	return api.Device{Name: d.Name, Model: d.Model, Protocol: string(d.Protocol), DN: d.DN, Partition: d.Partition,
		Pool: d.Pool, CSS: d.CSS, Description: d.Description, Autoregistered: d.Autoregistered, Window: d.Window,
		Registered: d.Registered, Address: d.Address, ExternalNumber: externalNumber(d.Partition, d.DN), LastSeen: d.LastSeen}
}
