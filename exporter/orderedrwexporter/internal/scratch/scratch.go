// Package scratch is how ordered_rw's hot path reuses its arrays from one push or release to the
// next: Reuse empties one that has room or makes one with some to spare, and Peak tells which to
// keep. A large array made anew costs more than its size in bytes: the runtime zeroes it, the
// kernel faults its pages in, and the collector runs sooner. At saturation those were 5% of the
// collector's CPU, from arrays that fixed size caps let go of because a release of 250 ms was
// larger than the caps allowed.
package scratch // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"

// Reuse returns buf emptied if it has room for n elements, else a new slice that has, with a
// quarter more: batches vary in size, and one a little larger than the last would otherwise
// regrow the array every time.
func Reuse[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, 0, n+n/4)
	}
	return buf[:0]
}

// Carve cuts all into one empty batch per shard in perShard, one after the other, batch i with
// room for sizes[i] elements: a split by shard fills one array sized up front, each shard's batch
// appended to in place, instead of growing a slice per shard.
func Carve[T any](all []T, perShard [][]T, sizes []int) {
	start := 0
	for i, n := range sizes {
		perShard[i] = all[start : start : start+n]
		start += n
	}
}

// peakPeriod is the number of sizes noted in one period of a Peak.
const peakPeriod = 64

// Peak is the largest size an array was used for lately: over the current period of
// peakPeriod notes and the one before, so that one outsized use (a shutdown's release of
// everything held, an early release) is forgotten within two periods, while the steady state,
// whatever its rate, keeps its arrays. Not safe for concurrent use.
type Peak struct {
	current, previous int
	notes             int
}

// Note records that an array was used for n elements.
func (p *Peak) Note(n int) {
	p.current = max(p.current, n)
	if p.notes++; p.notes == peakPeriod {
		p.previous, p.current, p.notes = p.current, 0, 0
	}
}

// Keeps reports whether an array of the given capacity is worth keeping for the next use: if it
// is at most floor, or at most twice the recent peak (Reuse makes arrays a quarter larger than
// asked, and sizes vary). Beyond that it is idle memory until the next outsized use.
func (p *Peak) Keeps(capacity, floor int) bool {
	return capacity <= max(floor, 2*max(p.current, p.previous))
}
