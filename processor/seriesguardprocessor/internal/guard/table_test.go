package guard

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSeriesTableMatchesMap drives the table and a Go map with the same random inserts,
// lookups and sweeps and checks they always agree. Hashes are drawn from a small range in one
// run, so that runs of neighbouring slots form (also across the end of the array) and
// backward-shift deletion has entries to move, and as full 64-bit values (0 included) in the
// other.
func TestSeriesTableMatchesMap(t *testing.T) {
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
			var table seriesTable
			want := map[uint64]uint32{}
			for step := uint32(1); step <= 20_000; step++ {
				h := hashes.draw(r)
				switch op := r.IntN(100); {
				case op < 60: // admit or see
					if e := table.find(h); e != nil {
						_, ok := want[tableKey(h)]
						require.True(t, ok, "found %d, which the map does not have", h)
						e.lastSeen = step
					} else {
						_, ok := want[tableKey(h)]
						require.False(t, ok, "did not find %d", h)
						table.insert(h, entry{lastSeen: step})
					}
					want[tableKey(h)] = step
				case op < 99: // look up only
					e := table.find(h)
					last, ok := want[tableKey(h)]
					require.Equal(t, ok, e != nil, "hash %d", h)
					if ok {
						require.Equal(t, last, e.lastSeen)
					}
				default: // forget what was not seen within the last 300 steps
					examined := map[uint64]bool{}
					table.sweep(func(e *entry) bool {
						examined[uint64(e.lastSeen)] = true
						return step-e.lastSeen > 300
					})
					for k, last := range want {
						require.True(t, examined[uint64(last)], "sweep did not examine %d", k)
						if step-last > 300 {
							delete(want, k)
						}
					}
				}
				require.Equal(t, len(want), table.used)
				require.LessOrEqual(t, 4*table.used, 3*len(table.slots), "more than 3/4 full")
			}
			for k, last := range want {
				e := table.find(k)
				require.NotNil(t, e, "lost %d", k)
				require.Equal(t, last, e.lastSeen)
			}
		})
	}
}

// TestPrefetchChangesNothing: Prefetch on an empty and on a full Guard leaves its answers as
// they were.
func TestPrefetchChangesNothing(t *testing.T) {
	g := New(Limits{MaxSeries: 100, Window: time.Hour}, epoch)
	g.Prefetch([]uint64{1, 2, 3})
	for h := range uint64(100) {
		require.Equal(t, ReasonNone, g.Admit(h, 1, "m", "", 0))
	}
	g.Prefetch([]uint64{1, 2, 3, 1000})
	for h := range uint64(100) {
		state, _ := g.Seen(h, 1)
		require.Equal(t, Admitted, state)
	}
	state, _ := g.Seen(1000, 1)
	require.Equal(t, Unknown, state)
	require.Equal(t, int64(100), g.Active())
}
