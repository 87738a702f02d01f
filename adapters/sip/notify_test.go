package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestNotifyCheckSync: a reset of a SIP phone is an unsolicited NOTIFY
// with Event: check-sync, sent over UDP from the registrar's socket to
// every contact of the device's bindings; a device without a binding is
// ErrNotRegistered.
func TestNotifyCheckSync(t *testing.T) {
	srv := serve(t, nil)
	// The phone's socket: the contact the REGISTER names.
	phoneConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer phoneConn.Close()
	p := newPhone(t, srv, "UDP")
	contact := fmt.Sprintf("<sip:%s@%s>", testDevice[3:], phoneConn.LocalAddr())
	if res := p.register(contact, "3600"); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d %s", res.StatusCode, res.Reason)
	}
	if err := srv.Notify(testDevice, "check-sync"); err != nil {
		t.Fatal(err)
	}
	_ = phoneConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, from, err := phoneConn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no NOTIFY: %v", err)
	}
	msg := string(buf[:n])
	for _, want := range []string{"NOTIFY sip:", "\r\nEvent: check-sync\r\n", "\r\nCSeq: 1 NOTIFY\r\n", "\r\nContent-Length: 0\r\n\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the NOTIFY has no %q:\n%s", want, msg)
		}
	}
	if from.String() != srv.udpAddr.String() {
		t.Errorf("the NOTIFY came from %s, not the registrar's socket %s", from, srv.udpAddr)
	}
	if !bytes.HasPrefix(buf, []byte("NOTIFY sip:"+testDevice[3:]+"@")) {
		t.Errorf("request line: %q", strings.SplitN(msg, "\r\n", 2)[0])
	}
	if err := srv.Notify("SEP0000DEADBEEF", "check-sync"); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("a device without a binding: %v, want ErrNotRegistered", err)
	}
}

// TestBinding: the adapter tells when a device's binding expires and where.
func TestBinding(t *testing.T) {
	srv := serve(t, nil)
	p := newPhone(t, srv, "UDP")
	before := time.Now()
	if res := p.register(testContact, "600"); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d %s", res.StatusCode, res.Reason)
	}
	b, ok := srv.Binding(testDevice)
	if !ok {
		t.Fatal("no binding after a REGISTER")
	}
	if b.Expires.Before(before.Add(599*time.Second)) || b.Expires.After(time.Now().Add(601*time.Second)) {
		t.Errorf("expires %v, want about 600 s after %v", b.Expires, before)
	}
	if b.Contact != testContactU || b.Transport != "UDP" {
		t.Errorf("contact %q over %q, want %q over UDP", b.Contact, b.Transport, testContactU)
	}
	if _, ok := srv.Binding("SEP0000DEADBEEF"); ok {
		t.Error("a binding for a device that never registered")
	}
}
