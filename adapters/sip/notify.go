package sip

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/autoreg/autoreg/domain"
)

// ErrNotRegistered is Notify's error for a device without a binding here.
var ErrNotRegistered = errors.New("no SIP binding on this registrar")

// Notify sends an unsolicited NOTIFY with the event given (Cisco phones
// take "check-sync" as "fetch your configuration again and restart";
// with ";reboot=true", reboot) to every contact of the device's bindings,
// over UDP from the registrar's own socket, as CallManager does to reset
// a SIP phone. It does not wait for the phones' answers; it returns an
// error wrapping ErrNotRegistered when the device has no binding here, or
// when no UDP socket serves.
func (s *Server) Notify(device, event string) error {
	mac, ok := domain.DeviceMAC(device)
	if !ok {
		return fmt.Errorf("sip: %q is not a device name", device)
	}
	_, bindings := s.table.snapshot(mac)
	if len(bindings) == 0 {
		return fmt.Errorf("%s: %w", device, ErrNotRegistered)
	}
	pc := s.udpSocket()
	if pc == nil {
		return fmt.Errorf("%s: %w (no UDP socket to send the NOTIFY from)", device, ErrNotRegistered)
	}
	sent := 0
	var lastErr error
	for _, b := range bindings {
		uri := b.uri()
		var contact sipmsg.Uri
		if err := sipmsg.ParseUri(uri, &contact); err != nil {
			lastErr = err
			continue
		}
		if t, ok := contact.UriParams.Get("transport"); ok && !strings.EqualFold(t, "udp") {
			lastErr = fmt.Errorf("contact %s: transport %s: only UDP contacts are notified", uri, t)
			continue
		}
		addr, err := contactAddr(&contact)
		if err != nil {
			lastErr = err
			continue
		}
		msg := notifyRequest(&contact, pc.LocalAddr(), device, event)
		if _, err := pc.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(addr)); err != nil {
			lastErr = err
			continue
		}
		sent++
		s.log.Info().Str("device", device).Str("contact", uri).Str("event", event).Msg("NOTIFY sent")
	}
	if sent == 0 {
		return fmt.Errorf("%s: no contact could be notified: %w", device, lastErr)
	}
	return nil
}

// udpSocket is the socket of a UDP listener, nil when none serves.
func (s *Server) udpSocket() net.PacketConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		if l.pc != nil && !l.stopping.Load() {
			return l.pc
		}
	}
	return nil
}

// contactAddr is where a contact URI's host and port point (the port 5060
// when it has none); a host name is resolved.
func contactAddr(u *sipmsg.Uri) (netip.AddrPort, error) {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	ips, err := net.LookupIP(u.Host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("contact host %s: %v", u.Host, err)
	}
	a, _ := netip.AddrFromSlice(ips[0])
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// notifyRequest is the NOTIFY's text (RFC 3265 unsolicited, as Cisco
// phones take check-sync).
func notifyRequest(contact *sipmsg.Uri, local net.Addr, device, event string) string {
	tok := func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	host, port, _ := net.SplitHostPort(local.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	via := net.JoinHostPort(host, port)
	target := contact.String()
	var b strings.Builder
	b.WriteString("NOTIFY " + target + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/UDP " + via + ";branch=z9hG4bK" + tok() + ";rport\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("From: <sip:registrar@" + via + ">;tag=" + tok() + "\r\n")
	b.WriteString("To: <sip:" + device + "@" + net.JoinHostPort(contact.Host, strconv.Itoa(max(contact.Port, 5060))) + ">\r\n")
	b.WriteString("Call-ID: " + tok() + "@" + host + "\r\n")
	b.WriteString("CSeq: 1 NOTIFY\r\n")
	b.WriteString("Contact: <sip:registrar@" + via + ">\r\n")
	b.WriteString("Event: " + event + "\r\n")
	b.WriteString("Subscription-State: terminated\r\n")
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// Binding is what the SIP adapter holds of a registered device now: when
// its last binding expires, where, and how it came.
type Binding struct {
	Expires   time.Time // the latest of its bindings' ends
	Contact   string    // the contact of that binding
	Transport string    // UDP, TCP or TLS: the transport of the contact ("" when it does not say: UDP)
}

// Binding returns the device's binding here (found false when it has none).
func (s *Server) Binding(device string) (Binding, bool) {
	mac, ok := domain.DeviceMAC(device)
	if !ok {
		return Binding{}, false
	}
	_, bindings := s.table.snapshot(mac)
	if len(bindings) == 0 {
		return Binding{}, false
	}
	var out Binding
	var end int64
	for _, b := range bindings {
		if b.ends() >= end {
			end, out.Contact = b.ends(), b.uri()
		}
	}
	out.Expires = s.epoch.Add(time.Duration(end)).UTC().Truncate(time.Second)
	var u sipmsg.Uri
	if sipmsg.ParseUri(out.Contact, &u) == nil {
		if t, ok := u.UriParams.Get("transport"); ok {
			out.Transport = strings.ToUpper(t)
		}
	}
	return out, true
}
