package projections

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// Administrative reports whether events of this type record an
// administrative change: the cluster's configuration, the opening and
// closing of autoregistration, the range, and devices added, changed or
// deleted by hand. The DN claims and releases that accompany device changes
// are not listed separately.
func Administrative(eventType string) bool {
	switch eventType {
	case domain.TypeProtocolSet, domain.TypeSecurityModeSet, domain.TypeCallManagerConfigured,
		domain.TypeCallManagerRemoved, domain.TypeGroupConfigured, domain.TypeGroupRemoved,
		domain.TypeAutoregGroupSet, domain.TypePartitionAdded, domain.TypePartitionRemoved,
		domain.TypeRoutePatternAdded, domain.TypeRoutePatternRemoved, domain.TypeCSSConfigured,
		domain.TypeCSSRemoved, domain.TypeDevicePoolConfigured, domain.TypeDevicePoolRemoved,
		domain.TypeDefaultPoolSet, domain.TypeDeviceDefaultsSet, domain.TypeAutoregCSSSet,
		domain.TypeWindowOpened, domain.TypeWindowClosed, domain.TypeRangeConfigured,
		domain.TypeDeviceProvisioned, domain.TypeDeviceReconfigured, domain.TypeDeviceDeleted,
		domain.TypeDeviceResetRequested:
		return true
	}
	return false
}

// Change is one administrative change.
type Change struct {
	Position uint64
	At       time.Time // when the store recorded it
	Stream   string
	Type     string
	// Actor is who made it, from the event's metadata ("admin:alice",
	// "config", "system"), else from the payload's "by".
	Actor string
	// Payload is the event's fields (the "data" of the stored payload).
	Payload json.RawMessage
}

// ConfigHistory is the read model of administrative changes, in order.
type ConfigHistory struct {
	mu      sync.RWMutex
	pos     uint64
	changes []Change
}

// NewConfigHistory returns an empty ConfigHistory.
func NewConfigHistory() *ConfigHistory { return &ConfigHistory{} }

// Reset implements Projection.
func (c *ConfigHistory) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos, c.changes = 0, nil
}

// Checkpoint implements Projection.
func (c *ConfigHistory) Checkpoint() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pos
}

// Wants implements Selective: the administrative changes.
func (c *ConfigHistory) Wants(eventType string) bool { return Administrative(eventType) }

// Apply implements Projection.
func (c *ConfigHistory) Apply(e *Event) {
	if !Administrative(e.Type) {
		c.mu.Lock()
		c.pos = e.Position
		c.mu.Unlock()
		return
	}
	ch := Change{Position: e.Position, At: utc(e.RecordedAt), Stream: e.Stream, Type: e.Type,
		Actor: ActorOf(e.Metadata, e.Payload), Payload: PayloadData(e.Data)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = e.Position
	c.changes = append(c.changes, ch)
}

// Changes returns the changes recorded in [since, until] (a zero bound is
// no bound), in order.
func (c *ConfigHistory) Changes(since, until time.Time) []Change {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Change
	for _, ch := range c.changes {
		if (!since.IsZero() && ch.At.Before(since)) || (!until.IsZero() && ch.At.After(until)) {
			continue
		}
		ch.Payload = slices.Clone(ch.Payload)
		out = append(out, ch)
	}
	return out
}

// ActorOf returns who made an event: the "actor" of its metadata, else the
// "by" of its payload (administrative events name who made them), else "".
func ActorOf(metadata []byte, payload domain.Event) string {
	// Fast: the registrar writes "actor" as a plain string.
	key := []byte(`"actor":"`)
	if i := bytes.Index(metadata, key); i >= 0 {
		v := metadata[i+len(key):]
		if j := bytes.IndexByte(v, '"'); j > 0 && bytes.IndexByte(v[:j], '\\') < 0 {
			return string(v[:j])
		}
	}
	if len(metadata) > 0 {
		var m struct {
			Actor string `json:"actor"`
		}
		if json.Unmarshal(metadata, &m) == nil && m.Actor != "" {
			return m.Actor
		}
	}
	if payload != nil {
		if by, ok := byOf(payload); ok {
			return by
		}
	}
	return ""
}

// byOf reads the By field of the events that have one.
func byOf(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.ProtocolSet:
		return e.By, true
	case domain.SecurityModeSet:
		return e.By, true
	case domain.CallManagerConfigured:
		return e.By, true
	case domain.CallManagerRemoved:
		return e.By, true
	case domain.GroupConfigured:
		return e.By, true
	case domain.GroupRemoved:
		return e.By, true
	case domain.AutoregGroupSet:
		return e.By, true
	case domain.PartitionAdded:
		return e.By, true
	case domain.PartitionRemoved:
		return e.By, true
	case domain.RoutePatternAdded:
		return e.By, true
	case domain.RoutePatternRemoved:
		return e.By, true
	case domain.CSSConfigured:
		return e.By, true
	case domain.CSSRemoved:
		return e.By, true
	case domain.DevicePoolConfigured:
		return e.By, true
	case domain.DevicePoolRemoved:
		return e.By, true
	case domain.DefaultPoolSet:
		return e.By, true
	case domain.DeviceDefaultsSet:
		return e.By, true
	case domain.AutoregCSSSet:
		return e.By, true
	case domain.WindowOpened:
		return e.By, true
	case domain.WindowClosed:
		return e.By, true
	case domain.RangeConfigured:
		return e.By, true
	case domain.DNClaimed:
		return e.By, true
	case domain.DNReleased:
		return e.By, true
	case domain.DeviceProvisioned:
		return e.By, true
	case domain.DeviceReconfigured:
		return e.By, true
	case domain.DeviceDeleted:
		return e.By, true
	case domain.DeviceResetRequested:
		return e.By, true
	}
	return "", false
}

// PayloadData returns a copy of the "data" object of a stored payload (the
// event's fields without the envelope), compacted; the whole payload when
// it has no such object, and the payload as a JSON string when it is not
// JSON at all.
func PayloadData(payload []byte) json.RawMessage {
	if d := dataView(payload); d != nil {
		return slices.Clone(d)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	raw := payload
	if json.Unmarshal(payload, &env) == nil && len(env.Data) > 0 {
		raw = env.Data
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		// Not JSON (a damaged store): the bytes as a JSON string.
		q, _ := json.Marshal(string(raw))
		return q
	}
	return b.Bytes()
}

// dataView returns the "data" object of a payload written by domain.Encode
// ({"schema_version":N,"data":{...}} without white space), as a view; nil
// for any other shape.
func dataView(payload []byte) []byte {
	const prefix = `{"schema_version":`
	if !bytes.HasPrefix(payload, []byte(prefix)) {
		return nil
	}
	rest := payload[len(prefix):]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || !bytes.HasPrefix(rest[i:], []byte(`,"data":{`)) || !bytes.HasSuffix(rest, []byte("}}")) {
		return nil
	}
	d := rest[i+len(`,"data":`) : len(rest)-1]
	if !compactObject(d) {
		return nil
	}
	return d
}

// compactObject reports whether b is exactly one JSON object without white
// space between its tokens (the checks are those of the shape, not a full
// validation: the store holds what domain.Encode wrote).
func compactObject(b []byte) bool {
	depth, inStr := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 && i != len(b)-1 {
				return false
			}
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return depth == 0 && !inStr && json.Valid(b)
}
