package command

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// TestMetadataJSONAsEncodingJSON: the hand-written encoder gives exactly
// json.Marshal's bytes, for plain values and for ones json escapes.
func TestMetadataJSONAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 19, 3, 4, 123456789, time.UTC)
	for _, m := range []Metadata{
		{EventID: "0193a1b2-0000-7000-8000-000000000001", Actor: "sip", Command: "Register", DecidedAt: at},
		{EventID: "e", CorrelationID: "1-2345@127.0.0.1", CausationID: "c", Actor: "admin:alice", Peer: "127.0.0.1:5098", Command: "OpenWindow", DecidedAt: at.In(time.FixedZone("CET", 3600))},
		{EventID: "e", CorrelationID: "quote\" back\\slash <html> & tab\t nul\x00 caf\u00e9 \u2028 bad\xff", Actor: "admin:b\u00f6b", Command: "X", DecidedAt: at},
		{},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeMetadata(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		back, err := DecodeMetadata(got)
		if err != nil || !back.DecidedAt.Equal(m.DecidedAt) || back.EventID != m.EventID || back.Actor != m.Actor || back.Command != m.Command {
			t.Errorf("decode back: %+v, %v", back, err)
		}
	}
	if _, err := encodeMetadata(Metadata{DecidedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a year beyond 9999 encoded; json.Marshal refuses it")
	}
}

func TestCommandName(t *testing.T) {
	if got := commandName(domain.Register{}); got != "Register" {
		t.Errorf("commandName(Register) = %q", got)
	}
}
