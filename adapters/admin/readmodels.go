package admin

import (
	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

// toDevice is a device of the read model as the API shows it: the one
// mapping of a device to the API. externalNumber applies the range's mask;
// the cluster gives the effective calling search space and whether its
// CallManager is in its pool's group.
func toDevice(d projections.Device, externalNumber func(partition, dn string) string, c domain.ClusterState) api.Device {
	out := api.Device{Name: d.Name, Model: d.Model, Protocol: string(d.Protocol), DN: d.DN, Partition: d.Partition,
		Pool: d.Pool, CSS: d.CSS, Description: d.Description, Autoregistered: d.Autoregistered, Window: d.Window,
		Registered: d.Registered, Address: d.Address, ExternalNumber: externalNumber(d.Partition, d.DN),
		EffectiveCSS: c.EffectiveCSS(d.CSS, d.Pool), Node: d.Node, LastSeen: d.LastSeen}
	if d.CredentialSalt != "" {
		out.Credentials = "digest"
	}
	switch {
	case d.Registered:
		out.Status = "registered"
		out.OutsideGroup = d.Node != "" && !c.InGroupOf(d.Pool, d.Node)
	case d.Exists:
		out.Status = "unregistered"
	default:
		out.Status, out.StatusReason = "rejected", string(d.LastRejection)
	}
	return out
}
