package pack

import (
	"net/netip"
	"testing"
)

// FuzzPack: whatever the string, a field gives back exactly what was
// stored (packed or spilled); an address packs exactly when netip writes
// it so as an IPv4 address and port, and a DN exactly when it is 1-18 digits.
func FuzzPack(f *testing.F) {
	for _, s := range []string{"", "1000", "0042", "10.0.0.1:5060", "255.255.255.255:65535", "01.2.3.4:5",
		"1.2.3.4:05060", "sip:00BE00000001@127.0.0.1:5098;transport=UDP", "sip:SEP00BE00000001@[::1]:5060",
		"1.2.3.4:65536", "1.2.3.4", "[::ffff:1.2.3.4]:5060", "SEP00BE00000001"} {
		f.Add(s, uint64(0x00BE00000001))
	}
	f.Fuzz(func(t *testing.T, s string, mac uint64) {
		key := mac & (1<<48 - 1)
		if v, ok := Addr(s); ok && s != "" {
			if got := AddrString(v); got != s {
				t.Fatalf("Addr(%q) spelled back %q", s, got)
			}
		}
		ap, err := netip.ParseAddrPort(s)
		_, packed := Addr(s)
		if want := err == nil && ap.Addr().Is4() && ap.String() == s; want != packed && s != "" {
			t.Fatalf("Addr(%q) packs = %v; netip reads it as a plain IPv4 address and port: %v", s, packed, want)
		}
		if v, ok := DN(s); ok {
			if got := DNString(v); got != s {
				t.Fatalf("DN(%q) spelled back %q", s, got)
			}
		}
		for _, k := range []Kind{DNs, Addrs, Rare} {
			fld := NewField(k)
			v := fld.Set(key, s)
			if got := fld.Get(key, v); got != s {
				t.Fatalf("kind %d: Set(%q) then Get = %q", k, s, got)
			}
		}
	})
}
