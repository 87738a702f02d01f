package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/internal/eventstore"
)

// CopyOptions tune Copy.
type CopyOptions struct {
	// Progress and Terminal: where the progress bar goes, and whether it
	// is a terminal (no bar otherwise).
	Progress io.Writer
	Terminal bool
	// Batch is how many events go to the target at a time (default 4096).
	Batch int
	// AfterBatch, if set, is called after each batch is stored in the
	// target, with the target's head (tests interrupt a copy with it).
	AfterBatch func(head uint64)
}

// CopyResult says what Copy did.
type CopyResult struct {
	Kept    uint64        `json:"kept"`   // events the target already held (checked against the source)
	Copied  uint64        `json:"copied"` // events copied now
	Head    uint64        `json:"head"`   // the target's head at the end
	Verify  VerifySummary `json:"verify"` // the target's verification
	Elapsed time.Duration `json:"-"`
}

// Copy copies the history of src into dst, in global order, as it is:
// positions, stream versions, event IDs, types, data, metadata, times and
// hashes (dst.Import checks that each event continues dst's chain). It
// copies up to src's head as it is when Copy starts.
//
// It resumes a copy that was interrupted: dst's head says how far it got.
// The event at that position must be the same in both stores, hash
// included; as the hash chains every event to all those before it, and dst's
// whole chain is verified at the end, this shows that the events dst holds
// are src's. A dst that holds more events than src, or other ones, is
// refused, and nothing is written to it.
//
// At the end Copy runs Verify on dst (the hash chain and the registrar's
// rules) and returns its summary; a problem is a *VerifyError.
func Copy(ctx context.Context, src eventstore.Store, dst Importer, opt CopyOptions) (CopyResult, error) {
	started := time.Now()
	if opt.Batch <= 0 {
		opt.Batch = 4096
	}
	srcHead, err := src.Head(ctx)
	if err != nil {
		return CopyResult{}, fmt.Errorf("reading the source: %w", err)
	}
	dstHead, err := dst.Head(ctx)
	if err != nil {
		return CopyResult{}, fmt.Errorf("reading the target: %w", err)
	}
	res := CopyResult{Kept: dstHead, Head: dstHead}
	if dstHead > srcHead {
		return res, usagef("the target holds %d events, the source %d: it is not a copy of the source (copy into a new store)", dstHead, srcHead)
	}
	if dstHead > 0 {
		if err := sameEvent(ctx, src, dst, dstHead); err != nil {
			return res, err
		}
	}
	var bar *Progress
	if opt.Terminal {
		bar = NewProgress(opt.Progress, true, "copy", srcHead)
	}
	defer bar.Done()
	batch := make([]eventstore.RecordedEvent, 0, opt.Batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.Import(ctx, batch); err != nil {
			return fmt.Errorf("writing positions %d-%d to the target: %w", batch[0].Position, batch[len(batch)-1].Position, err)
		}
		res.Head = batch[len(batch)-1].Position
		res.Copied += uint64(len(batch))
		batch = batch[:0]
		if opt.AfterBatch != nil {
			opt.AfterBatch(res.Head)
		}
		return nil
	}
	if srcHead > dstHead {
		err = src.ReadAll(ctx, dstHead+1, func(e eventstore.RecordedEvent) error {
			if e.Position > srcHead {
				return errStop
			}
			batch = append(batch, e)
			bar.Update(e.Position)
			if len(batch) == opt.Batch {
				return flush()
			}
			return nil
		})
		if err == nil || errors.Is(err, errStop) {
			err = flush()
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("copy interrupted with %d of %d events in the target (run it again to go on): %w", res.Head, srcHead, ctx.Err())
			}
			return res, err
		}
	}
	bar.Done()
	res.Verify, err = Verify(ctx, Env{Store: dst, Progress: opt.Progress, Terminal: opt.Terminal}, dst)
	res.Elapsed = time.Since(started)
	return res, err
}

// sameEvent checks that the event at pos is the same in both stores.
func sameEvent(ctx context.Context, src, dst eventstore.Store, pos uint64) error {
	a, err := eventAt(ctx, src, pos)
	if err != nil {
		return fmt.Errorf("reading the source at position %d: %w", pos, err)
	}
	b, err := eventAt(ctx, dst, pos)
	if err != nil {
		return fmt.Errorf("reading the target at position %d: %w", pos, err)
	}
	var diff string
	switch {
	case a.Stream != b.Stream || a.Version != b.Version:
		diff = fmt.Sprintf("stream %s version %d in the source, %s version %d in the target", a.Stream, a.Version, b.Stream, b.Version)
	case a.ID != b.ID:
		diff = fmt.Sprintf("event %s in the source, %s in the target", a.ID, b.ID)
	case a.Type != b.Type || !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.Metadata, b.Metadata):
		diff = "the event's type, data or metadata differ"
	case !a.RecordedAt.Equal(b.RecordedAt):
		diff = fmt.Sprintf("recorded at %s in the source, %s in the target", a.RecordedAt.Format(time.RFC3339Nano), b.RecordedAt.Format(time.RFC3339Nano))
	case !bytes.Equal(a.Hash, b.Hash):
		diff = fmt.Sprintf("hash %x in the source, %x in the target: the histories before it differ", a.Hash, b.Hash)
	default:
		return nil
	}
	return usagef("the target holds %d events but is not a copy of the source: at position %d, %s (copy into a new store)", pos, pos, diff)
}

// eventAt reads the event at position pos.
func eventAt(ctx context.Context, st eventstore.Store, pos uint64) (eventstore.RecordedEvent, error) {
	var got eventstore.RecordedEvent
	err := st.ReadAll(ctx, pos, func(e eventstore.RecordedEvent) error {
		got = e
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return got, err
	}
	if got.Position != pos {
		return got, fmt.Errorf("%w: no event at position %d", eventstore.ErrCorrupt, pos)
	}
	return got, nil
}

func (a *app) copyCmd() *cobra.Command {
	var from, to, format string
	var batch int
	c := &cobra.Command{
		Use:   "copy --from STORE --to STORE",
		Short: "Copy a whole history into another store (SQLite or KurrentDB), resumably, and verify it",
		Long: `copy copies every event of the store --from into the store --to, in global
order and as they are: positions, stream versions, event ids, types, data,
metadata, the times they were recorded, and the hash chain. Either store
may be a SQLite file (sqlite:///abs/path.db or a path; the target is
created if missing) or a KurrentDB server (kurrentdb://host:2113, esdb://,
and their +discover forms for a cluster; see docs/kurrentdb.md). The source
is only read (the registrar may be writing it: the copy goes up to its head
as it is when copy starts).

Interrupted (Ctrl-C, a lost connection), it resumes when run again with the
same stores: the target's last event says where it got to, and must be the
source's event at that position, hash included. A target that holds other
events is refused, and nothing is written to it.

At the end the target is verified as by 'replay verify' (hash chain,
positions, the registrar's rules). A progress bar shows on a terminal.

Exit status: 0 copied and verified; 1 a store could not be read or written,
or the copy does not verify; 2 a bad command line, or a target that is not
a copy of the source.`,
		Example: `  replay copy --from /var/lib/autoreg/autoreg.db --to 'kurrentdb://admin:changeit@db1:2113'
  replay copy --from 'kurrentdb+discover://admin:changeit@cluster.example:2113' --to sqlite:///backup/autoreg.db
  replay copy --from data/autoreg.db --to /tmp/autoreg-copy.db --format json`,
		Args: args(0),
		RunE: a.Run(func(cmd *cobra.Command, _ []string) error {
			f, err := ParseFormat(format, Text, JSON)
			if err != nil {
				return err
			}
			if from == "" || to == "" {
				return usagef("copy needs --from and --to")
			}
			if from == to {
				return usagef("--from and --to name the same store")
			}
			ctx := cmd.Context()
			src, err := OpenStore(ctx, from)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := OpenTarget(ctx, to)
			if err != nil {
				return err
			}
			defer dst.Close()
			res, err := Copy(ctx, src, dst, CopyOptions{Progress: a.Stderr, Terminal: a.terminal, Batch: batch})
			if err != nil {
				return err
			}
			return a.output(func(w io.Writer) error { return writeCopy(w, f, res) })
		}),
	}
	c.Flags().StringVar(&from, "from", "", "the store to copy (read only)")
	c.Flags().StringVar(&to, "to", "", "the store to copy into (a new one, or one an interrupted copy left)")
	c.Flags().IntVar(&batch, "batch", 4096, "events written to the target at a time")
	c.Flags().StringVar(&format, "format", "text", "text or json (the summary)")
	return c
}

// writeCopy writes copy's summary: what was copied, then verify's.
func writeCopy(w io.Writer, f Format, r CopyResult) error {
	if f == JSON {
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "copied %s events (%s already in the target), head %s, in %s\n",
		group(r.Copied), group(r.Kept), group(r.Head), r.Elapsed.Round(time.Millisecond))
	return WriteVerify(w, f, r.Verify)
}
