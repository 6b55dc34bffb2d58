// Package seriestable maps the identity hash of a series to a dense, stable slot holding a value
// per series: the hold-back's per-series refs and each shard's last-sent state live in one.
//
// It is ordered_rw's own copy until the module-root internal/seriestable, shared with
// series_guard, replaces it; its API is that package's.
package seriestable // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/seriestable"

import (
	"math/bits"
	"sync/atomic"
)

// Table keeps a T per series, by the hash of its labels: the hold-back's refs and a shard's
// last-sent state. Each series has a slot in a table of fixed-size chunks; a slot never moves, so
// that a release reads the hold-back's refs without its lock while pushes add new ones.
//
// Series mostly come in the order in which they came before (a scrape's order, which batches
// repeat), and that is the order in which their slots were added: Find tries the slot after the
// previous series' first, and searches the index only when that is not the series. A search is
// a cache miss or two per series once the table outgrows the CPU caches; the next slot is
// usually in the cache already.
//
// The index is an open-addressing hash table of slot numbers (linear probing, at most 3/4 full):
// 5–11 bytes per series, where a Go map from hash to slot took 20–40.
//
// A table is not safe for concurrent use, except Slot for slots that are not being added or
// freed meanwhile.
type Table[T any] struct {
	index  []uint32 // slot+1 of the series whose key probes here; 0: empty
	shift  uint8    // the index's home of a key is its top bits after fibonacci hashing
	chunks atomic.Pointer[[]*tableChunk[T]]
	free   []uint32 // freed slots, for reuse
	next   uint32   // slots below next were used once
	used   int      // series in the table
}

const tableChunkBits = 12

type tableChunk[T any] [1 << tableChunkBits]tableSlot[T]

type tableSlot[T any] struct {
	key uint64 // Key of the series' hash; 0 while the slot is free
	val T
}

// NoSlot is the previous slot to give find for the first series of a batch: slot 0 is tried.
const NoSlot = ^uint32(0)

const (
	// minIndex is the index's size once a first series is added.
	minIndex = 64
	// fibonacci spreads a key over the top bits (Knuth's multiplicative hashing), so that keys
	// that are not well mixed (tests' small numbers) still spread.
	fibonacci = 0x9E3779B97F4A7C15
)

// New returns an empty table.
func New[T any]() *Table[T] {
	t := &Table[T]{}
	t.chunks.Store(&[]*tableChunk[T]{})
	return t
}

// Key makes a hash a key: 0 marks a free slot, so hash 0 is kept as 1 (two series whose
// 64-bit hashes are 0 and 1 share a slot, as two series with equal hashes already would).
func Key(hash uint64) uint64 { return max(hash, 1) }

// Slot returns the value in slot i.
func (t *Table[T]) Slot(i uint32) *T {
	return &(*t.chunks.Load())[i>>tableChunkBits][i&(1<<tableChunkBits-1)].val
}

// Find returns the slot of the series hash, added (with T's zero value) if the table did not
// have it; prev is the slot of the series before it in the batch, or NoSlot.
func (t *Table[T]) Find(prev uint32, hash uint64) (i uint32, added bool) {
	key := Key(hash)
	if next := prev + 1; next < t.next && t.at(next).key == key {
		return next, false
	}
	if i, ok := t.lookup(key); ok {
		return i, false
	}
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		i = t.next
		t.next++
		if chunks := *t.chunks.Load(); int(i>>tableChunkBits) == len(chunks) {
			// A new slice of chunks, so that readers of the old one are not disturbed.
			grown := append(chunks[:len(chunks):len(chunks)], new(tableChunk[T]))
			t.chunks.Store(&grown)
		}
	}
	*t.at(i) = tableSlot[T]{key: key}
	t.insert(key, i)
	return i, true
}

func (t *Table[T]) at(i uint32) *tableSlot[T] {
	return &(*t.chunks.Load())[i>>tableChunkBits][i&(1<<tableChunkBits-1)]
}

// Len is the number of series in the table.
func (t *Table[T]) Len() int { return t.used }

func (t *Table[T]) home(key uint64) int { return int((key * fibonacci) >> t.shift) }

// lookup returns the slot of key, if the table has it.
func (t *Table[T]) lookup(key uint64) (uint32, bool) {
	if t.used == 0 {
		return 0, false
	}
	mask := len(t.index) - 1
	for p := t.home(key); ; p = (p + 1) & mask {
		e := t.index[p]
		if e == 0 {
			return 0, false
		}
		if t.at(e-1).key == key {
			return e - 1, true
		}
	}
}

// insert indexes slot i, whose key the table does not have.
func (t *Table[T]) insert(key uint64, i uint32) {
	if 4*(t.used+1) > 3*len(t.index) {
		t.grow()
	}
	mask := len(t.index) - 1
	p := t.home(key)
	for t.index[p] != 0 {
		p = (p + 1) & mask
	}
	t.index[p] = i + 1
	t.used++
}

// grow doubles the index and places every series again.
func (t *Table[T]) grow() {
	old := t.index
	n := max(2*len(old), minIndex)
	t.index = make([]uint32, n)
	t.shift = uint8(64 - bits.Len(uint(n)) + 1)
	mask := n - 1
	for _, e := range old {
		if e == 0 {
			continue
		}
		p := t.home(t.at(e - 1).key)
		for t.index[p] != 0 {
			p = (p + 1) & mask
		}
		t.index[p] = e
	}
}

// remove takes slot i, which has key, out of the index, and moves back the entries after it that
// would otherwise no longer be found from their home (backward-shift deletion: no tombstones, so
// searches stay short however many series come and go).
func (t *Table[T]) remove(key uint64, i uint32) {
	mask := len(t.index) - 1
	hole := t.home(key)
	for t.index[hole] != i+1 {
		hole = (hole + 1) & mask
	}
	for p := (hole + 1) & mask; t.index[p] != 0; p = (p + 1) & mask {
		h := t.home(t.at(t.index[p] - 1).key)
		// The entry at p stays when its home is cyclically in (hole, p].
		if hole <= p {
			if hole < h && h <= p {
				continue
			}
		} else if hole < h || h <= p {
			continue
		}
		t.index[hole] = t.index[p]
		hole = p
	}
	t.index[hole] = 0
	t.used--
}

// Sweep frees the slots whose value expired says to, and returns how many it freed. A freed
// slot is marked so that Find never takes it for the series it had.
func (t *Table[T]) Sweep(expired func(*T) bool) int {
	n := 0
	for i := range t.next {
		s := t.at(i)
		if s.key != 0 && expired(&s.val) {
			t.remove(s.key, i)
			*s = tableSlot[T]{}
			t.free = append(t.free, i)
			n++
		}
	}
	return n
}
