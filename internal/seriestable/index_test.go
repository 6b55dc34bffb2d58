package seriestable

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIndexAgreesWithAMap inserts and removes random keys, with slots reused as a table reuses
// them, and checks after every step that the index finds exactly the keys a map holds, in their
// slots: growth, probing past other runs and backward-shift deletion included. The second round
// churns at 2,806 keys in 3,508 entries, 4/5 full (the most before the index grows), so that runs
// are long and wrap around the end. The third draws keys from a small range (runs of neighbouring
// entries, tags that agree) and shrinks the index after each batch of removals, as a sweep does:
// it must give back its memory when a quarter would do, and all of it once empty.
func TestIndexAgreesWithAMap(t *testing.T) {
	for _, round := range []string{"grow", "full", "shrink"} {
		full, shrink := round == "full", round == "shrink"
		r := rand.New(rand.NewPCG(5, 6))
		var slots []uint64 // slot -> key, 0 when free
		var free []uint32
		x := NewIndex(func(i uint32) uint64 { return slots[i] })
		want := map[uint64]uint32{}
		newKey := func() uint64 {
			if shrink {
				return r.Uint64N(8000) + 1
			}
			return r.Uint64()>>1 | 1
		}
		remove := func(k uint64) {
			i := want[k]
			x.Remove(k)
			slots[i] = 0
			free = append(free, i)
			delete(want, k)
		}
		shrunk := false
		for step := range 20_000 {
			switch {
			case shrink && step%500 == 499:
				// A sweep: remove the keys of the upper 7/8 of the slots and some others (all of
				// them every fourth time), give back the free slots at the end, as a table does,
				// then shrink.
				for k, i := range want {
					if step%2000 == 1999 || int(i) >= len(slots)/8 || r.IntN(2) == 0 {
						remove(k)
					}
				}
				for len(slots) > 0 && slots[len(slots)-1] == 0 {
					slots = slots[:len(slots)-1]
				}
				free = slices.DeleteFunc(free, func(i uint32) bool { return int(i) >= len(slots) })
				before := len(x.entries)
				x.Shrink(uint32(len(slots)))
				if len(want) == 0 {
					require.Nil(t, x.entries, "step %d: an empty index keeps its memory", step)
				} else {
					n := x.size(minIndex, len(want), len(slots))
					require.Equal(t, 4*n <= before, len(x.entries) < before, "step %d: shrunk %d to %d", step, before, len(x.entries))
					shrunk = shrunk || len(x.entries) < before
				}
			case len(want) > 0 && (r.IntN(3) == 0 || full && len(want) >= 2806):
				for k := range want { // any one
					remove(k)
					break
				}
			default:
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
				x.Insert(k, i, uint32(len(slots)))
				want[k] = i
			}
			require.Equal(t, len(want), x.Len(), "step %d", step)
			require.LessOrEqual(t, 5*x.Len(), 4*len(x.entries), "step %d: more than 4/5 full", step)
			if full && len(want) >= 2806 {
				require.Len(t, x.entries, 3508, "2,806 keys fill 3,508 entries to 80%")
			}
			if step%97 == 0 || step > 19_900 || shrink && step%500 == 499 {
				for k, i := range want {
					got, ok := x.Lookup(k)
					require.True(t, ok, "step %d: key %x lost", step, k)
					require.Equal(t, i, got, "step %d", step)
				}
				_, ok := x.Lookup(newKey() | 1<<63)
				require.False(t, ok, "step %d: a key never inserted was found", step)
			}
		}
		if shrink {
			require.True(t, shrunk, "the index never shrank")
		}
	}
}
