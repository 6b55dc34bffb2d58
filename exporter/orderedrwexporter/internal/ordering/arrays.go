package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"sync"
	"sync/atomic"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/holdback"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
)

// batchArrays are the arrays the batches of one push or release are made of: its series, split
// by shard, and a release's points. They are reused once every shard is done with its batch of
// them, so that in the steady state a push or a release allocates no array: allocated per push,
// they were a tenth of the bytes the exporter allocated at saturation, and garbage to collect.
//
// refs counts the batches queued with them (Batch.Arrays) and the producer's own hold, from
// get until it queued them all or gave up; the last to let go returns them to their pool.
// Batches that were never queued (a push refused on a full queue) hold nothing: once the queued
// ones are done, nothing refers to the arrays.
//
// pin keeps the encoder's label blocks the batches may carry mapped (sample.Epochs) from get until
// the last Release: taken before the push or release reads any series' labels.
type batchArrays struct {
	holdback.Arrays
	// Ones and OnesPerShard are a push's series that have one float point (split).
	Ones         []sample.One
	OnesPerShard [][]sample.One
	// sizes are the shards' batch sizes while a split counts them.
	sizes []int
	refs  atomic.Int32
	pool  *arraysPool
	pin   sample.Pin
}

// arraysPool keeps the arrays of batches that are done with, for the next push or release. A
// free list, not a sync.Pool, which every GC cycle empties: at saturation a cycle ran between
// two releases (4 a second) nearly always, and between pushes often enough that a fifth of them
// allocated anyway. Pushes and releases each have their own: their batches differ in size (a
// push's series; a release's points of many pushes), and arrays sized for one would mostly be
// regrown for the other.
type arraysPool struct {
	// epochs are the encoder's (Settings.Epochs), pinned by each arrays in use; nil pins nothing.
	epochs *sample.Epochs
	mu     sync.Mutex
	free   []*batchArrays
	// max is the number of arrays kept: what is in use at once in the steady state is taken
	// from the free list and comes back to it; more would only be idle memory.
	max int
	// floor is the series and points of arrays that are always kept; larger ones are kept while
	// the recent batches (peak) needed that much. A fixed bound let go of every release's
	// arrays at saturation (a 250 ms release of 1.5M samples/s is 375k points), which were then
	// made anew, zeroed and faulted in, at every release; what an outsized push or release (a
	// shutdown's, an early one of everything held) leaves is let go once it is not needed.
	floor int
	peak  scratch.Peak // guarded by mu
}

// Arrays always kept per engine. Pushes: a few in flight at once, each of one batch (8,192
// points in the benchmarks): 4 x 7 MiB of series. Releases never overlap, and one holds a release
// interval's points: 2 x (6 + 12) MiB at 2^18 points; more at a higher rate, while it lasts.
const (
	maxFreePushArrays    = 4
	pushArraysFloor      = 1 << 17
	maxFreeReleaseArrays = 2
	releaseArraysFloor   = 1 << 18
)

// get returns arrays held by the caller, which Releases them once it queued its batches.
func (p *arraysPool) get() *batchArrays {
	var a *batchArrays
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		a = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if a == nil {
		a = &batchArrays{pool: p}
	}
	a.refs.Store(1)
	a.pin = p.epochs.Hold()
	return a
}

// keeps notes what a, done with, was used for, and reports whether it is worth keeping.
func (p *arraysPool) keeps(a *batchArrays) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peak.Note(max(len(a.Points), len(a.Series), len(a.Ones)))
	return len(p.free) < p.max && p.peak.Keeps(max(cap(a.Points), cap(a.Series), cap(a.Ones)), p.floor)
}

func (p *arraysPool) put(a *batchArrays) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.max {
		p.free = append(p.free, a)
	}
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
	// The last user: nothing reads the labels of these batches any more.
	a.pin.Release()
	a.pin = sample.Pin{}
	if !a.pool.keeps(a) {
		return
	}
	clear(a.Points[:cap(a.Points)])
	clear(a.Series[:cap(a.Series)])
	clear(a.PerShard[:cap(a.PerShard)])
	clear(a.Ones[:cap(a.Ones)])
	clear(a.OnesPerShard[:cap(a.OnesPerShard)])
	a.pool.put(a)
}

// keepPoints copies the points of perShard's series, which are in a (byShard), into a.Points:
// a push's batches then keep nothing of the pusher's arrays once Push returns, and the encoder
// reuses its output for the next push instead of making 8,192 points' worth anew for each.
func (a *batchArrays) keepPoints(perShard [][]sample.Series) {
	n := 0
	for _, batch := range perShard {
		n += sample.CountPoints(batch)
	}
	points := scratch.Reuse(a.Points, n)[:n]
	a.Points = points
	next := 0
	for _, batch := range perShard {
		for i := range batch {
			s := &batch[i]
			end := next + copy(points[next:], s.Points)
			s.Points = points[next:end:end]
			next = end
		}
	}
}
