package sipauth_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autoreg/autoreg/internal/sipauth"
)

func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sip-auth.key")
	a, created, err := sipauth.LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	b, created, err := sipauth.LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("load: %v %v", created, err)
	}
	if a.Password("SEP001122334455", "0123456789abcdef") != b.Password("SEP001122334455", "0123456789abcdef") {
		t.Fatal("the secret read back derives other passwords")
	}
	os.Chmod(path, 0o644)
	if _, _, err := sipauth.LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable secret: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("zz\n"), 0o600)
	if _, _, err := sipauth.LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "not hex") {
		t.Fatalf("a corrupt secret: %v", err)
	}
}

func TestIssue(t *testing.T) {
	s, err := sipauth.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := s.Issue("SEP001122334455"), s.Issue("SEP001122334455")
	if c1.Salt == c2.Salt || len(c1.Salt) != 16 {
		t.Fatalf("salts %q %q", c1.Salt, c2.Salt)
	}
	p1 := s.Password("SEP001122334455", c1.Salt)
	if len(p1) != sipauth.PasswordLength || p1 == s.Password("SEP001122334455", c2.Salt) || p1 == s.Password("SEP001122334456", c1.Salt) {
		t.Fatalf("passwords do not depend on device and salt: %q", p1)
	}
	if sipauth.Verifier(c1.Salt, p1) != c1.Verifier || sipauth.Verifier(c1.Salt, p1+"x") == c1.Verifier {
		t.Fatal("the verifier does not verify the password")
	}
	if strings.Contains(c1.Verifier, p1) {
		t.Fatal("the verifier holds the password")
	}
}
