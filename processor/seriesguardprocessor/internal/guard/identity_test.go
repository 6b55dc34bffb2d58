package guard

import (
	"math/rand/v2"
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

// TestGuardAgreesWithAModel drives the guard as the walker does (series seen directly or
// through raw identities, several identities per series, first identities re-keying their
// series' slot, links for the others, sweeps while the clock advances) and checks after every
// sweep that exactly the series a plain model keeps active are active, with their weights, and
// that each is found by its hash and by every identity the model still knows.
func TestGuardAgreesWithAModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const window = time.Minute
	g := New(Limits{Window: window, MaxTracked: 1 << 20}, epoch)
	type series struct {
		weight   int
		lastSeen time.Time
	}
	model := map[uint64]*series{}     // series hash -> state, while active
	identities := map[uint64]uint64{} // raw identity -> series hash, while remembered
	idSeen := map[uint64]time.Time{}  // raw identity -> its last sighting
	keyOf := map[uint64]uint64{}      // series hash -> the identity that keys its slot
	idle := func(last, now time.Time) bool { return g.Tick(now)-g.Tick(last) > uint32(window/tick) }
	now := epoch
	nextHash, nextID := uint64(1000), uint64(1<<40)
	for step := range 3000 {
		now = now.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
		tick := g.Tick(now)
		switch op := r.IntN(10); {
		case op < 3: // a new series
			nextHash++
			w := 1 + r.IntN(5)
			state, _ := g.Seen(nextHash, tick)
			require.Equal(t, Unknown, state)
			require.Equal(t, ReasonNone, g.Admit(nextHash, w, "m", "", tick))
			model[nextHash] = &series{weight: w, lastSeen: now}
		case op < 6 && len(model) > 0: // an active series seen by its hash, maybe a new identity
			h := anyKey(r, model)
			state, _ := g.Seen(h, tick)
			require.Equal(t, Admitted, state, "step %d", step)
			model[h].lastSeen = now
			if r.IntN(2) == 0 {
				nextID++
				g.RememberIdentity(nextID, tick)
				identities[nextID] = h
				idSeen[nextID] = now
				if _, ok := keyOf[h]; !ok {
					keyOf[h] = nextID
				}
			}
		case op < 9 && len(identities) > 0: // a point found by a remembered identity
			id := anyKey(r, identities)
			require.True(t, g.SeenIdentity(id, tick), "step %d", step)
			model[identities[id]].lastSeen = now
			idSeen[id] = now
		default:
			g.Sweep(tick)
			// A series not seen within the window expires, its identities with it; an
			// identity not seen within the window expires, unless it keys its series' slot
			// (the first one remembered): then it lasts as long as the series.
			var active int64
			for h, s := range model {
				if idle(s.lastSeen, now) {
					delete(model, h)
					delete(keyOf, h)
					continue
				}
				active += int64(s.weight)
			}
			for id, h := range identities {
				if _, ok := model[h]; !ok || keyOf[h] != id && idle(idSeen[id], now) {
					delete(identities, id)
					delete(idSeen, id)
				}
			}
			require.Equal(t, len(identities), g.Identities(), "step %d", step)
			require.Equal(t, active, g.Active(), "step %d", step)
			require.Equal(t, len(model), g.TrackedEntries(), "step %d", step)
			// Found at their last sightings, which changes nothing: identities first, as an
			// identity that keys its series' slot shares the series' last sighting.
			for id := range identities {
				require.True(t, g.SeenIdentity(id, g.Tick(idSeen[id])), "step %d", step)
			}
			for h := range model {
				state, _ := g.Seen(h, g.Tick(model[h].lastSeen))
				require.Equal(t, Admitted, state, "step %d", step)
			}
		}
	}
}

func anyKey[V any](r *rand.Rand, m map[uint64]V) uint64 {
	n := r.IntN(len(m))
	for k := range m {
		if n == 0 {
			return k
		}
		n--
	}
	panic("unreachable")
}
