package main

// Binding the registrar's sockets before anything else: a port taken or
// refused fails the start with the flag to change, before the store is
// opened (or created) and before any event is written.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/autoreg/autoreg/adapters/admin"
	"github.com/autoreg/autoreg/internal/config"
)

// listeners are the registrar's bound sockets. A server takes its own
// (take); close closes those no server took.
type listeners struct {
	sipUDP, sipTCP, sipTLS, sccp, admin, tftp io.Closer
	// noTFTP says why the default TFTP address was not bound ("" when it
	// was, or TFTP is off).
	noTFTP string
}

// take hands the socket in *slot over to its server: close no longer
// closes it. It returns nil when the slot is empty.
func (l *listeners) take(slot *io.Closer) io.Closer {
	c := *slot
	*slot = nil
	return c
}

func (l *listeners) close() {
	for _, c := range []*io.Closer{&l.sipUDP, &l.sipTCP, &l.sipTLS, &l.sccp, &l.admin, &l.tftp} {
		if *c != nil {
			_ = (*c).Close()
			*c = nil
		}
	}
}

// bindListeners binds SIP (the configured transports, TLS when tls is
// set), SCCP and the admin API. On the first failure it closes what it
// bound and returns an error naming the flag (or key) of the address.
func bindListeners(ctx context.Context, cfg config.Config, withTLS bool) (*listeners, error) {
	l := &listeners{}
	var lc net.ListenConfig
	stream := func(slot *io.Closer, flag, addr string) error {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return listenError(flag, "tcp", addr, err)
		}
		*slot = ln
		return nil
	}
	err := func() error {
		for _, t := range cfg.SIP.Transports {
			switch t {
			case "udp":
				pc, err := lc.ListenPacket(ctx, "udp", cfg.SIP.Addr)
				if err != nil {
					return listenError("--sip-addr", "udp", cfg.SIP.Addr, err)
				}
				l.sipUDP = pc
			case "tcp":
				if err := stream(&l.sipTCP, "--sip-addr", cfg.SIP.Addr); err != nil {
					return err
				}
			}
		}
		if withTLS {
			if err := stream(&l.sipTLS, "sip.tls_addr", cfg.SIP.TLSAddr); err != nil {
				return err
			}
		}
		if err := stream(&l.sccp, "--sccp-addr", cfg.SCCP.Addr); err != nil {
			return err
		}
		addr := cfg.Admin.Addr
		if addr == "" {
			addr = admin.DefaultAddr
		}
		if err := stream(&l.admin, "--admin-addr", addr); err != nil {
			return err
		}
		if cfg.TFTP.Addr == "" {
			return nil
		}
		pc, err := lc.ListenPacket(ctx, "udp", cfg.TFTP.Addr)
		switch {
		case err == nil:
			l.tftp = pc
		case cfg.TFTP.Addr == defaultTFTPAddr && (errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission)):
			l.noTFTP = "the TFTP port " + defaultTFTPAddr + " needs root or CAP_NET_BIND_SERVICE: serving without TFTP (phones then need their configuration files from another TFTP server); give --tftp-addr another address, or \"\" to say so"
		default:
			return listenError("--tftp-addr", "udp", cfg.TFTP.Addr, err)
		}
		return nil
	}()
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// defaultTFTPAddr is tftp.addr's default, whose refusal for lack of
// privilege serve forgives (make run for a user who is not root).
const defaultTFTPAddr = ":69"

// listenError says which address could not be bound, by its flag, and
// why, in words for the common causes.
func listenError(flag, network, addr string, err error) error {
	var why string
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		why = "the address is in use: another program (another registrar?) listens there; stop it, or choose another address with " + flag
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		why = "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE (packaging/autoreg.service grants it), or choose another address with " + flag
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		why = "no interface of this machine has that address: choose another with " + flag
	default:
		why = fmt.Sprintf("%v (choose another address with %s)", err, flag)
	}
	return &exitError{code: 1, err: fmt.Errorf("%s %s (%s): %s", flag, addr, network, why)}
}

// loadSIPTLS loads the SIP TLS certificate (nil when none is configured).
func loadSIPTLS(cfg config.Config) (*tls.Config, error) {
	if cfg.SIP.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.SIP.TLSCert, cfg.SIP.TLSKey)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("sip.tls_cert/sip.tls_key: %w", err)}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// checkAdmin refuses, before anything is bound, an admin API configuration
// that admin.New would refuse. With no token configured one is generated
// later (generatedToken): it is long enough, so a stand-in is checked.
func checkAdmin(cfg config.Config, tokens []admin.Token) error {
	if len(tokens) == 0 {
		tokens = []admin.Token{{User: "admin", Token: "generated-token-of-48-hex-characters-000000000000", Scope: admin.ScopeAdmin}}
	}
	return admin.Config{Addr: cfg.Admin.Addr, Tokens: tokens, AllowPlainHTTP: cfg.Admin.AllowPlainHTTP,
		TLSCert: cfg.Admin.TLSCert, TLSKey: cfg.Admin.TLSKey}.Check()
}
