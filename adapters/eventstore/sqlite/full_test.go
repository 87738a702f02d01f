package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// TestDiskFullIsUnavailable caps the database file at its size (PRAGMA
// max_page_count, which fails writes with SQLITE_FULL as a full disk does):
// the append fails with ErrUnavailable, nothing of it is written, and the
// store works again once there is room.
func TestDiskFullIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	event := func(id string, size int) eventstore.EventData {
		return eventstore.EventData{ID: id, Type: "test.big", Data: bytes.Repeat([]byte("x"), size)}
	}
	if _, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "s", Expected: eventstore.NoStream, Events: []eventstore.EventData{event("a", 10)}}); err != nil {
		t.Fatal(err)
	}
	// The writer goroutine is idle between appends; the channel operations
	// of the append above and the one below order these uses of its
	// connection with its own.
	if err := s.w.conn.Exec(`PRAGMA max_page_count = 1`); err != nil {
		t.Fatal(err)
	}
	var big []eventstore.EventData
	for i := range 100 {
		big = append(big, event(fmt.Sprint("big-", i), 10_000))
	}
	_, err = s.Append(t.Context(), eventstore.StreamAppend{Stream: "s", Expected: eventstore.Exact(0), Events: big})
	if !errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Append to a full file = %v, want ErrUnavailable naming the file", err)
	}
	if h, err := s.Head(t.Context()); err != nil || h != 1 {
		t.Fatalf("Head after the failed append = %d, %v; want 1", h, err)
	}

	if err := s.w.conn.Exec(`PRAGMA max_page_count = 4294967294`); err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(t.Context(), eventstore.StreamAppend{Stream: "s", Expected: eventstore.Exact(0), Events: big})
	if err != nil || res.Position != 101 {
		t.Fatalf("Append once there is room = %+v, %v; want position 101", res, err)
	}
	if n, err := s.Verify(t.Context(), nil); err != nil || n != 101 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}
