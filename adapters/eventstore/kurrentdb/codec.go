package kurrentdb

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	kdb "github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// The properties the store writes in every event's metadata. KurrentDB's
// multi-stream append takes metadata as a flat JSON object of strings (the
// server adds "$schema.name" and "$schema.format" to it); the store keeps
// there what the port needs and the server does not give: the project's
// gap-free position, the time the registrar recorded the event, the hash
// chain, and the event's own metadata, byte for byte.
const (
	propPosition   = "autoreg.position"        // decimal, from 1
	propRecordedAt = "autoreg.recorded-at"     // RFC 3339 with nanoseconds, UTC
	propHash       = "autoreg.hash"            // hex SHA-256 (eventstore.ChainHash)
	propMetadata   = "autoreg.metadata"        // the event's metadata, when it is UTF-8
	propMetadata64 = "autoreg.metadata-base64" // the event's metadata, when it is not
	propID         = "autoreg.id"              // the event's ID, when it is not a canonical UUID
)

// logEventType is the type of the position log's events (see logEntry).
const logEventType = "autoreg.appended"

// idNamespace derives a server event ID (a UUID) from a port event ID that
// is not a UUID, so that the same ID always gives the same server ID.
var idNamespace = uuid.MustParse("6f1c3b7e-2f4a-5d0e-9a51-3c8e1f0b7d24")

// serverID is the KurrentDB event ID of a port event ID: the UUID itself
// when the ID is one (so that the server's own idempotency sees retries),
// else a name-based UUID (version 5) of it. exact is false when the ID does
// not read back as itself from the UUID and must be kept in the metadata.
func serverID(id string) (u uuid.UUID, exact bool) {
	if u, err := uuid.Parse(id); err == nil {
		return u, u.String() == id
	}
	return uuid.NewSHA1(idNamespace, []byte(id)), false
}

// stamp is what the store adds to an event at append.
type stamp struct {
	Position   uint64
	RecordedAt time.Time
	Hash       []byte
}

// encodeEvent makes the KurrentDB event of a port event: the server event
// ID derived from its ID, its type, its data (content type JSON when the
// data is JSON, binary otherwise) and the metadata properties.
func encodeEvent(e eventstore.EventData, st stamp) (kdb.EventData, error) {
	id, exact := serverID(e.ID)
	props := map[string]string{
		propPosition:   strconv.FormatUint(st.Position, 10),
		propRecordedAt: st.RecordedAt.UTC().Format(time.RFC3339Nano),
		propHash:       hex.EncodeToString(st.Hash),
	}
	if !exact {
		props[propID] = e.ID
	}
	if len(e.Metadata) > 0 {
		if utf8.Valid(e.Metadata) {
			props[propMetadata] = string(e.Metadata)
		} else {
			props[propMetadata64] = base64.StdEncoding.EncodeToString(e.Metadata)
		}
	}
	meta, err := json.Marshal(props)
	if err != nil {
		return kdb.EventData{}, fmt.Errorf("event %s: metadata: %w", e.ID, err)
	}
	ct := kdb.ContentTypeBinary
	if len(e.Data) > 0 && json.Valid(e.Data) {
		ct = kdb.ContentTypeJson
	}
	return kdb.EventData{EventID: id, EventType: e.Type, ContentType: ct, Data: e.Data, Metadata: meta}, nil
}

// rawEvent is an event as read from the server, before decoding.
type rawEvent struct {
	Stream   string // the server's stream name
	Revision uint64 // the event's number in its stream
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte // the user metadata: a JSON object
	Pos      kdb.Position
}

// fromRecorded converts the client's event.
func fromRecorded(e *kdb.RecordedEvent) rawEvent {
	return rawEvent{Stream: e.StreamID, Revision: e.EventNumber, ID: e.EventID, Type: e.EventType,
		Data: e.Data, Metadata: e.UserMetadata, Pos: e.Position}
}

// decodeEvent reads back an event the store wrote, named stream in the
// port's terms. An event without the store's properties was not written by
// the store (or was altered): the error wraps eventstore.ErrCorrupt.
func decodeEvent(r rawEvent, stream string) (eventstore.RecordedEvent, error) {
	bad := func(format string, a ...any) (eventstore.RecordedEvent, error) {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: stream %q event %d (id %s): %s", eventstore.ErrCorrupt,
			r.Stream, r.Revision, r.ID, fmt.Sprintf(format, a...))
	}
	var props map[string]any
	if err := json.Unmarshal(r.Metadata, &props); err != nil {
		return bad("metadata is not a JSON object: %v", err)
	}
	str := func(k string) (string, bool) {
		v, ok := props[k].(string)
		return v, ok
	}
	e := eventstore.RecordedEvent{Stream: stream, Version: r.Revision, ID: r.ID.String(), Type: r.Type, Data: r.Data}
	p, ok := str(propPosition)
	if !ok {
		return bad("no %s: not written by the autoreg store", propPosition)
	}
	var err error
	if e.Position, err = strconv.ParseUint(p, 10, 64); err != nil || e.Position == 0 {
		return bad("bad %s %q", propPosition, p)
	}
	at, _ := str(propRecordedAt)
	if e.RecordedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return bad("bad %s %q", propRecordedAt, at)
	}
	e.RecordedAt = e.RecordedAt.UTC()
	h, _ := str(propHash)
	if e.Hash, err = hex.DecodeString(h); err != nil || len(e.Hash) == 0 {
		return bad("bad %s %q", propHash, h)
	}
	if id, ok := str(propID); ok {
		e.ID = id
	}
	if m, ok := str(propMetadata); ok {
		e.Metadata = []byte(m)
	} else if m, ok := str(propMetadata64); ok {
		if e.Metadata, err = base64.StdEncoding.DecodeString(m); err != nil {
			return bad("bad %s: %v", propMetadata64, err)
		}
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, nil
}

// logEntry is the data of one event of the store's position log: one per
// append, written atomically with the append's events. It says which
// positions the append took, the hash of its last event, and which events
// went to which streams, so that a store can follow what other processes
// appended (stream versions, recent event IDs) by reading the log alone.
type logEntry struct {
	First   uint64      `json:"first"` // position of the append's first event
	Last    uint64      `json:"last"`  // position of its last event
	Hash    string      `json:"hash"`  // hex hash of its last event
	Streams []logStream `json:"streams"`
}

// logStream is the part of an append that went to one stream.
type logStream struct {
	Stream  string   `json:"stream"`  // the port's name
	Version int64    `json:"version"` // the stream's version after the append
	IDs     []string `json:"ids"`     // the port IDs of the events, in order
}

// encodeLog makes the position log's event for an append.
func encodeLog(l logEntry) (kdb.EventData, error) {
	data, err := json.Marshal(l)
	if err != nil {
		return kdb.EventData{}, err
	}
	return kdb.EventData{EventID: uuid.New(), EventType: logEventType, ContentType: kdb.ContentTypeJson, Data: data}, nil
}

// decodeLog reads a position log event; revision is its number in the log.
func decodeLog(r rawEvent) (logEntry, error) {
	var l logEntry
	if r.Type != logEventType {
		return l, fmt.Errorf("%w: position log %q event %d has type %q, not %q", eventstore.ErrCorrupt, r.Stream, r.Revision, r.Type, logEventType)
	}
	if err := json.Unmarshal(r.Data, &l); err != nil {
		return l, fmt.Errorf("%w: position log %q event %d: %v", eventstore.ErrCorrupt, r.Stream, r.Revision, err)
	}
	n := uint64(0)
	for _, s := range l.Streams {
		n += uint64(len(s.IDs))
	}
	if l.First == 0 || l.Last < l.First || l.Last-l.First+1 != n {
		return l, fmt.Errorf("%w: position log %q event %d: positions %d-%d for %d events", eventstore.ErrCorrupt, r.Stream, r.Revision, l.First, l.Last, n)
	}
	return l, nil
}

// exactState is the expected state of a stream the store knows to be at
// version v (-1: no stream). The store checks the port's expected version
// (Any, NoStream, Exact) itself against the version it knows, then sends the
// server that exact state: see checkExpected.
func exactState(v int64) kdb.StreamState {
	if v < 0 {
		return kdb.NoStream{}
	}
	return kdb.StreamRevision{Value: uint64(v)}
}

// stateVersion is the version a KurrentDB stream state stands for (-1: no
// stream); ok is false for Any and StreamExists, which name no version.
func stateVersion(s kdb.StreamState) (v int64, ok bool) {
	switch s := s.(type) {
	case kdb.NoStream:
		return -1, true
	case kdb.StreamRevision:
		return int64(s.Value), true
	case *kdb.StreamRevision:
		return int64(s.Value), true
	}
	return 0, false
}
