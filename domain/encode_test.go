package domain

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestEncodeWritesTheEnvelopeAsJSONWould: Encode writes the envelope by
// hand; its bytes must be exactly what json.Marshal of the envelope gives,
// so stored payloads (and their hashes) do not depend on the shortcut.
func TestEncodeWritesTheEnvelopeAsJSONWould(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	for _, e := range []Event{
		WindowOpened{Window: "w1", Reason: "bulk <add> & \"quotes\"", By: "admin:alice", At: at, Until: at.Add(time.Hour), MaxRegistrations: 5, Protocol: SCCP},
		RegistrationRejected{DeviceEvent: DeviceEvent{Device: "SEP001122334455"}, Reason: RejectWindowClosed, Detail: "caf\u00e9 \u2028", At: at},
		DeviceAutoregistered{DeviceEvent: DeviceEvent{Device: "SEP001122334455"}, Model: "7961", Protocol: SIP, DN: "1000", Address: "10.0.0.1:5060"},
	} {
		_, got, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(envelope{SchemaVersion: SchemaVersion, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", e.EventType(), got, want)
		}
	}
}
