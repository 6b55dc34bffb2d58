package seriestable

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTableFollowsTheBatchOrder: series in the order of earlier batches keep their slots,
// series in any other order find theirs through the index, and a slot freed by a sweep is never
// taken for the series it had, also when its hash is 0.
func TestTableFollowsTheBatchOrder(t *testing.T) {
	type value struct{ hash, seen uint64 }
	table := New[value]()
	// Find for a batch of hashes, in order; returns their slots and how many were added.
	batch := func(now uint64, hashes ...uint64) ([]uint32, int) {
		slots, added, prev := []uint32{}, 0, NoSlot
		for _, h := range hashes {
			i, isNew := table.Find(prev, h)
			prev = i
			if isNew {
				added++
				table.Slot(i).hash = h
			}
			require.Equal(t, h, table.Slot(i).hash, "slot %d", i)
			table.Slot(i).seen = now
			slots = append(slots, i)
		}
		return slots, added
	}
	check := func(live int) {
		t.Helper()
		require.Equal(t, live, table.Len())
		checkIndex(t, table)
	}

	slots, added := batch(1, 10, 0, 12, 13, 14)
	assert.Equal(t, []uint32{0, 1, 2, 3, 4}, slots, "slots are added in first-seen order")
	assert.Equal(t, 5, added)
	slots, added = batch(2, 10, 0, 12, 13, 14)
	assert.Equal(t, []uint32{0, 1, 2, 3, 4}, slots)
	assert.Zero(t, added)
	slots, added = batch(3, 14, 12, 10, 13, 0)
	assert.Equal(t, []uint32{4, 2, 0, 3, 1}, slots, "any order finds the same slots")
	assert.Zero(t, added)
	check(5)

	// Hash 0 and 1 are one key: they share a slot, as two equal hashes would.
	i, isNew := table.Find(NoSlot, 1)
	assert.Equal(t, uint32(1), i)
	assert.False(t, isNew)
	assert.Equal(t, uint64(1), Key(0))

	assert.Equal(t, 3, table.Sweep(func(v *value) bool { return v.hash != 12 && v.hash != 13 }))
	check(2)
	_, ok := table.Lookup(NoSlot, 10)
	assert.False(t, ok, "a swept series is gone")
	key, _ := table.At(0)
	assert.Zero(t, key, "a freed slot looks free")
	// The freed slots are reused, never found for the series they had until that is added again.
	slots, added = batch(4, 10, 0, 12, 13, 14, 15)
	assert.Equal(t, 4, added)
	assert.Equal(t, []uint32{2, 3}, slots[2:4], "kept series keep their slots")
	check(6)
	assert.Equal(t, uint32(6), table.Slots(), "freed slots are reused before new ones")
}

// TestLookupAddsNothing: Lookup finds what Find added, from any previous slot, and adds nothing.
func TestLookupAddsNothing(t *testing.T) {
	table := New[int]()
	_, ok := table.Lookup(NoSlot, 7)
	require.False(t, ok, "empty table")
	for h := range uint64(100) {
		i, added := table.Find(NoSlot, h*3)
		require.True(t, added || h == 0)
		*table.Slot(i) = int(h)
	}
	require.Equal(t, 100, table.Len())
	for _, prev := range []uint32{NoSlot, 0, 50, 98, 99, 5000} {
		for h := range uint64(100) {
			i, ok := table.Lookup(prev, h*3)
			require.True(t, ok, "hash %d from %d", h*3, prev)
			require.Equal(t, int(h), *table.Slot(i))
		}
		_, ok := table.Lookup(prev, 301)
		require.False(t, ok)
	}
	require.Equal(t, 100, table.Len())
	require.Equal(t, uint32(100), table.Slots())
}

// TestRemove: a removed series is gone, its slot reused, the others unaffected.
func TestRemove(t *testing.T) {
	table := New[uint64]()
	for h := range uint64(1000) {
		i, _ := table.Find(NoSlot, h+2)
		*table.Slot(i) = h + 2
	}
	for h := uint64(2); h < 1002; h += 3 {
		i, ok := table.Lookup(NoSlot, h)
		require.True(t, ok)
		table.Remove(i)
		_, ok = table.Lookup(NoSlot, h)
		require.False(t, ok, "hash %d removed", h)
	}
	checkIndex(t, table)
	for h := uint64(2); h < 1002; h++ {
		i, ok := table.Lookup(NoSlot, h)
		require.Equal(t, (h-2)%3 != 0, ok, "hash %d", h)
		if ok {
			require.Equal(t, h, *table.Slot(i))
		}
	}
	i, added := table.Find(NoSlot, 2)
	require.True(t, added)
	require.Less(t, i, uint32(1000), "a freed slot is reused")
	require.Zero(t, *table.Slot(i), "a reused slot starts at the zero value")
}

// TestSameTagDifferentKeys: keys whose index entries carry the same bits (same home, same tag)
// are told apart by their keys in the slots, also when one of them is removed.
func TestSameTagDifferentKeys(t *testing.T) {
	// Keys whose scrambled hashes differ only in the low 32 bits, which no entry keeps.
	inverse := uint64(fibonacci) // fibonacci's inverse modulo 2^64, by Newton's iteration
	for range 6 {
		inverse *= 2 - fibonacci*inverse
	}
	require.Equal(t, uint64(1), inverse*fibonacci)
	var keys []uint64
	for low := range uint64(20) {
		keys = append(keys, (0x1234_5678_0000_0000+low)*inverse)
	}
	for _, k := range keys[1:] {
		require.Equal(t, scramble(keys[0]), scramble(k))
	}
	table := New[uint64]()
	for _, k := range keys {
		i, added := table.Find(NoSlot, k)
		require.True(t, added)
		*table.Slot(i) = k
	}
	checkIndex(t, table)
	for _, k := range keys {
		i, ok := table.Lookup(NoSlot, k)
		require.True(t, ok)
		require.Equal(t, k, *table.Slot(i))
	}
	// A run of 20 entries from one home: distances above what an entry keeps are read from keys.
	for _, j := range []int{3, 0, 17} {
		i, _ := table.Lookup(NoSlot, keys[j])
		table.Remove(i)
		checkIndex(t, table)
	}
	for j, k := range keys {
		i, ok := table.Lookup(NoSlot, k)
		require.Equal(t, j != 3 && j != 0 && j != 17, ok)
		if ok {
			require.Equal(t, k, *table.Slot(i))
		}
	}
}

// checkIndex: every used slot is found from its key, the index holds nothing else, no slot is
// indexed twice, each entry carries its key's tag, and free slots look free.
func checkIndex[T any](t *testing.T, table *Table[T]) {
	t.Helper()
	indexed := map[uint32]bool{}
	for _, e := range table.index {
		if e != 0 {
			i := table.slotOf(e)
			require.False(t, indexed[i], "slot %d indexed twice", i)
			indexed[i] = true
			key, _ := table.At(i)
			require.True(t, table.tagged(e, scramble(key)), "slot %d's entry has the wrong tag", i)
		}
	}
	mask := len(table.index) - 1
	for p, e := range table.index {
		if e == 0 {
			continue
		}
		key, _ := table.At(table.slotOf(e))
		dist := (p - table.home(scramble(key))) & mask
		require.Equal(t, min(uint32(dist), table.distMax()), e>>table.bits&table.distMax(), "entry at %d", p)
		require.Equal(t, dist, table.dist(e, p))
	}
	require.Len(t, indexed, table.Len())
	require.LessOrEqual(t, 4*table.Len(), 3*len(table.index), "more than 3/4 full")
	require.LessOrEqual(t, int(table.Slots()), 3*len(table.index)/4, "slot numbers fit in an entry")
	for i := range table.Slots() {
		key, _ := table.At(i)
		if !indexed[i] {
			require.Zero(t, key, "slot %d is not indexed but looks used", i)
			continue
		}
		found, ok := table.lookup(key)
		require.True(t, ok, "slot %d not found from its key", i)
		require.Equal(t, i, found)
	}
}

// TestTableAgainstAMap: random batches and sweeps of random series, the index up to 3/4 full
// (probe runs, and deletions from their middle); the table must agree with a map throughout.
func TestTableAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	table := New[uint64]()
	model := map[uint64]uint32{} // key → slot
	for round := range 300 {
		n := rng.IntN(400)
		prev := NoSlot
		for range n {
			// 0 and 1 are one key.
			hash := rng.Uint64N(3000)
			i, added := table.Find(prev, hash)
			prev = i
			want, ok := model[Key(hash)]
			require.Equal(t, !ok, added, "round %d, hash %d", round, hash)
			if ok {
				require.Equal(t, want, i)
			} else {
				model[Key(hash)] = i
				*table.Slot(i) = Key(hash)
			}
		}
		if round%7 == 6 {
			drop := rng.Uint64N(4)
			freed := table.Sweep(func(v *uint64) bool { return *v%4 == drop })
			gone := 0
			for key := range model {
				if key%4 == drop {
					delete(model, key)
					gone++
				}
			}
			require.Equal(t, gone, freed)
		}
		require.Equal(t, len(model), table.Len())
		checkIndex(t, table)
	}
}

// TestTableMatchesMap drives the table and a Go map with the same random adds, lookups and
// sweeps (series_guard's use: look up without adding, add only what is admitted) and checks they
// always agree. Hashes are drawn from a small range in one run, so that runs of neighbouring
// index entries form (also across the end of the index) and backward-shift deletion has entries
// to move, and as full 64-bit values (0 included) in the other.
func TestTableMatchesMap(t *testing.T) {
	for _, hashes := range []struct {
		name string
		draw func(*rand.Rand) uint64
	}{
		{"clustered", func(r *rand.Rand) uint64 { return r.Uint64N(600) }},
		{"spread", func(r *rand.Rand) uint64 {
			if r.IntN(1000) == 0 {
				return 0
			}
			return r.Uint64()
		}},
	} {
		t.Run(hashes.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			table := New[uint32]()
			want := map[uint64]uint32{}
			prev := NoSlot
			for step := uint32(1); step <= 20_000; step++ {
				h := hashes.draw(r)
				switch op := r.IntN(100); {
				case op < 60: // admit or see
					if i, ok := table.Lookup(prev, h); ok {
						_, ok := want[Key(h)]
						require.True(t, ok, "found %d, which the map does not have", h)
						*table.Slot(i) = step
						prev = i
					} else {
						_, ok := want[Key(h)]
						require.False(t, ok, "did not find %d", h)
						i, added := table.Find(prev, h)
						require.True(t, added)
						*table.Slot(i) = step
						prev = i
					}
					want[Key(h)] = step
				case op < 99: // look up only
					i, ok := table.Lookup(prev, h)
					last, inMap := want[Key(h)]
					require.Equal(t, inMap, ok, "hash %d", h)
					if ok {
						require.Equal(t, last, *table.Slot(i))
					}
				default: // forget what was not seen within the last 300 steps
					examined := map[uint32]int{}
					table.Sweep(func(last *uint32) bool {
						examined[*last]++
						return step-*last > 300
					})
					for k, last := range want {
						require.Equal(t, 1, examined[last], "sweep examines %d once", k)
						if step-last > 300 {
							delete(want, k)
						}
					}
					prev = NoSlot
				}
				require.Equal(t, len(want), table.Len())
			}
			checkIndex(t, table)
			for k, last := range want {
				i, ok := table.Lookup(NoSlot, k)
				require.True(t, ok, "lost %d", k)
				require.Equal(t, last, *table.Slot(i))
			}
		})
	}
}

// TestPrefetchChangesNothing: Prefetch on an empty and on a full table leaves its answers as
// they were.
func TestPrefetchChangesNothing(t *testing.T) {
	table := New[uint64]()
	table.Prefetch(NoSlot, []uint64{1, 2, 3})
	require.Zero(t, table.Len())
	for h := range uint64(1000) {
		i, _ := table.Find(NoSlot, h)
		*table.Slot(i) = h
	}
	table.Prefetch(NoSlot, []uint64{0, 1, 2, 3, 1000, 1 << 63})
	table.Prefetch(5, []uint64{7, 8, 9, 1000, 3})
	require.Equal(t, 999, table.Len(), "0 and 1 are one series")
	for h := uint64(2); h < 1000; h++ {
		i, ok := table.Lookup(NoSlot, h)
		require.True(t, ok)
		require.Equal(t, h, *table.Slot(i))
	}
	_, ok := table.Lookup(NoSlot, 1000)
	require.False(t, ok)
	checkIndex(t, table)
}

// TestSlotWithoutTheLock: a reader reads the slots it was given while the writer adds series
// (and chunks): chunks never move, so under -race this is clean and the reader sees its values.
// With pointer-free values (chunks outside the Go heap, which the race detector does not watch)
// and with values holding a pointer (chunks on the heap, as ordered_rw's hold-back refs, the
// one table read without the lock).
func TestSlotWithoutTheLock(t *testing.T) {
	t.Run("mapped", func(t *testing.T) { slotWithoutTheLock(t, func(v uint64) uint64 { return v }) })
	type withPointer struct {
		v uint64
		p *int
	}
	t.Run("heap", func(t *testing.T) { slotWithoutTheLock(t, func(v uint64) withPointer { return withPointer{v: v} }) })
}

func slotWithoutTheLock[T comparable](t *testing.T, value func(uint64) T) {
	table := New[T]()
	const first = 1000
	for h := range uint64(first) {
		i, _ := table.Find(NoSlot, h+2)
		*table.Slot(i) = value(h + 2)
	}
	slots := make([]uint32, first)
	for h := range uint64(first) {
		slots[h], _ = table.Lookup(NoSlot, h+2)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			for h, i := range slots {
				if got := *table.Slot(i); got != value(uint64(h)+2) {
					t.Errorf("slot %d has %v, want %d", i, got, h+2)
					return
				}
			}
		}
	}()
	prev := NoSlot
	for h := uint64(first); h < 5*(1<<chunkBits); h++ {
		prev, _ = table.Find(prev, h+2)
		*table.Slot(prev) = value(h + 2)
	}
	wg.Wait()
	require.Equal(t, 5*(1<<chunkBits), table.Len())
}

// TestDisorderIsDetected: after a series found away from the slot after the previous one, the
// next slot is not tried (it would mostly be a cache miss for nothing) until a series is found
// there again.
func TestDisorderIsDetected(t *testing.T) {
	table := New[int]()
	prev := NoSlot
	for h := uint64(2); h < 100; h++ {
		prev, _ = table.Find(prev, h)
		require.False(t, table.disordered, "hash %d added in order", h)
	}
	prev = NoSlot
	for h := uint64(99); h >= 2; h-- {
		prev, _ = table.Find(prev, h)
	}
	require.True(t, table.disordered, "a reversed batch")
	i, _ := table.Lookup(NoSlot, 2)
	require.Equal(t, uint32(0), i)
	require.False(t, table.disordered, "slot 0 is the one after NoSlot")
	_, ok := table.Lookup(i, 1000)
	require.False(t, ok)
	require.False(t, table.disordered, "a series not in the table says nothing about the order")
	i, _ = table.Find(50, 1000)
	require.True(t, table.disordered, "a new series in a slot that is not the next one")
	i, _ = table.Find(i, 1001)
	require.False(t, table.disordered, "the slot after the previous series'")
}

// TestPrefetchSkipsTheIndexInOrder: hashes that come in the order of their slots after prev are
// checked in their slots only, not through the index; one hash out of order (a jump, or a new
// series) is looked up at once and the order followed from there; at two in a row, the rest is
// prefetched through the index; and a table whose lookups were out of order is prefetched
// through the index from the first hash.
func TestPrefetchSkipsTheIndexInOrder(t *testing.T) {
	table := New[uint64]()
	prev := NoSlot
	for h := range uint64(1000) {
		prev, _ = table.Find(prev, h+10) // hash h+10 in slot h
	}
	table.Prefetch(NoSlot, []uint64{10, 11, 12, 13})
	require.Zero(t, table.touched, "in slot order from slot 0: no index entry read")
	table.Prefetch(2, []uint64{13, 14, 15})
	require.Zero(t, table.touched, "in slot order after slot 2")
	table.Prefetch(2, []uint64{13, 500, 501, 502})
	require.Zero(t, table.touched, "one jump, then in order from there")
	table.Prefetch(2, []uint64{13, 5000, 14, 15})
	require.Zero(t, table.touched, "a hash not in the table, then in order")

	table.Prefetch(2, []uint64{13, 500, 20, 21})
	require.NotZero(t, table.touched, "two jumps in a row: the rest is prefetched")
	table.touched = 0
	table.Prefetch(2, []uint64{13, 5000, 20})
	require.NotZero(t, table.touched, "a new series, then a jump: the rest is prefetched")

	// Lookup follows the same rules: one jump, and it still guesses the next slot.
	i, ok := table.Lookup(2, 500)
	require.True(t, ok)
	require.False(t, table.disordered, "one jump")
	table.touched = 0
	table.Prefetch(i, []uint64{501, 502})
	require.Zero(t, table.touched)
	_, ok = table.Lookup(i, 20) // a second jump in a row: out of order until an in-order hit
	require.True(t, ok)
	require.True(t, table.disordered, "two jumps in a row")
	table.Prefetch(10, []uint64{21})
	require.NotZero(t, table.touched, "after out-of-order lookups Lookup reads the index, so Prefetch loads it")
	table.touched = 0
	i, ok = table.Lookup(10, 21)
	require.True(t, ok)
	require.False(t, table.disordered, "an in-order hit makes the order trusted again")
	table.Prefetch(i, []uint64{22})
	require.Zero(t, table.touched)
}

// TestSweepReleases: a sweep that empties the table gives back its chunks, index and free list;
// one that frees the last slots gives back their chunks and, when a quarter would do, the
// index; free slots are then reused lowest first, and the series left keep their slots.
func TestSweepReleases(t *testing.T) {
	table := New[uint64]()
	const n = 3 << chunkBits
	prev := NoSlot
	for h := range uint64(n) {
		i, added := table.Find(prev, h+100)
		require.True(t, added)
		*table.Slot(i), prev = h+100, i
	}
	require.Len(t, *table.chunks.Load(), 3)
	bigIndex := len(table.index)

	// Series 100-199, and every 10th of 200-1099.
	kept := func(v uint64) bool { return v < 200 || (v < 1100 && v%10 == 0) }
	freed := table.Sweep(func(v *uint64) bool { return !kept(*v) })
	require.Equal(t, n-190, freed)
	require.Equal(t, 190, table.Len())
	assert.Equal(t, uint32(991), table.Slots(), "slots after the last used one are released")
	assert.Len(t, *table.chunks.Load(), 1)
	assert.Less(t, len(table.index), bigIndex/4)
	checkIndex(t, table)
	for v := range uint64(n) {
		i, ok := table.Lookup(NoSlot, v+100)
		require.Equal(t, kept(v+100), ok, "series %d", v+100)
		if ok {
			require.Equal(t, uint32(v), i, "series %d keeps its slot", v+100)
		}
	}
	i, added := table.Find(NoSlot, 1)
	require.True(t, added)
	assert.Equal(t, uint32(101), i, "the lowest free slot first")
	*table.Slot(i) = 1

	require.Equal(t, 191, table.Sweep(func(*uint64) bool { return true }))
	assert.Zero(t, table.Slots())
	assert.Empty(t, *table.chunks.Load())
	assert.Nil(t, table.index)
	assert.Nil(t, table.free)
	checkIndex(t, table)
	i, added = table.Find(NoSlot, 7)
	require.True(t, added)
	assert.Zero(t, i)
	// Emptied by Remove (a table of series seen once, each removed when seen again): given back
	// by the next sweep, which frees nothing itself.
	table.Remove(i)
	require.Zero(t, table.Sweep(func(*uint64) bool { return true }))
	assert.Zero(t, table.Slots())
	assert.Nil(t, table.index)
	// Or at once by Release.
	i, _ = table.Find(NoSlot, 8)
	table.Remove(i)
	require.NotZero(t, table.Slots())
	table.Release()
	assert.Zero(t, table.Slots())
	assert.Nil(t, table.index)
	_, ok := table.Lookup(NoSlot, 7)
	assert.False(t, ok)
	checkIndex(t, table)
}
