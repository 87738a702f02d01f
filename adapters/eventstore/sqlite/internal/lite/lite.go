// Package lite is a minimal, allocation-conscious binding to the SQLite C API
// as transpiled to Go by modernc.org/sqlite/lib.
//
// It exists because database/sql costs several allocations and interface
// conversions per column: reading the event log through it tops out near
// 300,000 rows/s on a small machine, while stepping a prepared statement here
// and copying the columns straight out of SQLite's memory is several times
// faster. Only what the event store needs is bound.
//
// A Conn and its Stmts must be used by one goroutine at a time.
package lite

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Open flags (see sqlite3_open_v2).
const (
	OpenReadOnly  = sqlite3.SQLITE_OPEN_READONLY
	OpenReadWrite = sqlite3.SQLITE_OPEN_READWRITE
	OpenCreate    = sqlite3.SQLITE_OPEN_CREATE
	OpenURI       = sqlite3.SQLITE_OPEN_URI
	OpenNoMutex   = sqlite3.SQLITE_OPEN_NOMUTEX
)

// Primary result codes the store looks at.
const (
	CodeError      = sqlite3.SQLITE_ERROR
	CodePerm       = sqlite3.SQLITE_PERM
	CodeBusy       = sqlite3.SQLITE_BUSY
	CodeLocked     = sqlite3.SQLITE_LOCKED
	CodeNoMem      = sqlite3.SQLITE_NOMEM
	CodeReadOnly   = sqlite3.SQLITE_READONLY
	CodeIOErr      = sqlite3.SQLITE_IOERR
	CodeCorrupt    = sqlite3.SQLITE_CORRUPT
	CodeFull       = sqlite3.SQLITE_FULL
	CodeCantOpen   = sqlite3.SQLITE_CANTOPEN
	CodeProtocol   = sqlite3.SQLITE_PROTOCOL
	CodeSchema     = sqlite3.SQLITE_SCHEMA
	CodeConstraint = sqlite3.SQLITE_CONSTRAINT
	CodeNotADB     = sqlite3.SQLITE_NOTADB
)

// Error is a SQLite error: the (extended) result code and the message.
type Error struct {
	Code int    // extended result code; Code&0xff is the primary code
	Msg  string // sqlite3_errmsg, or sqlite3_errstr when there is no handle
}

func (e *Error) Error() string {
	return fmt.Sprintf("sqlite: %s (code %d)", e.Msg, e.Code)
}

// Primary is the primary result code (SQLITE_BUSY, SQLITE_IOERR, ...).
func (e *Error) Primary() int { return e.Code & 0xff }

// Code reports the primary result code of err if it is (or wraps) an *Error,
// and 0 otherwise.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Primary()
	}
	return 0
}

// ptr turns an address in C (libc) memory into an unsafe.Pointer. The memory
// is not Go's, so the garbage collector neither moves nor frees it; going
// through a *uintptr keeps vet's unsafeptr check quiet about that legitimate
// conversion.
func ptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// cbytes views n bytes of C memory at p as a []byte (valid while C keeps it).
func cbytes(p uintptr, n int) []byte {
	if p == 0 || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptr(p)), n)
}

// Conn is one SQLite connection.
type Conn struct {
	tls *libc.TLS
	db  uintptr

	// scratch is C memory that bind values are copied into before SQLite
	// copies them again (SQLITE_TRANSIENT). Go memory cannot be handed to
	// the transpiled C code: it reads through plain uintptrs, which the
	// race detector's pointer checks reject and the garbage collector does
	// not see.
	scratch    uintptr
	scratchCap int

	stmts []*Stmt
}

// Open opens a connection to the database file named by path (a plain path,
// or a file: URI when flags include OpenURI) and turns on extended result
// codes.
func Open(path string, flags int) (*Conn, error) {
	c := &Conn{tls: libc.NewTLS()}
	cpath, err := libc.CString(path)
	if err != nil {
		c.tls.Close()
		return nil, err
	}
	defer libc.Xfree(c.tls, cpath)
	pdb := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	*(*uintptr)(ptr(pdb)) = 0
	rc := sqlite3.Xsqlite3_open_v2(c.tls, cpath, pdb, int32(flags), 0)
	c.db = *(*uintptr)(ptr(pdb))
	if rc != sqlite3.SQLITE_OK {
		err := c.errorFor(rc)
		if c.db != 0 {
			sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		}
		c.db = 0
		c.tls.Close()
		return nil, err
	}
	sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1)
	return c, nil
}

// errorFor builds the error for result code rc, with the connection's
// message when the connection's last error is that code.
func (c *Conn) errorFor(rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		if ext := sqlite3.Xsqlite3_extended_errcode(c.tls, c.db); ext&0xff == rc&0xff {
			msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
			rc = ext
		}
	}
	return &Error{Code: int(rc), Msg: msg}
}

// BusyTimeout sets how long a statement waits for a lock another connection
// holds before failing with SQLITE_BUSY.
func (c *Conn) BusyTimeout(d time.Duration) error {
	if rc := sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, int32(d/time.Millisecond)); rc != sqlite3.SQLITE_OK {
		return c.errorFor(rc)
	}
	return nil
}

// Exec runs one or more SQL statements that take no parameters, discarding
// any rows.
func (c *Conn) Exec(sql string) error {
	csql, err := libc.CString(sql)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, csql)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, csql, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.errorFor(rc)
	}
	return nil
}

// Autocommit reports whether the connection is outside any transaction
// (SQLite may have rolled one back by itself after an I/O error or a full disk).
func (c *Conn) Autocommit() bool {
	return sqlite3.Xsqlite3_get_autocommit(c.tls, c.db) != 0
}

// Prepare compiles one SQL statement. The statement lives until Finalize or
// the connection's Close.
func (c *Conn) Prepare(sql string) (*Stmt, error) {
	csql, err := libc.CString(sql)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, csql)
	pp := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	*(*uintptr)(ptr(pp)) = 0
	rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, csql, int32(len(sql)), sqlite3.SQLITE_PREPARE_PERSISTENT, pp, 0)
	if rc != sqlite3.SQLITE_OK {
		return nil, fmt.Errorf("prepare %q: %w", sql, c.errorFor(rc))
	}
	p := *(*uintptr)(ptr(pp))
	if p == 0 {
		return nil, fmt.Errorf("prepare %q: no statement", sql)
	}
	s := &Stmt{c: c, p: p}
	c.stmts = append(c.stmts, s)
	return s, nil
}

// Close finalizes the connection's statements and closes it.
func (c *Conn) Close() error {
	if c.db == 0 {
		return nil
	}
	for _, s := range c.stmts {
		if s.p != 0 {
			sqlite3.Xsqlite3_finalize(c.tls, s.p)
			s.p = 0
		}
	}
	c.stmts = nil
	var err error
	if rc := sqlite3.Xsqlite3_close_v2(c.tls, c.db); rc != sqlite3.SQLITE_OK {
		err = c.errorFor(rc)
	}
	c.db = 0
	if c.scratch != 0 {
		libc.Xfree(c.tls, c.scratch)
		c.scratch = 0
	}
	c.tls.Close()
	return err
}

// copyIn copies b into the scratch buffer at offset 0 and returns its
// address. The buffer is never empty, so a zero-length value still gets a
// non-NULL pointer (SQLite binds NULL for a NULL pointer).
func (c *Conn) copyIn(b []byte, s string) (uintptr, error) {
	n := len(b) + len(s)
	if n > c.scratchCap || c.scratch == 0 {
		size := max(n, 256, 2*c.scratchCap)
		p := libc.Xrealloc(c.tls, c.scratch, libc.Tsize_t(size))
		if p == 0 {
			return 0, &Error{Code: sqlite3.SQLITE_NOMEM, Msg: "out of memory for a bound value"}
		}
		c.scratch, c.scratchCap = p, size
	}
	if n > 0 {
		dst := cbytes(c.scratch, n)
		if b != nil {
			copy(dst, b)
		} else {
			copy(dst, s)
		}
	}
	return c.scratch, nil
}

// Stmt is a prepared statement.
type Stmt struct {
	c *Conn
	p uintptr
}

// BindInt64 binds v to the i-th parameter (from 1).
func (s *Stmt) BindInt64(i int, v int64) error {
	if rc := sqlite3.Xsqlite3_bind_int64(s.c.tls, s.p, int32(i), v); rc != sqlite3.SQLITE_OK {
		return s.c.errorFor(rc)
	}
	return nil
}

// BindText binds v as TEXT; SQLite keeps its own copy.
func (s *Stmt) BindText(i int, v string) error {
	p, err := s.c.copyIn(nil, v)
	if err != nil {
		return err
	}
	if rc := sqlite3.Xsqlite3_bind_text(s.c.tls, s.p, int32(i), p, int32(len(v)), sqlite3.SQLITE_TRANSIENT); rc != sqlite3.SQLITE_OK {
		return s.c.errorFor(rc)
	}
	return nil
}

// BindBlob binds v as a BLOB (an empty one when v is empty, never NULL);
// SQLite keeps its own copy.
func (s *Stmt) BindBlob(i int, v []byte) error {
	p, err := s.c.copyIn(v, "")
	if err != nil {
		return err
	}
	if rc := sqlite3.Xsqlite3_bind_blob(s.c.tls, s.p, int32(i), p, int32(len(v)), sqlite3.SQLITE_TRANSIENT); rc != sqlite3.SQLITE_OK {
		return s.c.errorFor(rc)
	}
	return nil
}

// Step advances the statement: true when a row is ready, false when done.
func (s *Stmt) Step() (bool, error) {
	switch rc := sqlite3.Xsqlite3_step(s.c.tls, s.p); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		return false, nil
	default:
		return false, s.c.errorFor(rc)
	}
}

// Exec steps the statement to completion and resets it.
func (s *Stmt) Exec() error {
	for {
		row, err := s.Step()
		if err != nil {
			s.Reset()
			return err
		}
		if !row {
			return s.Reset()
		}
	}
}

// Reset rewinds the statement, ending its read of the database. It keeps
// the bindings: callers bind every parameter before each run. (Clearing
// them would be worse than useless: sqlite3_clear_bindings expires a
// statement whose plan may depend on a parameter, which SQLite then
// re-prepares, parsing and planning again, on the next step.)
func (s *Stmt) Reset() error {
	rc := sqlite3.Xsqlite3_reset(s.c.tls, s.p)
	if rc != sqlite3.SQLITE_OK {
		return s.c.errorFor(rc)
	}
	return nil
}

// Int64 is column i (from 0) of the current row as an integer.
func (s *Stmt) Int64(i int) int64 {
	return sqlite3.Xsqlite3_column_int64(s.c.tls, s.p, int32(i))
}

// IsNull reports whether column i of the current row is NULL.
func (s *Stmt) IsNull(i int) bool {
	return sqlite3.Xsqlite3_column_type(s.c.tls, s.p, int32(i)) == sqlite3.SQLITE_NULL
}

// Bytes is column i of the current row as a BLOB, viewed in place in
// SQLite's memory: valid only until the next Step, Reset or column call on
// the same column, and never to be written. Copy what must outlive that.
func (s *Stmt) Bytes(i int) []byte {
	p := sqlite3.Xsqlite3_column_blob(s.c.tls, s.p, int32(i))
	n := sqlite3.Xsqlite3_column_bytes(s.c.tls, s.p, int32(i))
	return cbytes(p, int(n))
}

// Text is column i of the current row as TEXT, viewed in place like Bytes.
func (s *Stmt) Text(i int) []byte {
	p := sqlite3.Xsqlite3_column_text(s.c.tls, s.p, int32(i))
	n := sqlite3.Xsqlite3_column_bytes(s.c.tls, s.p, int32(i))
	return cbytes(p, int(n))
}
