package kurrentdb

import (
	"os"
	"testing"

	"github.com/google/uuid"

	"github.com/autoreg/autoreg/adapters/eventstore/storetest"
	"github.com/autoreg/autoreg/internal/eventstore"
)

// URLEnv names the variable that points the conformance suite at a real
// server (see docs/kurrentdb.md).
const URLEnv = "AUTOREG_KURRENTDB_URL"

// TestConformance runs the store's conformance suite against a real
// KurrentDB when AUTOREG_KURRENTDB_URL names one. Each test gets a fresh
// namespace on the server, so runs do not see each other's events.
func TestConformance(t *testing.T) {
	url := os.Getenv(URLEnv)
	if url == "" {
		t.Skipf("%s is not set: start a server with\n"+
			"  docker run --rm -p 2113:2113 docker.kurrent.io/kurrent-latest/kurrentdb:latest --insecure --run-projections=All --enable-atom-pub-over-http\n"+
			"and run  %s='kurrentdb://127.0.0.1:2113?tls=false' go test ./adapters/eventstore/kurrentdb/  (docs/kurrentdb.md)", URLEnv, URLEnv)
	}
	cfg, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, storetest.Factory{New: func(t *testing.T) storetest.Opener {
		c := cfg
		c.Namespace = "autoregtest-" + uuid.NewString()[:8] + "-"
		return func(t *testing.T) eventstore.Store {
			s, err := Open(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}

// TestConformanceFake runs the conformance suite on the store's logic over
// an in-memory stand-in for the server (fakeServer), once with the events
// of an append laid out in $all in order and once in reverse order.
func TestConformanceFake(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		name := "InOrder"
		if reverse {
			name = "Reversed"
		}
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, storetest.Factory{New: func(t *testing.T) storetest.Opener {
				srv := newFakeServer()
				srv.reverse = reverse
				return func(t *testing.T) eventstore.Store {
					s, err := open(t.Context(), fakeBackend{srv}, Config{Namespace: "t-", Location: "fake"})
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
			}})
		})
	}
}
