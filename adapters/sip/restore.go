package sip

import "strings"

// Restored is a device the store says is registered over SIP: its last
// known contact and its directory number.
type Restored struct {
	Device  string // SEP + 12 hex digits
	Contact string // the contact URI it registered with
	DN      string
}

// Restore gives back, after a restart, the bindings that lived only in
// memory: each device gets one binding at its last known contact that ends
// MaxExpires from now (the longest it may have been granted), unless the
// phone refreshes first. A phone that never comes back then expires as
// usual (Registrar.Unregister with reason expired), so the store does not
// keep it registered for ever. Call it before serving; devices that
// already have bindings are left alone. It returns how many it restored.
func (s *Server) Restore(devices []Restored) int {
	n := 0
	now := s.clock()
	for _, r := range devices {
		mac, ok := macKey(strings.TrimPrefix(r.Device, "SEP"))
		if !ok || !strings.HasPrefix(r.Device, "SEP") || r.Contact == "" {
			continue
		}
		// The Call-ID is a stand-in: any REGISTER from the phone replaces it, and
		// the expiry uses it as the correlation id of the unregistration.
		contact, odd := s.table.contact(mac, r.Contact)
		b := makeBinding(contact, odd, "restored-after-restart")
		b.expires = deadline(now, s.cfg.MaxExpires)
		sh := s.table.shard(mac)
		sh.mu.Lock()
		if _, exists := sh.devices[mac]; !exists && s.table.count.Load() < int64(s.table.max) {
			d := &device{bindings: []binding{b}}
			sh.setDN(mac, d, r.DN)
			sh.devices[mac] = d
			s.table.count.Add(1)
			if sh.next == 0 || b.ends() < sh.next {
				sh.next = b.ends()
			}
			n++
		}
		sh.mu.Unlock()
	}
	return n
}
