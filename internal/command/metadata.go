package command

import "encoding/json"

// appendJSON appends m as json.Marshal(m) writes it, byte for byte (a test
// holds it to that), without reflection: the registrar writes one per event.
func (m Metadata) appendJSON(b []byte) []byte {
	b = append(b, `{"event_id":`...)
	b = appendJSONString(b, m.EventID)
	if m.CorrelationID != "" {
		b = append(b, `,"correlation_id":`...)
		b = appendJSONString(b, m.CorrelationID)
	}
	if m.CausationID != "" {
		b = append(b, `,"causation_id":`...)
		b = appendJSONString(b, m.CausationID)
	}
	b = append(b, `,"actor":`...)
	b = appendJSONString(b, m.Actor)
	if m.Peer != "" {
		b = append(b, `,"peer":`...)
		b = appendJSONString(b, m.Peer)
	}
	b = append(b, `,"command":`...)
	b = appendJSONString(b, m.Command)
	b = append(b, `,"decided_at":`...)
	if t, err := m.DecidedAt.MarshalJSON(); err == nil {
		b = append(b, t...)
	} else {
		b = append(b, `null`...) // a year beyond 9999: json.Marshal would fail; see encodeMetadata
	}
	return append(b, '}')
}

// encodeMetadata is m's JSON.
func encodeMetadata(m Metadata) ([]byte, error) {
	if y := m.DecidedAt.Year(); y < 0 || y > 9999 {
		return json.Marshal(m) // the error json gives
	}
	return m.appendJSON(make([]byte, 0, 224)), nil
}

// appendJSONString appends s quoted as encoding/json quotes it. Strings of
// printable ASCII that json leaves alone (no quote, backslash or HTML
// character) are copied; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
