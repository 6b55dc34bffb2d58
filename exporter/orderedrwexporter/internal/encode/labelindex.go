package encode // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"

import (
	"math/bits"

	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// labelIndex finds a cached series' entry in the encoder's table by the hash of its labels: a
// second index over the table's slots, so that two identities of one label set share one
// series (see Encoder.add) without a second table of series. It is an open-addressing array of
// 32-bit entries, as seriestable's own index (linear probing, at most 3/4 full, backward-shift
// deletion): from the low bits, the slot number plus one, then bits of the labels' hash that the
// home position does not use (a tag), so that a probe reads the slot of another series only
// when their tags agree. The labels' hash itself is the slot's (entry.hash). It is used only
// when a series is added or swept, never for a sample of a cached series.
//
// Memory: 4 bytes / load factor (5.3–10.7) per cached series.
type labelIndex struct {
	entries []uint32
	// bits is log2(len(entries)): the table's slot numbers stay below 3/4 of len(entries), so
	// that slot+1 fits in the low bits bits of an entry.
	bits uint8
	used int
}

// minLabelIndex is the index's size once a first series is added.
const minLabelIndex = 64

// scrambleHash spreads a hash's bits (as seriestable does): the top bits are its home, the bits
// after them its tag.
func scrambleHash(hash uint64) uint32 { return uint32((hash * 0x9E3779B97F4A7C15) >> 32) }

func (x *labelIndex) home(s uint32) int           { return int(uint64(s) >> (32 - x.bits)) }
func (x *labelIndex) slotOf(e uint32) uint32      { return e&(1<<x.bits-1) - 1 }
func (x *labelIndex) tagged(e, s uint32) bool     { return (e^s<<x.bits)>>x.bits == 0 }
func (x *labelIndex) entry(s, slot uint32) uint32 { return s<<x.bits | (slot + 1) }

// lookup returns the slot of the series whose labels hash to hash, if indexed.
func (x *labelIndex) lookup(t *seriestable.Table[entry], hash uint64) (uint32, bool) {
	if x.used == 0 {
		return 0, false
	}
	s, mask := scrambleHash(hash), len(x.entries)-1
	for p := x.home(s); ; p = (p + 1) & mask {
		e := x.entries[p]
		if e == 0 {
			return 0, false
		}
		if x.tagged(e, s) {
			if i := x.slotOf(e); t.Slot(i).hash == hash {
				return i, true
			}
		}
	}
}

// insert indexes slot, whose labels hash to hash (not indexed yet).
func (x *labelIndex) insert(t *seriestable.Table[entry], hash uint64, slot uint32) {
	if n := x.size(t, x.used+1); n > len(x.entries) {
		x.resize(t, n)
	}
	x.place(scrambleHash(hash), slot)
	x.used++
}

// size is the smallest index that holds n
// series of the table t without being more than 3/4 full, and whose entries hold its slot
// numbers.
func (x *labelIndex) size(t *seriestable.Table[entry], n int) int {
	size := minLabelIndex
	for 4*n > 3*size || 4*int(t.Slots()) > 3*size {
		size *= 2
	}
	return size
}

func (x *labelIndex) place(s, slot uint32) {
	mask := len(x.entries) - 1
	p := x.home(s)
	for x.entries[p] != 0 {
		p = (p + 1) & mask
	}
	x.entries[p] = x.entry(s, slot)
}

// resize makes the index n entries long (a power of two) and places every series again.
func (x *labelIndex) resize(t *seriestable.Table[entry], n int) {
	old, oldBits := x.entries, x.bits
	x.entries = make([]uint32, n)
	x.bits = uint8(bits.Len(uint(n)) - 1)
	for _, e := range old {
		if e != 0 {
			i := e&(1<<oldBits-1) - 1
			x.place(scrambleHash(t.Slot(i).hash), i)
		}
	}
}

// remove takes the series whose labels hash to hash (indexed) out of the index, and moves back
// the entries after it that would otherwise no longer be found from their home.
func (x *labelIndex) remove(t *seriestable.Table[entry], hash uint64) {
	s, mask := scrambleHash(hash), len(x.entries)-1
	hole := x.home(s)
	for e := x.entries[hole]; !x.tagged(e, s) || t.Slot(x.slotOf(e)).hash != hash; e = x.entries[hole] {
		hole = (hole + 1) & mask
	}
	for p := (hole + 1) & mask; x.entries[p] != 0; p = (p + 1) & mask {
		e := x.entries[p]
		home := x.home(scrambleHash(t.Slot(x.slotOf(e)).hash))
		// The entry at p stays when its home is cyclically in (hole, p]: nearer to p than hole.
		if (p-home)&mask < (p-hole)&mask {
			continue
		}
		x.entries[hole] = e
		hole = p
	}
	x.entries[hole] = 0
	x.used--
}

// shrink gives back the index's memory when a quarter of it (or nothing) would do, after the
// table was swept.
func (x *labelIndex) shrink(t *seriestable.Table[entry]) {
	if x.used == 0 {
		*x = labelIndex{}
		return
	}
	if n := x.size(t, x.used); 4*n <= len(x.entries) {
		x.resize(t, n)
	}
}
