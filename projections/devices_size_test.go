package projections

import (
	"testing"
	"unsafe"
)

// TestRecSize keeps the devices read model's record within the size its
// comment promises: the registrar holds one per device.
func TestRecSize(t *testing.T) {
	// 80 bytes until the cluster's CallManager of each registration (node)
	// came in, 88 until the salt of the SIP digest credentials did.
	if n := unsafe.Sizeof(rec{}); n > 96 {
		t.Fatalf("rec is %d bytes, want <= 96", n)
	}
}
