package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/config"
)

// A console log written to a file (or any writer that is not a terminal)
// holds no colour codes; a JSON log is JSON.
func TestConsoleLogHasNoColourOutsideATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "registrar.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, w := range []interface{ Write([]byte) (int, error) }{f, &buf} {
		log := newLogger(config.Log{Format: "console", Level: "info"}, w)
		log.Info().Int64("load_ms", (57 * time.Millisecond).Milliseconds()).Msg("event store open")
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{string(got), buf.String()} {
		if strings.Contains(out, "\x1b[") {
			t.Errorf("colour codes in a console log that is not a terminal: %q", out)
		}
		if !strings.Contains(out, "INF event store open load_ms=57") {
			t.Errorf("console log: %q", out)
		}
	}
	buf.Reset()
	jl := newLogger(config.Log{Format: "json", Level: "info"}, &buf)
	jl.Info().Msg("x")
	if !strings.HasPrefix(buf.String(), `{"level":"info"`) {
		t.Errorf("json log: %q", buf.String())
	}
}
