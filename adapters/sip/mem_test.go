package sip

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestMemoryPerDevice reports the heap a registered device costs, and a
// remembered transaction. Run with -v; skipped in -short.
func TestMemoryPerDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 20000 devices")
	}
	const n = 20000
	s, err := NewServer(Config{Registrar: &countingRegistrar{}, Host: "autoreg.test", Logger: zerolog.Nop(), SourceRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	msgs := make([][]byte, n)
	for i := range msgs {
		r := defaultRaw()
		mac := fmt.Sprintf("0011%08X", i)
		r.To = "sip:SEP" + mac + "@autoreg.test"
		r.Contacts = []string{fmt.Sprintf(`<sip:%s@192.0.2.10:5060;transport=UDP>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-%s>"`, mac, mac)}
		r.CallID = fmt.Sprintf("%d-9726@192.0.2.10", i)
		r.Branch = fmt.Sprintf("z9hG4bK-9726-%d-0", i)
		msgs[i] = []byte(r.String())
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	ctx := context.Background()
	for _, m := range msgs {
		req, _ := s.parseDatagram(m, testPeer)
		if res := s.handle(ctx, req, testPeer, false); res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	withTx := heap()
	s.txs.rotate(time.Now().Add(time.Hour)) // the retransmission window is over
	devices := heap()
	runtime.KeepAlive(msgs)
	if s.Devices() != n || s.txs.len() != 0 {
		t.Fatalf("%d devices, %d transactions", s.Devices(), s.txs.len())
	}
	t.Logf("per device: %d bytes; per remembered transaction: %d bytes",
		(devices-before)/n, (withTx-devices)/n)
}
