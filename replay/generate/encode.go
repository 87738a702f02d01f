package generate

import "github.com/autoreg/autoreg/domain"

// encode is domain.Encode, with the phones' comings and goings (most of a
// history) written without reflection. The bytes are those domain.Encode
// writes (a test checks it on whole histories); any value that
// encoding/json would escape goes through domain.Encode.
func encode(e domain.Event) (string, []byte, error) {
	var b []byte
	switch e := e.(type) {
	case domain.DeviceRegistered:
		if plain(e.Device, string(e.Protocol), e.Address) {
			b = append(b, `{"schema_version":1,"data":{"device":"`...)
			b = append(b, e.Device...)
			b = append(b, `","protocol":"`...)
			b = append(b, e.Protocol...)
			b = append(b, `","address":"`...)
			b = append(b, e.Address...)
			b = append(b, `"}}`...)
		}
	case domain.DeviceUnregistered:
		if plain(e.Device, e.Reason) {
			b = append(b, `{"schema_version":1,"data":{"device":"`...)
			b = append(b, e.Device...)
			b = append(b, `","reason":"`...)
			b = append(b, e.Reason...)
			b = append(b, `"}}`...)
		}
	case domain.DeviceMoved:
		if plain(e.Device, e.From, e.To) {
			b = append(b, `{"schema_version":1,"data":{"device":"`...)
			b = append(b, e.Device...)
			b = append(b, `","from":"`...)
			b = append(b, e.From...)
			b = append(b, `","to":"`...)
			b = append(b, e.To...)
			b = append(b, `"}}`...)
		}
	}
	if b == nil {
		return domain.Encode(e)
	}
	return e.EventType(), b, nil
}

// plain reports whether encoding/json writes every s as it is: printable
// ASCII but the quote, the backslash and the characters it escapes for
// HTML (<, >, &).
func plain(ss ...string) bool {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
				return false
			}
		}
	}
	return true
}
