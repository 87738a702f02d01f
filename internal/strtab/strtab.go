// Package strtab keeps low-cardinality strings (models, pools, partitions,
// calling search spaces, window ids, ...) once per table and hands out small
// numbers for them, so that a record of which a process holds one per device
// stores 4 bytes per such field instead of a 16-byte string header.
//
// A Table is not safe for concurrent use: its owner guards it with the lock
// that guards the records holding its numbers. Strings are never removed:
// keep only values that repeat across many records in a table.
//
// It imports the standard library only.
package strtab

import "fmt"

// ID is a string's number in its Table; 0 is the empty string.
type ID uint32

// Table maps strings to IDs and back.
type Table struct {
	ids  map[string]ID
	strs []string
}

// ID returns s's number, adding s to the table if it is new.
func (t *Table) ID(s string) ID {
	if s == "" {
		return 0
	}
	if id, ok := t.ids[s]; ok {
		return id
	}
	if t.ids == nil {
		t.ids = make(map[string]ID)
		t.strs = append(t.strs, "")
	}
	id := ID(len(t.strs))
	t.strs = append(t.strs, s)
	t.ids[s] = id
	return id
}

// Lookup returns s's number if the table has one ("" is 0).
func (t *Table) Lookup(s string) (ID, bool) {
	if s == "" {
		return 0, true
	}
	id, ok := t.ids[s]
	return id, ok
}

// String returns the string numbered id ("" for 0 or a number the table
// never gave).
func (t *Table) String(id ID) string {
	if int(id) >= len(t.strs) {
		return ""
	}
	return t.strs[id]
}

// Len is the number of distinct non-empty strings in the table.
func (t *Table) Len() int { return len(t.ids) }

// Strings returns the table's strings in the order of their IDs, from ID 1
// (a snapshot of the table writes them so). The slice is the table's own:
// the caller must not change it.
func (t *Table) Strings() []string {
	if len(t.strs) == 0 {
		return nil
	}
	return t.strs[1:]
}

// FromStrings returns the table that numbers strs from 1, in order, as
// Strings listed them. It fails on an empty or a repeated string, which no
// table holds.
func FromStrings(strs []string) (Table, error) {
	var t Table
	if len(strs) == 0 {
		return t, nil
	}
	t.ids = make(map[string]ID, len(strs))
	t.strs = make([]string, 1, len(strs)+1)
	for i, s := range strs {
		if s == "" {
			return Table{}, fmt.Errorf("strtab: string %d is empty", i+1)
		}
		if _, dup := t.ids[s]; dup {
			return Table{}, fmt.Errorf("strtab: string %q is listed twice", s)
		}
		t.ids[s] = ID(len(t.strs))
		t.strs = append(t.strs, s)
	}
	return t, nil
}
