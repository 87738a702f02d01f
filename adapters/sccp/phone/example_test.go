package phone_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// registrar gives every 7961 the DN 2001 and rejects everything else.
type registrar struct{}

func (registrar) Register(_ context.Context, r command.Registration) (command.Registered, error) {
	if r.Model != "7961" {
		return command.Registered{}, &domain.Rejection{Device: r.Device, Reason: domain.RejectWindowClosed}
	}
	return command.Registered{Device: r.Device, Model: r.Model, DN: "2001"}, nil
}

func (registrar) Unregister(context.Context, command.Unregistration) error { return nil }

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := sccp.NewServer(sccp.Config{Registrar: registrar{}})
	go srv.Serve(ctx, ln)
	defer srv.Shutdown(ctx)

	// A 7961 (device type 30018) registers, learns its DN and unregisters.
	p, err := phone.DialConfig(ctx, ln.Addr().String(), phone.Config{
		Name: "SEP00112233AABB", DeviceType: 30018, ProtocolVersion: 20, LongRegister: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	dn, _ := p.DN(ctx)
	fmt.Printf("registered, DN %s, keepalive every %v\n", dn, p.KeepAliveInterval())
	fmt.Println("unregister:", p.Unregister(ctx))

	// A 7960 (device type 7) is turned away.
	_, err = phone.Dial(ctx, ln.Addr().String(), "SEP00112233AABC", 7)
	var rej *phone.RejectedError
	if errors.As(err, &rej) {
		fmt.Println("rejected:", rej.Text)
	}
	// Output:
	// registered, DN 2001, keepalive every 30s
	// unregister: <nil>
	// rejected: Autoregistration closed
}
