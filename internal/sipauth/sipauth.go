// Package sipauth holds the one piece of knowledge every part of SIP digest
// authentication shares: how a device's password comes from the registrar's
// secret and the salt its credentials were issued with.
//
// Events hold the salt and a salted verifier of the password, never the
// password: the command side issues credentials (Issue), the SIP adapter
// derives the password to check a digest response, the TFTP adapter to
// write it into the phone's configuration file, the admin API to show it.
// Whoever holds the secret and the store can derive every password, as
// whoever holds CallManager's database can read its digest credentials:
// keep the secret file as the store (mode 0600, owned by the registrar).
//
// It imports the domain only.
package sipauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/autoreg/autoreg/domain"
)

// secretSize is the secret's length in bytes.
const secretSize = 32

// PasswordLength is the length of a derived password: 16 characters of
// base32 (80 bits), letters and digits, which every Cisco SIP firmware
// accepts in authPassword.
const PasswordLength = 16

// Secret is the registrar's key for digest passwords.
type Secret struct{ key []byte }

// NewSecret wraps a key (at least 16 bytes).
func NewSecret(key []byte) (*Secret, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("SIP authentication secret: %d bytes, need at least 16", len(key))
	}
	return &Secret{key: append([]byte(nil), key...)}, nil
}

// LoadOrCreate reads the secret file at path (hex), or creates it (mode
// 0600) with a random secret if it does not exist. A file that others than
// its owner may read is refused, as ssh refuses a private key.
func LoadOrCreate(path string) (*Secret, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, secretSize)
		if _, err := rand.Read(key); err != nil {
			return nil, false, err
		}
		// Written aside, then linked into place: two registrars starting
		// together on one store agree on whichever lands first, and a
		// reader never sees a half-written file.
		f, err := os.CreateTemp(filepath.Dir(path), ".sip-auth-*")
		if err != nil {
			return nil, false, fmt.Errorf("create the SIP authentication secret: %w", err)
		}
		defer os.Remove(f.Name())
		_, err = f.WriteString(hex.EncodeToString(key) + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Link(f.Name(), path)
		}
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreate(path)
		}
		if err != nil {
			return nil, false, fmt.Errorf("write the SIP authentication secret %s: %w", path, err)
		}
		s, err := NewSecret(key)
		return s, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the SIP authentication secret: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("SIP authentication secret %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, false, fmt.Errorf("SIP authentication secret %s: not hex: %v", path, err)
	}
	s, err := NewSecret(key)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return s, false, nil
}

var passwordEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Password is the digest password of the device issued credentials with
// salt.
func (s *Secret) Password(device, salt string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("autoreg sip password\x00"))
	m.Write([]byte(device))
	m.Write([]byte{0})
	m.Write([]byte(salt))
	return passwordEncoding.EncodeToString(m.Sum(nil))[:PasswordLength]
}

// Issue makes new credentials for device: a random salt and the verifier
// of the password it derives.
func (s *Secret) Issue(device string) domain.Credential {
	var b [8]byte
	for binary.BigEndian.Uint64(b[:]) == 0 {
		rand.Read(b[:]) // never fails (crypto/rand panics rather)
	}
	salt := hex.EncodeToString(b[:])
	return domain.Credential{Salt: salt, Verifier: Verifier(salt, s.Password(device, salt))}
}

// Verifier is the salted verifier of password: HMAC-SHA-256 keyed by the
// salt. It lets an auditor holding a password check it was the one issued,
// and tells nothing of the password otherwise.
func Verifier(salt, password string) string {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(password))
	return hex.EncodeToString(m.Sum(nil))
}

// Key derives a key for another purpose (the SIP adapter's nonces) from
// the secret.
func (s *Secret) Key(purpose string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("autoreg key\x00" + purpose))
	return m.Sum(nil)
}
