// Package anchor anchors the event store's hash chain to signed
// checkpoints, so that a history rewritten with its chain recomputed, or
// cut short, no longer passes verification.
//
// The hash chain (eventstore.ChainHash) has no key: whoever can write the
// store can edit an event and recompute every hash after it, or delete the
// last events, and the chain still verifies. A checkpoint is the registrar's
// signed statement "at position P the chain head was H, at time T": an
// Ed25519 signature by a key kept outside the data directory, appended to a
// log the administrator keeps where the store's owner cannot change it (and
// written to the registrar's log as well). Verification then checks each
// checkpoint's signature and that the store's chain hash at each
// checkpoint's position is the signed head; a store shorter than a
// checkpoint's position lost its tail.
//
// Formats (all standard, so that openssl can read the keys):
//
//   - the private key: PEM "PRIVATE KEY", PKCS #8 (file mode 0600);
//   - the public key: PEM "PUBLIC KEY", PKIX SubjectPublicKeyInfo;
//   - the key id: the first 16 hex digits of SHA-256 over the public key's
//     DER (openssl pkey -pubin -in K.pub -outform DER | sha256sum);
//   - the log: one JSON object a line (Checkpoint), appended, fsynced;
//   - what is signed: Checkpoint.Message, a domain-separated text
//     ("autoreg-checkpoint-v1\n" then one "name value" line per field).
//
// The package imports the standard library and internal/eventstore only.
package anchor

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Domain starts every signed message: a signature over a checkpoint cannot
// be taken for a signature over anything else, nor over another version of
// the format.
const Domain = "autoreg-checkpoint-v1\n"

// ErrMismatch: the store disagrees with a checkpoint (its chain hash at the
// checkpoint's position is not the signed head, or it ends before it).
var ErrMismatch = errors.New("the store disagrees with a signed checkpoint")

// ErrBadLog: the checkpoint log is not what the registrar wrote (a line
// that does not parse, a bad signature, an unknown key, lines out of order).
var ErrBadLog = errors.New("the checkpoint log does not verify")

// Checkpoint is one signed statement of the chain's head: one line of the
// log, in JSON.
type Checkpoint struct {
	// Position is the global position of the event whose hash is Head.
	Position uint64 `json:"position"`
	// Head is that event's chain hash (eventstore.ChainHash), 64 lowercase
	// hex digits.
	Head string `json:"head"`
	// Time is when the registrar signed it, UTC.
	Time time.Time `json:"time"`
	// Node is the CallManager the signing registrar was.
	Node string `json:"node"`
	// Key is the signing key's id (KeyID).
	Key string `json:"key"`
	// Signature is Ed25519 over Message (base64 in JSON).
	Signature []byte `json:"signature"`
}

// Message is the byte string the signature covers: Domain, then each field
// on a line of its own in a fixed order, the node quoted (Go syntax) so
// that no node name can forge a line.
func (c Checkpoint) Message() []byte {
	return fmt.Appendf(nil, "%sposition %d\nhead %s\ntime %s\nnode %q\nkey %s\n",
		Domain, c.Position, c.Head, c.Time.UTC().Format(time.RFC3339Nano), c.Node, c.Key)
}

// HeadBytes decodes Head.
func (c Checkpoint) HeadBytes() ([]byte, error) {
	b, err := hex.DecodeString(c.Head)
	if err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != c.Head {
		return nil, fmt.Errorf("head %q: want %d lowercase hex digits", c.Head, 2*sha256.Size)
	}
	return b, nil
}

// Signer signs checkpoints for one node with one key.
type Signer struct {
	key  ed25519.PrivateKey
	id   string
	node string
}

// NewSigner returns a signer with key, for node.
func NewSigner(key ed25519.PrivateKey, node string) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey)), node: node}
}

// KeyID is the id of the signer's key.
func (s *Signer) KeyID() string { return s.id }

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns the signed checkpoint of head at position, at t.
func (s *Signer) Sign(position uint64, head []byte, t time.Time) Checkpoint {
	c := Checkpoint{Position: position, Head: hex.EncodeToString(head), Time: t.UTC(), Node: s.node, Key: s.id}
	c.Signature = ed25519.Sign(s.key, c.Message())
	return c
}

// Verify checks c's form and signature against pub.
func Verify(c Checkpoint, pub ed25519.PublicKey) error {
	if _, err := c.HeadBytes(); err != nil {
		return err
	}
	if c.Position == 0 {
		return errors.New("position 0: a checkpoint names an event, from position 1")
	}
	if id := KeyID(pub); c.Key != id {
		return fmt.Errorf("signed by key %s, not %s", c.Key, id)
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, c.Message(), c.Signature) {
		return fmt.Errorf("the signature does not verify with key %s: the line was altered, or forged", c.Key)
	}
	return nil
}

// Entry is a checkpoint of a log and the line it is on (from 1).
type Entry struct {
	Line int
	Checkpoint
}

// Anchors are the verified checkpoints of a log, that a store must agree
// with: feed it the store's events in order (Check), then the last
// position (End).
type Anchors struct {
	File    string  // the log's name, for messages
	Entries []Entry // by position (file order among equals)
	next    int     // the first entry not yet checked
}

// Reset makes a ready to check a store from its first event again.
func (a *Anchors) Reset() { a.next = 0 }

// Check compares the store's chain hash at position with every checkpoint
// at that position. Positions must come in increasing order.
func (a *Anchors) Check(position uint64, hash []byte) error {
	for a.next < len(a.Entries) && a.Entries[a.next].Position <= position {
		e := a.Entries[a.next]
		a.next++
		if e.Position < position {
			continue // a position the store skipped: the chain check names it
		}
		want, _ := e.HeadBytes() // verified by VerifyLog
		if !bytes.Equal(want, hash) {
			return fmt.Errorf("%w: %s: the chain head at position %d is %x, the checkpoint signed %s by %s says %s: the history up to position %d was rewritten",
				ErrMismatch, a.where(e), position, hash, ts(e.Time), orDash(e.Node), e.Head, position)
		}
	}
	return nil
}

// End checks that no checkpoint lies beyond last, the store's last
// position: a store that ends before a checkpoint lost its tail.
func (a *Anchors) End(last uint64) error {
	for _, e := range a.Entries[a.next:] {
		if e.Position > last {
			return fmt.Errorf("%w: %s: the checkpoint signed %s by %s is at position %d, but the store ends at position %d: %d event(s) or more were removed from its end (or it is another store)",
				ErrMismatch, a.where(e), ts(e.Time), orDash(e.Node), e.Position, last, e.Position-last)
		}
	}
	return nil
}

func (a *Anchors) where(e Entry) string {
	return fmt.Sprintf("checkpoint %s:%d", a.File, e.Line)
}

// Coverage says what the checkpoints covered of a store whose last event
// is at last.
type Coverage struct {
	Checkpoints  int       `json:"checkpoints"`
	LastPosition uint64    `json:"last_position"` // of the last checkpoint
	LastTime     time.Time `json:"last_time"`
	LastNode     string    `json:"last_node"`
	Keys         []string  `json:"keys"`         // the ids of the keys that signed them
	After        uint64    `json:"events_after"` // events after the last checkpoint: integrity only
}

// Coverage is what a's checkpoints cover of a store ending at last.
func (a *Anchors) Coverage(last uint64) Coverage {
	var c Coverage
	seen := map[string]bool{}
	for _, e := range a.Entries {
		c.Checkpoints++
		if e.Position >= c.LastPosition {
			c.LastPosition, c.LastTime, c.LastNode = e.Position, e.Time, e.Node
		}
		if !seen[e.Key] {
			seen[e.Key] = true
			c.Keys = append(c.Keys, e.Key)
		}
	}
	if last > c.LastPosition {
		c.After = last - c.LastPosition
	}
	return c
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
