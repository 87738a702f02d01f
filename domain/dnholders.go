package domain

import "iter"

// DNHolders is the set of DNs in use, in any partition, each with the
// device holding it. The registrar holds one entry per DN in use for as
// long as it runs, so the usual entry (a DN of at most 15 digits, held by
// a device named SEP + 12 upper-case hex digits, in one of the first 4096
// partitions met) is two numbers; any other is kept as strings. Reads give
// back exactly the strings held.
//
// Like a map, a DNHolders is a reference: copies share their entries (see
// Clone). The zero value is empty and ready to use.
type DNHolders struct {
	packed    map[uint64]uint64 // packedDN -> the holder's MAC
	other     map[DNKey]string  // the entries that do not pack
	partIDs   map[string]uint64 // partition -> number, from 0
	partNames map[uint64]string // number -> partition
}

const (
	maxPackedDigits = 15 // "1" + 15 digits < 2^51
	partitionShift  = 51
	maxPartitions   = 1 << (63 - partitionShift)
)

// NewDNHolders returns an empty set.
func NewDNHolders() DNHolders {
	return DNHolders{packed: map[uint64]uint64{}, other: map[DNKey]string{},
		partIDs: map[string]uint64{}, partNames: map[uint64]string{}}
}

// Holder returns the device holding dn in partition, if any.
func (h DNHolders) Holder(partition, dn string) (string, bool) {
	if k, ok := h.key(partition, dn, false); ok {
		if mac, held := h.packed[k]; held {
			return DeviceNameOfMAC(mac), true
		}
	}
	if len(h.other) == 0 {
		return "", false
	}
	d, held := h.other[DNKey{partition, dn}]
	return d, held
}

// Held reports whether a device holds dn in partition.
func (h DNHolders) Held(partition, dn string) bool {
	if k, ok := h.key(partition, dn, false); ok {
		if _, held := h.packed[k]; held {
			return true
		}
	}
	if len(h.other) == 0 {
		return false
	}
	_, held := h.other[DNKey{partition, dn}]
	return held
}

// Hold records that device holds dn in partition, in place of any holder
// before it.
func (h *DNHolders) Hold(partition, dn, device string) {
	if h.packed == nil {
		*h = NewDNHolders()
	}
	k, ok := h.key(partition, dn, true)
	mac, isMAC := DeviceMAC(device)
	if ok && isMAC {
		delete(h.other, DNKey{partition, dn})
		h.packed[k] = mac
		return
	}
	if ok {
		delete(h.packed, k)
	}
	h.other[DNKey{partition, dn}] = device
}

// Release frees dn in partition.
func (h DNHolders) Release(partition, dn string) {
	if k, ok := h.key(partition, dn, false); ok {
		delete(h.packed, k)
	}
	delete(h.other, DNKey{partition, dn})
}

// Len is the number of DNs held.
func (h DNHolders) Len() int { return len(h.packed) + len(h.other) }

// All yields every DN held and its holder, in no order.
func (h DNHolders) All() iter.Seq2[DNKey, string] {
	return func(yield func(DNKey, string) bool) {
		for k, mac := range h.packed {
			dn := DNKey{Partition: h.partNames[k>>partitionShift], DN: unpackDN(k & (1<<partitionShift - 1))}
			if !yield(dn, DeviceNameOfMAC(mac)) {
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
func (h DNHolders) HeldIn(r DNRange) int {
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
func (h DNHolders) Clone() DNHolders {
	return DNHolders{packed: cloneMap(h.packed), other: cloneMap(h.other),
		partIDs: cloneMap(h.partIDs), partNames: cloneMap(h.partNames)}
}

// key is the packed form of dn in partition: the partition's number above
// the number written "1" followed by dn's digits. ok is false when dn does
// not pack, or when the partition has no number (and add is not set or
// the partitions are too many).
func (h DNHolders) key(partition, dn string, add bool) (uint64, bool) {
	if dn == "" || len(dn) > maxPackedDigits {
		return 0, false
	}
	v := uint64(1)
	for i := 0; i < len(dn); i++ {
		if dn[i] < '0' || dn[i] > '9' {
			return 0, false
		}
		v = v*10 + uint64(dn[i]-'0')
	}
	id, ok := h.partIDs[partition]
	if !ok {
		if !add || len(h.partIDs) >= maxPartitions {
			return 0, false
		}
		id = uint64(len(h.partIDs))
		h.partIDs[partition] = id
		h.partNames[id] = partition
	}
	return id<<partitionShift | v, true
}

// unpackDN is the digit string packed as v (see key).
func unpackDN(v uint64) string {
	var b [maxPackedDigits + 1]byte
	i := len(b)
	for ; v >= 10; v /= 10 { // every digit but the leading 1
		i--
		b[i] = byte('0' + v%10)
	}
	return string(b[i:])
}
