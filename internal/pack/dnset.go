package pack

import (
	"iter"

	"github.com/autoreg/autoreg/domain"
)

// DNSet is the compact domain.DNSet: the DNs in use, in any partition, each
// with the device holding it. The registrar holds one entry per DN in use
// for as long as it runs (the command side in its range state, the read
// side in its assignment model), so the usual entry (a DN of at most 15
// digits, held by a device named SEP + 12 upper-case hex digits, in one of
// the first 4096 partitions met) is two numbers, 16 bytes in one map; any
// other is kept as strings. Reads give back exactly the strings held.
//
// The DN is packed as DN packs it, its partition's number above it. Like a
// map, a DNSet is a reference: copies share their entries (see Clone). The
// zero value is empty and ready to use; it is not safe for concurrent use.
type DNSet struct {
	packed    map[uint64]uint64       // packed DN -> the holder's MAC
	other     map[domain.DNKey]string // the entries that do not pack
	partIDs   map[string]uint64       // partition -> number, from 0
	partNames map[uint64]string       // number -> partition
}

const (
	// partitionShift: a packed DN of at most 15 digits is below 2^51.
	partitionShift  = 51
	maxPackedDigits = 15
	maxPartitions   = 1 << (63 - partitionShift)
)

var _ domain.DNSet = (*DNSet)(nil)

// NewDNSet returns an empty set.
func NewDNSet() *DNSet {
	return &DNSet{packed: map[uint64]uint64{}, other: map[domain.DNKey]string{},
		partIDs: map[string]uint64{}, partNames: map[uint64]string{}}
}

// Holder returns the device holding dn in partition, if any.
func (h *DNSet) Holder(partition, dn string) (string, bool) {
	if k, ok := h.key(partition, dn, false); ok {
		if mac, held := h.packed[k]; held {
			return DeviceName(mac), true
		}
	}
	if len(h.other) == 0 {
		return "", false
	}
	d, held := h.other[domain.DNKey{Partition: partition, DN: dn}]
	return d, held
}

// Held reports whether a device holds dn in partition.
func (h *DNSet) Held(partition, dn string) bool {
	if k, ok := h.key(partition, dn, false); ok {
		if _, held := h.packed[k]; held {
			return true
		}
	}
	if len(h.other) == 0 {
		return false
	}
	_, held := h.other[domain.DNKey{Partition: partition, DN: dn}]
	return held
}

// Hold records that device holds dn in partition, in place of any holder
// before it.
func (h *DNSet) Hold(partition, dn, device string) {
	if h.packed == nil {
		*h = *NewDNSet()
	}
	k, ok := h.key(partition, dn, true)
	mac, isMAC := MAC(device)
	if ok && isMAC {
		delete(h.other, domain.DNKey{Partition: partition, DN: dn})
		h.packed[k] = mac
		return
	}
	if ok {
		delete(h.packed, k)
	}
	h.other[domain.DNKey{Partition: partition, DN: dn}] = device
}

// Release frees dn in partition.
func (h *DNSet) Release(partition, dn string) {
	if k, ok := h.key(partition, dn, false); ok {
		delete(h.packed, k)
	}
	delete(h.other, domain.DNKey{Partition: partition, DN: dn})
}

// Len is the number of DNs held.
func (h *DNSet) Len() int { return len(h.packed) + len(h.other) }

// All yields every DN held and its holder, in no order.
func (h *DNSet) All() iter.Seq2[domain.DNKey, string] {
	return func(yield func(domain.DNKey, string) bool) {
		for k, mac := range h.packed {
			dn := domain.DNKey{Partition: h.partNames[k>>partitionShift], DN: DNString(k & (1<<partitionShift - 1))}
			if !yield(dn, DeviceName(mac)) {
				return
			}
		}
		for k, d := range h.other {
			if !yield(k, d) {
				return
			}
		}
	}
}

// HeldIn counts the DNs of range r held in its partition. It reads the
// numbers as they are, without spelling out a DN: a packed DN lies in r
// exactly when its number lies between those of r's ends, since the
// number's leading 1 stands for the DN's length.
func (h *DNSet) HeldIn(r domain.DNRange) int {
	n := 0
	lo, okLo := h.key(r.Partition, r.Start, false)
	hi, okHi := h.key(r.Partition, r.End, false)
	if okLo && okHi {
		for k := range h.packed {
			if k >= lo && k <= hi {
				n++
			}
		}
	}
	for k := range h.other {
		if k.Partition == r.Partition && r.Contains(k.DN) {
			n++
		}
	}
	return n
}

// Clone returns a copy that shares nothing with h.
func (h *DNSet) Clone() domain.DNSet {
	return &DNSet{packed: cloneMap(h.packed), other: cloneMap(h.other),
		partIDs: cloneMap(h.partIDs), partNames: cloneMap(h.partNames)}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// key is the packed form of dn in partition: the partition's number above
// dn packed as DN packs it. ok is false when dn does not pack in 51 bits,
// or when the partition has no number (and add is not set or the
// partitions are too many).
func (h *DNSet) key(partition, dn string, add bool) (uint64, bool) {
	if dn == "" || len(dn) > maxPackedDigits {
		return 0, false
	}
	v, ok := DN(dn)
	if !ok {
		return 0, false
	}
	id, ok := h.partIDs[partition]
	if !ok {
		if !add || len(h.partIDs) >= maxPartitions {
			return 0, false
		}
		if h.partIDs == nil {
			h.partIDs, h.partNames = map[string]uint64{}, map[uint64]string{}
		}
		id = uint64(len(h.partIDs))
		h.partIDs[partition] = id
		h.partNames[id] = partition
	}
	return id<<partitionShift | v, true
}
