package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sip"
	"github.com/autoreg/autoreg/adapters/tftp"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/sipauth"
	"github.com/autoreg/autoreg/projections"
)

// provisioning answers what phones ask before and after they register,
// from the registrar's read models at the moment they ask (never from a
// file written earlier): the TFTP configuration files (tftp.Files) and the
// SCCP conversation's data (sccp.Provisioning). A device's file and answers
// list the CallManagers of its device pool's group; XmlDefault.cnf.xml, the
// autoregistration group's.
type provisioning struct {
	reader                 *projections.Reader
	minExpires, maxExpires time.Duration
	// secret derives the SIP devices' digest passwords (nil: none given).
	secret *sipauth.Secret
}

var (
	_ tftp.Files        = (*provisioning)(nil)
	_ sccp.Provisioning = (*provisioning)(nil)
	_ sip.Credentials   = (*provisioning)(nil)
)

// cluster is the cluster's configuration as the read models hold it now
// (without waiting: a phone's request is answered from what is applied).
func (p *provisioning) cluster(ctx context.Context) (domain.ClusterState, error) {
	return p.reader.Cluster(ctx)
}

// settings are the generator's inputs for the CallManagers of group.
func (p *provisioning) settings(c domain.ClusterState, pool, group string) tftp.Settings {
	s := tftp.Settings{DevicePool: pool, CallManagerGroup: group, AutoRegistrationProtocol: c.Protocol,
		MinExpires: p.minExpires, MaxExpires: p.maxExpires}
	for _, name := range c.Groups[group] {
		cm := c.CallManagers[name]
		host := cm.Host
		if host == "" {
			host = name // a CallManager whose address was never configured: its name
		}
		s.CallManagers = append(s.CallManagers, tftp.CallManager{Host: host, Name: name, SCCPPort: cm.SCCPPort, SIPPort: cm.SIPPort})
	}
	for _, d := range c.DeviceDefaults {
		for _, proto := range []domain.Protocol{domain.SCCP, domain.SIP} {
			if l := d.Load(proto); l != "" {
				s.Loads = append(s.Loads, tftp.Load{Model: d.Model, Protocol: proto, Name: l})
			}
		}
	}
	return s
}

// Open implements tftp.Files: SEP<MAC>.cnf.xml for a device that exists,
// XmlDefault.cnf.xml; anything else is not found here.
func (p *provisioning) Open(ctx context.Context, name string, _ netip.AddrPort) (tftp.File, error) {
	if strings.EqualFold(name, "XmlDefault.cnf.xml") {
		c, err := p.cluster(ctx)
		if err != nil {
			return nil, err
		}
		g, err := tftp.NewGenerator(p.settings(c, c.DefaultPool, c.AutoregGroup), nil)
		if err != nil {
			return nil, err
		}
		return tftp.Bytes(g.DefaultConfig()), nil
	}
	dev, ok := tftp.DeviceConfigName(name)
	if !ok {
		return nil, fs.ErrNotExist
	}
	d, found, err := p.reader.Device(ctx, dev)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fs.ErrNotExist // an unknown phone then asks for XmlDefault.cnf.xml
	}
	c, err := p.cluster(ctx)
	if err != nil {
		return nil, err
	}
	g, err := tftp.NewGenerator(p.settings(c, d.Pool, c.Pools[d.Pool].Group), nil)
	if err != nil {
		return nil, err
	}
	td := tftp.Device{Name: d.Name, Model: d.Model, Protocol: d.Protocol, DN: d.DN}
	if c, ok := p.DigestCredential(d.Name); ok {
		td.AuthName, td.AuthPassword = c.User, c.Password()
	}
	b, err := g.DeviceConfig(td)
	if err != nil {
		return nil, err
	}
	return tftp.Bytes(b), nil
}

// DigestCredential implements sip.Credentials: a device's credentials,
// its password derived from the secret and the salt it was issued with.
func (p *provisioning) DigestCredential(device string) (sip.DigestCredential, bool) {
	if p.secret == nil {
		return sip.DigestCredential{}, false
	}
	a, found := p.reader.SIPAuth(device)
	if !found || a.Salt == "" || a.Profile == domain.AuthNone {
		return sip.DigestCredential{}, false
	}
	return sip.DigestCredential{User: device, Password: func() string { return p.secret.Password(device, a.Salt) },
		Always: a.Profile == domain.AuthDigestAlways, Address: a.Address}, true
}

// Load implements sccp.Provisioning: the Device Defaults load of the model
// over SCCP.
func (p *provisioning) Load(_, model string) string {
	c, err := p.cluster(context.Background())
	if err != nil {
		return ""
	}
	return c.DeviceDefaults[model].Load(domain.SCCP)
}

// CallManagers implements sccp.Provisioning: the CallManagers of the
// device's pool's group whose host is an IPv4 address or resolves to one.
func (p *provisioning) CallManagers(device string) []sccp.CallManager {
	ctx := context.Background()
	d, found, err := p.reader.Device(ctx, device)
	if err != nil || !found {
		return nil
	}
	c, err := p.cluster(ctx)
	if err != nil {
		return nil
	}
	var out []sccp.CallManager
	for _, name := range c.Groups[c.Pools[d.Pool].Group] {
		cm := c.CallManagers[name]
		addr, ok := ipv4(cm.Host)
		if !ok {
			continue
		}
		out = append(out, sccp.CallManager{Name: name, Addr: netip.AddrPortFrom(addr, uint16(cm.SCCPPort))})
	}
	return out
}

// Location implements sccp.Provisioning: UTC (the date/time groups are not
// modelled yet).
func (p *provisioning) Location(string) *time.Location { return nil }

// ipv4 is host as an IPv4 address, resolving a name.
func ipv4(host string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), a.Unmap().Is4()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, false
	}
	return ips[0].Unmap(), true
}

// tftpKind is the kind of file a TFTP request named, for the metrics.
func tftpKind(name string) string {
	lower := strings.ToLower(name)
	switch {
	case lower == "xmldefault.cnf.xml":
		return "default"
	case strings.HasPrefix(lower, "sep") && strings.HasSuffix(lower, ".cnf.xml"):
		return "device"
	case strings.HasSuffix(lower, ".tlv"):
		return "security"
	}
	return "static"
}

// tftpResult is how a TFTP request ended, for the metrics.
func tftpResult(err error) string {
	var te *tftp.Error
	switch {
	case err == nil:
		return "sent"
	case errors.As(err, &te) && te.Code == tftp.CodeNotFound:
		return "not_found"
	case errors.As(err, &te):
		return "refused"
	}
	return "failed"
}
