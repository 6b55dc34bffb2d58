package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/holdback"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// releaseLoop releases what is due every release interval while samples are held. While nothing
// is held it does not wake (an idle collector's CPU): it waits for the hold-back to hold points
// again, then ticks from then on, so that the first of them is released no later than with a
// ticker that never stopped (a bucket is due at the end of its interval, at least a window after
// the point came). While series are remembered it still wakes every quarter of the idle timeout,
// for PopDue to forget the idle ones, as it does while ticking.
func (e *Engine) releaseLoop() {
	defer e.releaseDone.Done()
	ticker := time.NewTicker(e.set.ReleaseInterval)
	defer ticker.Stop()
	for {
		select {
		case <-e.stopRelease:
			return
		case <-ticker.C:
			e.ReleaseDue()
		}
		if e.hold.Held() > 0 {
			continue
		}
		ticker.Stop()
		// A signal left from an Add before this tick is not a reason to wake: drop it, then
		// look again, as an Add since may have been what sent it.
		select {
		case <-e.hold.Filled():
		default:
		}
		if e.hold.Held() == 0 && !e.waitForHeld() {
			return
		}
		ticker.Reset(e.set.ReleaseInterval)
	}
}

// waitForHeld waits, while nothing is held, until the hold-back holds points again, forgetting
// idle series meanwhile; false: the loop is to stop.
func (e *Engine) waitForHeld() bool {
	sweep := time.NewTimer(e.idleSweepInterval())
	defer sweep.Stop()
	for {
		select {
		case <-e.stopRelease:
			return false
		case <-e.hold.Filled():
			return true
		case <-sweep.C:
			e.ReleaseDue() // nothing due, but PopDue forgets the idle series
			if e.hold.Held() > 0 {
				return true // held since, and the signal waits in Filled: taken next time
			}
			// Nothing left to forget: the timer stays stopped, and only an Add (or the stop)
			// can give the loop work.
			if e.hold.Series() > 0 {
				sweep.Reset(e.idleSweepInterval())
			}
		}
	}
}

// idleSweepInterval is how often the release forgets idle series while nothing is held, as often
// as the hold-back's own sweep runs: a quarter of the idle timeout.
func (e *Engine) idleSweepInterval() time.Duration {
	return max(e.set.SeriesIdleTimeout/4, e.set.ReleaseInterval)
}

// ReleaseDue releases every held sample whose release time has passed on the engine's clock.
func (e *Engine) ReleaseDue() {
	if e.acct.keep.Load() {
		return // a shutdown keeps held samples in the write-ahead log
	}
	e.releaseMu.Lock()
	defer e.releaseMu.Unlock()
	e.release(e.hold.PopDue(e.clock.Now().UnixMilli()), telemetry.ReleaseOnTime)
}

// release queues buckets, oldest first, on their shards: one batch per shard, each series with
// its points in timestamp order. The caller holds releaseMu. With a WAL, the pop that returned
// buckets tracked their oldest entry; release queues the batches under it, then lets it go.
func (e *Engine) release(buckets []*holdback.Bucket, reason string) {
	if len(buckets) == 0 {
		return
	}
	entry := holdback.MinEntry(buckets)
	defer e.log.Done(entry)
	now := e.clock.Now().UnixMilli()
	due := e.releaseDueSince(buckets, reason, now)
	arrays := e.releaseArrays.get()
	defer arrays.Release()
	perShard, count := e.hold.Take(buckets, e.NumShards(), now, &arrays.Arrays)
	e.tel.Released(count, reason)
	// Releases wait for room on the shards rather than drop: the shards drain on their own, and
	// while a release waits, held data and then pushes are held back too.
	if err := e.enqueue(e.sendCtx, shardBatches{series: perShard}, due, entry, arrays); err != nil {
		e.logger.Warn("Held samples could not be queued before the shutdown deadline.", zap.Error(err))
	}
}

// releaseDueSince is when the released samples became due, which the send lag counts from: for an
// on-time release, when their bucket could first be released (the release may have waited for
// room on the shards); for early and shutdown releases, which are ahead of time, now.
func (e *Engine) releaseDueSince(buckets []*holdback.Bucket, reason string, now int64) int64 {
	if reason == telemetry.ReleaseOnTime {
		return min(e.hold.Due(buckets[0]), now)
	}
	return now
}
