package projections_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

// same checks the Decoder gives what domain.Decode gives.
func same(t *testing.T, d *projections.Decoder, typ string, payload []byte) {
	t.Helper()
	want, werr := domain.Decode(typ, payload)
	got, gerr := d.Decode(typ, payload)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s %s: domain.Decode error %v, Decoder error %v", typ, payload, werr, gerr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s %s (-domain.Decode +Decoder):\n%s", typ, payload, diff)
	}
}

func TestDecoderMatchesDomainOnAHistory(t *testing.T) {
	d := projections.NewDecoder()
	for _, e := range recorded(t, generated(t, 20_000)) {
		same(t, d, e.Type, e.Data)
	}
}

var oddPayloads = []struct{ typ, payload string }{
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"1000","partition":"Internal","device":"SEP001122334455","window":"W1"}}`},
	{domain.TypeDNAssigned, ` { "schema_version" : 1 , "data" : { "dn" : "1000" } } `},
	{domain.TypeDNAssigned, `{"data":{"dn":"1000"},"schema_version":1}`},
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"DN":"1000"}}`},                                     // another case: encoding/json matches it
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"10\u0030"}}`},                                 // an escape
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"été"}}`},                                      // not ASCII
	{domain.TypeDNAssigned, "{\"schema_version\":1,\"data\":{\"dn\":\"\xff\"}}"},                             // not UTF-8
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":null}}`},                                       // null
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":1000}}`},                                       // a number
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"1000","extra":[1,2]}}`},                       // unknown key
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"1000","dn":"1001"}}`},                         // twice
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"1000"},"data":{}}`},                           // data twice
	{domain.TypeDNAssigned, `{"schema_version":2,"data":{"dn":"1000"}}`},                                     // too new
	{domain.TypeDNAssigned, `{"schema_version":0,"data":{"dn":"1000"}}`},                                     // too old
	{domain.TypeDNAssigned, `{"schema_version":1.0,"data":{"dn":"1000"}}`},                                   // not an integer
	{domain.TypeDNAssigned, `{"schema_version":01,"data":{"dn":"1000"}}`},                                    // leading zero
	{domain.TypeDNAssigned, `{"schema_version":1}`},                                                          // no data
	{domain.TypeDNAssigned, `{"schema_version":1,"data":null}`},                                              // null data
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{}}`},                                                // empty data
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"1000"}} x`},                                   // trailing garbage
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"1000"}`},                                      // truncated
	{domain.TypeDNAssigned, `{"schema_version":1,"data":{"dn":"1000",}}`},                                    // trailing comma
	{domain.TypeDNAssigned, `[]`},                                                                            // not an object
	{domain.TypeDNAssigned, ``},                                                                              // nothing
	{domain.TypeDeviceRegistered, `{"schema_version":1,"data":{"device":"SEP001122334455","model":"7961"}}`}, // a key of another event
	{domain.TypeRegistrationRejected, `{"schema_version":1,"data":{"device":"SEP001122334455","reason":"window_closed","at":"2026-03-02T09:02:00Z"}}`},
	{domain.TypeRegistrationRejected, `{"schema_version":1,"data":{"device":"SEP001122334455","at":"2026-03-02T09:02:00.123456789+02:00"}}`},
	{domain.TypeRegistrationRejected, `{"schema_version":1,"data":{"device":"SEP001122334455","at":"yesterday"}}`},
	{domain.TypeRegistrationRejected, `{"schema_version":1,"data":{"device":"SEP001122334455","at":"0001-01-01T00:00:00Z"}}`},
	{domain.TypeWindowOpened, `{"schema_version":1,"data":{"window":"W1","reason":"r","by":"a","at":"2026-03-02T09:02:00Z","protocol":"SCCP"}}`},
	{"no.such_event", `{"schema_version":1,"data":{}}`},
}

func TestDecoderMatchesDomainOnOddPayloads(t *testing.T) {
	d := projections.NewDecoder()
	for _, c := range oddPayloads {
		same(t, d, c.typ, []byte(c.payload))
	}
}

func FuzzDecoder(f *testing.F) {
	types := domain.EventTypes()
	for i, c := range oddPayloads {
		f.Add(uint8(i), []byte(c.payload))
	}
	d := projections.NewDecoder()
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		same(t, d, types[int(typ)%len(types)], payload)
	})
}
