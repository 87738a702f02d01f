package domain_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDomainImportsOnlyTheStandardLibrary keeps the domain pure: no store
// client, no logger, no configuration, nothing of the project's adapters.
func TestDomainImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/autoreg/autoreg/domain" {
			t.Errorf("domain depends on %s: the domain may import the standard library only", p)
		}
	}
	// No I/O, no logging, no clock in non-test code.
	imports, err := exec.Command("go", "list", "-f", "{{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(imports)) {
		switch p {
		case "os", "net", "net/http", "log", "log/slog", "io/ioutil", "syscall", "database/sql", "math/rand", "math/rand/v2":
			t.Errorf("domain imports %s: the domain does no I/O, logging or randomness", p)
		}
	}
	files, err := exec.Command("go", "list", "-f", "{{join .GoFiles \" \"}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(files)) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(body), "time.Now()") {
			t.Errorf("%s calls time.Now(): the domain takes the time as a value", f)
		}
	}
}
