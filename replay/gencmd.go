package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/replay/generate"
)

// GenerateOptions tune GenerateStore.
type GenerateOptions struct {
	Events int
	Seed   uint64
	Start  time.Time
	// Progress and Terminal: where a progress bar goes, if a terminal.
	Progress io.Writer
	Terminal bool
}

// GenerateResult sums up a generated store.
type GenerateResult struct {
	generate.Stats
	Elapsed time.Duration
	Size    int64 // bytes of the database file
}

// GenerateStore writes a generated history (package generate) into a new
// SQLite store at path. It refuses a path that holds anything but an empty
// store (a *UsageError): it never writes into an existing history.
func GenerateStore(ctx context.Context, path string, opt GenerateOptions) (GenerateResult, error) {
	if err := checkNew(ctx, path); err != nil {
		return GenerateResult{}, err
	}
	started := time.Now()
	// The store creates the file (schema, marks, WAL); the history is then
	// loaded into its table (see bulkLoader) and read back through it.
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return GenerateResult{}, fmt.Errorf("creating the store %s: %w", path, err)
	}
	if err := st.Close(); err != nil {
		return GenerateResult{}, fmt.Errorf("creating the store %s: %w", path, err)
	}
	bl, err := openBulk(ctx, path)
	if err != nil {
		return GenerateResult{}, err
	}
	var bar *Progress
	if opt.Terminal {
		bar = NewProgress(opt.Progress, true, "generate", uint64(opt.Events))
	}
	w := &countingWriter{w: bl, bar: bar}
	stats, err := generate.Generate(ctx, w, generate.Options{Events: opt.Events, Seed: opt.Seed, Start: opt.Start})
	if cerr := bl.Close(); err == nil {
		err = cerr
	}
	bar.Done()
	if err != nil {
		return GenerateResult{}, err
	}
	// Read it back through the store: its checks at open, and the count.
	ro, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return GenerateResult{}, fmt.Errorf("reading back %s: %w", path, err)
	}
	head, err := ro.Head(ctx)
	ro.Close()
	if err != nil {
		return GenerateResult{}, fmt.Errorf("reading back %s: %w", path, err)
	}
	if head != uint64(stats.Events) {
		return GenerateResult{}, fmt.Errorf("reading back %s: %d events, %d written", path, head, stats.Events)
	}
	res := GenerateResult{Stats: stats, Elapsed: time.Since(started)}
	if info, err := os.Stat(path); err == nil {
		res.Size = info.Size()
	}
	return res, nil
}

// checkNew refuses a path that exists and is not an empty event store.
func checkNew(ctx context.Context, path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usagef("--out %s: %w", path, err)
	}
	if info.IsDir() {
		return usagef("--out %s is a directory: name a new file", path)
	}
	st, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return usagef("--out %s exists and is not an empty event store (%v): generate writes only into a new store", path, err)
	}
	defer st.Close()
	head, err := st.Head(ctx)
	if err != nil {
		return err
	}
	if head > 0 {
		return usagef("--out %s already holds %d events: generate writes only into a new store", path, head)
	}
	return nil
}

// countingWriter passes appends on and moves the progress bar.
type countingWriter struct {
	w      generate.Writer
	bar    *Progress
	events uint64
}

func (c *countingWriter) Write(ctx context.Context, at time.Time, appends []eventstore.StreamAppend) error {
	for _, a := range appends {
		for range a.Events {
			c.events++
			c.bar.Update(c.events)
		}
	}
	return c.w.Write(ctx, at, appends)
}

// WriteGenerate reports what was generated.
func WriteGenerate(w io.Writer, path string, r GenerateResult) error {
	t := newTable(w)
	t.row("store", path)
	t.row("events", group(uint64(r.Events)))
	t.row("history", fmt.Sprintf("%s to %s", tsText(r.Start), tsText(r.End)))
	t.row("windows", itoa(r.Windows))
	t.row("devices", fmt.Sprintf("%d (%d autoregistrations, %d refusals recorded)", r.Devices, r.Autoregistered, r.Rejections))
	t.row("size", fmt.Sprintf("%.1f MB", float64(r.Size)/1e6))
	rate := float64(r.Events) / max(r.Elapsed.Seconds(), 1e-9)
	t.row("time", fmt.Sprintf("%s (%s events/s)", r.Elapsed.Round(time.Millisecond), group(uint64(rate))))
	return t.flush()
}
