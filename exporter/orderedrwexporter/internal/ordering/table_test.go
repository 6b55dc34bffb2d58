package ordering

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSeriesTableFollowsTheBatchOrder: series in the order of earlier batches keep their slots,
// series in any other order find theirs through the map, and a slot freed by a sweep is never
// taken for the series it had, also when its hash is 0.
func TestSeriesTableFollowsTheBatchOrder(t *testing.T) {
	type value struct{ hash, seen uint64 }
	table := newSeriesTable[value]()
	// find for a batch of hashes, in order; returns their slots and how many were added.
	batch := func(now uint64, hashes ...uint64) ([]uint32, int) {
		slots, added, prev := []uint32{}, 0, noSlot
		for _, h := range hashes {
			i, isNew := table.find(prev, h)
			prev = i
			if isNew {
				added++
				table.slot(i).hash = h
			}
			require.Equal(t, h, table.slot(i).hash, "slot %d", i)
			table.slot(i).seen = now
			slots = append(slots, i)
		}
		return slots, added
	}
	// Every slot in the map is its series', no slot serves two series, and free slots look free.
	check := func(live int) {
		t.Helper()
		require.Equal(t, live, table.len())
		used := map[uint32]bool{}
		for key, i := range table.index {
			assert.Equal(t, key, table.at(i).key)
			assert.False(t, used[i], "slot %d serves two series", i)
			used[i] = true
		}
		for i := range table.next {
			if !used[i] {
				assert.Zero(t, table.at(i).key, "slot %d is free but looks used", i)
			}
		}
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
	i, isNew := table.find(noSlot, 1)
	assert.Equal(t, uint32(1), i)
	assert.False(t, isNew)

	assert.Equal(t, 3, table.sweep(func(v *value) bool { return v.hash != 12 && v.hash != 13 }))
	check(2)
	// The freed slots are reused, never found for the series they had until that is added again.
	slots, added = batch(4, 10, 0, 12, 13, 14, 15)
	assert.Equal(t, 4, added)
	assert.Equal(t, []uint32{2, 3}, slots[2:4], "kept series keep their slots")
	check(6)
	assert.Equal(t, uint32(6), table.next, "freed slots are reused before new ones")
}
