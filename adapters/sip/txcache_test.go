package sip

import (
	"testing"
	"time"
)

func TestTxTableLifetime(t *testing.T) {
	ttl := 4 * time.Second
	tt := newTxTable(ttl, 2)
	start := tt.rotated

	if _, seen, err := tt.begin(1); seen || err != nil {
		t.Fatalf("new key: seen %v, %v", seen, err)
	}
	if e, seen, _ := tt.begin(1); !seen || e.state != txInFlight {
		t.Fatalf("in flight: %+v %v", e, seen)
	}
	tt.finish(1, outcome{status: 403, text: "no"}, true)
	if e, seen, _ := tt.begin(1); !seen || e.state != txDone || e.outcome().status != 403 || e.outcome().text != "no" {
		t.Fatalf("done: %+v %v", e, seen)
	}

	// A reliable transport keeps nothing once answered.
	tt.begin(2)
	tt.finish(2, outcome{status: 200, text: "1001"}, false)
	if _, seen, _ := tt.begin(2); seen {
		t.Error("a TCP transaction was kept")
	}
	tt.abort(2)

	// A request in flight survives rotations; an answered one lives at least ttl.
	tt.begin(3)
	tt.rotate(start.Add(ttl - time.Millisecond))
	if _, seen, _ := tt.begin(1); !seen {
		t.Error("an answer was forgotten before the TTL")
	}
	if _, _, err := tt.begin(4); err != errTxTableFull {
		t.Errorf("table of 2 took a 3rd: %v", err)
	}
	tt.rotate(start.Add(ttl * 5 / 4))
	if _, seen, _ := tt.begin(1); seen {
		t.Error("an answer outlived 5/4 of the TTL")
	}
	tt.abort(1)
	if e, seen, _ := tt.begin(3); !seen || e.state != txInFlight {
		t.Error("a request in flight was forgotten")
	}
	if n := tt.len(); n != 1 {
		t.Errorf("len %d, want 1", n)
	}
	// 2xx keep no text: the DN is the device's.
	tt.finish(3, outcome{status: 200, text: "1001"}, true)
	if e, _, _ := tt.begin(3); e.text != nil {
		t.Error("a 2xx kept its text")
	}
}
