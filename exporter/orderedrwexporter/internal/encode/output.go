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
	// lent are the outputs Encode returned that were not recycled yet. A pusher that never
	// recycles (the encoder's own tests) only loses the reuse: beyond maxLent, the oldest are
	// forgotten, left to the garbage collector.
	lent []output
	free []output
	peak scratch.Peak
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

// lend records that out was returned by Encode, for Recycle to find it; an empty one is kept at
// once (its series are not pushed).
func (o *outputs) lend(out output) {
	if len(out.series) == 0 {
		o.keep(out)
		return
	}
	if len(o.lent) == maxLent {
		o.lent = slices.Delete(o.lent, 0, 1)
	}
	o.lent = append(o.lent, out)
}

// recycle keeps the output series are the series of, once its pusher is done with them.
func (o *outputs) recycle(series []sample.Series) {
	i := slices.IndexFunc(o.lent, func(out output) bool {
		return unsafe.SliceData(out.series) == unsafe.SliceData(series)
	})
	if i < 0 {
		return
	}
	out := o.lent[i]
	o.lent = slices.Delete(o.lent, i, i+1)
	o.keep(out)
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
