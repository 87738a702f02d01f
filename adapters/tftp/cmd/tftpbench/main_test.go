package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/autoreg/autoreg/adapters/tftp"
)

// gen writes what serve generates, and storm fetches and checks every
// phone's file from a server generating them.
func TestGenServeStorm(t *testing.T) {
	const n = 200
	dir := t.TempDir()
	if err := gen([]string{"-dir", dir, "-n", "200"}); err != nil {
		t.Fatal(err)
	}
	p := newPhones(n)
	g, err := generator(p)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != n+1 {
		t.Errorf("gen wrote %d files, want %d", len(names), n+1)
	}
	for _, i := range []int{0, 7, n - 1} {
		want, _ := g.DeviceConfig(p.device(i))
		got, err := os.ReadFile(filepath.Join(dir, p.name(i)+".cnf.xml"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("phone %d: the written file differs from the generated one (%v)", i, err)
		}
	}

	srv, err := tftp.NewServer(tftp.Config{Files: g, SourceRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, pc) }()
	defer func() {
		cancel()
		<-done
	}()
	if err := storm([]string{"-addr", pc.LocalAddr().String(), "-n", "200", "-c", "8", "-label", "test"}); err != nil {
		t.Fatal(err)
	}
	// A phone the server does not know fails the storm.
	if err := storm([]string{"-addr", pc.LocalAddr().String(), "-n", "201", "-c", "1"}); err == nil {
		t.Error("storm succeeded with a phone the server does not know")
	}
}
