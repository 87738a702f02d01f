package sip

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkRegisterDatagram measures one new device's REGISTER through the
// datagram path (parse, validate, transaction table, device table,
// registrar, response, encoding), without the socket.
func BenchmarkRegisterDatagram(b *testing.B) {
	s, err := NewServer(Config{Registrar: &countingRegistrar{}, Host: "autoreg.test", Logger: zerolog.Nop(),
		MaxDevices: 1 << 24, MaxTransactions: 1 << 24, SourceRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	msgs := make([][]byte, b.N)
	for i := range msgs {
		r := defaultRaw()
		mac := fmt.Sprintf("0011%08X", i)
		r.To = "sip:SEP" + mac + "@autoreg.test"
		r.Contacts = []string{fmt.Sprintf(`<sip:%s@192.0.2.10:5060;transport=UDP>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-%s>"`, mac, mac)}
		r.CallID = fmt.Sprintf("%d-1234@192.0.2.10", i)
		r.Branch = fmt.Sprintf("z9hG4bK-%d", i)
		msgs[i] = []byte(r.String())
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req, _ := s.parseDatagram(msgs[i], testPeer)
		res := s.handle(ctx, req, testPeer, false)
		buf := encode(res)
		releaseBuffer(buf)
	}
}
