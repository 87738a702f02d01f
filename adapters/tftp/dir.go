package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"syscall"
)

// DefaultMaxFileSize bounds the files Dir serves unless told otherwise.
const DefaultMaxFileSize = 64 << 20

// Dir serves the regular files of one folder (tftp.files_dir), read-only.
//
// It opens the folder once with os.Root, so no name leads outside it: ".."
// elements, absolute names and symbolic links whose target is outside the
// folder are refused by the kernel-checked walk of os.Root, whatever the
// name. Symbolic links that stay inside are followed. Folders, devices,
// FIFOs and sockets are not served (a folder is "file not found", the
// others an access violation), nor are files above the size bound
// (ErrTooLarge). Names are matched as the file system matches them (case
// sensitive on Linux).
type Dir struct {
	root    *os.Root
	maxSize int64
}

// OpenDir opens path for serving. maxSize bounds the size of a served file
// (0 means DefaultMaxFileSize). The folder must exist.
func OpenDir(path string, maxSize int64) (*Dir, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxFileSize
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("tftp: files_dir: %w", err)
	}
	return &Dir{root: root, maxSize: maxSize}, nil
}

// Name is the folder's path as given to OpenDir.
func (d *Dir) Name() string { return d.root.Name() }

// Close releases the folder.
func (d *Dir) Close() error { return d.root.Close() }

// Open opens name (normalised, see Normalize) in the folder.
func (d *Dir) Open(_ context.Context, name string, _ netip.AddrPort) (File, error) {
	// Stat first: opening a FIFO for reading would block until a writer
	// comes.
	st, err := d.root.Stat(name)
	if err != nil {
		return nil, rootError(err)
	}
	if st.IsDir() {
		return nil, fs.ErrNotExist
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", name, fs.ErrPermission)
	}
	f, err := d.root.Open(name)
	if err != nil {
		return nil, rootError(err)
	}
	st2, err := f.Stat()
	if err != nil || !os.SameFile(st, st2) { // replaced between Stat and Open
		f.Close()
		return nil, fmt.Errorf("%s changed while being opened: %w", name, fs.ErrPermission)
	}
	size := st2.Size()
	if size > d.maxSize {
		f.Close()
		return nil, fmt.Errorf("%s has %d bytes, more than %d: %w", name, size, d.maxSize, ErrTooLarge)
	}
	// The section bounds what is read to the size seen now, should the file
	// grow while it is served.
	return &dirFile{SectionReader: io.NewSectionReader(f, 0, size), f: f}, nil
}

// rootError keeps "not found" and turns every other failure to reach a file
// through os.Root (a name escaping the folder among them) into an access
// violation.
func rootError(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fs.ErrNotExist
	}
	return fmt.Errorf("%w: %w", fs.ErrPermission, err)
}

type dirFile struct {
	*io.SectionReader
	f *os.File
}

func (d *dirFile) Close() error { return d.f.Close() }
