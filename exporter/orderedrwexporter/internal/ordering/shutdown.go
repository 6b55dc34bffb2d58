package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// shutdownSendReserve is the time left for sending when held samples must be released ahead of
// their schedule because the shutdown deadline is near; at most half of the time the shutdown has.
const shutdownSendReserve = 2 * time.Second

// Shutdown stops taking pushes, keeps releasing held samples on their schedule until none is left,
// and waits until the shards sent everything, retrying failed requests, or until ctx or
// ShutdownTimeout ends. It reports how many samples could not be delivered.
//
// Held samples are not flushed at once: another gateway may still hold older samples of the same
// series, which it releases at their own time; sent ahead of them, this gateway's samples would
// have those rejected as out of order. The wait is bounded by the window (plus the release
// granularity); what a deadline of ctx does not leave time for is released early, before it.
//
// With a WAL nothing is waited for: what is not delivered stays in the log (shutdownKeepingWAL).
func (e *Engine) Shutdown(ctx context.Context) error {
	first := false
	e.shutdownOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	defer e.tel.Shutdown()
	defer e.cancelSend()
	if e.set.WAL != nil {
		return e.shutdownKeepingWAL(ctx)
	}
	if e.set.ShutdownTimeout > 0 {
		// The collector shuts down without deadline: this one bounds the wait. Requests keep
		// being retried (429, 5xx) until it passes, so that a request first sent during the
		// shutdown is not lost to one failed attempt.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.set.ShutdownTimeout)
		defer cancel()
	}
	// Before waiting for pushes blocked on full shard queues: the shards must give up at the
	// deadline for those pushes to return.
	e.acct.closing.Store(true)
	stop := context.AfterFunc(ctx, e.cancelSend)
	defer stop()
	if _, ok := ctx.Deadline(); !ok {
		// Without any deadline a backend outage would hold the shutdown for max_elapsed_time per
		// request; try each request once more instead.
		close(e.retryStop)
	}
	if !e.close() {
		return nil
	}
	if e.hold != nil {
		// The shutdown releases on its own from here: at once, what is due already.
		e.stopReleaseLoop()
		e.awaitHeldReleased(ctx)
		e.releaseMu.Lock()
		e.release(e.hold.PopAll(), telemetry.ReleaseShutdown)
		e.releaseMu.Unlock()
	}
	e.drainShards()
	if n := e.acct.undelivered.Load(); n > 0 {
		e.logger.Error("Samples could not be delivered before the shutdown ended.", zap.Int64("samples", n))
		return fmt.Errorf("ordered_rw: %d samples could not be delivered at shutdown", n)
	}
	return nil
}

// close stops taking pushes; it reports whether the engine was started.
func (e *Engine) close() (started bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return e.started
}

func (e *Engine) stopReleaseLoop() {
	close(e.stopRelease)
	e.releaseDone.Wait()
}

// drainShards closes the shard queues and waits until the shards processed what they hold.
func (e *Engine) drainShards() {
	e.shards.drain()
	e.drops.Flush()
}

// awaitHeldReleased releases held samples at their time, at once what is due already, then at
// every release interval, until none is held. It returns early, leaving the rest to be released at
// once, when ctx ends, when its deadline is shutdownSendReserve away, or a window after it began:
// only a sample stamped in the future is held longer, and a shutdown must not wait for it.
func (e *Engine) awaitHeldReleased(ctx context.Context) {
	e.ReleaseDue()
	held := e.hold.Held()
	if held == 0 {
		return
	}
	e.logger.Info("Releasing held samples on their schedule before shutting down.",
		zap.Int64("held_samples", held), zap.Duration("window", e.set.Window))
	// A sample that arrived just now is due a window from now, at the end of its release bucket,
	// and released at the next tick after that: three intervals cover both with room to spare.
	bound := time.NewTimer(e.set.Window + 3*e.set.ReleaseInterval)
	defer bound.Stop()
	var early <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		timer := time.NewTimer(left - min(shutdownSendReserve, left/2))
		defer timer.Stop()
		early = timer.C
	}
	poll := time.NewTicker(e.set.ReleaseInterval)
	defer poll.Stop()
	for e.hold.Held() > 0 {
		select {
		case <-poll.C:
			e.ReleaseDue()
		case <-bound.C:
			e.logger.Warn("Samples still held a window after the shutdown began (timestamps in the future) are released now.",
				zap.Int64("held_samples", e.hold.Held()))
			return
		case <-early:
			e.logger.Warn("The shutdown deadline is near: held samples are released ahead of their time.",
				zap.Int64("held_samples", e.hold.Held()))
			return
		case <-ctx.Done():
			return
		}
	}
}

// shutdownKeepingWAL stops taking pushes and releasing held samples, lets requests already sent
// finish (one attempt, no retry), leaves everything else in the log, truncates the log to what is
// left and closes it. Nothing is counted undelivered: what is left is sent after the restart.
func (e *Engine) shutdownKeepingWAL(ctx context.Context) error {
	if e.set.ShutdownTimeout > 0 {
		// Bounds the requests on the wire; what they carried stays in the log.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.set.ShutdownTimeout)
		defer cancel()
	}
	e.acct.keep.Store(true)
	e.acct.closing.Store(true)
	stop := context.AfterFunc(ctx, e.cancelSend)
	defer stop()
	close(e.retryStop)
	if !e.close() {
		// Nothing was replayed: the log is left as it is.
		return e.log.Close()
	}
	e.log.Stop()
	if e.hold != nil {
		e.stopReleaseLoop()
	}
	e.drainShards()

	truncated, truncErr := e.log.Truncate()
	entries := e.log.Entries()
	closeErr := e.log.Close()
	e.logger.Info("Samples not delivered yet are kept in the write-ahead log, to be sent after the restart.",
		zap.Int64("held_samples", e.HeldSamples()),
		zap.Int64("queued_samples", e.acct.kept.Load()),
		zap.Int64("entries", entries),
		zap.Uint64("truncated_entries", truncated),
		zap.String("directory", e.set.WAL.Directory))
	return errors.Join(truncErr, closeErr)
}

// TruncateWAL removes the log entries whose samples are all delivered or counted dropped, and
// returns how many it removed; 0 without a WAL. It runs every wal.Settings.TruncateInterval.
func (e *Engine) TruncateWAL() (uint64, error) { return e.log.Truncate() }

// WALEntries is the number of entries in the log; 0 without a WAL.
func (e *Engine) WALEntries() int64 { return e.log.Entries() }
