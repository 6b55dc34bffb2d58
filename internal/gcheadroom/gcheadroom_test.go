package gcheadroom

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		base                       int
		scanned, rate, maxHeadroom uint64
		want                       int
	}{
		{"at rest GOGC's headroom is more", 100, 8 * mib, 1 * mib, 24 * mib, 100},
		{"a second's allocation", 100, 8 * mib, 20 * mib, 24 * mib, 250},
		{"up to the bound", 100, 8 * mib, 200 * mib, 24 * mib, 300},
		// The live heap of a gateway at saturation: GOGC's headroom is already the bound's.
		{"a large live heap keeps GOGC", 100, 30 * mib, 200 * mib, 24 * mib, 100},
		{"never below the process' GOGC", 200, 8 * mib, 12 * mib, 24 * mib, 200},
		{"rounded up", 100, 3 * mib, 10 * mib, 24 * mib, 334},
		{"bounded for a tiny heap", 100, 1024, 200 * mib, 24 * mib, maxPercent},
		{"a base above the bound stays", 20_000, 1024, 200 * mib, 24 * mib, 20_000},
		{"no heap read", 100, 0, 200 * mib, 24 * mib, 100},
		{"zero bound: GOGC alone", 100, 8 * mib, 200 * mib, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Percent(tc.base, tc.scanned, tc.rate, tc.maxHeadroom))
		})
	}
}

func gogc() int {
	s := []metrics.Sample{{Name: metricGOGC}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64()))
}

// garbage allocates and drops about perSecond bytes a second until stop is closed.
func garbage(stop <-chan struct{}, perSecond int) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var keep []byte
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for range perSecond / 100 / 4096 {
			keep = make([]byte, 4096)
		}
		_ = keep
	}
}

// loadUntilRaised allocates and drops ~200 MiB a second until the governor has raised GOGC above
// the process' 100, then stops.
func loadUntilRaised(t *testing.T) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); garbage(stop, 200*mib) }()
	defer func() { close(stop); <-done }()
	require.Eventually(t, func() bool { return gogc() > 100 }, 10*time.Second, 10*time.Millisecond,
		"200 MiB/s of garbage over a live heap of a few MiB wants more than GOGC 100's headroom")
}

// TestGovernorFollowsTheAllocationRate runs the real runtime: fast allocation raises GOGC above
// the process' own, and Stop sets it back.
func TestGovernorFollowsTheAllocationRate(t *testing.T) {
	t.Setenv("GOGC", "")
	var mu sync.Mutex
	var changes []Change
	g, err := Start(64*mib, func(c Change) {
		mu.Lock()
		changes = append(changes, c)
		mu.Unlock()
	})
	require.NoError(t, err)
	defer g.Stop()
	require.Equal(t, 100, g.Base())

	loadUntilRaised(t)

	mu.Lock()
	require.NotEmpty(t, changes)
	c := changes[len(changes)-1]
	mu.Unlock()
	assert.Greater(t, c.To, 100)
	assert.Positive(t, c.Rate)
	assert.Positive(t, c.Live)

	// At rest the rate between two collections is small: GOGC's own headroom again.
	require.Eventually(t, func() bool {
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		return gogc() == 100
	}, 10*time.Second, time.Millisecond, "no allocation to speak of: back to the process' GOGC")

	g.Stop()
	assert.Equal(t, 100, gogc(), "Stop sets back the GOGC Start found")
	g.Stop() // safe twice
}

func TestStartLeavesAnOperatorsGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "150")
	_, err := Start(24*mib, nil)
	require.ErrorIs(t, err, ErrGOGCSet)
}

func TestOneGovernorAtATime(t *testing.T) {
	t.Setenv("GOGC", "")
	g, err := Start(24*mib, nil)
	require.NoError(t, err)
	_, err = Start(24*mib, nil)
	require.ErrorIs(t, err, ErrRunning)
	g.Stop()
	g2, err := Start(24*mib, nil)
	require.NoError(t, err, "a stopped governor lets the next start")
	g2.Stop()
}

// TestRecheckLowersGOGCAtRest: once the load stops, Recheck sets back the process' GOGC without
// waiting for a collection (at rest the next is minutes away); under load it leaves GOGC alone.
func TestRecheckLowersGOGCAtRest(t *testing.T) {
	t.Setenv("GOGC", "")
	g, err := Start(64*mib, nil)
	require.NoError(t, err)
	defer g.Stop()
	g.Recheck() // before any collection: nothing to go on, nothing done
	require.Equal(t, 100, gogc())

	loadUntilRaised(t)

	// The first Recheck may still see the end of the load since the last collection; the next
	// sees the rest alone.
	require.Eventually(t, func() bool {
		g.Recheck()
		return gogc() == 100
	}, 5*time.Second, Interval+100*time.Millisecond, "at rest: the process' own GOGC, without a collection")
}
