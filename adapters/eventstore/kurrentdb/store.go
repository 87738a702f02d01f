package kurrentdb

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// Store is the KurrentDB event store. It implements eventstore.Store.
type Store struct {
	b        backend
	location string
	ns       string // Config.Namespace
	prefix   string // what the server names of the store's streams start with
	log      string // the server name of the position log
	readOnly bool
	clock    func() time.Time
	idWindow int

	// done is closed by Close; ctx ends then, ending subscriptions.
	done      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	// mu serializes appends and guards what follows: what the store knows
	// of the log, exact as of head.rev.
	mu     sync.Mutex
	loaded bool // head, versions and ids were loaded
	stale  bool // the log may have moved since: refresh before relying on it
	head   head
	// versions caches streams' versions (port names; -1: no stream).
	versions map[string]int64
	// ids maps the IDs of the latest events to where they are; order
	// keeps them oldest first, to forget beyond idWindow.
	ids   map[string]idRef
	order []string
}

var _ eventstore.Store = (*Store)(nil)

// head is the end of the position log.
type head struct {
	rev  int64  // revision of the last log event (-1: no log yet)
	pos  uint64 // position of the last event
	hash []byte // hash of the last event
}

// idRef says where an event is.
type idRef struct {
	stream   string // port name
	version  uint64
	position uint64
}

// maxCachedStreams bounds the cache of stream versions.
const maxCachedStreams = 1 << 16

// logName is the name of the position log stream: outside the store's
// prefix, so that it never mixes with the store's events.
func logName(ns string) string {
	if ns == "" {
		return "autoreg.positions"
	}
	return "autoreg.positions-" + ns
}

// Open connects to the server cfg names and returns the store. Unless the
// store is read-only, it checks that the server supports atomic appends
// to several streams (KurrentDB 25.1 or later) and fails with an error
// wrapping ErrUnsupportedServer, naming the server's version, if not. An
// unreachable server is an error wrapping eventstore.ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("kurrentdb: no client configuration (use ParseURL)")
	}
	c, err := kdb.NewClient(cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb %s: %w", cfg.Location, err)
	}
	s, err := open(ctx, client{c}, cfg)
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// OpenURL parses a connection string (see ParseURL) and opens the store.
func OpenURL(ctx context.Context, connection string, readOnly bool) (*Store, error) {
	cfg, err := ParseURL(connection)
	if err != nil {
		return nil, err
	}
	cfg.ReadOnly = readOnly
	return Open(ctx, cfg)
}

// open checks the server behind b and makes the store.
func open(ctx context.Context, b backend, cfg Config) (*Store, error) {
	v, err := b.version(ctx)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb %s: connecting: %w", cfg.Location, err)
	}
	if !cfg.ReadOnly && !v.IsAtLeast(25, 1, 0) {
		name := fmt.Sprintf("KurrentDB %d.%d.%d", v.Major, v.Minor, v.Patch)
		if v == (kdb.ServerVersion{}) {
			name = "an EventStoreDB older than 21.10 (it does not report its version)"
		}
		return nil, fmt.Errorf("kurrentdb %s: %w: the server is %s; the registrar's appends span several streams and must be atomic (upgrade the server, or open the store read-only to audit it)",
			cfg.Location, ErrUnsupportedServer, name)
	}
	return newStore(b, cfg), nil
}

func newStore(b backend, cfg Config) *Store {
	s := &Store{
		b:        b,
		location: cfg.Location,
		ns:       cfg.Namespace,
		prefix:   cfg.Namespace,
		log:      logName(cfg.Namespace),
		readOnly: cfg.ReadOnly,
		clock:    cfg.Clock,
		idWindow: cfg.IDWindow,
		done:     make(chan struct{}),
		versions: make(map[string]int64),
		ids:      make(map[string]idRef),
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.idWindow <= 0 {
		s.idWindow = DefaultIDWindow
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Location is the connection string, without its password.
func (s *Store) Location() string { return s.location }

// Verify checks the whole hash chain: see eventstore.VerifyChain.
func (s *Store) Verify(ctx context.Context, progress func(position uint64)) (uint64, error) {
	return eventstore.VerifyChain(ctx, s, progress)
}

// serverName is the server's name of a port stream.
func (s *Store) serverName(stream string) string { return s.ns + stream }

// portName is the port's name of a server stream of the store.
func (s *Store) portName(stream string) string { return strings.TrimPrefix(stream, s.ns) }

// checkNames refuses streams the store would not read back.
func (s *Store) checkNames(appends []eventstore.StreamAppend) error {
	for _, a := range appends {
		if !strings.HasPrefix(s.serverName(a.Stream), s.prefix) {
			return fmt.Errorf("%w: stream %q: the KurrentDB store holds the streams that start with %q (give a namespace to store others)",
				eventstore.ErrInvalidAppend, a.Stream, s.prefix)
		}
	}
	return nil
}

// check fails once the store is closed or ctx is done.
func (s *Store) check(ctx context.Context) error {
	select {
	case <-s.done:
		return eventstore.ErrClosed
	default:
	}
	return ctx.Err()
}

// opErr is what an operation returns for err: ErrClosed once the store is
// closed, else err.
func (s *Store) opErr(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-s.done:
		return eventstore.ErrClosed
	default:
	}
	return err
}

// Close closes the connection: later calls fail with eventstore.ErrClosed,
// and so do running subscriptions. Closing again returns the first
// Close's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		s.closeErr = s.b.close()
	})
	return s.closeErr
}

// Head implements eventstore.Store: the last position in the log.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	h, _, err := s.lastLog(ctx)
	return h.pos, s.opErr(err)
}

// lastLog reads the log's last entry: the head, and the entry's $all
// position (nil for an empty log).
func (s *Store) lastLog(ctx context.Context) (head, *kdb.Position, error) {
	h := head{rev: -1}
	var at *kdb.Position
	err := s.b.readStream(ctx, s.log, 0, true, 1, true, func(r rawEvent) error {
		l, err := decodeLog(r)
		if err != nil {
			return err
		}
		if h.hash, err = hex.DecodeString(l.Hash); err != nil {
			return fmt.Errorf("%w: position log event %d: bad hash", eventstore.ErrCorrupt, r.Revision)
		}
		h.rev, h.pos = int64(r.Revision), l.Last
		pos := r.Pos
		at = &pos
		return nil
	})
	if errors.Is(err, errNotFound) {
		err = nil
	}
	return h, at, err
}

// ---- what the store knows of the log (under mu) ---------------------------

// loadEntries is how many log entries (appends) load reads back.
const loadEntries = 4096

// load reads the end of the log: the head, and the IDs of the events of
// the latest appends (up to loadEntries appends and idWindow events). The
// version cache starts empty.
func (s *Store) load(ctx context.Context) error {
	h := head{rev: -1}
	var entries []logEntry
	n := 0
	err := s.b.readStream(ctx, s.log, 0, true, uint64(min(s.idWindow, loadEntries)), true, func(r rawEvent) error {
		l, err := decodeLog(r)
		if err != nil {
			return err
		}
		if h.rev < 0 {
			if h.hash, err = hex.DecodeString(l.Hash); err != nil {
				return fmt.Errorf("%w: position log event %d: bad hash", eventstore.ErrCorrupt, r.Revision)
			}
			h.rev, h.pos = int64(r.Revision), l.Last
		}
		if n < s.idWindow {
			entries = append(entries, l)
			n += int(l.Last - l.First + 1)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	s.head = h
	clear(s.versions)
	clear(s.ids)
	s.order = s.order[:0]
	for i := len(entries) - 1; i >= 0; i-- {
		s.remember(entries[i])
	}
	s.loaded, s.stale = true, false
	return nil
}

// refreshLimit is how many log entries refresh reads at most before it
// starts over from the end of the log (load).
const refreshLimit = 4096

// refresh reads what other processes appended to the log since head, and
// updates the head, the versions and the IDs.
func (s *Store) refresh(ctx context.Context) error {
	if !s.loaded {
		return s.load(ctx)
	}
	from := uint64(s.head.rev + 1)
	var entries []logEntry
	var last rawEvent
	err := s.b.readStream(ctx, s.log, from, false, refreshLimit+1, true, func(r rawEvent) error {
		l, err := decodeLog(r)
		if err != nil {
			return err
		}
		entries, last = append(entries, l), r
		return nil
	})
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	if len(entries) > refreshLimit {
		return s.load(ctx)
	}
	for i, l := range entries {
		if l.First != s.head.pos+1 {
			return fmt.Errorf("%w: position log event %d starts at position %d, after position %d", eventstore.ErrCorrupt, from+uint64(i), l.First, s.head.pos)
		}
		hash, err := hex.DecodeString(l.Hash)
		if err != nil {
			return fmt.Errorf("%w: position log event %d: bad hash", eventstore.ErrCorrupt, from+uint64(i))
		}
		s.head = head{rev: int64(from) + int64(i), pos: l.Last, hash: hash}
		s.remember(l)
	}
	if len(entries) > 0 && uint64(s.head.rev) != last.Revision {
		return fmt.Errorf("%w: position log revisions do not follow each other (%d, %d)", eventstore.ErrCorrupt, s.head.rev, last.Revision)
	}
	s.stale = false
	return nil
}

// remember folds a log entry into the versions and the IDs.
func (s *Store) remember(l logEntry) {
	if len(s.versions) >= maxCachedStreams {
		clear(s.versions)
	}
	pos := l.First
	for _, st := range l.Streams {
		s.versions[st.Stream] = st.Version
		v := uint64(st.Version) - uint64(len(st.IDs)) + 1
		for _, id := range st.IDs {
			if _, dup := s.ids[id]; !dup {
				s.order = append(s.order, id)
			}
			s.ids[id] = idRef{stream: st.Stream, version: v, position: pos}
			v++
			pos++
		}
	}
	if over := len(s.order) - s.idWindow; over > 0 {
		for _, id := range s.order[:over] {
			delete(s.ids, id)
		}
		s.order = append(s.order[:0], s.order[over:]...)
	}
}

// version is a stream's current version (-1: no stream): cached, or read
// from the leader.
func (s *Store) version(ctx context.Context, stream string) (int64, error) {
	if v, ok := s.versions[stream]; ok {
		return v, nil
	}
	v := int64(-1)
	err := s.b.readStream(ctx, s.serverName(stream), 0, true, 1, true, func(r rawEvent) error {
		v = int64(r.Revision)
		return nil
	})
	if err != nil && !errors.Is(err, errNotFound) {
		return 0, err
	}
	if len(s.versions) >= maxCachedStreams {
		clear(s.versions)
	}
	s.versions[stream] = v
	return v, nil
}

// lookup finds an event by ID among the latest ones, for MatchStored.
func (s *Store) lookup(ctx context.Context) func(id string) (eventstore.RecordedEvent, bool, error) {
	return func(id string) (eventstore.RecordedEvent, bool, error) {
		ref, ok := s.ids[id]
		if !ok {
			return eventstore.RecordedEvent{}, false, nil
		}
		var e eventstore.RecordedEvent
		found := false
		err := s.b.readStream(ctx, s.serverName(ref.stream), ref.version, false, 1, true, func(r rawEvent) error {
			var err error
			e, err = decodeEvent(r, ref.stream)
			found = err == nil && e.ID == id
			return err
		})
		if errors.Is(err, errNotFound) {
			err = nil
		}
		return e, found && err == nil, err
	}
}
