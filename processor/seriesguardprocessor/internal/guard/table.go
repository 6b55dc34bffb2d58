package guard // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"

// seriesTable holds the admitted series: an open-addressing hash table with linear probing over
// one flat array of 24-byte slots, keyed by the series hash.
//
// It replaces a map[uint64]entry because, in the collector, the table does not stay in the CPU
// caches between two batches (decoding, translating and encoding thousands of points evict it),
// so the cost of a lookup is the cache misses it takes. A Go map lookup took two (the group's
// control word, then the slot, which are on different cache lines in a 200-byte group) and ran
// long enough that the processor could not overlap the misses of consecutive points. Here a
// lookup reads one slot, usually one cache line, and Prefetch can touch the slots of a whole run
// of points in a tight loop first, so their misses overlap. Memory stays within the budget: at
// most 3/4 full, so 24 B / (3/8 .. 3/4) = 32-64 B per series (50 B at 1M series).
type seriesTable struct {
	slots []seriesSlot
	// shift maps a hash to its home slot: (hash * fibonacci) >> shift uses the top bits.
	shift uint8
	used  int
	// touched keeps Prefetch's loads from being optimised away.
	touched uint64
}

type seriesSlot struct {
	hash  uint64 // 0: empty
	entry entry
}

const (
	// minTableSlots is the table's size once a first series is admitted.
	minTableSlots = 64
	// fibonacci spreads the hash over the top bits (Knuth's multiplicative hashing); the
	// processor's hashes are well mixed already, the benchmarks' sequential ones are not.
	fibonacci = 0x9E3779B97F4A7C15
)

// tableKey makes a hash a key: 0 marks an empty slot, so hash 0 is stored as 1 (two series
// whose 64-bit hashes are 0 and 1 count as one, as two series with equal hashes already do).
func tableKey(hash uint64) uint64 {
	if hash == 0 {
		return 1
	}
	return hash
}

func (t *seriesTable) home(key uint64) int {
	return int((key * fibonacci) >> t.shift)
}

// find returns the entry of a series, nil when it is not in the table. The pointer is valid
// until the next insert or delete.
func (t *seriesTable) find(hash uint64) *entry {
	if t.used == 0 {
		return nil
	}
	key := tableKey(hash)
	mask := len(t.slots) - 1
	for i := t.home(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hash == key {
			return &s.entry
		}
		if s.hash == 0 {
			return nil
		}
	}
}

// prefetch reads the home slot of each hash, so that the misses of many lookups overlap
// instead of being taken one at a time by find.
func (t *seriesTable) prefetch(hashes []uint64) {
	if t.used == 0 {
		return
	}
	slots, shift := t.slots, t.shift
	var sum uint64
	for _, h := range hashes {
		sum += slots[int((tableKey(h)*fibonacci)>>shift)].hash
	}
	t.touched += sum
}

// insert adds a series that is not in the table.
func (t *seriesTable) insert(hash uint64, e entry) {
	if 4*(t.used+1) > 3*len(t.slots) {
		t.grow()
	}
	key := tableKey(hash)
	mask := len(t.slots) - 1
	i := t.home(key)
	for t.slots[i].hash != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = seriesSlot{hash: key, entry: e}
	t.used++
}

// grow doubles the table and places every series again. It runs log2(series) times in all; at
// 1M series the last one moves 786k entries in one go, once.
func (t *seriesTable) grow() {
	old := t.slots
	n := max(2*len(old), minTableSlots)
	t.slots = make([]seriesSlot, n)
	t.shift = uint8(64 - log2(n))
	mask := n - 1
	for _, s := range old {
		if s.hash == 0 {
			continue
		}
		i := t.home(s.hash)
		for t.slots[i].hash != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

func log2(n int) int {
	b := 0
	for n > 1 {
		n >>= 1
		b++
	}
	return b
}

// deleteAt empties slot i and moves back the entries after it that would otherwise no longer
// be found from their home slot (backward-shift deletion: no tombstones, so lookups stay short
// however many series churn).
func (t *seriesTable) deleteAt(i int) {
	mask := len(t.slots) - 1
	hole := i
	for j := (hole + 1) & mask; t.slots[j].hash != 0; j = (j + 1) & mask {
		h := t.home(t.slots[j].hash)
		// The entry at j may stay when its home is cyclically in (hole, j].
		if hole <= j {
			if hole < h && h <= j {
				continue
			}
		} else if hole < h || h <= j {
			continue
		}
		t.slots[hole] = t.slots[j]
		hole = j
	}
	t.slots[hole] = seriesSlot{}
	t.used--
}

// sweep deletes every entry for which expired returns true. Deleting may move a later entry
// (or, at the end of the array, one from its start) into the emptied slot, so that slot is
// examined again: every entry is examined at least once, some twice, which expired allows.
func (t *seriesTable) sweep(expired func(*entry) bool) {
	for i := 0; i < len(t.slots); {
		s := &t.slots[i]
		if s.hash != 0 && expired(&s.entry) {
			t.deleteAt(i)
			continue
		}
		i++
	}
}
