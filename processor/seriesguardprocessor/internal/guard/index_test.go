package guard

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSeriesIndexAgreesWithAMap inserts and removes random keys, with slots reused as a table
// reuses them, and checks after every step that the index finds exactly the keys a map holds,
// in their slots: growth, probing past other runs and backward-shift deletion included. The
// second round churns at 2,806 keys in 3,508 entries, 4/5 full (the most before the index
// grows), so that runs are long and wrap around the end.
func TestSeriesIndexAgreesWithAMap(t *testing.T) {
	for _, full := range []bool{false, true} {
		r := rand.New(rand.NewPCG(5, 6))
		var slots []uint64 // slot -> key, 0 when free
		var free []uint32
		x := seriesIndex{keyOf: func(i uint32) uint64 { return slots[i] }}
		want := map[uint64]uint32{}
		newKey := func() uint64 { return r.Uint64()>>1 | 1 }
		for step := range 20_000 {
			if len(want) > 0 && (r.IntN(3) == 0 || full && len(want) >= 2806) {
				for k, i := range want { // any one
					x.remove(k)
					slots[i] = 0
					free = append(free, i)
					delete(want, k)
					break
				}
			} else {
				k := newKey()
				if _, ok := want[k]; ok {
					continue
				}
				var i uint32
				if n := len(free); n > 0 {
					i, free = free[n-1], free[:n-1]
				} else {
					i = uint32(len(slots))
					slots = append(slots, 0)
				}
				slots[i] = k
				x.insert(k, i, uint32(len(slots)))
				want[k] = i
			}
			require.Equal(t, len(want), x.used, "step %d", step)
			if full && len(want) >= 2806 {
				require.Len(t, x.entries, 3508, "2,806 keys fill 3,508 entries to 80%")
			}
			if step%97 == 0 || step > 19_900 {
				for k, i := range want {
					got, ok := x.lookup(k)
					require.True(t, ok, "step %d: key %x lost", step, k)
					require.Equal(t, i, got, "step %d", step)
				}
				_, ok := x.lookup(newKey() | 1<<63)
				require.False(t, ok, "step %d: a key never inserted was found", step)
			}
		}
	}
}
