package eventstore_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/internal/eventstore"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want eventstore.Location
	}{
		{"sqlite:///var/lib/autoreg/events.db", eventstore.Location{Scheme: "sqlite", Path: "/var/lib/autoreg/events.db"}},
		{"sqlite://data/events.db", eventstore.Location{Scheme: "sqlite", Path: "data/events.db"}},
		{"sqlite:events.db", eventstore.Location{Scheme: "sqlite", Path: "events.db"}},
		{"sqlite:///tmp/with%20space.db", eventstore.Location{Scheme: "sqlite", Path: "/tmp/with space.db"}},
		{"/abs/events.db", eventstore.Location{Scheme: "sqlite", Path: "/abs/events.db"}},
		{"rel/events.db", eventstore.Location{Scheme: "sqlite", Path: "rel/events.db"}},
		{"events:2026.db", eventstore.Location{Scheme: "sqlite", Path: "events:2026.db"}},
	}
	for _, tt := range tests {
		got, err := eventstore.ParseURL(tt.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseURL(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	u, err := eventstore.ParseURL("kurrentdb://localhost:2113?tls=false")
	if err != nil || u.Scheme != "kurrentdb" || u.URL == nil || u.URL.Host != "localhost:2113" {
		t.Errorf("ParseURL(kurrentdb://...) = %+v, %v", u, err)
	}
	for _, bad := range []string{"", "sqlite://", "sqlite:///x.db?mode=ro"} {
		if _, err := eventstore.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
}
