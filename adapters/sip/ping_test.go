package sip

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestPing(t *testing.T) {
	s := serve(t, nil)
	if err := Ping(context.Background(), s.udpAddr.String(), time.Second); err != nil {
		t.Fatalf("a server that answers: %v", err)
	}
	// A port nobody answers on: an error, soon (the port is unreachable).
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	if err := Ping(context.Background(), addr, 300*time.Millisecond); err == nil {
		t.Fatal("a closed port answered")
	}
	// A socket that reads and never answers: an error at the timeout.
	mute, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	if err := Ping(context.Background(), mute.LocalAddr().String(), 200*time.Millisecond); err == nil {
		t.Fatal("a mute socket answered")
	}
}
