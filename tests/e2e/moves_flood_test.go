package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autoreg/autoreg/adapters/sccp/phone"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// Floods naming known devices, and refusals from many sources, against the
// real registrar (bench/moves_flood.sh sizes them and prints the FIGURE
// lines; `make test` runs them small and checks the bounds): the events
// and the log lines each writes stay bounded.

// phase is what one flood wrote: its events by type, and its log lines.
type phase struct {
	events map[string]int
	total  int
	bytes  int // payloads and metadata
	lines  int
}

// measure runs flood and reports what the registrar wrote meanwhile, and in
// settle after it (the summaries of a burst come a little later).
func (r *Registrar) measure(t *testing.T, settle time.Duration, flood func()) phase {
	t.Helper()
	from := r.events(t)
	logFrom := len(r.logs.String())
	flood()
	time.Sleep(settle)
	p := phase{events: map[string]int{}}
	for _, e := range r.eventsSince(t, from) {
		p.events[e.Type]++
		p.total++
		p.bytes += len(e.Data) + len(e.Metadata)
	}
	p.lines = strings.Count(r.logs.String()[logFrom:], "\n")
	return p
}

func (p phase) String() string {
	return fmt.Sprintf("%d events (%d KB) %v, %d log lines", p.total, p.bytes>>10, p.events, p.lines)
}

// sccpPhone registers a known SCCP phone (autoregistered, 7961 over SCCP).
func sccpKnown(t *testing.T, r *Registrar, name string) {
	t.Helper()
	r.MustAdmin("autoreg", "protocol", "sccp")
	r.MustAdmin("autoreg", "open", "--reason", "known SCCP phone")
	m, _ := domain.LookupModel("7961")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := phone.Dial(ctx, r.SCCP, name, m.SCCPType)
	if err != nil {
		t.Fatalf("registering %s over SCCP: %v", name, err)
	}
	p.Close()
	r.MustAdmin("autoreg", "close", "--reason", "flood test")
}

// sccpLoop connects, registers and closes name for d, as fast as the
// registrar answers. It returns the registrations acknowledged and refused.
func sccpLoop(t *testing.T, addr, name string, d time.Duration) (acked, refused int) {
	t.Helper()
	m, _ := domain.LookupModel("7961")
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := phone.Dial(ctx, addr, name, m.SCCPType)
		cancel()
		switch {
		case err == nil:
			acked++
			p.Close()
		case errors.Is(err, phone.ErrRejected):
			refused++
		default:
			t.Fatalf("loop on %s: %v", name, err)
		}
	}
	return acked, refused
}

// A connect-register-close loop on a known SCCP name: at most 3
// registrations, then one per 20 s, are recorded (each with its
// unregistration); the others are refused "Registrar busy" without an
// event; the log has a line per device and message a minute, and the
// refusals' burst lines.
//
// AUTOREG_MOVES_SECONDS sizes it (default 3).
func TestSCCPConnectLoopOnKnownNameIsBounded(t *testing.T) {
	secs := envInt(t, "AUTOREG_MOVES_SECONDS", 3)
	r := startRegistrar(t, "")
	const name = "SEP00D200000001"
	sccpKnown(t, r, name)

	var acked, refused int
	p := r.measure(t, 1500*time.Millisecond, func() {
		acked, refused = sccpLoop(t, r.SCCP, name, time.Duration(secs)*time.Second)
	})
	figure(t, "sccp connect-register-close loop on a known name, %d s: %d registrations acknowledged, %d refused busy; %s",
		secs, acked, refused, p)
	// 3 at once, then one per 20 s; each with its unregistration.
	maxChanges := 3 + secs/20 + 1
	if got := p.events[domain.TypeDeviceRegistered] + p.events[domain.TypeDeviceMoved]; got > maxChanges {
		t.Errorf("%d registrations recorded in %d s, want at most %d", got, secs, maxChanges)
	}
	if p.total > 2*maxChanges {
		t.Errorf("%d events in all, want at most %d: %v", p.total, 2*maxChanges, p.events)
	}
	// Some acknowledgements are refreshes that write nothing: a connection
	// that registers while the previous one's unregistration is still on
	// its way finds the device registered from the same address.
	if refused == 0 {
		t.Errorf("%d acknowledged, none refused: the loop must be refused beyond the bound", acked)
	}
	// A line per device and message a minute (registered, connection
	// closed), the refusals' first line, the listening and summary lines.
	if p.lines > 12 {
		t.Errorf("%d log lines for the loop, want a few:\n%s", p.lines, tail(r.logs.String(), 3000))
	}
	if !strings.Contains(r.logs.String(), "registration_changes") && refused > 0 {
		// The burst's first refusal is logged with its reason at once.
		t.Errorf("the refusals' burst line does not name registration_changes:\n%s", tail(r.logs.String(), 2000))
	}
}

// udpFlood sends count REGISTERs built by msg(i, local) from each of
// sources (local addresses), at rate a second in all, and counts the
// answers by status code.
func udpFlood(t *testing.T, target string, sources []string, count, rate int, msg func(i int, local string) string) map[string]int {
	t.Helper()
	dst, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	codes := map[string]int{}
	var sent atomic.Int64
	var wg sync.WaitGroup
	per := count / len(sources)
	every := time.Duration(float64(time.Second) * float64(len(sources)) / float64(rate))
	for _, src := range sources {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)})
		if err != nil {
			t.Skipf("cannot bind %s: %v", src, err)
		}
		local := c.LocalAddr().String()
		done := make(chan struct{})
		wg.Go(func() { // the answers
			buf := make([]byte, 4096)
			for {
				_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					select {
					case <-done:
						c.Close()
						return
					default:
						continue
					}
				}
				line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "SIP/2.0" {
					mu.Lock()
					codes[f[1]]++
					mu.Unlock()
				}
			}
		})
		wg.Go(func() {
			defer close(done)
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := range per {
				<-tick.C
				if _, err := c.WriteToUDP([]byte(msg(i, local)), dst); err == nil {
					sent.Add(1)
				}
			}
		})
	}
	wg.Wait()
	codes["sent"] = int(sent.Load())
	return codes
}

// register is a Cisco 7961's REGISTER for mac (12 hex digits) with the
// Contact host:port given, a new Call-ID each.
func sipRegister(target, local, mac, contact string, i int) string {
	callID := fmt.Sprintf("flood-%s-%s-%d", mac, local, i)
	return "REGISTER sip:" + target + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + fmt.Sprintf("%x%d", i, len(local)) + strings.ReplaceAll(local, ":", "x") + "\r\n" +
		"From: <sip:SEP" + mac + "@" + target + ">;tag=" + fmt.Sprint(i) + "\r\n" +
		"To: <sip:SEP" + mac + "@" + target + ">\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 REGISTER\r\n" +
		"Max-Forwards: 70\r\n" +
		"User-Agent: Cisco-CP7961G/9.4.2\r\n" +
		"Contact: <sip:" + mac + "@" + contact + ";transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-" + mac + ">\"\r\n" +
		"Expires: 3600\r\n" +
		"Content-Length: 0\r\n\r\n"
}

func floodSources(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.%d", first+i)
	}
	return out
}

// REGISTERs naming a known SIP device without credentials (provisioned by
// hand) with ever new contacts from 20 source addresses (every one a move), then REGISTERs of unknown devices
// from 20 addresses while the window is closed: the moves recorded are
// bounded per device (3, then one per 20 s), the refusals recorded are at
// most 600 a minute in all (the rest summed up in one
// registrar.rejections_suppressed when the minute is over), and the log
// stays a few lines.
//
// AUTOREG_MOVES_RATE and AUTOREG_MOVES_COUNT size both floods (default
// 500/s, 1,000 REGISTERs); AUTOREG_MOVES_SUMMARY=1 waits for the minute's
// summary event (up to 70 s).
func TestSIPMovesAndRejectionsFromManySources(t *testing.T) {
	canBind(t, "127.0.0.10")
	rate := envInt(t, "AUTOREG_MOVES_RATE", 500)
	count := envInt(t, "AUTOREG_MOVES_COUNT", 1000)
	r := startRegistrar(t, "")
	// Provisioned by hand: no digest credentials, so the registrar's bound
	// is what stands in the way (an autoregistered SIP device has
	// credentials, and such a flood gets 401).
	const known = "00D300000001"
	r.MustAdmin("device", "add", "SEP"+known, "--model", "7961", "--protocol", "sip", "--dn", "2002")
	codes := udpFlood(t, r.SIP, []string{"127.0.0.1"}, 1, 10, func(i int, local string) string {
		return sipRegister(r.SIP, local, known, local, i)
	})
	if codes["200"] != 1 {
		t.Fatalf("registering SEP%s: %v\n%s", known, codes, tail(r.logs.String(), 2000))
	}

	// 1. Moves of the known device from 20 sources.
	var moves map[string]int
	secs := float64(count) / float64(rate)
	p := r.measure(t, 1500*time.Millisecond, func() {
		moves = udpFlood(t, r.SIP, floodSources(10, 20), count, rate, func(i int, local string) string {
			host, _, _ := strings.Cut(local, ":")
			return sipRegister(r.SIP, local, known, fmt.Sprintf("%s:%d", host, 10000+i), i)
		})
	})
	figure(t, "sip moves of a known device from 20 sources, %d REGISTERs at %d/s: answers %v; %s", count, rate, moves, p)
	maxMoves := 3 + int(secs)/20 + 1
	if got := p.events[domain.TypeDeviceMoved]; got > maxMoves || got == 0 {
		t.Errorf("%d moves recorded in %.0f s, want 1 to %d", got, secs, maxMoves)
	}
	if p.total > maxMoves {
		t.Errorf("%d events in all: %v", p.total, p.events)
	}
	if p.lines > 10 {
		t.Errorf("%d log lines for the moves, want a few:\n%s", p.lines, tail(r.logs.String(), 3000))
	}

	// 2. Refusals of unknown devices from 20 sources.
	var rejections map[string]int
	q := r.measure(t, 1500*time.Millisecond, func() {
		rejections = udpFlood(t, r.SIP, floodSources(40, 20), count, rate, func(i int, local string) string {
			host, _, _ := strings.Cut(local, ":")
			var octet int
			fmt.Sscanf(host[strings.LastIndexByte(host, '.')+1:], "%d", &octet)
			mac := fmt.Sprintf("00F3%02X%06X", octet, i) // a new device each
			return sipRegister(r.SIP, local, mac, local, i)
		})
	})
	figure(t, "sip refusals of unknown devices from 20 sources, %d REGISTERs at %d/s: answers %v; %s", count, rate, rejections, q)
	// At most 600 a minute of the clock: a flood that straddles the turn of
	// a minute may have 600 in each.
	minutes := map[time.Time]int{}
	for _, e := range r.eventsSince(t, r.events(t)-uint64(q.total)) {
		if e.Type == domain.TypeRegistrationRejected {
			minutes[e.RecordedAt.Truncate(time.Minute)]++
		}
	}
	if got := q.events[domain.TypeRegistrationRejected]; got > 600*len(minutes) {
		t.Errorf("%d rejections recorded over %d minute(s) of the clock %v, want at most 600 a minute", got, len(minutes), minutes)
	}
	if q.lines > 10 {
		t.Errorf("%d log lines for the refusals, want a few:\n%s", q.lines, tail(r.logs.String(), 3000))
	}
	if os.Getenv("AUTOREG_MOVES_SUMMARY") == "" || q.events[domain.TypeRegistrationRejected] < 600 {
		return
	}
	from := r.events(t) - uint64(q.total)
	deadline := time.Now().Add(70 * time.Second)
	for time.Now().Before(deadline) {
		var sum []eventstore.RecordedEvent
		for _, e := range r.eventsSince(t, from) {
			if e.Type == domain.TypeRejectionsSuppressed {
				sum = append(sum, e)
			}
		}
		if len(sum) > 0 {
			for _, e := range sum {
				figure(t, "summary: %s %s", e.Type, e.Data)
			}
			return
		}
		time.Sleep(time.Second)
	}
	t.Errorf("no %s within 70 s of the flood", domain.TypeRejectionsSuppressed)
}
