package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Ping asks the SIP server at addr (host:port) whether it is there, as SIP
// systems do between themselves: an OPTIONS over UDP, answered by any
// final response. It returns nil when one came before ctx's deadline (or
// timeout, whichever is first). The registrar uses it to tell whether
// another node of the cluster is up when no lock on this host can say so
// (nodes on other hosts, sharing a KurrentDB store): no event per heartbeat,
// no state.
func Ping(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	tag := hex.EncodeToString(id[:])
	local := conn.LocalAddr().String()
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-ping-" + tag + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:ping@" + local + ">;tag=" + tag + "\r\n" +
		"To: <sip:" + addr + ">\r\n" +
		"Call-ID: ping-" + tag + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no answer from %s within %v", addr, timeout)
			}
			return err
		}
		res := string(buf[:n])
		if strings.HasPrefix(res, "SIP/2.0 ") && len(res) > 9 && res[8] >= '2' && strings.Contains(res, "ping-"+tag) {
			return nil
		}
	}
}
