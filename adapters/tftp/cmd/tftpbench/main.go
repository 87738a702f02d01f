// Command tftpbench drives bench/tftp_boot.sh, the TFTP boot storm, while
// the registrar does not serve TFTP yet. It is a test tool, not a server
// to deploy.
//
//	tftpbench gen   -dir DIR -n N        write SEP<MAC>.cnf.xml of N fake phones and XmlDefault.cnf.xml
//	tftpbench serve -addr ADDR -n N      serve the same files, generated at request time
//	tftpbench storm -addr ADDR -n N -c C N phones, C at a time, each fetch its SEP<MAC>.cnf.xml
//
// The fake phones are the same for all three: phone i has the MAC
// 00:AB:00:00:00:00 + i, DN 10000 + i, a model and protocol taken in turn
// from the catalogue. gen writes exactly the bytes serve generates, so a
// static server fed gen's folder serves the same files.
//
// storm fetches as a Cisco 79xx does: an RRQ in octet mode without options,
// 512-byte blocks, each acknowledged. It checks every file against what it
// should be, retransmits after -rto (five tries), and prints one line:
// files, failures, files/s and latency percentiles.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/autoreg/autoreg/adapters/tftp"
	"github.com/autoreg/autoreg/domain"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "storm":
		err = storm(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tftpbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tftpbench gen|serve|storm [flags] (see the package documentation)")
	os.Exit(2)
}

const baseMAC = 0x00AB00000000

// phones are the fake devices.
type phones struct {
	n      int
	models []domain.Model
}

func newPhones(n int) phones {
	return phones{n: n, models: domain.Catalogue()}
}

func (p phones) name(i int) string { return domain.DeviceNameOfMAC(baseMAC + uint64(i)) }

func (p phones) device(i int) tftp.Device {
	m := p.models[i%len(p.models)]
	proto := m.Protocols[(i/len(p.models))%len(m.Protocols)]
	return tftp.Device{Name: p.name(i), Model: m.Name, Protocol: proto, DN: fmt.Sprint(10000 + i)}
}

// index finds the phone a device name stands for.
func (p phones) index(name string) (int, bool) {
	mac, ok := domain.DeviceMAC(name)
	if !ok || mac < baseMAC || mac >= baseMAC+uint64(p.n) {
		return 0, false
	}
	return int(mac - baseMAC), true
}

func (p phones) Device(_ context.Context, name string) (tftp.Device, bool, error) {
	i, ok := p.index(name)
	if !ok {
		return tftp.Device{}, false, nil
	}
	return p.device(i), true, nil
}

func generator(p phones) (*tftp.Generator, error) {
	var loads []tftp.Load
	for _, m := range domain.Catalogue() {
		for _, proto := range m.Protocols {
			loads = append(loads, tftp.Load{Model: m.Name, Protocol: proto, Name: fmt.Sprintf("%s%s.9-4-2SR3-1S", proto, m.Name)})
		}
	}
	return tftp.NewGenerator(tftp.Settings{
		CallManagers: []tftp.CallManager{{Host: "192.0.2.10", Name: "autoreg"}},
		Loads:        loads,
		MinExpires:   60 * time.Second,
		MaxExpires:   3600 * time.Second,
	}, p)
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "folder to write the files to (created)")
	n := fs.Int("n", 10000, "phones")
	fs.Parse(args)
	if *dir == "" {
		return errors.New("gen: -dir is required")
	}
	p := newPhones(*n)
	g, err := generator(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, tftp.DefaultConfigName), g.DefaultConfig(), 0o644); err != nil {
		return err
	}
	for i := 0; i < *n; i++ {
		b, err := g.DeviceConfig(p.device(i))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*dir, p.name(i)+".cnf.xml"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:6969", "UDP address to serve on")
	n := fs.Int("n", 10000, "phones")
	debug := fs.Bool("debug", false, "log every request")
	fs.Parse(args)
	p := newPhones(*n)
	g, err := generator(p)
	if err != nil {
		return err
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger().Level(zerolog.InfoLevel)
	if *debug {
		log = log.Level(zerolog.DebugLevel)
	}
	// One source address for every phone: no per-source limit.
	srv, err := tftp.NewServer(tftp.Config{Files: g, Logger: log, SourceRate: -1, MaxTransfers: 16384})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.ListenAndServe(ctx, *addr)
	st := srv.Stats()
	log.Info().Uint64("served", st.Served).Uint64("not_found", st.NotFound).Uint64("failed", st.Failed).
		Uint64("dropped", st.Dropped).Msg("tftpbench serve: stopped")
	return err
}

func storm(args []string) error {
	fs := flag.NewFlagSet("storm", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:6969", "server")
	n := fs.Int("n", 10000, "phones")
	c := fs.Int("c", 64, "phones fetching at once")
	rto := fs.Duration("rto", time.Second, "retransmission timeout")
	label := fs.String("label", "", "name printed on the result line")
	fs.Parse(args)
	srv, err := net.ResolveUDPAddr("udp4", *addr)
	if err != nil {
		return err
	}
	p := newPhones(*n)
	g, err := generator(p)
	if err != nil {
		return err
	}
	var (
		next     atomic.Int64
		failures atomic.Int64
		retries  atomic.Int64
		mu       sync.Mutex
		lats     = make([]time.Duration, 0, *n)
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1024)
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				want, err := g.DeviceConfig(p.device(i))
				if err != nil {
					panic(err)
				}
				t0 := time.Now()
				got, rtx, err := fetch(srv, p.name(i)+".cnf.xml", *rto, buf)
				lat := time.Since(t0)
				retries.Add(int64(rtx))
				if err == nil && string(got) != string(want) {
					err = fmt.Errorf("%s: %d bytes differ from the %d expected", p.name(i), len(got), len(want))
				}
				mu.Lock()
				if err != nil {
					failures.Add(1)
					if firstErr == nil {
						firstErr = err
					}
				} else {
					lats = append(lats, lat)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	slices.Sort(lats)
	pct := func(q float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(q*float64(len(lats))))]
	}
	fmt.Printf("%-10s files=%d failed=%d retransmits=%d took=%.2fs files/s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
		*label, len(lats), failures.Load(), retries.Load(), took.Seconds(), float64(len(lats))/took.Seconds(),
		ms(pct(0.50)), ms(pct(0.99)), ms(pct(1)))
	if firstErr != nil {
		return fmt.Errorf("%d of %d fetches failed; first: %w", failures.Load(), *n, firstErr)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fetch downloads name the way a 79xx does, from a socket of its own.
func fetch(srv *net.UDPAddr, name string, rto time.Duration, buf []byte) ([]byte, int, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: srv.IP})
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	last := binary.BigEndian.AppendUint16(nil, 1) // RRQ
	last = append(last, name...)
	last = append(last, "\x00octet\x00"...)
	dest := netip.AddrPortFrom(netip.MustParseAddr(srv.IP.String()), uint16(srv.Port))
	var (
		data  []byte
		block uint16 = 1
		tries int
		rtx   int
	)
	if _, err := conn.WriteToUDPAddrPort(last, dest); err != nil {
		return nil, 0, err
	}
	for {
		conn.SetReadDeadline(time.Now().Add(rto))
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && tries < 4 {
				tries++
				rtx++
				if _, err := conn.WriteToUDPAddrPort(last, dest); err != nil {
					return nil, rtx, err
				}
				continue
			}
			return nil, rtx, fmt.Errorf("%s: block %d: %w", name, block, err)
		}
		p := buf[:n]
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(p) {
		case 5:
			return nil, rtx, fmt.Errorf("%s: error %d: %s", name, binary.BigEndian.Uint16(p[2:]), p[4:])
		case 3:
		default:
			continue
		}
		if block == 1 {
			dest = from // the transfer's TID
		} else if from != dest {
			continue
		}
		got := binary.BigEndian.Uint16(p[2:])
		if got != block {
			continue // a duplicate of a block already acknowledged
		}
		data = append(data, p[4:]...)
		last = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(last[:0], 4), block)
		if _, err := conn.WriteToUDPAddrPort(last, dest); err != nil {
			return nil, rtx, err
		}
		if n-4 < 512 {
			return data, rtx, nil
		}
		block++
		tries = 0
	}
}
