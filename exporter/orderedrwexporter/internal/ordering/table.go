package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import "sync/atomic"

// seriesTable keeps a T per series, by the hash of its labels: the hold-back's refs and a shard's
// last-sent state. Each series has a slot in a table of fixed-size chunks, found through a map;
// a slot never moves, so that a release reads the hold-back's refs without its lock while pushes
// add new ones.
//
// Series mostly come in the order in which they came before (a scrape's order, which batches
// repeat), and that is the order in which their slots were added: find tries the slot after the
// previous series' first, and asks the map only when that is not the series. The map's lookup
// is a cache miss per series once it outgrows the CPU caches; the next slot is usually in the
// cache already.
//
// A table is not safe for concurrent use, except slot for slots that are not being added or
// freed meanwhile.
type seriesTable[T any] struct {
	index  map[uint64]uint32 // key → slot
	chunks atomic.Pointer[[]*tableChunk[T]]
	free   []uint32 // freed slots, for reuse
	next   uint32   // slots below next were used once
}

const tableChunkBits = 12

type tableChunk[T any] [1 << tableChunkBits]tableSlot[T]

type tableSlot[T any] struct {
	key uint64 // tableKey of the series' hash; 0 while the slot is free
	val T
}

// noSlot is the previous slot to give find for the first series of a batch: slot 0 is tried.
const noSlot = ^uint32(0)

func newSeriesTable[T any]() *seriesTable[T] {
	t := &seriesTable[T]{index: map[uint64]uint32{}}
	t.chunks.Store(&[]*tableChunk[T]{})
	return t
}

// tableKey makes a hash a key: 0 marks a free slot, so hash 0 is kept as 1 (two series whose
// 64-bit hashes are 0 and 1 share a slot, as two series with equal hashes already would).
func tableKey(hash uint64) uint64 { return max(hash, 1) }

// slot returns the value in slot i.
func (t *seriesTable[T]) slot(i uint32) *T {
	return &(*t.chunks.Load())[i>>tableChunkBits][i&(1<<tableChunkBits-1)].val
}

// find returns the slot of the series hash, added (with T's zero value) if the table did not
// have it; prev is the slot of the series before it in the batch, or noSlot.
func (t *seriesTable[T]) find(prev uint32, hash uint64) (i uint32, added bool) {
	key := tableKey(hash)
	if next := prev + 1; next < t.next && t.at(next).key == key {
		return next, false
	}
	if i, ok := t.index[key]; ok {
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
	t.index[key] = i
	return i, true
}

func (t *seriesTable[T]) at(i uint32) *tableSlot[T] {
	return &(*t.chunks.Load())[i>>tableChunkBits][i&(1<<tableChunkBits-1)]
}

// len is the number of series in the table.
func (t *seriesTable[T]) len() int { return len(t.index) }

// sweep frees the slots whose value expired says to, and returns how many it freed. A freed
// slot is marked so that find never takes it for the series it had.
func (t *seriesTable[T]) sweep(expired func(*T) bool) int {
	n := 0
	for i := range t.next {
		s := t.at(i)
		if s.key != 0 && expired(&s.val) {
			delete(t.index, s.key)
			*s = tableSlot[T]{}
			t.free = append(t.free, i)
			n++
		}
	}
	return n
}
