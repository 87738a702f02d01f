package sip

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/internal/command"
)

// sipp runs the reference scenario testdata/sipp/register.xml against a
// server on 127.0.0.1; the error says how calls failed.
func sipp(t *testing.T, s *Server, transport string, inf string, args ...string) (time.Duration, error) {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp is not installed")
	}
	var addr string
	errs := make(chan error, 1)
	switch transport {
	case "u1":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		go func() { errs <- s.ServeUDP(context.Background(), pc) }()
	case "t1":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		go func() { errs <- s.ServeTCP(context.Background(), ln) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-errs
	})

	dir := t.TempDir()
	cmdArgs := append([]string{
		"-sf", filepath.Join("testdata", "sipp", "register.xml"),
		"-inf", inf,
		"-t", transport, "-i", "127.0.0.1",
		"-nostdin", "-timeout", "120s", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
	}, args...)
	cmdArgs = append(cmdArgs, addr)
	cmd := exec.Command(bin, cmdArgs...)
	cmd.Dir, _ = os.Getwd()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		errLog, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		return took, fmt.Errorf("sipp %s: %w\n%s\n%s", strings.Join(cmdArgs, " "), err, tail(string(out), 2500), tail(string(errLog), 1500))
	}
	if testing.Verbose() {
		t.Logf("sipp:\n%s", tail(string(out), 2500))
	}
	return took, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestSippScenario checks that the reference sipp scenario registers its
// phones, over UDP and TCP.
func TestSippScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sipp")
	}
	for _, tp := range []string{"u1", "t1"} {
		t.Run(tp, func(t *testing.T) {
			s, reg := newTestServer(t, func(c *Config) { c.Logger = zerolog.Nop() })
			if _, err := sipp(t, s, tp, filepath.Join("testdata", "sipp", "devices.csv"), "-m", "20", "-r", "100"); err != nil {
				t.Fatal(err)
			}
			regs := reg.registrations()
			if len(regs) != 20 {
				t.Fatalf("%d registrations, want 20", len(regs))
			}
			if r := regs[0]; r.Device != "SEP001100000001" || r.Model != "7961" || !strings.HasPrefix(r.Address, "sip:001100000001@127.0.0.1:") {
				t.Errorf("registration %+v", r)
			}
			if s.Devices() != 20 {
				t.Errorf("Devices() = %d", s.Devices())
			}
		})
	}
}

// countingRegistrar is a registrar light enough not to weigh in a memory
// measurement: it keeps nothing and derives the DN from the device name.
type countingRegistrar struct{ registers, unregisters atomic.Int64 }

func (c *countingRegistrar) Register(_ context.Context, r command.Registration) (command.Registered, error) {
	c.registers.Add(1)
	mac, _ := strconv.ParseUint(r.Device[3:], 16, 64)
	return command.Registered{Device: r.Device, DN: strconv.FormatUint(10000+mac%90000, 10), Changed: true}, nil
}

func (c *countingRegistrar) Unregister(context.Context, command.Unregistration) error {
	c.unregisters.Add(1)
	return nil
}

// TestSippLoad registers AUTOREG_SIPP_LOAD devices (e.g. 100000) at
// AUTOREG_SIPP_RATE REGISTER/s (default 10000) over UDP and reports the
// process's resident memory. AUTOREG_SIPP_CALLS, when above the number of
// devices, sends that many REGISTERs: the devices register again (new
// Call-IDs), as refreshes. It is a benchmark, run on demand:
//
//	AUTOREG_SIPP_LOAD=100000 go test -run TestSippLoad -v ./adapters/sip/
func TestSippLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUTOREG_SIPP_LOAD"))
	if n <= 0 {
		t.Skip("set AUTOREG_SIPP_LOAD to the number of devices")
	}
	rate := 10000
	if r, err := strconv.Atoi(os.Getenv("AUTOREG_SIPP_RATE")); err == nil && r > 0 {
		rate = r
	}
	calls := n
	if c, err := strconv.Atoi(os.Getenv("AUTOREG_SIPP_CALLS")); err == nil && c > n {
		calls = c
	}
	inf := filepath.Join(t.TempDir(), "devices.csv")
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "0011%08X\n", i)
	}
	if err := os.WriteFile(inf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := &countingRegistrar{}
	s, err := NewServer(Config{Registrar: reg, Host: "autoreg.test"})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	before := rss(t)
	took, sippErr := sipp(t, s, "u1", inf, "-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-rp", "1000", "-l", "20000", "-buff_size", "4194304")

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	after := rss(t)
	t.Logf("%d REGISTERs in %v (%.0f/s); %d devices, %d transactions remembered",
		calls, took.Round(time.Millisecond), float64(calls)/took.Seconds(), s.Devices(), s.txs.len())
	t.Logf("RSS %d MB (before %d MB); heap in use %d MB, sys %d MB, GC runs %d",
		after>>20, before>>20, ms.HeapInuse>>20, ms.Sys>>20, ms.NumGC)
	debug.FreeOSMemory()
	runtime.ReadMemStats(&ms)
	t.Logf("after a GC: heap in use %d MB, live %d MB, RSS %d MB", ms.HeapInuse>>20, ms.HeapAlloc>>20, rss(t)>>20)
	if sippErr != nil {
		t.Error(sippErr)
	}
	if got := reg.registers.Load(); got != int64(calls) {
		t.Errorf("%d Register calls, want %d", got, calls)
	}
}

// rss reads the process's resident set size in bytes.
func rss(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
