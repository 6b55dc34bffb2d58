package guard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIdentitiesKeepTheirSeriesAndExpireWithIt: an identity remembered for an admitted series
// finds it; a series seen only through its identities stays active; once idle, identities and
// series go in the same sweep; and no identity outlives its series, also when the clock steps
// back.
func TestIdentitiesKeepTheirSeriesAndExpireWithIt(t *testing.T) {
	g := New(Limits{MaxSeries: 10, Window: time.Hour, MaxTracked: 10}, epoch)
	at := func(d time.Duration) uint32 { return g.Tick(epoch.Add(d)) }

	require.False(t, g.SeenIdentity(100, at(0)), "an identity never remembered is unknown")
	require.Equal(t, ReasonNone, g.Admit(1, 1, "m", "", at(0)))
	g.RememberIdentity(100, at(0))
	// A second identity of the same series (its attributes in another order).
	state, _ := g.Seen(1, at(0))
	require.Equal(t, Admitted, state)
	g.RememberIdentity(101, at(0))
	require.Equal(t, 2, g.Identities())
	require.Equal(t, int64(1), g.Active(), "two identities of one series are one series")

	// Seen only through identity 100 at 50m: series 1 is not idle at 1h30m.
	require.True(t, g.SeenIdentity(100, at(50*time.Minute)))
	require.Zero(t, g.Sweep(at(90*time.Minute)))
	require.Equal(t, int64(1), g.Active())
	require.Equal(t, 1, g.Identities(), "identity 101, idle past the timeout, expires on its own")
	require.False(t, g.SeenIdentity(101, at(90*time.Minute)))

	// Past the timeout of its last sighting, the series and its identity go together.
	require.Equal(t, int64(1), g.Sweep(at(2*time.Hour)))
	require.Zero(t, g.Identities())
	require.Zero(t, g.Active())
	require.False(t, g.SeenIdentity(100, at(2*time.Hour)))

	// The clock steps back: series 2 is seen through one identity at 3h and directly at 2h30m
	// (earlier), the other identity at 3h. The series keeps the latest sighting of all.
	require.Equal(t, ReasonNone, g.Admit(2, 1, "m", "", at(3*time.Hour)))
	g.RememberIdentity(200, at(3*time.Hour))
	state, _ = g.Seen(2, at(150*time.Minute))
	require.Equal(t, Admitted, state)
	g.RememberIdentity(201, at(150*time.Minute))
	require.True(t, g.SeenIdentity(200, at(3*time.Hour)))
	require.Zero(t, g.Sweep(at(220*time.Minute)), "seen at 3h through identity 200")
	require.Equal(t, 1, g.Identities())
	require.True(t, g.SeenIdentity(200, at(220*time.Minute)))
	require.Equal(t, int64(1), g.Sweep(at(5*time.Hour)))
	require.Zero(t, g.Identities())
}

// TestIdentitiesAreBoundedByMaxTracked: one series sent under ever new identities (its
// attributes in every order) does not grow the state past max_tracked_series; the identities
// not remembered still count as that one series.
func TestIdentitiesAreBoundedByMaxTracked(t *testing.T) {
	g := New(Limits{MaxSeries: 4, Window: time.Hour, MaxTracked: 4}, epoch)
	require.Equal(t, ReasonNone, g.Admit(1, 1, "m", "", 0))
	for id := uint64(10); id < 1000; id++ {
		if !g.SeenIdentity(id, 0) {
			state, _ := g.Seen(1, 0)
			require.Equal(t, Admitted, state)
			g.RememberIdentity(id, 0)
		}
	}
	require.Equal(t, 4, g.Identities())
	require.Equal(t, int64(1), g.Active())
	require.True(t, g.SeenIdentity(10, 0), "the identities remembered before the bound still work")
}
