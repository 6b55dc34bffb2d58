package encode

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// TestLabelIndexAgainstAMap: random adds and sweeps of entries, some of them links (not
// indexed), their labels' hashes from a small range in one run (runs of neighbouring entries,
// tags that agree, deletions from the middle of runs, also across the end of the index) and full
// 64-bit values in the other; the index must agree with a map throughout, and give its memory
// back when the table empties.
func TestLabelIndexAgainstAMap(t *testing.T) {
	for _, small := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(5, 6))
		table := seriestable.New[entry]()
		var index labelIndex
		model := map[uint64]uint32{} // labels hash → slot
		for round := range 200 {
			for range rng.IntN(300) {
				id := rng.Uint64()
				hash := rng.Uint64()
				if small {
					hash = rng.Uint64N(4000)
				}
				if _, ok := model[hash]; ok {
					continue
				}
				i, added := table.Find(seriestable.NoSlot, id)
				require.True(t, added)
				if rng.IntN(5) == 0 {
					*table.Slot(i) = entry{index: ^int32(0), lastSeen: uint32(round)} // a link
					continue
				}
				*table.Slot(i) = entry{hash: hash, lastSeen: uint32(round)}
				index.insert(table, hash, i)
				model[hash] = i
			}
			if round%5 == 4 {
				old := uint32(round - rng.IntN(6))
				table.Sweep(func(v *entry) bool {
					if v.lastSeen > old {
						return false
					}
					if _, linked := v.linked(); !linked {
						index.remove(table, v.hash)
						delete(model, v.hash)
					}
					return true
				})
				index.shrink(table)
			}
			require.Equal(t, len(model), index.used)
			require.LessOrEqual(t, 4*index.used, 3*len(index.entries))
			require.LessOrEqual(t, 4*int(table.Slots()), 3*len(index.entries)+3*minLabelIndex)
			for hash, want := range model {
				got, ok := index.lookup(table, hash)
				require.True(t, ok, "round %d: hash %d not found", round, hash)
				require.Equal(t, want, got)
			}
			for range 50 {
				hash := rng.Uint64N(8000)
				_, want := model[hash]
				_, got := index.lookup(table, hash)
				require.Equal(t, want, got, "hash %d", hash)
			}
		}
		table.Sweep(func(v *entry) bool {
			if _, linked := v.linked(); !linked {
				index.remove(table, v.hash)
			}
			return true
		})
		index.shrink(table)
		require.Zero(t, index.used)
		require.Nil(t, index.entries)
	}
}
