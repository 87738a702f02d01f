package strtab

import "testing"

func TestTable(t *testing.T) {
	var tab Table
	if got := tab.ID(""); got != 0 {
		t.Fatalf(`ID("") = %d, want 0`, got)
	}
	if got := tab.String(0); got != "" {
		t.Fatalf("String(0) = %q", got)
	}
	a, b := tab.ID("Default"), tab.ID("Rogue")
	if a == 0 || b == 0 || a == b {
		t.Fatalf("IDs %d and %d: want distinct and non-zero", a, b)
	}
	if again := tab.ID("Default"); again != a {
		t.Fatalf("second ID of the same string: %d, want %d", again, a)
	}
	if tab.String(a) != "Default" || tab.String(b) != "Rogue" {
		t.Fatalf("String gives %q, %q", tab.String(a), tab.String(b))
	}
	if got := tab.String(99); got != "" {
		t.Fatalf("String of an unknown id = %q, want empty", got)
	}
	if tab.Len() != 2 {
		t.Fatalf("Len = %d, want 2", tab.Len())
	}
}
