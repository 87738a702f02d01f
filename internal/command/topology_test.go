package command_test

import (
	"strings"
	"testing"
	"time"

	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/config"
)

// The sample's cluster section passes; a range serve would refuse is
// refused by CheckTopology, naming the command and the domain's reason.
func TestCheckTopology(t *testing.T) {
	cfg, err := config.Load(config.New(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := command.CheckTopology(cfg.Cluster.Commands(true, "config"), time.Now()); err != nil {
		t.Fatalf("the sample: %v", err)
	}
	cfg.Cluster.Range.Start, cfg.Cluster.Range.End = "10000", "9"
	err = command.CheckTopology(cfg.Cluster.Commands(true, "config"), time.Now())
	if err == nil || !strings.Contains(err.Error(), "ConfigureRange") || !strings.Contains(err.Error(), "same number of digits") {
		t.Fatalf("a range of DNs of different lengths: %v", err)
	}
	cfg.Cluster.Range.Start, cfg.Cluster.Range.End = "1000", "1099"
	cfg.Cluster.Pools[0].Group = "Nowhere"
	if err := command.CheckTopology(cfg.Cluster.Commands(true, "config"), time.Now()); err == nil || !strings.Contains(err.Error(), "Nowhere") {
		t.Fatalf("a pool naming a group that does not exist: %v", err)
	}
}
