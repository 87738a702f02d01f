package domain

import (
	"fmt"
	"math"
)

// A Pattern is a compiled Cisco digit pattern. Supported: the literal
// characters 0-9 * #, X (any digit), [ranges] such as [2-9] or [^0-1],
// ! (one or more digits), ? (zero or more of the previous element),
// + (one or more of the previous element), and . (a separator that matches
// nothing, used by digit discarding).
type Pattern struct {
	text  string
	elems []patElem
}

type patElem struct {
	set  [12]bool // 0-9, *, #
	min  int      // repetitions
	many bool     // unbounded
}

func symIndex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c == '*':
		return 10
	case c == '#':
		return 11
	}
	return -1
}

// CompilePattern parses a Cisco digit pattern.
func CompilePattern(text string) (Pattern, error) {
	p := Pattern{text: text}
	if text == "" {
		return p, fmt.Errorf("%w: empty route pattern", ErrInvalid)
	}
	if len(text) > 48 {
		return p, fmt.Errorf("%w: route pattern %q is longer than 48 characters", ErrInvalid, text)
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case symIndex(c) >= 0:
			var e patElem
			e.set[symIndex(c)] = true
			e.min = 1
			p.elems = append(p.elems, e)
		case c == 'X' || c == 'x':
			var e patElem
			for d := 0; d < 10; d++ {
				e.set[d] = true
			}
			e.min = 1
			p.elems = append(p.elems, e)
		case c == '!':
			var e patElem
			for d := 0; d < 10; d++ {
				e.set[d] = true
			}
			e.min, e.many = 1, true
			p.elems = append(p.elems, e)
		case c == '.':
			// separator: no digits
		case c == '?' || c == '+':
			if len(p.elems) == 0 {
				return p, fmt.Errorf("%w: route pattern %q: %q at position %d follows nothing", ErrInvalid, text, c, i+1)
			}
			last := &p.elems[len(p.elems)-1]
			if last.many {
				return p, fmt.Errorf("%w: route pattern %q: %q at position %d repeats a repetition", ErrInvalid, text, c, i+1)
			}
			last.many = true
			if c == '?' {
				last.min = 0
			}
		case c == '[':
			j := i + 1
			var e patElem
			negate := false
			if j < len(text) && text[j] == '^' {
				negate = true
				j++
			}
			any := false
			for ; j < len(text) && text[j] != ']'; j++ {
				lo := text[j]
				if lo < '0' || lo > '9' {
					return p, fmt.Errorf("%w: route pattern %q: %q in brackets at position %d is not a digit", ErrInvalid, text, lo, j+1)
				}
				hi := lo
				if j+2 < len(text) && text[j+1] == '-' && text[j+2] != ']' {
					hi = text[j+2]
					if hi < lo || hi > '9' {
						return p, fmt.Errorf("%w: route pattern %q: bad range %c-%c at position %d", ErrInvalid, text, lo, hi, j+1)
					}
					j += 2
				}
				for d := lo; d <= hi; d++ {
					e.set[d-'0'] = true
				}
				any = true
			}
			if j >= len(text) {
				return p, fmt.Errorf("%w: route pattern %q: '[' at position %d is never closed", ErrInvalid, text, i+1)
			}
			if !any {
				return p, fmt.Errorf("%w: route pattern %q: empty brackets at position %d", ErrInvalid, text, i+1)
			}
			if negate {
				for d := 0; d < 10; d++ {
					e.set[d] = !e.set[d]
				}
			}
			e.min = 1
			p.elems = append(p.elems, e)
			i = j
		default:
			return p, fmt.Errorf("%w: route pattern %q: %q at position %d is not a digit, X, [range], !, ?, +, * or #", ErrInvalid, text, c, i+1)
		}
	}
	if len(p.elems) == 0 {
		return p, fmt.Errorf("%w: route pattern %q matches no digits", ErrInvalid, text)
	}
	return p, nil
}

// String is the pattern as written.
func (p Pattern) String() string { return p.text }

// Match reports whether the whole dialled string matches the pattern.
func (p Pattern) Match(number string) bool {
	for i := 0; i < len(number); i++ {
		if symIndex(number[i]) < 0 {
			return false
		}
	}
	return matchElems(p.elems, number)
}

// matchElems is a dynamic programme over (element, position), one
// left-to-right pass per element: linear in the number for each element,
// whatever the repetitions.
func matchElems(elems []patElem, s string) bool {
	// ok[j] reports whether s[:j] can be matched by the elements seen so far.
	ok := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	ok[0] = true
	for _, e := range elems {
		for j := 0; j <= len(s); j++ {
			in := j > 0 && e.set[symIndex(s[j-1])]
			switch {
			case e.many:
				// next[j]: zero repetitions allowed and ok[j], or s[j-1] is in
				// the set and ends one or more repetitions that started after
				// a matched prefix (ok[j-1]) or continue one (next[j-1]).
				next[j] = (e.min == 0 && ok[j]) || (in && (ok[j-1] || next[j-1]))
			default:
				next[j] = in && ok[j-1]
			}
		}
		ok, next = next, ok
	}
	return ok[len(s)]
}

// Matches estimates how many dial strings the pattern matches; the closest
// match is the pattern with the fewest (CallManager's rule). Unbounded
// patterns count as +Inf.
func (p Pattern) Matches() float64 {
	total := 1.0
	for _, e := range p.elems {
		if e.many {
			return math.Inf(1)
		}
		n := 0
		for _, b := range e.set {
			if b {
				n++
			}
		}
		total *= float64(n)
	}
	return total
}
