// Package reshard decides how many shards ordered_rw sends with, as Prometheus' remote-write
// queue manager does (storage/remote/queue_manager.go: calculateDesiredShards, shouldReshard;
// ewma.go), so that a small agent sends each push as one request and a saturated one scales up to
// `remote_write_queue.max_shards`.
//
// Every Interval the meter's counts become exponentially weighted rates: samples taken by the
// exporter (in: the demand, counted as pushes come, held back or not, as Prometheus counts what
// is appended rather than what its queues take), samples whose request completed, delivered or not
// (out), the time spent in those requests, and samples the shards removed before sending (stale). The time one sample takes to
// send times the rate samples must go out at, plus 5% of the backlog per second, is the number of
// shards wanted; a change smaller than 30% is ignored, as in Prometheus.
//
// Where Prometheus measures its backlog as the newest timestamp read from its WAL minus the
// newest sent, ordered_rw takes its send lag (how long the oldest due, undelivered sample has
// waited): its samples are held back or replayed with timestamps that say nothing of when they
// were queued.
package reshard // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/reshard"

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The constants of Prometheus' queue manager (storage/remote/queue_manager.go, v3.x).
const (
	// DefaultInterval is Prometheus' shardUpdateDuration: how often the shards are reconsidered.
	DefaultInterval = 10 * time.Second
	// ewmaWeight is the weight of the newest interval in the rates.
	ewmaWeight = 0.2
	// toleranceFraction: a change of fewer shards than this fraction of the current count is not
	// worth a reshard.
	toleranceFraction = 0.3
	// backlogCatchup is the fraction of the backlog to catch up on per second.
	backlogCatchup = 0.05
	// maxLagToDownshard: no downsharding while the lag is above it.
	maxLagToDownshard = 10 * time.Second
)

// Meter counts what the desired shards are computed from; its methods are safe for concurrent
// use by the engine and every shard.
type Meter struct {
	in, out, stale, outNanos atomic.Int64
	// lastSend is the wall clock (ns) of the last request the backend answered with a 2xx.
	lastSend atomic.Int64
}

// Queued counts n samples taken by the exporter, to be sent by the shards.
func (m *Meter) Queued(n int) { m.in.Add(int64(n)) }

// Removed counts n samples a shard removed before sending (stale, or beyond the series cap).
func (m *Meter) Removed(n int) { m.stale.Add(int64(n)) }

// Completed counts a request of n samples that took d, retries included, whatever its outcome.
func (m *Meter) Completed(n int, d time.Duration) {
	m.out.Add(int64(n))
	m.outNanos.Add(int64(d))
}

// Delivered records that the backend accepted a request at now.
func (m *Meter) Delivered(now time.Time) { m.lastSend.Store(now.UnixNano()) }

// Counts are the meter's counts since the last Update.
type Counts struct{ In, Out, Removed int64 }

// Counts reads the counts without taking them.
func (m *Meter) Counts() Counts {
	return Counts{In: m.in.Load(), Out: m.out.Load(), Removed: m.stale.Load()}
}

// ewmaRate is an exponentially weighted moving average of a per-second rate: Prometheus'
// storage/remote/ewma.go, which is internal to its package, but for the interval each tick
// covers (see Calculator.Update).
type ewmaRate struct {
	lastRate float64
	init     bool
}

// tick folds the events counted over the interval that ended, elapsed long, into the rate.
func (r *ewmaRate) tick(events int64, elapsed time.Duration) {
	instant := float64(events) / elapsed.Seconds()
	switch {
	case r.init:
		r.lastRate += ewmaWeight * (instant - r.lastRate)
	case events > 0:
		r.init = true
		r.lastRate = instant
	}
}

// Settings bound and pace the shard count.
type Settings struct {
	MinShards, MaxShards int
	// Interval is how often Update is called; DefaultInterval when 0. The first Update's counts
	// are taken as Interval's; each later one's as those of the time since the one before.
	Interval time.Duration
}

// Decision is the outcome of one Update.
type Decision struct {
	// Desired is the shard count the rates ask for, before rounding and bounds (Prometheus'
	// desired_num_shards gauge).
	Desired float64
	// Shards is the count to run with: the current one unless a reshard is due.
	Shards int
	// Reshard tells that Shards differs from the current count and resharding may proceed.
	Reshard bool
	// Skipped names why a wanted reshard does not happen: "" when it does or none is wanted.
	Skipped string
}

// Calculator turns the meter's counts into a shard count. Update is called from one goroutine.
type Calculator struct {
	set   Settings
	meter *Meter

	in, out, stale, outNanos ewmaRate
	// lastUpdate is when Update last took the meter's counts; zero before the first.
	lastUpdate time.Time

	mu      sync.Mutex
	desired float64
}

// NewCalculator returns a calculator reading meter.
func NewCalculator(set Settings, meter *Meter) *Calculator {
	if set.Interval <= 0 {
		set.Interval = DefaultInterval
	}
	set.MinShards = max(set.MinShards, 1)
	set.MaxShards = max(set.MaxShards, set.MinShards)
	c := &Calculator{set: set, meter: meter}
	c.desired = float64(set.MinShards)
	return c
}

// Desired is the last desired shard count computed (min_shards before the first).
func (c *Calculator) Desired() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desired
}

// Update folds the interval that ended at now into the rates and tells how many shards to run,
// current running now and lag being the send lag.
func (c *Calculator) Update(current int, lag time.Duration, now time.Time) Decision {
	// The counts are those since the last Update, which is not always Interval ago: the engine's
	// loop reshards between two updates, waiting for the old shards to send what they hold, and
	// misses the ticks meanwhile; on a loaded machine a tick comes late. Prometheus divides by
	// the interval, but its updates are not held up by resharding. Here, the pushes counted over
	// a 970 ms reshard and taken as 300 ms' worth made the next desired count three times the
	// demand.
	elapsed := c.set.Interval
	if !c.lastUpdate.IsZero() && now.After(c.lastUpdate) {
		elapsed = now.Sub(c.lastUpdate)
	}
	c.lastUpdate = now
	c.in.tick(c.meter.in.Swap(0), elapsed)
	c.out.tick(c.meter.out.Swap(0), elapsed)
	c.stale.tick(c.meter.stale.Swap(0), elapsed)
	c.outNanos.tick(c.meter.outNanos.Swap(0), elapsed)
	d := c.desiredShards(current, lag)
	if d.Shards == current {
		return d
	}
	// shouldReshard: not while nothing could be sent in the last interval; new shards would not
	// send any faster, and stopping the old ones waits for their retries.
	if last := c.meter.lastSend.Load(); last < now.Add(-c.set.Interval).UnixNano() {
		d.Shards, d.Skipped = current, "no request was delivered in the last interval"
		return d
	}
	d.Reshard = true
	return d
}

// desiredShards is Prometheus' calculateDesiredShards.
func (c *Calculator) desiredShards(current int, lag time.Duration) Decision {
	inRate, outRate := c.in.lastRate, c.out.lastRate
	if outRate <= 0 {
		return Decision{Desired: c.Desired(), Shards: current}
	}
	keptRatio := outRate / (c.stale.lastRate + outRate)
	// The seconds spent sending per second, over the samples sent per second.
	timePerSample := c.outNanos.lastRate / float64(time.Second) / outRate
	pending := lag.Seconds() * inRate * keptRatio
	desired := timePerSample * (inRate*keptRatio + backlogCatchup*pending)
	c.mu.Lock()
	c.desired = desired
	c.mu.Unlock()

	d := Decision{Desired: desired, Shards: current}
	lower := float64(current) * (1 - toleranceFraction)
	upper := float64(current) * (1 + toleranceFraction)
	desired = math.Ceil(desired) // round up to be on the safe side
	if lower <= desired && desired <= upper {
		return d
	}
	n := int(desired)
	if n < current && lag > maxLagToDownshard {
		return d // not while far behind
	}
	d.Shards = min(max(n, c.set.MinShards), c.set.MaxShards)
	return d
}
