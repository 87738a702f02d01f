package layers

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/autoreg/autoreg/"

// allowed lists, for each layer (a package path prefix under the module),
// the layers its non-test code may import. The most specific prefix wins.
var allowed = map[string][]string{
	"domain":              {},                                                                                         // the standard library only (see domain/purity_test.go)
	"internal/eventstore": {},                                                                                         // the store port: the standard library only
	"internal/pack":       {"domain"},                                                                                 // the packing of the domain's values
	"internal/strtab":     {},                                                                                         //
	"internal/snapfile":   {},                                                                                         // the snapshots' file format
	"internal/anchor":     {"internal/eventstore"},                                                                    // signed checkpoints of the chain: the standard library and the store port
	"internal/layers":     {},                                                                                         // this test
	"internal/config":     {"domain"},                                                                                 // parses and validates; runs nothing
	"internal/terminal":   {},                                                                                         // escapes control characters for people's terminals
	"internal/sipauth":    {"domain"},                                                                                 // digest passwords from the secret: one place
	"internal/command":    {"domain", "internal/eventstore", "internal/pack"},                                         // the command side
	"internal/testreg":    {"domain", "internal/eventstore", "internal/command", "projections"},                       // test support: both sides
	"projections":         {"domain", "internal/eventstore", "internal/pack", "internal/strtab", "internal/snapfile"}, // the read side
	"replay":              {"domain", "internal/", "projections", "replay", "adapters/eventstore/"},
	"adapters":            {"domain", "internal/", "projections", "adapters/"},
	"cmd":                 {"domain", "internal/", "projections", "adapters/", "replay"},
	"features":            {"domain", "internal/", "projections", "adapters/"},
	"tests":               {"domain", "internal/", "projections", "adapters/", "replay"},
}

// TestImportsRunOneWay reads `go list` of every package of the module and
// checks each import of its non-test code against allowed: nothing under
// internal/ or projections/ imports adapters/, the domain imports nothing
// of the project, the command side and the read side do not import each
// other.
func TestImportsRunOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/autoreg/autoreg/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		rel := strings.TrimPrefix(p.ImportPath, module)
		layer, ok := layerOf(rel)
		if !ok {
			t.Errorf("package %s is in no layer: add it to allowed", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if strings.HasPrefix(dep, rel+"/") {
				continue // a package's own sub-packages
			}
			if !permitted(layer, dep) {
				t.Errorf("%s imports %s: the %s layer may import only %v", rel, dep, layer, allowed[layer])
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list found %d packages: is the test running in the module?", n)
	}
}

// layerOf is the most specific layer of allowed that holds rel.
func layerOf(rel string) (string, bool) {
	best := ""
	for l := range allowed {
		if (rel == l || strings.HasPrefix(rel, l+"/")) && len(l) > len(best) {
			best = l
		}
	}
	return best, best != ""
}

func permitted(layer, dep string) bool {
	for _, a := range allowed[layer] {
		if dep == a || strings.HasPrefix(dep, a) && (strings.HasSuffix(a, "/") || strings.HasPrefix(dep, a+"/")) {
			return true
		}
	}
	return false
}
