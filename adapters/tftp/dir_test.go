package tftp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func readDir(t *testing.T, d *Dir, name string) ([]byte, error) {
	t.Helper()
	f, err := d.Open(context.Background(), name, netip.AddrPort{})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func TestDirServesOnlyRegularFilesInside(t *testing.T) {
	folder := newTestFolder(t)
	d, err := OpenDir(folder.dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for name, want := range folder.files {
		got, err := readDir(t, d, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v (%d bytes, want %d)", name, err, len(got), len(want))
		}
	}
	if err := syscall.Mkfifo(filepath.Join(folder.dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]error{
		"nothere":                                fs.ErrNotExist,
		"English_United_States":                  fs.ErrNotExist, // a folder
		"empty.txt/x":                            fs.ErrNotExist, // under a file
		"fifo":                                   fs.ErrPermission,
		"abs-link-out.txt":                       fs.ErrPermission,
		"rel-link-out.txt":                       fs.ErrPermission,
		"parent/secret.txt":                      fs.ErrPermission,
		"../secret.txt":                          fs.ErrPermission,
		folder.secret:                            fs.ErrPermission, // absolute
		"English_United_States/../../secret.txt": fs.ErrPermission,
	} {
		got, err := readDir(t, d, name)
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
		if bytes.Contains(got, []byte("SECRET")) {
			t.Errorf("%s: read the secret outside the folder", name)
		}
	}
}

func TestDirSizeBound(t *testing.T) {
	folder := newTestFolder(t)
	d, err := OpenDir(folder.dir, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := readDir(t, d, "exact1024.bin"); err != nil {
		t.Errorf("a file at the bound: %v", err)
	}
	if _, err := readDir(t, d, "term61.default.loads"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a file above the bound: %v, want ErrTooLarge", err)
	}
	// A file that grows while it is served is served as it was opened.
	f, err := d.Open(context.Background(), "empty.txt", netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(filepath.Join(folder.dir, "empty.txt"), []byte("grown"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(f); len(b) != 0 {
		t.Errorf("read %q from a file empty when opened", b)
	}
	// Seek gives the size (tsize).
	f2, _ := d.Open(context.Background(), "exact1024.bin", netip.AddrPort{})
	defer f2.Close()
	if n, err := f2.Seek(0, io.SeekEnd); n != 1024 || err != nil {
		t.Errorf("Seek end: %d, %v", n, err)
	}
}

func TestOpenDirErrors(t *testing.T) {
	if _, err := OpenDir(filepath.Join(t.TempDir(), "missing"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}
