package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/autoreg/autoreg/adapters/sip"
)

// A registrar process says what it holds with advisory locks (flock) on
// files beside the store, which the kernel releases when the process dies,
// however it dies: no event is written per heartbeat, and a node that is
// SIGKILLed is down at once.
//
//   - STORE.serve.lock: every `registrar serve` on the store holds it,
//     shared with --shared-store, alone without. A second registrar without
//     --shared-store is refused, naming the flag.
//   - STORE.node-NAME.lock: the process that is CallManager NAME holds it,
//     alone; the file says who (pid, addresses, since). A second process
//     claiming the node is refused, naming the first. Any process tells
//     whether node NAME is up by trying the lock.
//
// The files live beside the SQLite file (or in the data directory for a
// KurrentDB store): one host. Across hosts (KurrentDB), a node is up when
// its CallManager's SIP address answers an OPTIONS, and a process refuses
// to become a node whose address answers already (docs/cluster.md).

// holder is what a lock file says of its holder.
type holder struct {
	Node  string    `json:"node,omitempty"`
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	SIP   string    `json:"sip,omitempty"`
	SCCP  string    `json:"sccp,omitempty"`
	Since time.Time `json:"since"`
}

func (h holder) String() string {
	s := fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if h.SIP != "" || h.SCCP != "" {
		s += fmt.Sprintf(" (SIP %s, SCCP %s)", h.SIP, h.SCCP)
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

// lockFile is a held lock; Close releases it.
type lockFile struct{ f *os.File }

func (l *lockFile) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Close() // closing releases the flock
}

// lock takes the flock on path (exclusive or shared, never waiting) and,
// when exclusive, writes who holds it. On refusal it returns errLocked
// and what the file says of its holder.
func lock(path string, exclusive bool, me holder) (*lockFile, holder, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, holder{}, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		var h holder
		if b, rerr := os.ReadFile(path); rerr == nil {
			_ = json.Unmarshal(b, &h)
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, h, errLocked
		}
		return nil, h, err
	}
	if exclusive {
		b, _ := json.Marshal(me)
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt(append(b, '\n'), 0)
		}
	}
	return &lockFile{f: f}, holder{}, nil
}

var errLocked = errors.New("locked")

// lockBase is where a store's lock files go: beside the SQLite file, or in
// the data directory.
func lockBase(storePath, data string) string {
	if storePath != "" && !strings.Contains(storePath, "://") {
		return storePath
	}
	return filepath.Join(data, "registrar")
}

// claimStore takes the store's serve lock: shared with --shared-store,
// alone without.
func claimStore(base string, shared bool, me holder) (*lockFile, error) {
	l, other, err := lock(base+".serve.lock", !shared, me)
	switch {
	case errors.Is(err, errLocked) && shared:
		return nil, fmt.Errorf("another registrar serves %s without --shared-store (%s): stop it, or start it with --shared-store too", base, other)
	case errors.Is(err, errLocked):
		return nil, fmt.Errorf("another registrar already serves %s: several registrars on one store must each be started with --shared-store (config store_shared), so that each folds what the others write before deciding", base)
	case err != nil:
		return nil, fmt.Errorf("locking %s: %w", base+".serve.lock", err)
	}
	return l, nil
}

// claimNode takes node's lock: this process is CallManager node.
func claimNode(base, node string, me holder) (*lockFile, error) {
	l, other, err := lock(nodeLockPath(base, node), true, me)
	switch {
	case errors.Is(err, errLocked):
		return nil, fmt.Errorf("CallManager %s is already served by another registrar on this store: %s; give this one another --node", node, other)
	case err != nil:
		return nil, fmt.Errorf("claiming CallManager %s: %w", node, err)
	}
	return l, nil
}

func nodeLockPath(base, node string) string { return base + ".node-" + node + ".lock" }

// nodeUp tells whether a process holds node's lock, and what it says of
// itself.
func nodeUp(base, node string) (bool, holder) {
	path := nodeLockPath(base, node)
	f, err := os.Open(path)
	if err != nil {
		return false, holder{}
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, holder{}
	}
	var h holder
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return true, h
}

// trimWhenIdle hands back to the operating system what a burst of
// registrations left in the heap, once the registrar has been idle for
// idle: the heap otherwise stays at the size of the last burst's peak
// until the runtime's scavenger slowly returns it. It checks the bytes
// allocated every idle/3.
func trimWhenIdle(ctx context.Context, idle time.Duration, allocated func() uint64, trim func()) {
	t := time.NewTicker(idle / 3)
	defer t.Stop()
	last := allocated()
	trimmedAt, quiet := last, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := allocated()
		if cur-last > 4<<20 { // busy: more than a few MB allocated since the last look
			quiet = time.Now()
		}
		last = cur
		if time.Since(quiet) >= idle && cur-trimmedAt > 32<<20 {
			trim()
			trimmedAt = allocated()
		}
	}
}

// heapAllocated is the bytes the runtime has allocated since the start.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// pingTimeout bounds the SIP OPTIONS that asks another host's node whether
// it is up.
const pingTimeout = 300 * time.Millisecond

// sipAddress is where phones reach a CallManager over SIP (host:port), ""
// when its host or SIP port is not configured.
func sipAddress(host string, port int) string {
	if host == "" || port <= 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// answersSIP tells whether a SIP server answers at addr: a CallManager on
// another host (sharing a KurrentDB store), where no lock of this host can
// tell.
func answersSIP(ctx context.Context, addr string) bool {
	return addr != "" && sip.Ping(ctx, addr, pingTimeout) == nil
}

// ownAddress reports whether addr (host:port) names the SIP socket this
// process bound (local): the same port, and a host that is the socket's,
// or one of this host's addresses when the socket listens on all of them.
func ownAddress(addr string, local net.Addr) bool {
	ua, ok := local.(*net.UDPAddr)
	if !ok || addr == "" {
		return false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != strconv.Itoa(ua.Port) {
		return false
	}
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if ua.IP.IsUnspecified() {
			if ip.IP.IsLoopback() || localIP(ip.IP) {
				return true
			}
		} else if ip.IP.Equal(ua.IP) {
			return true
		}
	}
	return false
}

// localIP reports whether ip is one of this host's interface addresses.
func localIP(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// claimAddress refuses to become CallManager node when the address the
// cluster gives it (addr) is not this process's own SIP socket and a SIP
// server answers there: another registrar, most likely on another host
// sharing the store, serves the node already.
func claimAddress(ctx context.Context, node, addr string, local net.Addr) error {
	if addr == "" || ownAddress(addr, local) || !answersSIP(ctx, addr) {
		return nil
	}
	return fmt.Errorf("CallManager %s's address %s (cluster.callmanagers) answers SIP: another registrar serves %s already (on another host sharing the store?); stop it, or start this one as another --node", node, addr, node)
}
