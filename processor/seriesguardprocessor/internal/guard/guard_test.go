package guard

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

var epoch = time.Unix(1_700_000_000, 0)

func TestSlidingWindow(t *testing.T) {
	g := New(Limits{MaxSeries: 2, Window: time.Hour}, epoch)
	at := func(d time.Duration) uint32 { return g.Tick(epoch.Add(d)) }

	require.Equal(t, ReasonNone, g.Admit(1, 1, "m", "", at(0)))
	require.Equal(t, ReasonNone, g.Admit(2, 1, "m", "", at(0)))
	require.Equal(t, ReasonMaxSeries, g.Admit(3, 1, "m", "", at(0)))

	// Series 1 is seen again at 50m; series 2 is not.
	state, _ := g.Seen(1, at(50*time.Minute))
	require.Equal(t, Admitted, state)

	// At exactly the window, series 2 still holds its slot.
	require.Zero(t, g.Sweep(at(time.Hour)))
	require.Equal(t, ReasonMaxSeries, g.Admit(3, 1, "m", "", at(time.Hour)))

	// Past the window it is forgotten and its slot goes to series 3; series 1 stays.
	require.Equal(t, int64(1), g.Sweep(at(time.Hour+time.Second)))
	require.Equal(t, ReasonNone, g.Admit(3, 1, "m", "", at(time.Hour+time.Second)))
	state, _ = g.Seen(1, at(time.Hour+time.Second))
	require.Equal(t, Admitted, state)
	state, _ = g.Seen(2, at(time.Hour+time.Second))
	require.Equal(t, Unknown, state)
	require.Equal(t, int64(2), g.Active())
	require.Equal(t, int64(2), g.MetricActive("m"))
}

func TestCapsAreExactWithWeights(t *testing.T) {
	g := New(Limits{MaxSeries: 11, MaxSeriesPerMetric: 6, TenantMaxSeries: 4, TenantOverrides: map[string]int{"big": 6}, Window: time.Hour}, epoch)
	require.Equal(t, ReasonNone, g.Admit(1, 5, "hist", "big", 0))
	require.Equal(t, ReasonMaxSeriesPerMetric, g.Admit(2, 2, "hist", "", 0))
	require.Equal(t, ReasonNone, g.Admit(3, 1, "hist", "big", 0))
	require.Equal(t, ReasonTenant, g.Admit(4, 1, "other", "big", 0))
	require.Equal(t, ReasonNone, g.Admit(5, 4, "other", "small", 0))
	require.Equal(t, ReasonTenant, g.Admit(6, 1, "third", "small", 0))
	require.Equal(t, ReasonNone, g.Admit(7, 1, "third", "", 0))
	require.Equal(t, ReasonMaxSeries, g.Admit(8, 1, "third", "", 0), "11 of 11 used")
	require.Equal(t, int64(11), g.Active())
	usage := g.Tenants(nil)
	require.ElementsMatch(t, []TenantUsage{{"big", 6, 6}, {"small", 4, 4}}, usage)
}

func TestMaxTrackedBoundsAdmittedAndFolded(t *testing.T) {
	g := New(Limits{MaxSeries: 1, MaxTracked: 2, Window: time.Hour, Overflow: true}, epoch)
	init := func(*Overflow) {}
	key := OverflowKey{Metric: "m", Kind: KindCounter}
	require.Equal(t, ReasonNone, g.Admit(1, 1, "m", "", 0))
	require.Equal(t, ReasonMaxSeries, g.Admit(2, 1, "m", "", 0))
	_, ok := g.Fold(2, 1, ReasonMaxSeries, key, 0, epoch, init)
	require.True(t, ok)
	_, ok = g.Fold(3, 1, ReasonMaxSeries, key, 0, epoch, init)
	require.False(t, ok, "no room left to track a third series")
	require.Equal(t, int64(2), g.Tracked())
}

// TestOverflowCounterIsCorrectCumulative folds random counters, with resets, into one overflow
// series and checks what rate() relies on: the overflow series never decreases, and its total
// increase equals the sum of the increases of the folded series, each counted from its first
// sample as Prometheus does.
func TestOverflowCounterIsCorrectCumulative(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	g := New(Limits{Window: time.Hour, Overflow: true}, epoch)
	key := OverflowKey{Metric: "requests_total", Kind: KindCounter}
	const series = 50
	type counter struct {
		value float64
		start pcommon.Timestamp
		f     *FoldedSeries
	}
	counters := make([]counter, series)
	expectedIncrease := 0.0
	var previous float64
	for step := range 200 {
		ts := pcommon.Timestamp(step+1) * pcommon.Timestamp(time.Second)
		for i := range counters {
			c := &counters[i]
			if r.IntN(3) == 0 {
				continue // not every series reports every time
			}
			if c.f == nil {
				c.value = float64(r.IntN(1000))
				c.start = 1
				var ok bool
				c.f, ok = g.Fold(uint64(i+1), 1, ReasonMaxSeries, key, 0, epoch, func(*Overflow) {})
				require.True(t, ok)
			} else if r.IntN(20) == 0 {
				c.value = float64(r.IntN(5)) // a restart: the counter starts again
				c.start = ts
				expectedIncrease += c.value
			} else {
				inc := float64(r.IntN(10))
				c.value += inc
				expectedIncrease += inc
			}
			g.FoldNumber(c.f, c.start, ts, c.value, 0)
		}
		var value float64
		g.TakePending(func(o *Overflow, _ pcommon.Timestamp) { value = o.Value })
		require.GreaterOrEqual(t, value, previous, "the overflow counter went down at step %d", step)
		previous = value
	}
	require.InDelta(t, expectedIncrease, previous, 1e-6)
}

func TestOverflowGaugeSumsLatestValuesAndForgetsExpired(t *testing.T) {
	g := New(Limits{Window: time.Minute, Overflow: true}, epoch)
	key := OverflowKey{Metric: "temp", Kind: KindGauge}
	a, _ := g.Fold(1, 1, ReasonMaxSeries, key, 0, epoch, func(*Overflow) {})
	b, _ := g.Fold(2, 1, ReasonMaxSeries, key, 0, epoch, func(*Overflow) {})
	g.FoldNumber(a, 0, 1, 5, 0)
	g.FoldNumber(b, 0, 1, 3, 0)
	g.FoldNumber(a, 0, 2, 7, 0)
	require.Equal(t, 10.0, a.Overflow().Value)
	// b goes idle past the window: its value leaves the sum.
	g.Seen(1, g.Tick(epoch.Add(50*time.Second)))
	g.Sweep(g.Tick(epoch.Add(90 * time.Second)))
	require.Equal(t, 7.0, a.Overflow().Value)
}

func TestOverflowTimestampsStrictlyIncrease(t *testing.T) {
	g := New(Limits{Window: time.Hour, Overflow: true}, epoch)
	f, _ := g.Fold(1, 1, ReasonMaxSeries, OverflowKey{Metric: "g", Kind: KindGauge}, 0, epoch, func(*Overflow) {})
	var emitted []pcommon.Timestamp
	for range 3 {
		g.FoldNumber(f, 0, 1000, 1, 0) // same sample timestamp every batch
		g.TakePending(func(_ *Overflow, ts pcommon.Timestamp) { emitted = append(emitted, ts) })
	}
	ms := pcommon.Timestamp(time.Millisecond)
	require.Equal(t, []pcommon.Timestamp{1000, 1000 + ms, 1000 + 2*ms}, emitted)
}

func TestRefusedCountsEachSeriesOnce(t *testing.T) {
	r := NewRefused(time.Minute, epoch)
	require.True(t, r.First(1, 0))
	require.False(t, r.First(1, r.Tick(epoch.Add(30*time.Second))))
	r.Sweep(r.Tick(epoch.Add(time.Minute + 2*time.Second)))
	require.False(t, r.First(1, 0), "refused again at 30s: still within the window")
	r.Sweep(r.Tick(epoch.Add(3 * time.Minute)))
	require.True(t, r.First(1, r.Tick(epoch.Add(3*time.Minute))))
}

func TestHugeWeightIsAccountedConsistently(t *testing.T) {
	g := New(Limits{MaxSeriesPerMetric: 1 << 20, Window: time.Second}, epoch)
	require.Equal(t, ReasonNone, g.Admit(1, 100_000, "h", "", 0))
	require.Equal(t, int64(1<<16-1), g.Active())
	g.Sweep(g.Tick(epoch.Add(time.Minute)))
	require.Zero(t, g.Active())
	require.Zero(t, g.Tracked())
}

// TestPrefetchChangesNothing: Prefetch on an empty and on a full Guard leaves its answers as
// they were.
func TestPrefetchChangesNothing(t *testing.T) {
	g := New(Limits{MaxSeries: 100, Window: time.Hour}, epoch)
	g.Prefetch([]uint64{1, 2, 3})
	for h := uint64(2); h < 102; h++ {
		require.Equal(t, ReasonNone, g.Admit(h, 1, "m", "", 0))
	}
	g.Prefetch([]uint64{1, 2, 3, 1000})
	for h := uint64(2); h < 102; h++ {
		state, _ := g.Seen(h, 1)
		require.Equal(t, Admitted, state)
	}
	state, _ := g.Seen(1000, 1)
	require.Equal(t, Unknown, state)
	require.Equal(t, int64(100), g.Active())
}

// TestChurnInBatchOrder: batches that repeat the admission order (the guard tries the slot after
// the previous series' first), with half the series expiring and others taking their slots, keep
// every answer and count exact.
func TestChurnInBatchOrder(t *testing.T) {
	g := New(Limits{MaxSeries: 1000, Window: time.Second}, epoch)
	at := func(d time.Duration) uint32 { return g.Tick(epoch.Add(d)) }
	// Hashes from 2: 0 and 1 are one series (see TestHashZeroIsOne).
	for h := uint64(2); h < 1002; h++ {
		require.Equal(t, ReasonNone, g.Admit(h, 1, "m", "", at(0)))
	}
	// The even series are seen again, in order; the odd ones expire.
	for h := uint64(2); h < 1002; h += 2 {
		state, _ := g.Seen(h, at(time.Second))
		require.Equal(t, Admitted, state, "series %d", h)
	}
	require.Equal(t, int64(500), g.Sweep(at(2*time.Second)))
	require.Equal(t, 500, g.TrackedEntries())
	// New series take the freed slots; a batch in the old order finds only the even ones.
	for h := uint64(1002); h < 1502; h++ {
		require.Equal(t, ReasonNone, g.Admit(h, 1, "m", "", at(2*time.Second)))
	}
	for h := uint64(2); h < 1502; h++ {
		state, _ := g.Seen(h, at(2*time.Second))
		want := Admitted
		if h < 1002 && h%2 == 1 {
			want = Unknown
		}
		require.Equal(t, want, state, "series %d", h)
	}
	require.Equal(t, int64(1000), g.Active())
	require.Equal(t, 1000, g.TrackedEntries())
	require.Equal(t, ReasonMaxSeries, g.Admit(3, 1, "m", "", at(2*time.Second)))
}

// Once its series expire, the guard gives back their memory: the table's slots, the label-set
// index and the keys kept beside the slots; series admitted afterwards are found again.
func TestSweepGivesMemoryBack(t *testing.T) {
	g := New(Limits{MaxSeries: 3 * keyChunk, Window: time.Second}, epoch)
	at := func(d time.Duration) uint32 { return g.Tick(epoch.Add(d)) }
	for h := uint64(2); h < 2+3*keyChunk; h++ {
		require.Equal(t, ReasonNone, g.Admit(h, 1, "m", "", at(0)))
	}
	require.Len(t, g.seriesKeys, 3)
	require.Equal(t, 3*keyChunk, g.bySeries.Len())
	require.Equal(t, int64(3*keyChunk), g.Sweep(at(2*time.Second)))
	require.Zero(t, g.table.Slots())
	require.Zero(t, g.bySeries.Len())
	require.Empty(t, g.seriesKeys)
	for h := uint64(2); h < 12; h++ {
		require.Equal(t, ReasonNone, g.Admit(h, 1, "m", "", at(2*time.Second)))
	}
	for h := uint64(2); h < 12; h++ {
		state, _ := g.Seen(h, at(2*time.Second))
		require.Equal(t, Admitted, state, "series %d", h)
	}
	require.Len(t, g.seriesKeys, 1)
}

// TestHashZeroIsOne: the series table keeps hashes 0 and 1 as one key, so they are one series:
// admitting the second is counted once, and it expires with the first.
func TestHashZeroIsOne(t *testing.T) {
	g := New(Limits{MaxSeries: 10, Window: time.Second}, epoch)
	require.Equal(t, ReasonNone, g.Admit(0, 1, "m", "", 0))
	state, _ := g.Seen(1, 0)
	require.Equal(t, Admitted, state)
	require.Equal(t, ReasonNone, g.Admit(1, 1, "m", "", 0), "a caller that admits it anyway")
	require.Equal(t, int64(1), g.Active())
	require.Equal(t, 1, g.TrackedEntries())
	require.Equal(t, int64(1), g.Sweep(g.Tick(epoch.Add(time.Hour))))
	require.Zero(t, g.Active())
}
