package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/autoreg/autoreg/internal/anchor"
	"github.com/autoreg/autoreg/internal/config"
	"github.com/autoreg/autoreg/internal/eventstore"
)

func newKeygenCommand() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make the Ed25519 key pair that signs the store's checkpoints",
		Long: `keygen makes a new Ed25519 key pair: the private key in FILE (PEM PKCS #8,
mode 0600) for 'registrar serve --signing-key FILE', the public key in
FILE.pub (PEM PKIX, mode 0644) for 'replay verify --public-key FILE.pub'.
Both are standard: openssl pkey -in FILE reads them.

Keep FILE outside the registrar's data directory (serve refuses it there),
readable by the registrar's user alone: whoever holds it can sign any
history. keygen never overwrites a file: it fails if FILE or FILE.pub exists.`,
		Example: `  registrar keygen --out /etc/autoreg/signing.key
  registrar serve --signing-key /etc/autoreg/signing.key --checkpoints /var/log/autoreg/checkpoints.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return &exitError{code: 2, err: fmt.Errorf("--out FILE is required (run '%s --help' for usage)", cmd.CommandPath())}
			}
			pub, err := anchor.WriteKeyPair(out)
			if err != nil {
				return err
			}
			cmd.Printf("private key %s (mode 0600): give it to 'registrar serve --signing-key'\n", out)
			cmd.Printf("public key  %s.pub: give it to 'replay verify --public-key'\n", out)
			cmd.Printf("key id      %s\n", anchor.KeyID(pub))
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "the private key file to write (the public key goes to FILE.pub)")
	return c
}

// startCheckpoints reads the signing key and opens the checkpoint log, as
// cfg.Checkpoints say (nil, nil: none configured). It refuses a key that
// others may read, or that lies in the data directory or beside the
// store, and a log whose last checkpoint of the key disagrees with the
// store. The writer is to be run, and written once more at the stop.
func startCheckpoints(ctx context.Context, cfg config.Config, store eventstore.Store, storeFile, node string, log zerolog.Logger) (*anchor.Writer, error) {
	cp := cfg.Checkpoints
	if !cp.Enabled() {
		log.Info().Msg("no checkpoints: the hash chain proves the history's integrity, not its authenticity (see registrar keygen, serve --signing-key)")
		return nil, nil
	}
	dirs := []string{cfg.Data}
	if storeFile != "" {
		dirs = append(dirs, filepath.Dir(storeFile))
	}
	for _, d := range dirs {
		if anchor.Inside(cp.SigningKey, d) {
			return nil, &exitError{code: 2, err: fmt.Errorf("the signing key %s is in %s, beside the store: whoever can rewrite the store could read it and sign the rewritten history; keep it elsewhere (/etc/autoreg/signing.key, readable by the registrar's user alone)", cp.SigningKey, d)}
		}
	}
	if anchor.Inside(cp.Log, cp.SigningKey) {
		return nil, &exitError{code: 2, err: fmt.Errorf("--checkpoints %s is the signing key's file", cp.Log)}
	}
	key, err := anchor.ReadSigningKey(cp.SigningKey)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	for _, d := range dirs {
		if anchor.Inside(cp.Log, d) {
			log.Warn().Str("checkpoint_log", cp.Log).Str("dir", d).
				Msg("the checkpoint log is beside the store: whoever can rewrite the store may rewrite it too, unless it is append-only (chattr +a) or shipped elsewhere")
		}
	}
	signer := anchor.NewSigner(key, node)
	w, err := anchor.NewWriter(ctx, store, cp.Log, signer, anchor.WriterOptions{
		EveryEvents: uint64(cp.EveryEvents), Every: cp.Every,
		OnWrite: func(c anchor.Checkpoint) { logCheckpoint(log, cp.Log, c) },
		OnError: func(err error) {
			log.Error().Err(err).Str("checkpoint_log", cp.Log).Msg("signing a checkpoint failed; retried when the next is due")
		},
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w (if the store was restored from a backup on purpose, start a new checkpoint log and keep the old one)", err)
	}
	log.Info().Str("checkpoint_log", cp.Log).Str("key", signer.KeyID()).Uint64("last_checkpoint", w.Last()).
		Int("every_events", cp.EveryEvents).Int64("every_ms", cp.Every.Milliseconds()).Msg("signing checkpoints of the hash chain")
	return w, nil
}

// logCheckpoint writes a checkpoint to the registrar's log: its second copy.
func logCheckpoint(log zerolog.Logger, file string, c anchor.Checkpoint) {
	log.Info().Str("checkpoint_log", file).Uint64("position", c.Position).Str("head", c.Head).
		Str("signed_at", c.Time.UTC().Format(time.RFC3339Nano)).Str("node", c.Node).Str("key", c.Key).
		Str("signature", base64.StdEncoding.EncodeToString(c.Signature)).Msg("checkpoint signed")
}

// finalCheckpoint signs the head at a clean stop.
func finalCheckpoint(w *anchor.Writer, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := w.Write(ctx); err != nil {
		log.Error().Err(err).Msg("no checkpoint at the stop: the events since the last one are covered by integrity only")
	}
	if err := w.Close(); err != nil {
		log.Error().Err(err).Msg("closing the checkpoint log")
	}
}
