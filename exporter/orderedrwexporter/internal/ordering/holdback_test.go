package ordering

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHoldbackRefsFollowThePushOrder: a push in the order of the earlier ones finds its refs
// without the map, any other order through it, and a ref freed by the sweep is never taken for
// the series it had.
func TestHoldbackRefsFollowThePushOrder(t *testing.T) {
	hold := newHoldback(5000, 100, 1000)
	batch := func(now int64, order ...int) []Series {
		out := make([]Series, 0, len(order))
		for _, i := range order {
			out = append(out, series(i, now))
		}
		return out
	}
	// Releases every held point, as a release does once it read the refs.
	releaseAll := func() {
		for _, b := range hold.popAll() {
			for _, e := range b.floats {
				hold.doneLocked(e.ref, 1)
			}
		}
	}
	// Every live ref is the map's, for its own series.
	checkRefs := func(live int) {
		t.Helper()
		require.Len(t, hold.refs, live)
		seen := map[uint32]bool{}
		for hash, idx := range hold.refs {
			assert.Equal(t, hash, hold.ref(idx).hash)
			assert.False(t, seen[idx], "ref %d serves two series", idx)
			seen[idx] = true
		}
		for idx := range hold.nextRef {
			if !seen[idx] {
				assert.Zero(t, hold.ref(idx).hash, "ref %d is free but looks live", idx)
			}
		}
	}
	refOf := func(i int) uint32 { return hold.refs[series(i).Hash] }

	hold.add(batch(0, 0, 1, 2, 3, 4), 0, 0)
	for i := range 5 {
		assert.Equal(t, uint32(i), refOf(i), "refs are added in first-seen order")
	}
	releaseAll()
	hold.add(batch(100, 0, 1, 2, 3, 4), 100, 0)
	hold.add(batch(200, 4, 2, 0, 3, 1), 200, 0)
	assert.Equal(t, uint32(5), hold.nextRef, "no ref added for a series seen before, in any order")
	checkRefs(5)
	assert.Equal(t, int64(10), hold.held.Load())
	releaseAll()

	// Idle past the timeout: the next push sweeps the five and reuses their refs.
	hold.add(batch(5000, 7, 8), 5000, 0)
	checkRefs(2)
	hold.add(batch(5100, 0, 1, 2, 3, 4, 7, 8), 5100, 0)
	checkRefs(7)
	for i, held := range map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 7: 2, 8: 2} {
		ref := hold.ref(refOf(i))
		assert.Equal(t, series(i).Labels, ref.labels)
		assert.Equal(t, held, ref.held, "series %d", i)
	}
}
