package tftp

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"SEP001122334455.cnf.xml":              "SEP001122334455.cnf.xml",
		"/SEP001122334455.cnf.xml":             "SEP001122334455.cnf.xml",
		"///a//b/":                             "a/b",
		`\English_United_States\7960-font.xml`: "English_United_States/7960-font.xml",
		"./a/./b":                              "a/b",
		"a...b/...":                            "a...b/...",
		"C:/x":                                 "C:/x",
		"é.txt":                                "é.txt",
		strings.Repeat("a", MaxNameLength):     strings.Repeat("a", MaxNameLength),
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, code := range map[string]ErrorCode{
		"":                                   CodeNotFound,
		"/":                                  CodeNotFound,
		`.\.`:                                CodeNotFound,
		"..":                                 CodeAccess,
		"../etc/passwd":                      CodeAccess,
		`a\..\..\b`:                          CodeAccess,
		"a/../b":                             CodeAccess,
		"a\x00b":                             CodeAccess,
		"a\nb":                               CodeAccess,
		"a\x7fb":                             CodeAccess,
		"\xff\xfe":                           CodeAccess,
		strings.Repeat("a", MaxNameLength+1): CodeAccess,
		strings.Repeat("/", 600):             CodeAccess,
	} {
		_, err := Normalize(in)
		var e *Error
		if !errors.As(err, &e) || e.Code != code {
			t.Errorf("Normalize(%.40q): %v, want code %d", in, err, code)
		}
	}
}

func TestParseRequest(t *testing.T) {
	r, drop, e := parseRequest(rawRQ(opRRQ, "a.bin", "OCTET", "BlkSize", "1428", "tsize", "0", "timeout", "5", "windowsize", "8", "x", "y"))
	if e != nil || drop {
		t.Fatal(e)
	}
	want := request{op: opRRQ, name: "a.bin", mode: "octet", blksize: "1428", tsize: true,
		dropped: []string{"timeout", "windowsize"}, ignored: []string{"x"}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	// What pin/tftp is handed: the normalised name and only the options it
	// negotiates, tsize as 0.
	got := appendRRQ(nil, "a.bin", request{mode: "octet", blksize: "1428", tsize: true})
	if string(got) != "\x00\x01a.bin\x00octet\x00blksize\x001428\x00tsize\x000\x00" {
		t.Errorf("appendRRQ: %q", got)
	}
	if _, drop, _ := parseRequest([]byte{0, opERROR, 0, 1, 0}); !drop {
		t.Error("an ERROR packet is answered")
	}
	if _, drop, _ := parseRequest([]byte{1}); !drop {
		t.Error("a one-byte packet is answered")
	}
}

func TestAppendError(t *testing.T) {
	p := appendError(nil, CodeAccess, "no\x00pe")
	code, msg, ok := errorPacket(p)
	if !ok || code != CodeAccess || msg != "nope" {
		t.Errorf("appendError: %x", p)
	}
	if p := appendError(nil, CodeUndefined, strings.Repeat("x", 1000)); len(p) > 512 {
		t.Errorf("error packet of %d bytes", len(p))
	}
}
