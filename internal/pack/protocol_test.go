package pack

import (
	"testing"

	"github.com/autoreg/autoreg/domain"
)

func TestProtocols(t *testing.T) {
	var ps Protocols
	for k, p := range map[uint64]domain.Protocol{1: "", 2: domain.SIP, 3: domain.SCCP, 4: "H323"} {
		code := ps.Code(k, p)
		if code > ProtocolMask {
			t.Fatalf("code %d for %q does not fit two bits", code, p)
		}
		if got := ps.Protocol(k, code); got != p {
			t.Errorf("%q: code %d reads back %q", p, code, got)
		}
	}
	if ps.Len() != 1 {
		t.Fatalf("%d protocols on the side, want 1 (H323)", ps.Len())
	}
	if code := ps.Code(4, domain.SIP); code != ProtocolSIP || ps.Len() != 0 {
		t.Fatalf("recoding to SIP: code %d, %d on the side", code, ps.Len())
	}
	ps.Code(5, "X")
	ps.Drop(5)
	if ps.Len() != 0 || ps.Protocol(5, ProtocolOther) != "" {
		t.Fatal("Drop left the protocol on the side")
	}
}
