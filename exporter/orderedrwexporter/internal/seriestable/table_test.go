package seriestable

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSeriesTableFollowsTheBatchOrder: series in the order of earlier batches keep their slots,
// series in any other order find theirs through the map, and a slot freed by a sweep is never
// taken for the series it had, also when its hash is 0.
func TestSeriesTableFollowsTheBatchOrder(t *testing.T) {
	type value struct{ hash, seen uint64 }
	table := New[value]()
	// find for a batch of hashes, in order; returns their slots and how many were added.
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

	assert.Equal(t, 3, table.Sweep(func(v *value) bool { return v.hash != 12 && v.hash != 13 }))
	check(2)
	// The freed slots are reused, never found for the series they had until that is added again.
	slots, added = batch(4, 10, 0, 12, 13, 14, 15)
	assert.Equal(t, 4, added)
	assert.Equal(t, []uint32{2, 3}, slots[2:4], "kept series keep their slots")
	check(6)
	assert.Equal(t, uint32(6), table.next, "freed slots are reused before new ones")
}

// checkIndex: every used slot is found from its key, the index holds nothing else, no slot is
// indexed twice, and free slots look free.
func checkIndex[T any](t *testing.T, table *Table[T]) {
	t.Helper()
	indexed := map[uint32]bool{}
	for _, e := range table.index {
		if e != 0 {
			require.False(t, indexed[e-1], "slot %d indexed twice", e-1)
			indexed[e-1] = true
		}
	}
	require.Len(t, indexed, table.Len())
	for i := range table.next {
		key := table.at(i).key
		if !indexed[i] {
			require.Zero(t, key, "slot %d is not indexed but looks used", i)
			continue
		}
		found, ok := table.lookup(key)
		require.True(t, ok, "slot %d not found from its key", i)
		require.Equal(t, i, found)
	}
}

// TestSeriesTableAgainstAMap: random batches and sweeps of random series, the index up to 3/4
// full (probe runs, and deletions from their middle); the table must agree with a map throughout.
func TestSeriesTableAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	table := New[uint64]()
	model := map[uint64]uint32{} // hash → slot
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
