package sip

import (
	"net/netip"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestDeviceSize keeps a device within the size its comment promises: the
// registrar holds one per registered phone.
func TestDeviceSize(t *testing.T) {
	if n := unsafe.Sizeof(device{}); n > 64 {
		t.Fatalf("device is %d bytes, want <= 64", n)
	}
	if n := unsafe.Sizeof(binding{}); n > 48 {
		t.Fatalf("binding is %d bytes, want <= 48", n)
	}
}

// TestTablePeersAndExpiries takes devices with an IPv4 peer, an IPv6 peer
// and an IPv4-mapped IPv6 peer (the last two kept in the shard's map)
// through a registration, an expiry that fails and is retried, and a
// drop: the peer and the correlation ID read back exactly, and nothing is
// left in the shard's maps.
func TestTablePeersAndExpiries(t *testing.T) {
	tb := newTable(10)
	peers := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:5098"),
		netip.MustParseAddrPort("[2001:db8::1]:5060"),
		netip.MustParseAddrPort("[::ffff:10.0.0.1]:5060"),
		netip.MustParseAddrPort("[fe80::1%eth0]:5060"),
	}
	sec := int64(time.Second)
	for i, peer := range peers {
		mac := uint64(0x00BE00000001 + i)
		d, err := tb.enqueue(&register{mac: mac})
		if err != nil || d == nil {
			t.Fatalf("enqueue: %v, %v", d, err)
		}
		if r := tb.next(mac, d); r == nil {
			t.Fatal("the request queued is not next")
		}
		callID := "call-" + peer.String()
		b := []binding{makeBinding(0, "sip:x@h", callID)}
		b[0].expires = 10
		tb.commit(mac, d, b, "1000", peer)
		if !tb.boundFrom(mac, peer.Addr()) || tb.boundFrom(mac, netip.MustParseAddr("10.9.9.9")) {
			t.Fatalf("%v: boundFrom does not find the peer", peer)
		}
		if r := tb.next(mac, d); r != nil {
			t.Fatal("a request appeared")
		}
		if dn, bs := tb.snapshot(mac); dn != "1000" || len(bs) != 1 {
			t.Fatalf("snapshot: %q %v", dn, bs)
		}

		// The binding expires; the registrar refuses the unregistration.
		out := tb.sweep(11*sec, 20*sec)
		if len(out) != 1 || out[0].peer != peer || out[0].callID != callID {
			t.Fatalf("%v: sweep = %+v ", peer, out)
		}
		if r := tb.expired(out[0], false); r != nil {
			t.Fatal("a request appeared")
		}
		sh := tb.shard(mac)
		if got := sh.expiring[mac]; got != callID {
			t.Fatalf("retry correlation ID %q, want %q", got, callID)
		}
		// It is retried, and taken: the device goes, and all it held.
		out = tb.sweep(21*sec, 30*sec)
		if len(out) != 1 || out[0].peer != peer || out[0].callID != callID {
			t.Fatalf("%v: retry sweep = %+v", peer, out)
		}
		if r := tb.expired(out[0], true); r != nil {
			t.Fatal("a request appeared")
		}
		if _, ok := sh.devices[mac]; ok || len(sh.peers) != 0 || len(sh.expiring) != 0 || tb.len() != 0 {
			t.Fatalf("%v: left behind: device %v, %d peers, %d expiring, len %d", peer, ok, len(sh.peers), len(sh.expiring), tb.len())
		}
	}
	// A device that moves from an IPv6 peer to an IPv4 one leaves nothing
	// in the shard's map.
	mac := uint64(0x00BE000000FF)
	d, _ := tb.enqueue(&register{mac: mac})
	tb.next(mac, d)
	tb.commit(mac, d, []binding{{text: "sip:x@hc", uriLen: 7, expires: 100}}, "1000", peers[1])
	tb.commit(mac, d, []binding{{text: "sip:x@hc", uriLen: 7, expires: 100}}, "1000", peers[0])
	if sh := tb.shard(mac); len(sh.peers) != 0 || !tb.boundFrom(mac, peers[0].Addr()) {
		t.Fatalf("after moving to IPv4: %d peers kept", len(sh.peers))
	}
}

// TestPlanPackedContacts registers, refreshes and removes contacts whose
// URIs pack (the device's MAC as user, an IPv4 host and port) and ones that
// do not (kept as strings), and reads the bindings back as the table hands
// them out: each URI exactly as registered, each contact matched by its URI.
func TestPlanPackedContacts(t *testing.T) {
	tb := newTable(10)
	mac := uint64(0x001122334455)
	uris := []string{
		"sip:001122334455@10.0.0.5:5060",
		"sip:001122334455@10.0.0.5:5060;transport=udp",
		"sips:SEP001122334455@10.0.0.6:5061;transport=tls",
		"sip:phone@10.0.0.5:5060",             // user is not the MAC
		"sip:001122334455@[2001:db8::1]:5060", // IPv6
		"sip:001122334455@phone.example",      // host name, no port
	}
	req := func(cseq uint32, expires time.Duration, uris ...string) *register {
		r := &register{mac: mac, callID: "call-1", cseq: cseq}
		for _, u := range uris {
			r.contacts = append(r.contacts, contact{uri: u, expires: expires})
		}
		return r
	}
	listed := func(bs []binding) []string {
		var out []string
		for _, b := range tb.resolve(mac, slices.Clone(bs)) {
			if b.contact != 0 {
				t.Fatal("resolve left a URI packed")
			}
			out = append(out, b.uri())
		}
		return out
	}
	next, address, ok := plan(tb, nil, req(1, time.Hour, uris...), 0)
	if !ok || address != uris[0] || !slices.Equal(listed(next), uris) {
		t.Fatalf("registered: %v %q %v", ok, address, listed(next))
	}
	packed := 0
	for _, b := range next {
		if b.contact != 0 {
			packed++
			if b.uri() != "" || b.callID() != "call-1" {
				t.Fatalf("a packed binding keeps its URI string %q (Call-ID %q)", b.uri(), b.callID())
			}
		}
	}
	if packed != 3 {
		t.Fatalf("%d URIs packed, want 3", packed)
	}
	// A refresh of every contact matches each binding: none is added.
	refreshed, _, ok := plan(tb, next, req(2, 2*time.Hour, uris...), 0)
	if !ok || !slices.Equal(listed(refreshed), uris) {
		t.Fatalf("refreshed: %v %v", ok, listed(refreshed))
	}
	for i, b := range refreshed {
		if b.cseq != 2 || b.expires != deadline(0, 2*time.Hour) {
			t.Fatalf("binding %d not refreshed: %+v", i, b)
		}
	}
	// Out of order: refused, whichever form the URI has.
	for _, u := range []string{uris[0], uris[4]} {
		if _, _, ok := plan(tb, refreshed, req(2, time.Hour, u), 0); ok {
			t.Fatalf("%s: a CSeq not above the binding's is taken", u)
		}
	}
	// Removing one packed and one unpacked contact leaves the others.
	left, _, ok := plan(tb, refreshed, req(3, 0, uris[1], uris[4]), 0)
	want := []string{uris[0], uris[2], uris[3], uris[5]}
	if !ok || !slices.Equal(listed(left), want) {
		t.Fatalf("after removals: %v, want %v", listed(left), want)
	}
}

// TestShardSize keeps a shard on a cache line of its own.
func TestShardSize(t *testing.T) {
	if n := unsafe.Sizeof(shard{}); n != 64 {
		t.Fatalf("shard is %d bytes, want 64", n)
	}
}

// TestDeviceDN: a device's directory number reads back as it was set,
// packed or not.
func TestDeviceDN(t *testing.T) {
	tb := newTable(10)
	sh := tb.shard(1)
	d := &device{}
	for _, dn := range []string{"1000", "0042", "", "12x", "1234567890123456789", "1001"} {
		sh.setDN(1, d, dn)
		if got := sh.dnOf(1, d); got != dn {
			t.Fatalf("set %q, read %q", dn, got)
		}
	}
	if len(sh.dns) != 0 {
		t.Fatalf("%d directory numbers kept on the side after a packed one", len(sh.dns))
	}
}
