package seriestable

import (
	"math/bits"

	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

// Index finds a table's slot by a second hash: the hash of something other than the table's key
// (series_guard's label-set hash over slots keyed by raw identity, ordered_rw's labels' hash over
// slots keyed by identity hash). It holds no keys: an entry is the slot number plus a tag of the
// hash, and a hit is confirmed against the key read back from the slot (the keyOf given to
// NewIndex). Open addressing with linear probing, deletion by backward shift; an entry also holds
// its distance from its home (up to 15), so that deleting does not read the slots of the entries
// it moves.
// Its size is not a power of two: it grows by a quarter once more than 4/5 full, so an entry of
// 4 bytes costs 5 to 6.25 bytes a series (a power-of-two index at most 3/4 full: 5.3 to 10.7). The
// tag keeps a probe from reading a slot that cannot match, so the longer runs of a fuller index
// cost reads of adjacent entries, not cache misses. Shrink gives its memory back after a sweep.
// Its entries are outside the Go heap once they take a page or more (internal/offheap), freed when
// it resizes: an Index must not be copied once it has entries.
type Index struct {
	entries []uint32 // tag<<(distBits+slotBits) | distance<<slotBits | slot+1; 0 is empty
	// mem owns entries once they are large enough to be outside the Go heap (offheap).
	mem *offheap.Block
	// slotBits are the low bits of an entry that hold slot+1, distBits the next ones, holding
	// the entry's distance from its home (distMax: that or more); the tag is the rest.
	slotBits, distBits uint8
	used               int
	// keyOf returns the key kept in slot i; it is only called for slots in the index.
	keyOf func(i uint32) uint64
}

// NewIndex returns an empty index whose keys are read back from the slots by keyOf, which is only
// called for slots in the index.
func NewIndex(keyOf func(i uint32) uint64) Index { return Index{keyOf: keyOf} }

// home is the position at which a key's probe starts: h scaled to the index's size.
func (x *Index) home(h uint32) int { return int((uint64(h) * uint64(len(x.entries))) >> 32) }

func (x *Index) next(p int) int {
	if p++; p == len(x.entries) {
		return 0
	}
	return p
}

// distance is how many positions after from position to is, wrapping around the end.
func (x *Index) distance(from, to int) int {
	if d := to - from; d >= 0 {
		return d
	}
	return to - from + len(x.entries)
}

func (x *Index) tagShift() uint8 { return x.slotBits + x.distBits }

func (x *Index) distMax() uint32 { return 1<<x.distBits - 1 }

func (x *Index) entry(h, slot uint32, dist int) uint32 {
	return h<<x.tagShift() | min(uint32(dist), x.distMax())<<x.slotBits | (slot + 1)
}

func (x *Index) tagged(e, h uint32) bool { return (e^h<<x.tagShift())>>x.tagShift() == 0 }

// dist is the distance from its home of entry e at position p: read from the entry, or, past
// distMax, computed from its key.
func (x *Index) dist(e uint32, p int) int {
	if d := e >> x.slotBits & x.distMax(); d < x.distMax() {
		return int(d)
	}
	return x.distance(x.home(scramble(x.keyOf(x.slotOf(e)))), p)
}

func (x *Index) slotOf(e uint32) uint32 { return e&(1<<x.slotBits-1) - 1 }

// Len is the number of keys in the index.
func (x *Index) Len() int { return x.used }

// Lookup returns the slot of this key.
func (x *Index) Lookup(key uint64) (uint32, bool) {
	if x.used == 0 {
		return 0, false
	}
	h := scramble(key)
	for p := x.home(h); ; p = x.next(p) {
		e := x.entries[p]
		if e == 0 {
			return 0, false
		}
		if x.tagged(e, h) {
			if i := x.slotOf(e); x.keyOf(i) == key {
				return i, true
			}
		}
	}
}

// Prefetch reads the index entries of these keys (key(k) for each k), and with touch what the
// caller reads of their slots, so that the lookups that follow find them in the CPU cache; it
// returns a sum for the caller to keep, so that the reads are not removed.
func (x *Index) Prefetch(keys []uint64, key func(uint64) uint64, touch func(slot uint32) uint64) uint64 {
	if x.used == 0 {
		return 0
	}
	var sum uint64
	for _, k := range keys {
		sum += uint64(x.entries[x.home(scramble(key(k)))])
	}
	for _, k := range keys {
		h := scramble(key(k))
		for p := x.home(h); ; p = x.next(p) {
			e := x.entries[p]
			if e == 0 {
				break
			}
			if x.tagged(e, h) {
				sum += touch(x.slotOf(e))
				break
			}
		}
	}
	return sum
}

// Insert adds this key in slot; the key must not be in the index. slots is the number of slots
// of the table (Table.Slots): every slot number must fit beside the tag.
func (x *Index) Insert(key uint64, slot uint32, slots uint32) {
	if 5*(x.used+1) > 4*len(x.entries) || int(slots) >= len(x.entries) {
		x.resize(x.size(max(len(x.entries), minIndex), x.used+1, int(slots)))
	}
	h := scramble(key)
	p, dist := x.home(h), 0
	for x.entries[p] != 0 {
		p, dist = x.next(p), dist+1
	}
	x.entries[p] = x.entry(h, slot, dist)
	x.used++
}

// size is the smallest size, from size up by quarters, that n entries fill at most 4/5 and in
// which every slot number below slots fits.
func (x *Index) size(size, n, slots int) int {
	for 5*n > 4*size || slots >= size {
		size += size / 4
	}
	return size
}

// resize makes the index size entries long and places every key again.
func (x *Index) resize(size int) {
	old, oldBits, oldMem := x.entries, x.slotBits, x.mem
	x.entries, x.mem = offheap.Make[uint32](size)
	x.slotBits = uint8(bits.Len(uint(size)))
	x.distBits = min(maxDistBits, 32-x.slotBits)
	for _, e := range old {
		if e == 0 {
			continue
		}
		i := e&(1<<oldBits-1) - 1
		h := scramble(x.keyOf(i))
		p, dist := x.home(h), 0
		for x.entries[p] != 0 {
			p, dist = x.next(p), dist+1
		}
		x.entries[p] = x.entry(h, i, dist)
	}
	oldMem.Free()
}

// Shrink gives back the index's memory when a quarter of it would do, and all of it when the
// index is empty, so that it follows the table down after a sweep. slots is the number of slots
// of the table (Table.Slots).
func (x *Index) Shrink(slots uint32) {
	if x.used == 0 {
		x.mem.Free()
		x.entries, x.mem, x.slotBits, x.distBits = nil, nil, 0, 0
		return
	}
	if n := x.size(minIndex, x.used, int(slots)); 4*n <= len(x.entries) {
		x.resize(n)
	}
}

// RemoveAll removes these keys, which must be in the index: their first entries are read
// together first, so that the cache misses overlap. It returns a sum for the caller to keep, so
// that the reads are not removed.
func (x *Index) RemoveAll(keys []uint64) uint64 {
	var sum uint64
	for _, k := range keys {
		sum += uint64(x.entries[x.home(scramble(k))])
	}
	for _, k := range keys {
		x.Remove(k)
	}
	return sum
}

// Remove takes this key out of the index; it must be in it.
func (x *Index) Remove(key uint64) {
	h := scramble(key)
	hole := x.home(h)
	for e := x.entries[hole]; !x.tagged(e, h) || x.keyOf(x.slotOf(e)) != key; e = x.entries[hole] {
		hole = x.next(hole)
	}
	// Backward shift: move into the hole every later entry of the run whose probe passes it.
	for p := x.next(hole); x.entries[p] != 0; p = x.next(p) {
		e := x.entries[p]
		dist, gap := x.dist(e, p), x.distance(hole, p)
		if dist < gap {
			continue // its home is after the hole: its probe does not pass the hole
		}
		x.entries[hole] = e&^(x.distMax()<<x.slotBits) | min(uint32(dist-gap), x.distMax())<<x.slotBits
		hole = p
	}
	x.entries[hole] = 0
	x.used--
}
