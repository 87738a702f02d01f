package domain

import (
	"fmt"
	"math"
	"time"
)

// Evolve applies an event to whichever part of the world it belongs to. A
// device event for another device than w.Device is ignored.
func (w World) Evolve(e Event, at time.Time) World {
	switch e.Stream() {
	case ClusterStream:
		w.Cluster = EvolveCluster(w.Cluster, e)
	case RangeStream:
		w.Range = EvolveDNRange(w.Range, e)
	default:
		if e.Stream() == DeviceStream(w.Device.Name) {
			w.Device = EvolveDevice(w.Device, e, at)
		}
	}
	return w
}

// DNLookup says which device holds a directory number.
type DNLookup interface {
	Holder(partition, dn string) (device string, held bool)
}

// DialResult answers "may this device dial that number?".
type DialResult struct {
	Allowed   bool
	CSS       string // the calling search space consulted
	Partition string // where the closest match was found
	Match     string // the route pattern or directory number that matched
	Reason    string // a sentence for people
}

// MayDial answers from the device's calling search space (its own, else its
// device pool's): the number is allowed when the closest match among the
// route patterns and directory numbers of the space's partitions routes the
// call; a blocking pattern or no match refuses it.
//
// dns says who holds a directory number (a DNRangeState, a DNSet, or a read
// model of the DNs in use).
func MayDial(c ClusterState, dns DNLookup, d DeviceState, number string) (DialResult, error) {
	if !d.Exists {
		return DialResult{}, fmt.Errorf("%w: no device %s", ErrNotFound, d.Name)
	}
	for i := 0; i < len(number); i++ {
		if symIndex(number[i]) < 0 {
			return DialResult{}, fmt.Errorf("%w: %q is not a dial string (digits, * and #)", ErrInvalid, number)
		}
	}
	css := d.CSS
	if css == "" {
		css = c.Pools[d.Pool].CSS
	}
	res := DialResult{CSS: css}
	if css == "" {
		res.Reason = fmt.Sprintf("%s has no calling search space (device pool %q has none)", d.Name, d.Pool)
		return res, nil
	}
	parts, ok := c.CSS[css]
	if !ok {
		res.Reason = fmt.Sprintf("calling search space %q does not exist", css)
		return res, nil
	}
	best := math.Inf(1)
	found, block := false, false
	for _, part := range parts {
		if holder, ok := dns.Holder(part, number); ok && holder != "" {
			if !found || best > 1 {
				best, found, block = 1, true, false
				res.Partition, res.Match = part, number
			}
		}
		for _, rp := range c.Patterns {
			if rp.Partition != part {
				continue
			}
			p, err := CompilePattern(rp.Pattern)
			if err != nil || !p.Match(number) {
				continue
			}
			if n := p.Matches(); !found || n < best {
				best, found, block = n, true, rp.Block
				res.Partition, res.Match = part, rp.Pattern
			}
		}
	}
	switch {
	case !found:
		res.Reason = fmt.Sprintf("nothing in calling search space %q matches %s", css, number)
	case block:
		res.Reason = fmt.Sprintf("%s matches blocking pattern %s in partition %s", number, res.Match, res.Partition)
	default:
		res.Allowed = true
		res.Reason = fmt.Sprintf("%s matches %s in partition %s of calling search space %s", number, res.Match, res.Partition, css)
	}
	return res, nil
}
