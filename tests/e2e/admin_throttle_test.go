package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fromAddr is an HTTP client whose connections leave from the loopback
// address next() gives, a new connection for every request.
func fromAddr(next func() net.IP) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: next()}}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// A flood of wrong tokens rotating through 127.x.y.z addresses (127/8 is
// loopback on Linux, every address of it usable as a source), from 16
// clients at once, and from one more that keeps to 127.0.0.2: most are
// refused with 429, the right token, sent from the flooding addresses
// while the flood runs, is answered 200, and the registrar's log has a few lines about it all, not one per
// failure.
func TestAdminThrottleFloodEndToEnd(t *testing.T) {
	r := startRegistrar(t, "", "--config", configWithTokens(t))

	const workers, each = 16, 400
	var (
		sent, unauthorized, refused, abandoned, other atomic.Int64
		wg                                            sync.WaitGroup
	)
	floodDone := make(chan struct{})
	start := time.Now()
	for w := range workers {
		var i atomic.Uint32
		c := fromAddr(func() net.IP {
			n := i.Add(1)
			return net.IPv4(127, byte(1+w), byte(n>>8), byte(n&255|1)) // never .0
		})
		wg.Go(func() {
			for k := range each {
				// An attacker does not wait for a held-back answer.
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				req, _ := http.NewRequestWithContext(ctx, "GET", r.AdminURL+"/v1/status", nil)
				req.Header.Set("Authorization", fmt.Sprintf("Bearer guess-%02d-%04d-0123456789abcdef", w, k))
				resp, err := c.Do(req)
				sent.Add(1)
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					abandoned.Add(1)
				case err != nil:
					other.Add(1)
				case resp.StatusCode == http.StatusUnauthorized:
					unauthorized.Add(1)
				case resp.StatusCode == http.StatusTooManyRequests:
					refused.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						t.Error("429 without Retry-After")
					}
				default:
					other.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
				cancel()
			}
		})
	}
	// And one more client sending its wrong tokens from one address.
	single := fromAddr(func() net.IP { return net.IPv4(127, 0, 0, 2) })
	wg.Go(func() {
		for k := range each {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			req, _ := http.NewRequestWithContext(ctx, "GET", r.AdminURL+"/v1/status", nil)
			req.Header.Set("Authorization", fmt.Sprintf("Bearer guess-single-%04d-0123456789abcdef", k))
			resp, err := single.Do(req)
			sent.Add(1)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				abandoned.Add(1)
			case err != nil:
				other.Add(1)
			case resp.StatusCode == http.StatusUnauthorized:
				unauthorized.Add(1)
			case resp.StatusCode == http.StatusTooManyRequests:
				refused.Add(1)
			default:
				other.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
			cancel()
		}
	})
	go func() { wg.Wait(); close(floodDone) }()

	// Once the flood is well under way, the right token from the address
	// that sent nothing but wrong ones, from one of the rotating addresses
	// (the first of the first worker, whose /24 has been refused since its
	// first few dozen failures), and from 127.0.0.1.
	for sent.Load() < workers*each/4 {
		time.Sleep(10 * time.Millisecond)
	}
	for _, src := range []net.IP{net.IPv4(127, 0, 0, 2), net.IPv4(127, 1, 0, 1), net.IPv4(127, 0, 0, 1)} {
		c := fromAddr(func() net.IP { return src })
		req, _ := http.NewRequest("GET", r.AdminURL+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		asked := time.Now()
		resp, err := c.Do(req)
		took := time.Since(asked)
		if err != nil {
			t.Fatalf("the right token from %s during the flood: %v", src, err)
		}
		resp.Body.Close()
		select {
		case <-floodDone:
			t.Errorf("the right token from %s was answered only after the flood ended", src)
		default:
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the right token from %s during the flood: %d, want 200", src, resp.StatusCode)
		}
		t.Logf("the right token from %s during the flood: %d in %v (%d wrong tokens sent by then)", src, resp.StatusCode, took, sent.Load())
	}
	<-floodDone
	elapsed := time.Since(start)
	total := sent.Load()
	t.Logf("%d wrong tokens in %v (%.0f/s) from %d clients rotating through 127.x.y.z and one from 127.0.0.2: %d answered 401, %d refused 429, %d held back past 300 ms and abandoned, %d other",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), workers, unauthorized.Load(), refused.Load(), abandoned.Load(), other.Load())
	if other.Load() > 0 {
		t.Errorf("%d flood requests failed otherwise", other.Load())
	}
	if refused.Load() < total/2 {
		t.Errorf("only %d of %d wrong tokens refused with 429", refused.Load(), total)
	}
	// The global budget: 50 at once, then 10 a second.
	if limit := 50 + 10*int64(elapsed.Seconds()+1); unauthorized.Load()+abandoned.Load() > limit {
		t.Errorf("%d wrong tokens answered 401 (or held back) in %v, the budget is %d", unauthorized.Load()+abandoned.Load(), elapsed, limit)
	}
	m := r.metrics(t)
	if len(grepLines(m, `autoreg_admin_auth_failures_total{reason="throttled"}`)) != 1 {
		t.Errorf("/metrics lacks the throttled failures:\n%s", strings.Join(grepLines(m, "auth_failures"), "\n"))
	}

	// Stopping flushes the pending summary; the log has a line at the
	// flood's start and a summary per 10 s, which account for it.
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	logs := r.logs.String()
	var lines []string
	summed := 0
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, "wrong token") && !strings.Contains(l, "admin authentication failures") && !strings.Contains(l, "bearer token") {
			continue
		}
		lines = append(lines, l)
		var e struct {
			Message  string `json:"message"`
			Failures int    `json:"failures"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && e.Message == "admin authentication failures" {
			summed += e.Failures
		}
	}
	if limit := 2 + 2*int(elapsed/(10*time.Second)+1); len(lines) > limit || len(lines) < 2 {
		t.Errorf("%d log lines about %d failures in %v, want 2 to %d:\n%s", len(lines), total, elapsed, limit, strings.Join(lines, "\n"))
	}
	if int64(summed) < unauthorized.Load()+refused.Load() || int64(summed) > total {
		t.Errorf("the summaries count %d failures; %d were answered, %d sent", summed, unauthorized.Load()+refused.Load(), total)
	}
	t.Logf("%d log lines for %d failures:\n%s", len(lines), total, strings.Join(lines, "\n"))
}
