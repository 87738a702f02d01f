package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// ChainHash is the tamper-evidence hash of an event: SHA-256 over the
// previous event's hash (nil for the first event) and the event's content,
// each field length-prefixed so that no two events hash alike by shifting
// bytes between fields. Editing, deleting, inserting or reordering an event
// changes the hash of every event after it.
func ChainHash(prev []byte, e RecordedEvent) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	num := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	field(prev)
	num(e.Position)
	field([]byte(e.Stream))
	num(e.Version)
	field([]byte(e.ID))
	field([]byte(e.Type))
	field(e.Data)
	field(e.Metadata)
	field([]byte(e.RecordedAt.UTC().Format(time.RFC3339Nano)))
	return h.Sum(nil)
}
