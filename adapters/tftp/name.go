package tftp

import (
	"strings"
	"unicode/utf8"
)

// MaxNameLength bounds a normalised file name, in bytes.
const MaxNameLength = 255

// Normalize turns a file name as a TFTP client sends it into the name every
// Files implementation is asked for: a relative, slash-separated path with
// no empty, "." or ".." element.
//
//   - Backslashes are separators (Windows clients and some phone firmware
//     send "English_United_States\\7960-font.xml").
//   - Leading separators are dropped: "/SEP001122334455.cnf.xml" and
//     "SEP001122334455.cnf.xml" name the same file (curl and some boot ROMs
//     send the leading slash).
//   - Empty and "." elements are dropped ("a//./b" is "a/b").
//   - A ".." element is refused, as are control characters, invalid UTF-8
//     and names longer than MaxNameLength: the error is a *Error with
//     CodeAccess. A name with nothing left ("/", ".") is CodeNotFound.
//
// Case is kept: Files implementations decide whether they match names
// regardless of case.
func Normalize(name string) (string, error) {
	if len(name) > maxRequest {
		return "", errorf(CodeAccess, "file name of %d bytes is too long", len(name))
	}
	if !utf8.ValidString(name) {
		return "", errorf(CodeAccess, "file name is not valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", errorf(CodeAccess, "file name has control character %#x", c)
		}
	}
	name = strings.ReplaceAll(name, `\`, "/")
	var b strings.Builder
	b.Grow(len(name))
	for elem := range strings.SplitSeq(name, "/") {
		switch elem {
		case "", ".":
			continue
		case "..":
			return "", errorf(CodeAccess, "file name %.64q leaves the served folder", name)
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(elem)
	}
	if b.Len() == 0 {
		return "", errorf(CodeNotFound, "empty file name")
	}
	if b.Len() > MaxNameLength {
		return "", errorf(CodeAccess, "file name of %d bytes is too long (at most %d)", b.Len(), MaxNameLength)
	}
	return b.String(), nil
}
