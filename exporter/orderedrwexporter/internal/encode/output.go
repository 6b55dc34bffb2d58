package encode // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"

import (
	"slices"
	"unsafe"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
)

// output is the arrays of one push's series and of their points.
type output struct {
	series []sample.Series
	points []sample.Point
}

// outputs keeps the arrays of pushes' outputs that their pusher is done with (Recycle), for the
// next pushes: made anew, they were the largest allocation of the exporter (72 bytes a sample,
// 590 KB a push of 8,192), zeroed and faulted in at every push. Guarded by Encoder.mu.
type outputs struct {
	// lent are the outputs Encode returned that were not recycled yet, oldest first: one record
	// of each, for its arrays and for its epoch. Beyond the newest maxLent, an output's arrays
	// are forgotten (no reuse), but not its epoch, which only Recycle may end: ended early, the
	// arena could unmap blocks the output still refers to; never ended, no chunk retired after it
	// would be unmapped (sample.Epochs). A pusher that never recycles (the encoder's own tests)
	// leaks its records and, through first, its series arrays.
	lent []lentOutput
	free []output
	peak scratch.Peak
}

// lentOutput is an output Encode returned, until its pusher recycles it.
type lentOutput struct {
	// first is the output's first series, which Recycle finds it by (outputs are never empty).
	// A Go pointer, so that the array is not freed and its address given to a later output
	// while the record stands.
	first *sample.Series
	// epoch is the arena's epoch the output keeps open (sample.Epochs.Begin).
	epoch uint64
	// arrays are kept for the next pushes once recycled; empty once forgotten (maxLent).
	arrays output
}

const (
	// maxLent bounds the outputs lent at once: pushes in flight, one each.
	maxLent = 16
	// maxFreeOutputs bounds the outputs kept for the next pushes.
	maxFreeOutputs = 4
	// outputFloor is the series of an output always kept; larger ones while pushes need them.
	outputFloor = 1 << 14
)

// get returns arrays with room for about n series and points, emptied.
func (o *outputs) get(n int) output {
	var out output
	if last := len(o.free) - 1; last >= 0 {
		out = o.free[last]
		o.free[last] = output{}
		o.free = o.free[:last]
	}
	return output{series: scratch.Reuse(out.series, n), points: scratch.Reuse(out.points, n)}
}

// lend records that out, not empty, was returned by Encode and keeps epoch open until Recycle
// finds it, and forgets the arrays of the output that is no longer among the newest maxLent.
func (o *outputs) lend(out output, epoch uint64) {
	if n := len(o.lent); n >= maxLent {
		o.lent[n-maxLent].arrays = output{}
	}
	o.lent = append(o.lent, lentOutput{first: unsafe.SliceData(out.series), epoch: epoch, arrays: out})
}

// recycle keeps the arrays of the output series are the series of, once its pusher is done with
// them, and returns the epoch it kept open; false if series are not an output lent (recycled
// already).
func (o *outputs) recycle(series []sample.Series) (epoch uint64, ok bool) {
	i := slices.IndexFunc(o.lent, func(lent lentOutput) bool { return lent.first == unsafe.SliceData(series) })
	if i < 0 {
		return 0, false
	}
	lent := o.lent[i]
	o.lent = slices.Delete(o.lent, i, i+1)
	if lent.arrays.series != nil {
		o.keep(lent.arrays)
	}
	return lent.epoch, true
}

// keep empties out, so that it keeps no labels or points alive, and keeps it if the pushes need
// its size and fewer than maxFreeOutputs are kept. Only what was appended is emptied: beyond
// their length, the arrays are empty already.
func (o *outputs) keep(out output) {
	o.peak.Note(max(len(out.series), len(out.points)))
	if len(o.free) == maxFreeOutputs || !o.peak.Keeps(max(cap(out.series), cap(out.points)), outputFloor) {
		return
	}
	clear(out.series)
	clear(out.points)
	o.free = append(o.free, out)
}
