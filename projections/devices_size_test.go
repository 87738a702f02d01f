package projections

import (
	"testing"
	"unsafe"
)

// TestRecSize keeps the devices read model's record within the size its
// comment promises: the registrar holds one per device.
func TestRecSize(t *testing.T) {
	if n := unsafe.Sizeof(rec{}); n > 80 {
		t.Fatalf("rec is %d bytes, want <= 80", n)
	}
}
