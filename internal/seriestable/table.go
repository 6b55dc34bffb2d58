// Package seriestable keeps a value per series, by the 64-bit hash of the series' identity: the
// one series table of the project, shared by series_guard (which series are admitted) and
// ordered_rw (the hold-back's refs, a shard's last-sent state).
//
// Each series has a dense slot, numbered from 0, in fixed-size chunks that never move: a reader
// may read a slot (Table.Slot) without the writer's lock while other series are added. An index,
// an open-addressing hash table of slot numbers, finds a series' slot from its hash.
//
// The table is built for the way the collector uses it: between two batches, decoding,
// translating and encoding evict it from the CPU caches, so the cost of a lookup is the cache
// misses it takes. Two things keep them few:
//
//   - Series mostly come in the order in which they came before (a scrape's order, which batches
//     repeat), which is the order in which their slots were added. Find and Lookup take the slot of
//     the previous series of the batch and try the slot after it first; that slot is usually in
//     the cache already. Prefetch checks those slots only, and leaves the index alone for them.
//   - Prefetch loads the index entries and then the slots of a whole run of hashes in two tight
//     loops, so that their misses overlap instead of being taken one at a time by the lookups
//     that follow. An index entry carries some bits of the series' hash besides its slot number,
//     so a probe does not read the slots of the other series on its way, and its distance from
//     its home, so a deletion does not either.
//
// A lookup in an order unrelated to the slots' still reads two cache lines, the index entry and
// the slot, where a table with the values inline in the index reads one: prefetched, that costs
// series_guard about 1.6x as much per lookup at 1M series out of the caches (see README.md).
//
// Index is a second index over a table's slots, by a hash other than the table's key, its keys
// read back from the slots: series_guard finds a series by its label-set hash with it, ordered_rw's
// encoder a label set by its labels' hash.
//
// Memory: a slot is an 8-byte key and the value; an index entry is 4 bytes, the index at most
// 3/4 full (5.3–10.7 bytes per series). A sweep gives back what the table no longer needs (see
// Sweep), so that its memory follows the series down as well as up. See README.md for measured
// figures.
//
// The indexes, and the chunks of a table whose values hold no Go pointer, are outside the Go heap
// (internal/offheap, on Linux): long-lived, they would cost twice their size in a heap that grows
// to twice its live size between collections, and be marked at every collection. So a chunk is
// unmapped as soon as the table drops it, not when the last reader lets it go: see Slot.
package seriestable // import "github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"

import (
	"cmp"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

// Table keeps a T per series. It is not safe for concurrent use, except Slot for slots that are
// not being added or freed meanwhile. The index is only read by the writer: resize frees the old
// one at once.
type Table[T any] struct {
	// index holds an entry (see entry) for each series whose key probes here; 0: empty. It is
	// outside the Go heap once large (offheap), owned by indexMem.
	index    []uint32
	indexMem *offheap.Block
	// bits is log2(len(index)): slot numbers stay below 3/4 of len(index), so slot+1 fits in
	// the low bits bits of an entry.
	bits uint8
	// distBits is the width of an entry's distance from its home: maxDistBits while the index
	// leaves that many bits free.
	distBits uint8
	// chunks is replaced, never changed, when a chunk is added, so that Slot needs no lock.
	// chunkMem owns them, one Block per chunk: the chunks are outside the Go heap when T holds no
	// pointers (nil Blocks otherwise); a chunk is unmapped when release drops it.
	chunks   atomic.Pointer[[]*chunk[T]]
	chunkMem []*offheap.Block
	free     []uint32 // freed slots, for reuse
	next     uint32   // slots below next were used once
	used     int      // series in the table
	// disordered is set when the last two series found were not in the slot after the previous
	// one: the batch is not in the order of the slots, so trying the next slot would mostly
	// cost a cache miss for nothing. It is cleared when a series is found there again. One
	// series found elsewhere (jumped) is a batch that goes on in order from another place (the
	// next request of a sender, another metric): the next slot is still tried after it.
	disordered, jumped bool
	// touched keeps Prefetch's loads from being optimised away.
	touched uint64
}

const chunkBits = 12

type chunk[T any] [1 << chunkBits]slot[T]

type slot[T any] struct {
	key uint64 // Key of the series' hash; 0 while the slot is free
	val T
}

// NoSlot is the previous slot to give Find or Lookup for the first series of a batch: slot 0 is
// tried.
const NoSlot = ^uint32(0)

const (
	// minIndex is the index's size once a first series is added.
	minIndex = 64
	// fibonacci spreads a key over the top bits (Knuth's multiplicative hashing), so that keys
	// that are not well mixed (tests' and benchmarks' sequential numbers) still spread.
	fibonacci = 0x9E3779B97F4A7C15
)

// New returns an empty table.
func New[T any]() *Table[T] {
	t := &Table[T]{}
	t.chunks.Store(&[]*chunk[T]{})
	return t
}

// Key is what the table keeps of a hash: 0 marks a free slot, so hash 0 is kept as 1 (two series
// whose 64-bit hashes are 0 and 1 share a slot, as two series with equal hashes already would).
func Key(hash uint64) uint64 { return max(hash, 1) }

// Slot returns the value in slot i, which must have been returned by Find or Lookup. It may be
// called without the writer's lock, and the value read or written through the pointer, while the
// slot is in use (not freed by Remove or Sweep): the table drops a chunk, unmapping it when T
// holds no pointer, only once it holds no slot in use. Neither may be used once the table is
// unreachable (its chunks are then unmapped by a cleanup).
func (t *Table[T]) Slot(i uint32) *T {
	return &(*t.chunks.Load())[i>>chunkBits][i&(1<<chunkBits-1)].val
}

// At returns the key and the value of slot i, i below Slots; key 0: the slot is free.
func (t *Table[T]) At(i uint32) (key uint64, val *T) {
	s := t.at(i)
	return s.key, &s.val
}

func (t *Table[T]) at(i uint32) *slot[T] {
	return &(*t.chunks.Load())[i>>chunkBits][i&(1<<chunkBits-1)]
}

// Len is the number of series in the table.
func (t *Table[T]) Len() int { return t.used }

// Slots is the number of slots ever used, free ones included: the slots are 0 to Slots-1.
func (t *Table[T]) Slots() uint32 { return t.next }

// Find returns the slot of the series hash, added (with T's zero value) if the table did not
// have it; prev is the slot of the series before it in the batch, or NoSlot.
func (t *Table[T]) Find(prev uint32, hash uint64) (i uint32, added bool) {
	if i, ok := t.Lookup(prev, hash); ok {
		return i, false
	}
	key := Key(hash)
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		i = t.next
		t.next++
		if chunks := *t.chunks.Load(); int(i>>chunkBits) == len(chunks) {
			// A new slice of chunks, so that readers of the old one are not disturbed.
			c, mem := offheap.Make[chunk[T]](1)
			grown := append(chunks[:len(chunks):len(chunks)], &c[0])
			t.chunkMem = append(t.chunkMem, mem)
			t.chunks.Store(&grown)
		}
	}
	*t.at(i) = slot[T]{key: key}
	t.insert(key, i)
	t.disordered, t.jumped = i != prev+1, false
	return i, true
}

// Lookup returns the slot of the series hash, if the table has it; prev is the slot of the
// series before it in the batch, or NoSlot. It adds nothing.
func (t *Table[T]) Lookup(prev uint32, hash uint64) (uint32, bool) {
	if t.used == 0 {
		return 0, false
	}
	key := Key(hash)
	next := prev + 1
	if !t.disordered && next < t.next && t.at(next).key == key {
		return next, true
	}
	i, ok := t.lookup(key)
	if ok {
		t.found(i, next)
	}
	return i, ok
}

// found records that a lookup found its series in slot i, where next was guessed.
func (t *Table[T]) found(i, next uint32) {
	switch {
	case i == next:
		t.disordered, t.jumped = false, false
	case t.jumped:
		t.disordered = true
	default:
		t.jumped = true
	}
}

// scramble spreads a key's bits: its top bits are the key's home in the index, the bits after
// them go into the key's index entry.
func scramble(key uint64) uint32 { return uint32((key * fibonacci) >> 32) }

func (t *Table[T]) home(h uint32) int { return int(uint64(h) >> (32 - t.bits)) }

// maxDistBits is the most bits an index entry gives to its distance from its home: 4, so
// distances up to 14 are kept and 15 says "15 or more: ask the key".
const maxDistBits = 4

// entry is the index entry of slot i for a key whose scrambled hash is h, dist positions after
// its home. From the low bits: slot+1 (bits bits); the distance (distBits bits, saturated), so
// that a deletion knows which entries to move back without reading their keys; then as many of
// the bits of h after the home bits as fit (a tag, 7 bits at 1M series), so that a search reads
// the slot of another key only when their tags collide.
func (t *Table[T]) entry(h uint32, i uint32, dist int) uint32 {
	tagShift := t.bits + t.distBits
	return h<<t.bits>>tagShift<<tagShift | t.distField(dist) | (i + 1)
}

func (t *Table[T]) distMax() uint32 { return 1<<t.distBits - 1 }

func (t *Table[T]) distField(dist int) uint32 { return min(uint32(dist), t.distMax()) << t.bits }

// dist returns the distance of entry e, at position p, from its home.
func (t *Table[T]) dist(e uint32, p int) int {
	if d := e >> t.bits & t.distMax(); d < t.distMax() {
		return int(d)
	}
	return (p - t.home(scramble(t.at(t.slotOf(e)).key))) & (len(t.index) - 1)
}

// tagged reports whether index entry e may be of a key whose scrambled hash is h: their tags
// agree.
func (t *Table[T]) tagged(e, h uint32) bool { return (e^h<<t.bits)>>(t.bits+t.distBits) == 0 }

func (t *Table[T]) slotOf(e uint32) uint32 { return e&(1<<t.bits-1) - 1 }

// lookup returns the slot of key, if the table has it.
func (t *Table[T]) lookup(key uint64) (uint32, bool) {
	h := scramble(key)
	mask := len(t.index) - 1
	for p := t.home(h); ; p = (p + 1) & mask {
		e := t.index[p]
		if e == 0 {
			return 0, false
		}
		if t.tagged(e, h) {
			if i := t.slotOf(e); t.at(i).key == key {
				return i, true
			}
		}
	}
}

// insert indexes slot i, whose key the table does not have.
func (t *Table[T]) insert(key uint64, i uint32) {
	if 4*(t.used+1) > 3*len(t.index) {
		t.grow()
	}
	h := scramble(key)
	mask := len(t.index) - 1
	p, dist := t.home(h), 0
	for t.index[p] != 0 {
		p, dist = (p+1)&mask, dist+1
	}
	t.index[p] = t.entry(h, i, dist)
	t.used++
}

// grow doubles the index and places every series again. It runs log2(series) times in all.
func (t *Table[T]) grow() { t.resize(max(2*len(t.index), minIndex)) }

// resize makes the index n entries long and places every series again; n must be a power of
// two above the slots ever used (t.next). The old index is freed at once: only the writer reads
// the index.
func (t *Table[T]) resize(n int) {
	old, oldBits, oldMem := t.index, t.bits, t.indexMem
	t.index, t.indexMem = offheap.Make[uint32](n)
	t.bits = uint8(bits.Len(uint(n)) - 1)
	t.distBits = min(maxDistBits, 32-t.bits)
	mask := n - 1
	for _, e := range old {
		if e == 0 {
			continue
		}
		i := e&(1<<oldBits-1) - 1
		h := scramble(t.at(i).key)
		p, dist := t.home(h), 0
		for t.index[p] != 0 {
			p, dist = (p+1)&mask, dist+1
		}
		t.index[p] = t.entry(h, i, dist)
	}
	oldMem.Free()
}

// Remove frees slot i, which must hold a series: the series is no longer in the table, and the
// slot is reused by a later Find.
func (t *Table[T]) Remove(i uint32) {
	s := t.at(i)
	t.remove(s.key, i)
	*s = slot[T]{}
	t.free = append(t.free, i)
}

// remove takes slot i, which has key, out of the index, and moves back the entries after it that
// would otherwise no longer be found from their home (backward-shift deletion: no tombstones, so
// searches stay short however many series come and go).
func (t *Table[T]) remove(key uint64, i uint32) {
	mask := len(t.index) - 1
	hole := t.home(scramble(key))
	for t.slotOf(t.index[hole]) != i {
		hole = (hole + 1) & mask
	}
	for p := (hole + 1) & mask; t.index[p] != 0; p = (p + 1) & mask {
		e := t.index[p]
		dist, gap := t.dist(e, p), (p-hole)&mask
		// The entry at p stays when its home is cyclically in (hole, p]: nearer to p than hole.
		if dist < gap {
			continue
		}
		t.index[hole] = e&^(t.distMax()<<t.bits) | t.distField(dist-gap)
		hole = p
	}
	t.index[hole] = 0
	t.used--
}

// Sweep frees the slots whose value expired says to, and returns how many it freed. It visits
// every used slot once, in slot order. A freed slot is marked so that Find never takes it for the
// series it had. Then it gives back what the table no longer needs (release).
func (t *Table[T]) Sweep(expired func(*T) bool) int {
	// The expired slots are freed in runs, each run's index entries loaded together first (see
	// freeAll): found one at a time, each would wait for its own cache miss.
	var run [256]uint32
	n, k := 0, 0
	for i := range t.next {
		s := t.at(i)
		if s.key != 0 && expired(&s.val) {
			run[k] = i
			if k++; k == len(run) {
				t.freeAll(run[:k])
				k = 0
			}
			n++
		}
	}
	t.freeAll(run[:k])
	if n > 0 || (t.used == 0 && t.next > 0) {
		t.release()
	}
	return n
}

// Release gives back what the table no longer needs, as a sweep does once it has freed slots
// (release): for a table that Remove emptied, whose owner need not wait for its next sweep.
func (t *Table[T]) Release() {
	if t.next > 0 {
		t.release()
	}
}

// release gives back what a sweep left unused, so that a table's memory follows its series
// down as well as up: all of it when the table is empty (a table of series seen once, which
// empties when they are seen again, kept its chunks, index and free list at their peak: 26
// bytes per series that once passed through); else the chunks after the last used slot, and
// the index when a quarter of it would do. The free slots are then reused lowest first, so that
// the slots in use gather at the start and a later sweep can release the tail. Slots in use
// stay where they are.
func (t *Table[T]) release() {
	if t.used == 0 {
		t.indexMem.Free()
		t.index, t.indexMem, t.bits, t.distBits = nil, nil, 0, 0
		t.chunks.Store(&[]*chunk[T]{})
		t.freeChunks(0)
		t.free, t.next = nil, 0
		t.disordered, t.jumped = false, false
		return
	}
	last := t.next
	for last > 0 && t.at(last-1).key == 0 {
		last--
	}
	if last < t.next {
		t.next = last
		t.free = slices.DeleteFunc(t.free, func(i uint32) bool { return i >= last })
		chunks := *t.chunks.Load()
		if n := int((last + 1<<chunkBits - 1) >> chunkBits); n < len(chunks) {
			// A new slice of chunks, so that readers of the old one are not disturbed.
			kept := slices.Clone(chunks[:n])
			t.chunks.Store(&kept)
			t.freeChunks(n)
		}
	}
	slices.SortFunc(t.free, func(a, b uint32) int { return cmp.Compare(b, a) })
	if cap(t.free) > 2*len(t.free)+minIndex {
		t.free = slices.Clone(t.free)
	}
	// The smallest index that insert would not grow at once, if it is a quarter of this one or
	// less (not at every sweep's small change); slot+1 must fit in its entries.
	n := minIndex
	for 4*(t.used+1) > 3*n || 4*int(t.next) > 3*n {
		n *= 2
	}
	if 4*n <= len(t.index) {
		t.resize(n)
	}
}

// freeChunks unmaps the chunks from the nth on, which the chunks Slot reads no longer have: they
// hold no slot in use, so no reader without the lock may read them (Slot).
func (t *Table[T]) freeChunks(n int) {
	for _, mem := range t.chunkMem[n:] {
		mem.Free()
	}
	clear(t.chunkMem[n:])
	t.chunkMem = t.chunkMem[:n]
}

// freeAll frees the given slots, in order, after loading their index entries' cache lines.
func (t *Table[T]) freeAll(slots []uint32) {
	var sum uint64
	for _, i := range slots {
		sum += uint64(t.index[t.home(scramble(t.at(i).key))])
	}
	t.touched += sum
	for _, i := range slots {
		s := t.at(i)
		t.remove(s.key, i)
		*s = slot[T]{}
		t.free = append(t.free, i)
	}
}

// Prefetch starts loading what looking up these hashes will read (their index entries, then
// their slots) into the CPU cache, so that the misses of many lookups overlap instead of being
// taken one at a time. prev is the slot the first lookup will be given (as Lookup's prev). It
// changes nothing; the lookups that follow may come in any order.
//
// The hashes that Lookup will find in the slot after their predecessor's (the batch repeats the
// slots' order) are only checked there: their lookups read that slot alone, which this check
// has just loaded (the slots of a run in order share cache lines and follow each other in
// memory), and their index entries are not touched at all. A hash that is not there after one
// that was (a batch in order from another place: the next request; or a new series) is looked
// up at once, and the check goes on from its slot, as Lookup's guesses will; at two such hashes
// in a row every hash left is prefetched through the index.
func (t *Table[T]) Prefetch(prev uint32, hashes []uint64) {
	if t.used == 0 {
		return
	}
	if hashes = t.inOrder(prev, hashes); len(hashes) == 0 {
		return
	}
	index, mask, shift := t.index, len(t.index)-1, 32-t.bits
	var sum uint64
	for _, hash := range hashes {
		sum += uint64(index[int(uint64(scramble(Key(hash)))>>shift)])
	}
	// The index entries are in the cache (or on their way): find each hash's first candidate and
	// touch its slot.
	chunks := *t.chunks.Load()
	for _, hash := range hashes {
		h := scramble(Key(hash))
		for p := int(uint64(h) >> shift); ; p = (p + 1) & mask {
			e := index[p]
			if e == 0 {
				break
			}
			if t.tagged(e, h) {
				i := t.slotOf(e)
				sum += chunks[i>>chunkBits][i&(1<<chunkBits-1)].key
				break
			}
		}
	}
	t.touched += sum
}

// inOrder follows Lookup's guesses through hashes from prev and returns the hashes from the
// first one whose lookup will read the index unprefetched: see Prefetch. It loads the slots it
// checks and the index entries of the hashes it looks up.
func (t *Table[T]) inOrder(prev uint32, hashes []uint64) []uint64 {
	if t.disordered {
		return hashes
	}
	// probe: the previous hash was found in order (or this is the first), so a hash that is not
	// may be looked up at once.
	jumped, probe := t.jumped, true
	for len(hashes) > 0 {
		key, next := Key(hashes[0]), prev+1
		switch {
		case next < t.next && t.at(next).key == key:
			prev, jumped, probe = next, false, true
		case jumped || !probe:
			return hashes
		default:
			// Looked up now, its index entry and slot are cached for Lookup; a series not in the
			// table (new) leaves prev as it is, as it leaves Lookup's caller's.
			if i, ok := t.lookup(key); ok {
				prev, jumped = i, true
			}
			probe = false
		}
		hashes = hashes[1:]
	}
	return nil
}
