package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/domain"
)

// javaModels are the phones whose SCCP firmware (SCCP41, SCCP11, SCCP70 ...)
// sends the long RegisterMessage of a recent protocol version; the others
// send the basic one of protocol version 5.
var javaModels = map[string]bool{
	"7906": true, "7911": true, "7941": true, "7942": true, "7945": true, "7961": true,
	"7962": true, "7965": true, "7970": true, "7971": true, "7975": true,
}

// sccpClient registers phones over SCCP, one TCP connection each.
type sccpClient struct {
	addr string
}

// sccpConfig is the RegisterMessage a phone of the model sends. A model
// without SCCP firmware, or outside the catalogue, sends device type 0,
// which no catalogue model has.
func sccpConfig(device, model string) phone.Config {
	cfg := phone.Config{Name: device, ProtocolVersion: 5}
	if m, ok := domain.LookupModel(model); ok {
		cfg.DeviceType = m.SCCPType
	}
	if javaModels[model] {
		cfg.ProtocolVersion, cfg.LongRegister = 20, true
	}
	return cfg
}

// register dials the registrar, registers s and asks for its DN.
func (c *sccpClient) register(ctx context.Context, s spec) attempt {
	start := time.Now()
	p, err := phone.DialConfig(ctx, c.addr, sccpConfig(s.device, s.model))
	took := time.Since(start)
	var rej *phone.RejectedError
	switch {
	case errors.As(err, &rej):
		return attempt{phone: Phone{
			Device: s.device, Model: s.model, Protocol: s.protocol, Result: ResultRejected,
			Reason: rejectionReason(rej.Text), Detail: rej.Text, LatencyMS: ms(took),
		}}
	case err != nil:
		return attempt{phone: failed(s, err, took)}
	}
	dn, err := p.DN(ctx)
	if err != nil {
		p.Close()
		return attempt{phone: failed(s, fmt.Errorf("registered, but the DN (LineStatReq): %w", err), took)}
	}
	return attempt{
		phone: Phone{
			Device: s.device, Model: s.model, Protocol: s.protocol, Result: ResultRegistered,
			DN: dn, LatencyMS: ms(took),
		},
		session: sccpSession{p},
	}
}

// sccpSession is a registered SCCP phone.
type sccpSession struct{ p *phone.Phone }

// hold sends keepalives at the interval the RegisterAck gave.
func (s sccpSession) hold(ctx context.Context) error {
	if err := s.p.Run(ctx); err != nil {
		return fmt.Errorf("keepalive: %w", err)
	}
	return nil
}

func (s sccpSession) unregister(ctx context.Context) error { return s.p.Unregister(ctx) }

func (s sccpSession) close() { s.p.Close() }
