package pack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestMACRoundTrip(t *testing.T) {
	for _, name := range []string{"SEP000000000000", "SEP001122AABBCC", "SEPFFFFFFFFFFFF", "SEP00BE00000001"} {
		mac, ok := MAC(name)
		if !ok || mac >= 1<<48 {
			t.Fatalf("MAC(%q) = %x, %v", name, mac, ok)
		}
		if got := DeviceName(mac); got != name {
			t.Fatalf("DeviceName(MAC(%q)) = %q", name, got)
		}
	}
	for _, name := range []string{"", "SEP", "SEP001122aabbcc", "SEP001122AABBC", "SEP001122AABBCCD", "XEP001122AABBCC", "SEP00112-AABBCC", "SEP00112GAABBCC", "sep001122AABBCC"} {
		if mac, ok := MAC(name); ok {
			t.Fatalf("MAC(%q) = %x, want no MAC", name, mac)
		}
	}
}

func TestNames(t *testing.T) {
	var n Names
	names := []string{"SEP001122AABBCC", "SEP001122aabbcc", "rogue", "", "SEP0011", "SEP001122AABBCC"}
	keys := map[uint64]string{}
	for _, name := range names {
		k := n.Key(name)
		if other, dup := keys[k]; dup && other != name {
			t.Fatalf("%q and %q share key %x", name, other, k)
		}
		keys[k] = name
		if got := n.Name(k); got != name {
			t.Fatalf("Name(Key(%q)) = %q", name, got)
		}
		if k2, ok := n.Lookup(name); !ok || k2 != k {
			t.Fatalf("Lookup(%q) = %x, %v; Key gave %x", name, k2, ok, k)
		}
	}
	if _, ok := n.Lookup("never"); ok {
		t.Fatal("Lookup found a name never numbered")
	}
	if k, ok := n.Lookup("SEP0000000000FF"); !ok || k != 0xFF {
		t.Fatalf("a canonical name is its MAC without numbering: %x, %v", k, ok)
	}
}

func TestDNRoundTrip(t *testing.T) {
	for _, s := range []string{"", "0", "00", "007", "1000", "100000", "299999", "9", strings.Repeat("9", 18), strings.Repeat("0", 18), "1" + strings.Repeat("0", 17)} {
		v, ok := DN(s)
		if !ok || v&Spilled != 0 {
			t.Fatalf("DN(%q) = %x, %v", s, v, ok)
		}
		if got := DNString(v); got != s {
			t.Fatalf("DNString(DN(%q)) = %q", s, got)
		}
	}
	for _, s := range []string{strings.Repeat("1", 19), "12a", "+1000", " 1000", "1000 ", "\u0661"} {
		if v, ok := DN(s); ok {
			t.Fatalf("DN(%q) = %x, want no packing", s, v)
		}
	}
}

func TestAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"", "127.0.0.1:5098", "10.0.0.1:5060", "0.0.0.0:0", "255.255.255.255:65535", "192.168.1.20:2000"} {
		v, ok := Addr(s)
		if !ok || v&Spilled != 0 {
			t.Fatalf("Addr(%q) = %x, %v", s, v, ok)
		}
		if got := AddrString(v); got != s {
			t.Fatalf("AddrString(Addr(%q)) = %q", s, got)
		}
	}
	for _, s := range []string{"[::1]:5060", "[::ffff:10.0.0.1]:5060", "010.0.0.1:5060", "10.0.0.1:05060", "10.0.0.1", "host:5060", "10.0.0.1:65536", "sip:10.0.0.1:5060"} {
		if v, ok := Addr(s); ok {
			t.Fatalf("Addr(%q) = %x, want no packing", s, v)
		}
	}
}

func TestFieldFallsBack(t *testing.T) {
	for _, c := range []struct {
		kind   Kind
		packs  []string
		spills []string
	}{
		{DNs, []string{"", "1000", "0001"}, []string{"10a", strings.Repeat("7", 19)}},
		{Addrs, []string{"", "10.0.0.1:5060"}, []string{"[::1]:5060", "host:1"}},
		{Rare, []string{""}, []string{"lobby", " "}},
	} {
		f := NewField(c.kind)
		for _, s := range c.spills {
			if s == "" {
				continue
			}
			v := f.Set(1, s)
			if v != Spilled || f.Get(1, v) != s || f.Len() != 1 {
				t.Fatalf("Set(%q) = %x, Get = %q, Len = %d", s, v, f.Get(1, v), f.Len())
			}
			if got := f.Get(2, f.Set(2, "")); got != "" {
				t.Fatalf("another key's empty value reads %q", got)
			}
			if got := f.Get(1, v); got != s {
				t.Fatalf("spilled %q reads %q after another key's Set", s, got)
			}
		}
		for _, s := range c.packs {
			v := f.Set(1, s)
			if v == Spilled || f.Get(1, v) != s || f.Len() != 0 {
				t.Fatalf("Set(%q) = %x, Get = %q, Len = %d: a packed value drops the spilled one", s, v, f.Get(1, v), f.Len())
			}
		}
		f.Set(3, c.spills[0])
		f.Drop(3)
		if f.Len() != 0 {
			t.Fatal("Drop kept the spilled string")
		}
	}
}

// TestAddressForms packs contact URIs and plain addresses, with the
// device's MAC or name as the user part, and spills what does not
// round-trip: every address reads back exactly.
func TestAddressForms(t *testing.T) {
	f := NewField(Addrs)
	var n Names
	mac, rogue := n.Key("SEP00BE00000001"), n.Key("rogue")
	packs := []struct {
		key uint64
		s   string
	}{
		{mac, "10.0.0.1:2000"},
		{mac, "sip:00BE00000001@127.0.0.1:5398;transport=UDP"},
		{mac, "sip:00BE00000001@127.0.0.1:5398"},
		{mac, "sips:SEP00BE00000001@10.1.2.3:5061;transport=tls"},
		{mac, "sip:x-SEP00BE00000001@10.1.2.3:5061"},
		{mac, "sip:10.0.0.1:5060;transport=udp"},
		{rogue, "sip:10.0.0.1:5060"},
		{rogue, "192.168.0.1:1"},
	}
	for _, c := range packs {
		v := f.Set(c.key, c.s)
		if v == Spilled {
			t.Fatalf("%q spilled, want it packed", c.s)
		}
		if got := f.Get(c.key, v); got != c.s {
			t.Fatalf("Get(Set(%q)) = %q", c.s, got)
		}
	}
	spills := []struct {
		key uint64
		s   string
	}{
		{mac, "sip:00be00000001@127.0.0.1:5398"},          // user in lower case
		{mac, "sip:00BE00000002@127.0.0.1:5398"},          // another device's MAC
		{mac, "sip:1000@127.0.0.1:5398"},                  // a DN as user
		{rogue, "sip:rogue@127.0.0.1:5398"},               // no MAC
		{mac, "sip:00BE00000001@[::1]:5398"},              // IPv6
		{mac, "sip:00BE00000001@host.example:5060"},       // a host name
		{mac, "sip:00BE00000001@127.0.0.1"},               // no port
		{mac, "sip:00BE00000001@127.000.0.1:5060"},        // not as netip writes it
		{mac, "sip:00BE00000001@127.0.0.1:5060:1"},        // not an address
		{mac, "sip:00BE00000001@00BE00000001@10.0.0.1:1"}, // two users
		{mac, ":"},
		{mac, "@"},
		{mac, "x"},
	}
	for _, c := range spills {
		v := f.Set(c.key, c.s)
		if v != Spilled {
			t.Fatalf("%q packed as %x (reads %q), want it spilled", c.s, v, f.Get(c.key, v))
		}
		if got := f.Get(c.key, v); got != c.s {
			t.Fatalf("Get(Set(%q)) = %q", c.s, got)
		}
	}
	if f.Len() != 2 {
		t.Fatalf("%d spilled, want the last one of each key", f.Len())
	}
}

func TestAddressFormsAreBounded(t *testing.T) {
	f := NewField(Addrs)
	for i := 0; i <= maxForms+2; i++ {
		s := "10.0.0.1:5060;x=" + strings.Repeat("y", i%7) + string(rune('a'+i%26)) + string(rune(0x100+i))
		v := f.Set(uint64(i), s)
		if got := f.Get(uint64(i), v); got != s {
			t.Fatalf("form %d: Get(Set(%q)) = %q", i, s, got)
		}
	}
	if len(f.forms.forms) > maxForms+1 {
		t.Fatalf("%d forms kept, want at most %d", len(f.forms.forms)-1, maxForms)
	}
	if f.Len() == 0 {
		t.Fatal("nothing spilled past the bound")
	}
}

func TestSlab(t *testing.T) {
	var s Slab[[2]uint64]
	ptrs := map[uint32]*[2]uint64{}
	for i := range 3*slabChunk + 5 {
		n, p := s.New()
		if *p != [2]uint64{} {
			t.Fatalf("record %d not zero", n)
		}
		p[0], p[1] = uint64(i), uint64(n)
		ptrs[n] = p
	}
	if s.Len() != 3*slabChunk+5 {
		t.Fatalf("Len = %d", s.Len())
	}
	for n, p := range ptrs {
		if s.At(n) != p || p[1] != uint64(n) {
			t.Fatalf("record %d moved or changed: %v", n, *s.At(n))
		}
	}
	s.Free(7)
	s.Free(slabChunk + 1)
	if s.Len() != 3*slabChunk+3 {
		t.Fatalf("Len after two frees = %d", s.Len())
	}
	for range 2 {
		n, p := s.New()
		if n != 7 && n != slabChunk+1 {
			t.Fatalf("New gave %d, want a freed number", n)
		}
		if *p != [2]uint64{} {
			t.Fatalf("reused record %d not zero: %v", n, *p)
		}
	}
	if n, _ := s.New(); n != 3*slabChunk+5 {
		t.Fatalf("New gave %d, want the next new number", n)
	}
}

// TestAddrMatchesNetip: Addr packs exactly the strings that netip parses as
// an IPv4 address and port and writes back the same.
func TestAddrMatchesNetip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"0", "00", "01", "1", "9", "10", "99", "100", "199", "255", "256", "300", "999", "1000", "65535", "65536", "099999", "", "a", "-1", " 1"}
	pick := func() string { return parts[rng.IntN(len(parts))] }
	seps := []string{".", ".", ".", ":", ""}
	for range 200000 {
		var s string
		switch rng.IntN(3) {
		case 0:
			s = fmt.Sprintf("%s.%s.%s.%s:%s", pick(), pick(), pick(), pick(), pick())
		case 1:
			s = fmt.Sprintf("%d.%d.%d.%d:%d", rng.IntN(300), rng.IntN(300), rng.IntN(300), rng.IntN(300), rng.IntN(70000))
		default:
			for range rng.IntN(7) {
				s += pick() + seps[rng.IntN(len(seps))]
			}
		}
		ap, err := netip.ParseAddrPort(s)
		want := s == "" || err == nil && ap.Addr().Is4() && ap.String() == s
		v, ok := Addr(s)
		if ok != want {
			t.Fatalf("Addr(%q) ok = %v, netip says %v", s, ok, want)
		}
		if ok && AddrString(v) != s {
			t.Fatalf("AddrString(Addr(%q)) = %q", s, AddrString(v))
		}
	}
}

// TestAddrPort: the SIP adapter packs its peers (netip.AddrPort) as Addr
// packs addresses written as text.
func TestAddrPort(t *testing.T) {
	for _, s := range []string{"0.0.0.0:0", "127.0.0.1:5098", "255.255.255.255:65535"} {
		p := netip.MustParseAddrPort(s)
		v, ok := AddrPort(p)
		if !ok || v == 0 || AddrPortOf(v) != p {
			t.Fatalf("%s: %x %v -> %v", s, v, ok, AddrPortOf(v))
		}
		if text, _ := Addr(s); text != v {
			t.Fatalf("%s: AddrPort %x, Addr %x: one coding of an address", s, v, text)
		}
	}
	for _, s := range []string{"[::1]:1", "[::ffff:1.2.3.4]:5"} {
		if v, ok := AddrPort(netip.MustParseAddrPort(s)); ok {
			t.Fatalf("%s packed as %x", s, v)
		}
	}
	if AddrPortOf(0).IsValid() {
		t.Fatal("0 is no peer")
	}
}
