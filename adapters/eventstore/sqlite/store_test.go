package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/autoreg/autoreg/adapters/eventstore/sqlite"
	"github.com/autoreg/autoreg/adapters/eventstore/storetest"
	"github.com/autoreg/autoreg/internal/eventstore"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{New: func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "events.db")
		return func(t *testing.T) eventstore.Store {
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}
