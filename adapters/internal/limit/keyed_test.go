package limit

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The first line of each key an interval goes through; the rest are
// counted and summed up in one line an interval; many keys are bounded too.
func TestKeyedLogOncePerKeyAndInterval(t *testing.T) {
	var buf bytes.Buffer
	k := NewKeyedLog(zerolog.New(&buf), zerolog.InfoLevel, "changes counted", time.Minute)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	admitted := 0
	for i := range 1000 {
		if k.Admit(t0.Add(time.Duration(i)*time.Millisecond), "SEP001122334455 moved") {
			admitted++
		}
	}
	if !k.Admit(t0, "SEP001122334455 unregistered") {
		t.Error("another message of the device is another key")
	}
	if admitted != 1 {
		t.Errorf("1,000 lines of one key in a second: %d admitted, want 1", admitted)
	}
	k.Flush(t0.Add(30 * time.Second))
	if buf.Len() != 0 {
		t.Errorf("summary before the interval is over: %s", buf.String())
	}
	k.Flush(t0.Add(61 * time.Second))
	if got := buf.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `"count":999`) ||
		!strings.Contains(got, `"top":"SEP001122334455 moved=999"`) {
		t.Errorf("summary: %s", got)
	}
	if !k.Admit(t0.Add(time.Minute), "SEP001122334455 moved") {
		t.Error("the next interval lets the key's first line through again")
	}
	// Many keys: at most maxKeyedKeys lines an interval.
	t1 := t0.Add(time.Hour)
	admitted = 0
	for i := range 3 * maxKeyedKeys {
		if k.Admit(t1, fmt.Sprint("SEP", i)) {
			admitted++
		}
	}
	if admitted != maxKeyedKeys {
		t.Errorf("%d keys: %d admitted, want %d", 3*maxKeyedKeys, admitted, maxKeyedKeys)
	}
}
