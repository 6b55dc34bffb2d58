package reshard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var start = time.Unix(1_000_000, 0)

// load feeds one interval: in samples queued, out sent taking busy in total, stale removed, with
// a request delivered at the interval's end unless delivered is false.
func load(m *Meter, in, out, stale int, busy time.Duration, delivered bool, at time.Time) {
	m.Queued(in)
	m.Removed(stale)
	if out > 0 {
		m.Completed(out, busy)
	}
	if delivered {
		m.Delivered(at)
	}
}

// The shards are the time it takes to send what comes in: 1,000 samples a second taking 3 s of
// sending per second want 3 shards, as Prometheus computes it.
func TestDesiredShardsFollowTheLoad(t *testing.T) {
	m := new(Meter)
	c := NewCalculator(Settings{MinShards: 1, MaxShards: 10, Interval: time.Second}, m)
	assert.Equal(t, 1.0, c.Desired(), "min_shards before the first update")

	load(m, 1000, 1000, 0, 3*time.Second, true, start)
	d := c.Update(1, 0, start)
	assert.InDelta(t, 3.0, d.Desired, 1e-9)
	assert.Equal(t, Decision{Desired: d.Desired, Shards: 3, Reshard: true}, d)
	assert.InDelta(t, 3.0, c.Desired(), 1e-9)

	// Stale samples removed before sending need no time: half removed, half the shards.
	m = new(Meter)
	c = NewCalculator(Settings{MinShards: 1, MaxShards: 10, Interval: time.Second}, m)
	load(m, 2000, 1000, 1000, 3*time.Second, true, start)
	assert.InDelta(t, 3.0, c.Update(1, 0, start).Desired, 1e-9)
}

// Bounds and Prometheus' rules: changes within 30% are ignored; the count stays within
// min_shards..max_shards; no downsharding while more than 10 s behind; a backlog adds 5% of it
// per second; nothing sent, nothing decided.
func TestDesiredShardsRules(t *testing.T) {
	for name, tc := range map[string]struct {
		in, out       int
		busy          time.Duration
		current       int
		lag           time.Duration
		min, max      int
		wantShards    int
		wantReshard   bool
		wantDesiredAt float64
	}{
		"within tolerance":        {in: 1000, out: 1000, busy: 4500 * time.Millisecond, current: 4, min: 1, max: 10, wantShards: 4, wantDesiredAt: 4.5},
		"above tolerance":         {in: 1000, out: 1000, busy: 5500 * time.Millisecond, current: 4, min: 1, max: 10, wantShards: 6, wantReshard: true, wantDesiredAt: 5.5},
		"capped at max_shards":    {in: 1000, out: 1000, busy: 50 * time.Second, current: 1, min: 1, max: 5, wantShards: 5, wantReshard: true, wantDesiredAt: 50},
		"at max_shards already":   {in: 1000, out: 1000, busy: 50 * time.Second, current: 5, min: 1, max: 5, wantShards: 5, wantDesiredAt: 50},
		"down to min_shards":      {in: 1000, out: 1000, busy: 10 * time.Millisecond, current: 5, min: 2, max: 5, wantShards: 2, wantReshard: true, wantDesiredAt: 0.01},
		"no downsharding behind":  {in: 1000, out: 1000, busy: 10 * time.Millisecond, current: 5, lag: 11 * time.Second, min: 1, max: 5, wantShards: 5, wantDesiredAt: 0.01 * (1 + 0.05*11)},
		"backlog catch-up":        {in: 1000, out: 1000, busy: 2 * time.Second, current: 1, lag: 20 * time.Second, min: 1, max: 10, wantShards: 4, wantReshard: true, wantDesiredAt: 2 * (1 + 0.05*20)},
		"nothing sent, no change": {in: 1000, out: 0, current: 3, min: 1, max: 10, wantShards: 3, wantDesiredAt: 1},
	} {
		t.Run(name, func(t *testing.T) {
			m := new(Meter)
			c := NewCalculator(Settings{MinShards: tc.min, MaxShards: tc.max, Interval: time.Second}, m)
			load(m, tc.in, tc.out, 0, tc.busy, true, start)
			d := c.Update(tc.current, tc.lag, start)
			assert.Equal(t, tc.wantShards, d.Shards)
			assert.Equal(t, tc.wantReshard, d.Reshard)
			if tc.out > 0 {
				assert.InDelta(t, tc.wantDesiredAt, d.Desired, 1e-9)
			} else {
				assert.InDelta(t, float64(tc.min), d.Desired, 1e-9, "the last desired count, min_shards before any")
			}
		})
	}
}

// Like Prometheus' shouldReshard: no reshard while nothing was delivered in the last interval
// (stopping the shards would wait for their retries, and more shards send no faster to a backend
// that is down).
func TestNoReshardWithoutDelivery(t *testing.T) {
	m := new(Meter)
	c := NewCalculator(Settings{MinShards: 1, MaxShards: 10, Interval: time.Second}, m)
	load(m, 1000, 1000, 0, 3*time.Second, true, start)
	later := start.Add(1500 * time.Millisecond)
	load(m, 1000, 1000, 0, 3*time.Second, false, later)
	d := c.Update(1, 0, later)
	assert.Equal(t, 1, d.Shards)
	assert.False(t, d.Reshard)
	assert.Equal(t, "no request was delivered in the last interval", d.Skipped)
}

// The rates are moving averages (weight 0.2 for the newest interval): one quiet interval after a
// busy one does not drop the shards at once.
func TestRatesAreSmoothed(t *testing.T) {
	m := new(Meter)
	c := NewCalculator(Settings{MinShards: 1, MaxShards: 10, Interval: time.Second}, m)
	load(m, 1000, 1000, 0, 4*time.Second, true, start)
	assert.Equal(t, 4, c.Update(1, 0, start).Shards)
	at := start.Add(time.Second)
	load(m, 0, 1, 0, 0, true, at)
	d := c.Update(4, 0, at)
	// in: 800/s; out: 800.2/s; busy: 3.2 s/s -> 3.2/800.2 s per sample x 800/s.
	assert.InDelta(t, 3.2*800/800.2, d.Desired, 1e-9)
	assert.Equal(t, 4, d.Shards, "within tolerance of 4")
}

// The rates are over the time the counts were taken: an update late by two intervals (a reshard
// held the engine's loop, or a loaded machine) sees three intervals' worth of samples, at the
// same rate. Taken as one interval's, they asked for 5 shards where 3 send the load.
func TestRatesAreOverTheTimeSinceTheLastUpdate(t *testing.T) {
	m := new(Meter)
	c := NewCalculator(Settings{MinShards: 1, MaxShards: 10, Interval: time.Second}, m)
	load(m, 1000, 1000, 0, 3*time.Second, true, start)
	assert.Equal(t, 3, c.Update(1, 0, start).Shards)
	late := start.Add(3 * time.Second)
	load(m, 3000, 3000, 0, 9*time.Second, true, late)
	d := c.Update(3, 0, late)
	assert.InDelta(t, 3.0, d.Desired, 1e-9, "1,000 samples a second taking 3 ms each")
	assert.Equal(t, 3, d.Shards)
	assert.False(t, d.Reshard)
}
