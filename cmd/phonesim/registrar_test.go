package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sip"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/testreg"
)

// registrar is a real registrar running in the test: the service on the
// memory store with the sample configuration, and its SIP (UDP and TCP) and
// SCCP servers on loopback.
type registrar struct {
	svc              *testreg.Registrar
	sipUDP, sipTCP   string
	sccpAddr         string
	sipSrv           *sip.Server
	sccpSrv          *sccp.Server
	cancelSCCPServer context.CancelFunc
}

// startRegistrar starts a registrar; open opens an autoregistration window.
// adjust, when given, changes the SIP server's configuration.
func startRegistrar(t *testing.T, open bool, adjust ...func(*sip.Config)) *registrar {
	t.Helper()
	ctx := context.Background()
	svc, err := testreg.Open(t, memory.New(), command.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Configure(ctx, cfg.Cluster.Commands(true, "config"), command.Origin{Actor: "config"}); err != nil {
		t.Fatal(err)
	}
	if open {
		if _, err := svc.Execute(ctx, domain.OpenWindow{Reason: "test", By: "alice"}, command.Admin("alice", "")); err != nil {
			t.Fatal(err)
		}
	}

	r := &registrar{svc: svc}
	sipCfg := sip.Config{Registrar: svc}
	for _, a := range adjust {
		a(&sipCfg)
	}
	r.sipSrv, err = sip.NewServer(sipCfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.sipUDP, r.sipTCP, r.sccpAddr = pc.LocalAddr().String(), tl.Addr().String(), sl.Addr().String()

	errs := make(chan error, 3)
	go func() { errs <- r.sipSrv.ServeUDP(ctx, pc) }()
	go func() { errs <- r.sipSrv.ServeTCP(ctx, tl) }()
	r.sccpSrv = sccp.NewServer(sccp.Config{Registrar: svc})
	sctx, cancel := context.WithCancel(ctx)
	r.cancelSCCPServer = cancel
	go func() { errs <- r.sccpSrv.Serve(sctx, sl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.sipSrv.Shutdown(ctx); err != nil {
			t.Errorf("SIP Shutdown: %v", err)
		}
		if err := r.sccpSrv.Shutdown(ctx); err != nil {
			t.Errorf("SCCP Shutdown: %v", err)
		}
		r.cancelSCCPServer()
		for range 3 {
			<-errs
		}
	})
	return r
}

// options are Options for this registrar (SIP over UDP).
func (r *registrar) options() Options {
	return Options{SIPAddr: r.sipUDP, SCCPAddr: r.sccpAddr, Timeout: 5 * time.Second}
}

// registered reports whether the registrar holds the device as registered.
func (r *registrar) registered(device string) (domain.DeviceState, bool) {
	d, ok := r.svc.Device(device)
	return d, ok && d.Registered
}
