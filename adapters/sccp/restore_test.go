package sccp_test

import (
	"context"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp"
	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/internal/command"
)

// After a restart, the phones that come back keep their registration; the
// one that does not is unregistered once the grace has passed.
func TestExpectBackUnregistersThePhonesThatDoNotReturn(t *testing.T) {
	ts := startServer(t, sccp.Config{})
	ctx := testCtx(t)
	back, err := phone.Dial(ctx, ts.addr, "SEP0007EB3E7164", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	ts.srv.ExpectBack(context.Background(), []string{"SEP0007EB3E7164", "SEP000000000BAD"}, 200*time.Millisecond)
	u := ts.reg.waitUnregister(t, 3*time.Second)
	if u.Device != "SEP000000000BAD" || u.Reason != command.UnregisterConnLost {
		t.Fatalf("unregistered %+v, want SEP000000000BAD (connection)", u)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(ts.reg.unregistrations()); n != 1 {
		t.Errorf("%d unregistrations, want only the phone that did not come back", n)
	}
	if !ts.srv.Connected("SEP0007EB3E7164") {
		t.Error("the phone that came back is not connected")
	}
}
