package generate

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// TestEncodeIsDomainEncode: the fast encoder writes what domain.Encode writes.
func TestEncodeIsDomainEncode(t *testing.T) {
	check := func(e domain.Event) {
		t.Helper()
		typ, got, err := encode(e)
		wtyp, want, werr := domain.Encode(e)
		if typ != wtyp || !bytes.Equal(got, want) || (err == nil) != (werr == nil) {
			t.Fatalf("%#v:\n got %s %s\nwant %s %s", e, typ, got, wtyp, want)
		}
	}
	dev := domain.DeviceEvent{Device: "SEP001122334455"}
	for _, e := range []domain.Event{
		domain.DeviceRegistered{DeviceEvent: dev, Protocol: domain.SIP, Address: "sip:SEP001122334455@10.0.0.1:5060"},
		domain.DeviceRegistered{DeviceEvent: dev, Protocol: domain.SCCP, Address: ""},
		domain.DeviceRegistered{DeviceEvent: dev, Protocol: domain.SCCP, Address: "<sip:a&b>"},
		domain.DeviceRegistered{DeviceEvent: dev, Protocol: domain.SCCP, Address: "été\"\\\n"},
		domain.DeviceUnregistered{DeviceEvent: dev, Reason: "keepalive"},
		domain.DeviceUnregistered{DeviceEvent: dev},
		domain.DeviceMoved{DeviceEvent: dev, From: "10.0.0.1:2000", To: "10.0.0.2:2000"},
		domain.DeviceMoved{DeviceEvent: domain.DeviceEvent{Device: "\x7f"}, From: "", To: "\u2028"},
		domain.WindowOpened{Window: "W1", Reason: "r", By: "a", At: time.Unix(0, 1)},
	} {
		check(e)
	}
	// A whole history.
	w := &collect{}
	if _, err := Generate(context.Background(), w, Options{Events: 20_000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	for _, a := range w.appends {
		for _, e := range a.Events {
			p, err := domain.Decode(e.Type, e.Data)
			if err != nil {
				t.Fatal(err)
			}
			check(p)
		}
	}
}

type collect struct{ appends []eventstore.StreamAppend }

func (c *collect) Write(_ context.Context, _ time.Time, a []eventstore.StreamAppend) error {
	c.appends = append(c.appends, a...)
	return nil
}
