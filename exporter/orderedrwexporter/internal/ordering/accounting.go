package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"sync/atomic"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/pending"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/shard"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// accounting follows the batches on the shards, from queued to processed: how many are pending,
// since when each was due, the log entries they carry, and what a shutdown leaves undelivered or
// kept in the log. It is all a shard sees of the engine (shard.Hooks).
type accounting struct {
	tel *telemetry.Telemetry
	log journal

	// batches counts batches queued on shards and not yet processed.
	batches atomic.Int64
	// queuedBytes is the estimated size of those batches (sample.Bytes), for the memory budget;
	// it falls when a shard is done with a batch, sent or not.
	queuedBytes atomic.Int64
	// due tracks when each of those batches became due, for the send lag. Batches of one queue
	// are not in due order (a late batch goes after a release that became due earlier).
	due pending.Counts[int64]
	// undelivered counts the samples a shutdown could not deliver.
	undelivered atomic.Int64
	// closing is set as a shutdown begins.
	closing atomic.Bool
	// keep is set by a shutdown with a WAL: what is not delivered yet stays in the log instead of
	// being sent; kept counts the samples the shards left there.
	keep atomic.Bool
	kept atomic.Int64
}

var _ shard.Hooks = (*accounting)(nil)

// batchBytes is the estimated size of b's series (ordering.max_buffered_bytes), or of its
// requests once the shard encoded them.
func batchBytes(b shard.Batch) int64 {
	return sample.Bytes(b.Series) + sample.OnesBytes(b.Ones) + b.Encoded
}

// queued counts b from when it waits for room on its shard.
func (a *accounting) queued(b shard.Batch) {
	a.batches.Add(1)
	a.queuedBytes.Add(batchBytes(b))
	a.due.Add(b.Due)
	a.log.Track(b.Entry)
}

// unqueued takes back queued for a batch that could not be queued.
func (a *accounting) unqueued(b shard.Batch) {
	a.batches.Add(-1)
	a.queuedBytes.Add(-batchBytes(b))
	a.due.Done(b.Due)
	a.log.Done(b.Entry)
	if b.Arrays != nil {
		b.Arrays.Release()
	}
}

func (a *accounting) Keeping() bool { return a.keep.Load() }
func (a *accounting) Kept(n int)    { a.kept.Add(int64(n)) }
func (a *accounting) Closing() bool { return a.closing.Load() }
func (a *accounting) Sent(n int)    { a.tel.Sent(n) }
func (a *accounting) Split()        { a.tel.Split() }

func (a *accounting) Dropped(n int, reason string) {
	a.tel.Dropped(n, reason)
	if reason == telemetry.ReasonShutdown {
		a.undelivered.Add(int64(n))
	}
}

// Encoded: what b holds is now its requests, bytes; its arrays are reused. The estimate of its
// series is the one queued counted: a shard sorts a batch's points in place, and keeps its
// series, labels and number of points.
func (a *accounting) Encoded(b shard.Batch, bytes int64) {
	a.queuedBytes.Add(bytes - batchBytes(b))
	if b.Arrays != nil {
		b.Arrays.Release() // last: nothing reads b.Series or b.Ones after it
	}
}

// Done: a batch left in the WAL by a shutdown keeps its entry from being truncated.
func (a *accounting) Done(b shard.Batch, kept bool) {
	a.due.Done(b.Due)
	a.batches.Add(-1)
	// Its requests' bytes, counted by Encoded in place of its series'.
	a.queuedBytes.Add(-batchBytes(b))
	if !kept {
		a.log.Done(b.Entry)
	}
}
