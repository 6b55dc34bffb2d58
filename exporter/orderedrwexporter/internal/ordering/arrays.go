package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"sync"
	"sync/atomic"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/holdback"
)

// batchArrays are the arrays the batches of one push or release are made of: its series, split
// by shard, and a release's points. They are reused once every shard is done with its batch of
// them, so that in the steady state a push or a release allocates no array: allocated per push,
// they were a tenth of the bytes the exporter allocated at saturation, and garbage to collect.
//
// refs counts the batches queued with them (Batch.Arrays) and the producer's own hold, from
// getArrays until it queued them all or gave up; the last to let go returns them to the pool.
// Batches that were never queued (a push refused on a full queue) hold nothing: once the queued
// ones are done, nothing refers to the arrays.
type batchArrays struct {
	holdback.Arrays
	ends []int
	refs atomic.Int32
}

var arraysPool = sync.Pool{New: func() any { return new(batchArrays) }}

// maxPooledArray bounds the series and points of the arrays kept for reuse (8 MiB of points):
// the arrays of an outsized release (a shutdown's, an early one) are left to the collector.
const maxPooledArray = 1 << 18

// getArrays returns arrays held by the caller, which Releases them once it queued its batches.
func getArrays() *batchArrays {
	a := arraysPool.Get().(*batchArrays)
	a.refs.Store(1)
	return a
}

// hold counts a batch queued with a.
func (a *batchArrays) hold() { a.refs.Add(1) }

// Release lets go of a batch of a, or of the producer's hold; the last one returns a to the pool.
// Emptied first, up to their capacity, so that pooled arrays keep no labels, points or
// histograms alive.
func (a *batchArrays) Release() {
	if a.refs.Add(-1) != 0 {
		return
	}
	if cap(a.Points) > maxPooledArray || cap(a.Series) > maxPooledArray {
		return
	}
	clear(a.Points[:cap(a.Points)])
	clear(a.Series[:cap(a.Series)])
	clear(a.PerShard[:cap(a.PerShard)])
	arraysPool.Put(a)
}

// reuse returns buf emptied if it has room for n elements, else a new slice that has.
func reuse[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, 0, n)
	}
	return buf[:0]
}
