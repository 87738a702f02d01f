package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/autoreg/autoreg/domain"
)

// macStream is the second PCG word of the seeded generator: changing it
// would change every simulated phone's MAC, so it is fixed.
const macStream = 0x70686f6e6573696d // "phonesim"

// SeededDevices returns n distinct device names (SEP and 12 hex digits)
// derived from seed: the same seed always gives the same phones, in the same
// order, and the first n of a longer list. The MACs are random unicast
// addresses (the multicast bit clear), not Cisco's.
func SeededDevices(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, macStream))
	out := make([]string, 0, n)
	seen := make(map[uint64]bool, n)
	for len(out) < n {
		mac := r.Uint64() & 0xFFFF_FFFF_FFFF
		mac &^= 1 << 40 // unicast: bit 0 of the first octet clear
		if seen[mac] {
			continue
		}
		seen[mac] = true
		out = append(out, fmt.Sprintf("SEP%012X", mac))
	}
	return out
}

// ReadDevices reads MAC addresses, one a line, in any usual notation
// (001122AABBCC, 00:11:22:aa:bb:cc, 00-11-22-AA-BB-CC, 0011.22aa.bbcc) or
// as device names (SEP001122AABBCC). Blank lines and everything after a #
// are ignored. A repeated MAC is an error: two phones cannot share one.
func ReadDevices(r io.Reader) ([]string, error) {
	var out []string
	first := map[string]int{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if len(s) == 15 && strings.EqualFold(s[:3], "SEP") {
			s = s[3:]
		}
		name, err := domain.DeviceNameFromMAC(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if prev, ok := first[name]; ok {
			return nil, fmt.Errorf("line %d: MAC %s repeats line %d", line, strings.TrimPrefix(name, "SEP"), prev)
		}
		first[name] = line
		out = append(out, name)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
