package holdback // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/holdback"

import (
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
)

// holdLatencySampling is one over the share of released samples whose hold latency is recorded:
// a histogram's Record cost 150 ns, 1.8 % of the collector's CPU at 1.6M samples/s one sample in
// 16; one in 256 still records thousands a second at such rates, and the first of each release
// at any rate.
const holdLatencySampling = 256

// Due is when bucket b could first be released: the end of its release-time bucket.
func (h *Holdback) Due(b *Bucket) int64 { return h.keyDue(b.key) }

// Arrays are what the batches of a release are made of: Take fills them, reusing their room, and
// returns batches that are slices of them. Once no batch of a release is in use any more, the
// caller may hand its Arrays to another Take, so that a release allocates nothing in the steady
// state.
type Arrays struct {
	Points   []sample.Point
	Series   []sample.Series
	PerShard [][]sample.Series
}

// Take turns popped buckets into one batch per shard (series hash modulo shards), each series
// with its points in timestamp order (buckets are popped oldest first), and lets go of the
// buckets: refs with no point left are freed, the buckets' chunks reused. It returns the batches,
// slices of into (new arrays when into is nil), and the number of points in them. Takes must not
// overlap; the caller serialises its releases.
func (h *Holdback) Take(buckets []*Bucket, shards int, nowMillis int64, into *Arrays) (perShard [][]sample.Series, count int) {
	if into == nil {
		into = new(Arrays)
	}
	r := &h.scratch
	h.gather(r, buckets, nowMillis)
	h.place(r, buckets, into)
	r.byShard(into, shards)
	h.free(r.slots, buckets)
	r.keep()
	return into.PerShard, len(into.Points)
}

// releasing is a release being built. Two passes, so that the points of every series are slices
// of one allocation: first each series gets a slot and its points are counted (gather), then the
// points are placed (place). Its arrays are the hold-back's scratch, reused by the next release:
// none of them leaves Take.
type releasing struct {
	slots []releaseSlot
	// slotOf is the slot of each point, in the order of the buckets' points.
	slotOf []int32
	// offsets is where the next point of each slot goes.
	offsets []int
	// peak is what recent releases needed, to keep the arrays they need.
	peak scratch.Peak
}

// scratchFloor is the points, and the series, of the scratch always kept between releases: 4 MiB
// of slotOf, 16 MiB of slots and offsets. Larger, it is kept while the releases need it (a high
// rate); an early release of everything held (a shutdown's) leaves one that is let go later.
const scratchFloor = 1 << 20

// keep empties the scratch for the next release, or lets it go if it is outsized.
func (r *releasing) keep() {
	clear(r.slots) // not keeping refs reachable from the scratch
	r.peak.Note(max(len(r.slotOf), len(r.slots)))
	if !r.peak.Keeps(max(cap(r.slotOf), cap(r.slots), cap(r.offsets)), scratchFloor) {
		*r = releasing{peak: r.peak}
		return
	}
	r.slots, r.slotOf, r.offsets = r.slots[:0], r.slotOf[:0], r.offsets[:0]
}

// releaseSlot is one series of a release.
type releaseSlot struct {
	idx   uint32
	count int
	ref   *seriesRef
	// hash is the series' hash: its key in the table. A series whose hash is 0 is kept under
	// key 1 (seriestable.Key), and released as the series of hash 1, a one in 2^64 chance, as a
	// reshard's hand-over does.
	hash uint64
}

// gather gives each series of buckets a slot and counts its points; every
// holdLatencySampling-th point has its hold latency recorded.
func (h *Holdback) gather(r *releasing, buckets []*Bucket, nowMillis int64) {
	count := 0
	for _, b := range buckets {
		count += b.Len()
	}
	r.slotOf = scratch.Reuse(r.slotOf, count)
	for _, b := range buckets {
		for ci := range b.floats {
			for _, entry := range b.chunk(ci) {
				h.assign(r, entry.ref)
				// Every holdLatencySampling-th sample: recording each one cost 6% of the
				// collector's CPU at 500k samples/s, and a sample of them shows the same
				// distribution.
				if len(r.slotOf)%holdLatencySampling == 1 {
					h.holdLatency(nowMillis - h.arrivedAt(b, entry.offsets>>h.offsetBits))
				}
			}
		}
		for i := range b.histograms {
			h.assign(r, b.histograms[i].ref)
			if len(r.slotOf)%holdLatencySampling == 1 {
				h.holdLatency(nowMillis - h.arrivedAt(b, b.histograms[i].arrived))
			}
		}
	}
}

// assign counts one point of the series at idx, giving the series a slot at its first point.
func (h *Holdback) assign(r *releasing, idx uint32) {
	ref := h.ref(idx)
	if ref.slot == 0 {
		key, _ := h.refs.At(idx)
		r.slots = append(r.slots, releaseSlot{idx: idx, ref: ref, hash: key})
		ref.slot = int32(len(r.slots))
	}
	slot := ref.slot - 1
	r.slots[slot].count++
	r.slotOf = append(r.slotOf, slot)
}

// place puts the points of buckets into into.Points, each series' points together and in order.
func (h *Holdback) place(r *releasing, buckets []*Bucket, into *Arrays) {
	points := scratch.Reuse(into.Points, len(r.slotOf))[:len(r.slotOf)]
	into.Points = points
	offsets := scratch.Reuse(r.offsets, len(r.slots))[:len(r.slots)]
	r.offsets = offsets
	next := 0
	for i := range r.slots {
		offsets[i] = next
		next += r.slots[i].count
	}
	k := 0
	for _, b := range buckets {
		for ci := range b.floats {
			for _, entry := range b.chunk(ci) {
				i := r.slotOf[k]
				points[offsets[i]] = sample.Point{T: h.timestamp(b, entry.offsets), V: entry.v}
				offsets[i]++
				k++
			}
		}
		for _, entry := range b.histograms {
			i := r.slotOf[k]
			points[offsets[i]] = sample.Point{T: entry.h.Timestamp, H: entry.h}
			offsets[i]++
			k++
		}
	}
}

// byShard slices into.Points into series in into.Series, one batch per shard in into.PerShard,
// each a part of into.Series sized up front.
func (r *releasing) byShard(into *Arrays, shards int) {
	points := into.Points
	// The shard sizes are counted in offsets, free since place.
	sizes := scratch.Reuse(r.offsets, shards)[:shards]
	r.offsets = sizes
	clear(sizes)
	for _, sl := range r.slots {
		sizes[sl.hash%uint64(shards)]++
	}
	all := scratch.Reuse(into.Series, len(r.slots))[:len(r.slots)]
	perShard := scratch.Reuse(into.PerShard, shards)[:shards]
	into.Series, into.PerShard = all, perShard
	scratch.Carve(all, perShard, sizes)
	end := 0
	for _, sl := range r.slots {
		shard := sl.hash % uint64(shards)
		first := end
		end += sl.count
		perShard[shard] = append(perShard[shard], sample.Series{Hash: sl.hash, Labels: sl.ref.labelsBlock(), Points: points[first:end:end]})
	}
}

// free tells the refs of a release that their points were read, freeing those with none left,
// and keeps the buckets' arrays for new buckets.
func (h *Holdback) free(slots []releaseSlot, buckets []*Bucket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sl := range slots {
		h.doneLocked(sl.idx, sl.count)
	}
	chunks := 0
	for _, b := range buckets {
		chunks += len(b.floats)
	}
	h.sparePeak.Note(chunks)
	for _, b := range buckets {
		h.recycleLocked(b)
	}
}
