package eventstore

import (
	"fmt"
	"net/url"
	"strings"
)

// Location says where a store lives, as parsed by ParseURL.
type Location struct {
	// Scheme selects the implementation: "sqlite" for a file (also for a
	// bare path), or the URL's scheme for anything else ("kurrentdb", ...).
	Scheme string
	// Path is the database file for "sqlite", as written (relative paths
	// stay relative).
	Path string
	// URL is the parsed URL for schemes other than "sqlite" (nil otherwise).
	URL *url.URL
}

// ParseURL parses a store location:
//
//	sqlite:///abs/path.db   absolute path /abs/path.db
//	sqlite://rel/path.db    relative path rel/path.db
//	sqlite:rel/path.db      relative path rel/path.db
//	/abs/path.db, rel.db    a bare path is a SQLite file
//	scheme://...            any other scheme is returned parsed, for its adapter
//
// Percent-escapes in a sqlite URL's path are decoded; a bare path is taken
// verbatim. A sqlite URL may not carry a query or fragment.
func ParseURL(s string) (Location, error) {
	if s == "" {
		return Location{}, fmt.Errorf("event store location: empty")
	}
	scheme, rest, hasScheme := strings.Cut(s, ":")
	if !hasScheme || !validScheme(scheme) || (len(scheme) == 1 && !strings.HasPrefix(rest, "//")) {
		return Location{Scheme: "sqlite", Path: s}, nil
	}
	if !strings.EqualFold(scheme, "sqlite") {
		if !strings.HasPrefix(rest, "//") {
			// "name:more" without "//" is a file name containing a colon.
			return Location{Scheme: "sqlite", Path: s}, nil
		}
		u, err := url.Parse(s)
		if err != nil {
			return Location{}, fmt.Errorf("event store location %q: %w", s, err)
		}
		return Location{Scheme: strings.ToLower(u.Scheme), URL: u}, nil
	}
	rest = strings.TrimPrefix(rest, "//")
	if strings.ContainsAny(rest, "?#") {
		return Location{}, fmt.Errorf("event store location %q: a sqlite URL takes no query or fragment", s)
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return Location{}, fmt.Errorf("event store location %q: %w", s, err)
	}
	if p == "" || p == "/" {
		return Location{}, fmt.Errorf("event store location %q: no file path", s)
	}
	return Location{Scheme: "sqlite", Path: p}, nil
}

// validScheme reports whether s is a URL scheme: a letter followed by
// letters, digits, '+', '-' or '.'.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}
