package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A registrar started on a taken port fails before it touches the store:
// the error names the flag and says the address is in use, once; it exits
// 1; no data directory is created, no event written, nothing logged as
// serving.
func TestServeOnATakenPort(t *testing.T) {
	for _, c := range []struct {
		flag, network string
	}{
		{"--sccp-addr", "tcp"},
		{"--sip-addr", "udp"},
		{"--sip-addr", "tcp"},
		{"--admin-addr", "tcp"},
	} {
		t.Run(strings.TrimPrefix(c.flag, "--")+"/"+c.network, func(t *testing.T) {
			addrs := map[string]string{
				"--sip-addr":   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
				"--sccp-addr":  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
				"--admin-addr": fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			}
			taken := addrs[c.flag]
			if c.network == "udp" {
				pc, err := net.ListenPacket("udp", taken)
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
			} else {
				ln, err := net.Listen("tcp", taken)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--data", data}
			for flag, addr := range addrs {
				args = append(args, flag, addr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin(t, "registrar"), args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1\nstderr:\n%s", err, stderr.String())
			}
			want := fmt.Sprintf("registrar: %s %s (%s): the address is in use", c.flag, taken, c.network)
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
			}
			for _, bad := range []string{"sccp: sccp:", "registrar serving", "event store open", "admin token"} {
				if strings.Contains(stderr.String()+stdout.String(), bad) {
					t.Errorf("the output says %q:\n%s%s", bad, stdout.String(), stderr.String())
				}
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the data directory %s was created (%v)", data, err)
			}
		})
	}
}
