// Package holdback holds samples until their release time, timestamp + window, so that
// gateways that each receive part of a series send it in one global order without talking to
// each other; and builds, from the buckets released, one batch per shard with each series'
// points in timestamp order. It knows nothing of shards' queues, sending or the write-ahead log
// beyond the entry number each held sample came from.
package holdback // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/holdback"

import (
	"container/heap"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// seriesRef is shared by every held point of one series, across pushes, so that a held point
// costs its value and timestamps, not a copy of its labels. It outlives its held points (without
// their labels) until the series is idle, so that a series held once per scrape does not enter
// and leave the table every time: that churn made the lookup the costliest step of holding.
//
// 24 bytes, 32 with its key in the table: the series' hash is the table's key (seriestable.Key),
// not kept twice; its labels are a pointer to their block's first byte and a 32-bit length rather
// than a string's 16-byte header.
type seriesRef struct {
	// labels is the first byte of the series' labels block (sample.Labels), labelsLen bytes,
	// while the series has held points. Add points it at the block of the latest push, which once
	// the encoder caches the series is its cached block, shared: a series held without a pause
	// (a sample at least every window) would otherwise pin the block of its first push, uncached,
	// for as long as it lives. Add stores it atomically, as a release reads it without the lock;
	// labelsLen is written only while the series has no held point, so no release reads it then.
	labels    unsafe.Pointer
	labelsLen uint32
	// lastAdded is when the series last had a point held (wall clock, whole seconds), to free
	// idle refs: one freed up to a second early had no point held anyway.
	lastAdded uint32
	// held counts the series' points held or being released; guarded by Holdback.mu. 32 bits:
	// 2^32 points of one series held would take 64 GiB.
	held uint32
	// slot is 1 + the series' slot in the release being built, 0 outside one; set by the
	// release (Take) without the lock, reset under it when the release lets the ref go. Releases
	// never overlap.
	slot int32
}

// setLabels keeps labels as the series' labels; the caller holds Holdback.mu and the series has
// no held point.
func (r *seriesRef) setLabels(labels sample.Labels) {
	atomic.StorePointer(&r.labels, unsafe.Pointer(unsafe.StringData(string(labels))))
	r.labelsLen = uint32(len(labels))
}

// refreshLabels points the series' labels at labels, the same block as those kept (the same
// series) but maybe another copy of it, so that the older copy can be freed. The caller holds
// Holdback.mu. A block of another length (two series with one hash) is left alone: the length a
// release may be reading does not change under it, and the accounting stays exact.
func (r *seriesRef) refreshLabels(labels sample.Labels) {
	p := unsafe.Pointer(unsafe.StringData(string(labels)))
	if uint32(len(labels)) == r.labelsLen && atomic.LoadPointer(&r.labels) != p {
		atomic.StorePointer(&r.labels, p)
	}
}

// VisitLabels calls visit, under the lock, with the labels block of every series that has held
// points (a release may read them until it is done with the series): the encoder looks for the
// blocks in the memory it would unmap (sample.Epochs.SetScan).
func (h *Holdback) VisitLabels(visit func(sample.Labels)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.refs.Slots() {
		key, ref := h.refs.At(i)
		if key == 0 {
			continue
		}
		if labels := ref.labelsBlock(); labels != "" {
			visit(labels)
		}
	}
}

// labelsBlock returns the series' labels: "" once it has no held point.
func (r *seriesRef) labelsBlock() sample.Labels {
	p := atomic.LoadPointer(&r.labels)
	if p == nil {
		return ""
	}
	return sample.Labels(unsafe.String((*byte)(p), int(r.labelsLen)))
}

// heldEntry is one held float sample: 16 bytes. It holds no pointer, so that the garbage
// collector never scans held data (millions of entries at 500k samples/s and a 5 s window): the
// series is an index into the ref table, and the timestamp and the arrival time are offsets
// within the entry's bucket, packed into one word (see Holdback.pack).
type heldEntry struct {
	ref     uint32
	offsets uint32
	v       float64
}

// heldHistogram is one held native histogram sample; they are few, and kept apart so that the
// float entries stay small and pointer-free.
type heldHistogram struct {
	ref     uint32
	arrived uint32 // ms before the bucket's due time, as in heldEntry.offsets
	h       *prompb.Histogram
}

// chunkEntries is the number of float entries of a chunk: 16 KiB, a size class of its own, so
// that a chunk wastes nothing. A bucket fills chunks one after the other, never copying them as
// a growing slice would (2x at worst, 1.33x on average), and leaves at most one part-filled.
const chunkEntries = 1024

type entryChunk [chunkEntries]heldEntry

// Bucket holds the points whose release time falls in [key, key+1) × bucketMillis.
type Bucket struct {
	key int64
	// floats are the chunks of float entries, filled in order; nFloats entries in all.
	floats     []*entryChunk
	nFloats    int
	histograms []heldHistogram
	// minEntry is the oldest WAL entry any of its points came from; 0 without a WAL.
	minEntry uint64
	// bytes is the estimated size of its entries (heldEntryBytes a float, more a histogram).
	bytes int64
}

// Len is the number of points in the bucket.
func (b *Bucket) Len() int { return b.nFloats + len(b.histograms) }

// chunk returns the filled part of the bucket's ci-th chunk.
func (b *Bucket) chunk(ci int) []heldEntry {
	return b.floats[ci][:min(chunkEntries, b.nFloats-ci*chunkEntries)]
}

// Tracker is told the oldest write-ahead log entry of the buckets each pop returns, before the
// pop lets go of them; the release that took them lets it go once it queued their samples.
type Tracker interface{ Track(entry uint64) }

// Holdback holds points until their release time, timestamp + window. Points are bucketed by
// release time, so that releasing costs the points due and nothing is scanned per series.
type Holdback struct {
	windowMillis int64
	bucketMillis int64
	// offsetBits is the width of a timestamp's offset within its bucket (heldEntry.offsets),
	// below the arrival's; maxArrived the largest arrival offset stored.
	offsetBits uint8
	maxArrived uint32
	// maxFutureMillis is how far ahead of the clock a timestamp may be and still be held; 0 is no
	// bound.
	maxFutureMillis int64
	maxSeries       int

	idleMillis int64

	mu sync.Mutex
	// refs are the series seen within idleMillis; a release reads them without the lock.
	refs      *seriestable.Table[seriesRef]
	lastSweep int64
	buckets   map[int64]*Bucket
	keys      bucketKeys // min-heap of the keys of buckets
	// spare are the chunks of released buckets, for new buckets to fill: holding then allocates
	// nothing in the steady state.
	spare []*entryChunk
	// sparePeak is the chunks recent releases freed.
	sparePeak scratch.Peak
	held      atomic.Int64
	// heldBytes is the estimated size of what is held: the entries of the buckets, and the labels
	// of the series that have held points (a ref keeps them until its last point is released).
	heldBytes atomic.Int64
	// entries, with a WAL, tracks the oldest log entry of the buckets each pop returns, from
	// the pop until the release has queued them; nil without one.
	entries Tracker

	// scratch is reused by every release (Take) for its series' slots.
	scratch releasing
	// holdLatency records how long a released sample was held, in ms.
	holdLatency func(millis int64)
	// filled receives when an Add holds points while nothing was held (Filled).
	filled chan struct{}
}

// Settings configure a Holdback. Times are in milliseconds.
type Settings struct {
	// WindowMillis is how long after its timestamp a point is released.
	WindowMillis int64
	// BucketMillis is the granularity of release times, 1 ms to maxBucketMillis: a held
	// sample's timestamp is kept as its offset within its bucket, in at most 24 bits.
	BucketMillis int64
	// IdleMillis is how long a series is remembered after its last held point.
	IdleMillis int64
	// MaxFutureMillis is how far ahead of the clock a point's timestamp may be; Add refuses points
	// further ahead. 0 is no bound.
	MaxFutureMillis int64
	// MaxSeries bounds the series remembered; at the bound Add refuses the points of a new series.
	// 0 is no bound.
	MaxSeries int
}

// New returns a hold-back releasing points a window after their timestamp, in buckets of
// set.BucketMillis, forgetting series set.IdleMillis after their last held point. entries, when
// not nil, tracks the write-ahead log entries of popped buckets; holdLatency records how long a
// sample of every holdLatencySampling released was held.
func New(set Settings, entries Tracker, holdLatency func(millis int64)) *Holdback {
	if set.BucketMillis < 1 || set.BucketMillis > maxBucketMillis {
		panic(fmt.Sprintf("holdback: BucketMillis must be in [1, %d], found %d", maxBucketMillis, set.BucketMillis))
	}
	offsetBits := uint8(bits.Len64(uint64(set.BucketMillis - 1)))
	return &Holdback{windowMillis: set.WindowMillis, bucketMillis: set.BucketMillis, idleMillis: set.IdleMillis,
		offsetBits: offsetBits, maxArrived: uint32(1<<(32-int(offsetBits)) - 1),
		maxFutureMillis: set.MaxFutureMillis, maxSeries: set.MaxSeries,
		buckets: map[int64]*Bucket{}, refs: seriestable.New[seriesRef](), entries: entries, holdLatency: holdLatency,
		filled: make(chan struct{}, 1)}
}

// Filled receives after an Add held points while nothing was held, so that the release need not
// wake while there is nothing to release. A value may wait in it from before the release last
// found nothing held: receiving one does not mean that something is held now.
func (h *Holdback) Filled() <-chan struct{} { return h.filled }

// Series is the number of series remembered: those with held points, and those idle for less
// than IdleMillis, which PopDue forgets once they are idle.
func (h *Holdback) Series() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refs.Len()
}

// maxBucketMillis bounds the release interval (4.6 hours; the engine's is at most 250 ms), so
// that a timestamp's offset takes at most 24 bits, leaving 8 to the arrival's.
const maxBucketMillis = 1 << 24

// pack returns a held entry's offsets for a point with timestamp t of bucket key that arrived at
// nowMillis: in the low offsetBits bits, its release time's offset from the start of the bucket,
// which is exact (a bucket spans bucketMillis); above them, how long before the bucket's due time
// it arrived, in ms, which only the hold latency reads: it is clamped to what the remaining bits
// hold (4.6 hours with the default release interval, 250 ms at most: 8 bits of offset), and to 0
// for a point that arrived after its bucket was due (a caller's clock going back).
func (h *Holdback) pack(t, key, nowMillis int64) uint32 {
	offset := uint32(t + h.windowMillis - key*h.bucketMillis)
	return offset | h.arrivedOffset(key, nowMillis)<<h.offsetBits
}

// arrivedOffset is how long before the due time of bucket key a point that arrived at nowMillis
// did, clamped to [0, maxArrived].
func (h *Holdback) arrivedOffset(key, nowMillis int64) uint32 {
	return uint32(min(max(h.keyDue(key)-nowMillis, 0), int64(h.maxArrived)))
}

// timestamp is the timestamp of an entry of bucket b.
func (h *Holdback) timestamp(b *Bucket, offsets uint32) int64 {
	return b.key*h.bucketMillis - h.windowMillis + int64(offsets&(1<<h.offsetBits-1))
}

// arrivedAt is when a point of bucket b whose arrival offset is arrived came, in wall-clock ms.
func (h *Holdback) arrivedAt(b *Bucket, arrived uint32) int64 {
	return h.keyDue(b.key) - int64(arrived)
}

// appendFloat adds a float entry to b, taking a chunk when the last one is full.
func (h *Holdback) appendFloat(b *Bucket, e heldEntry) {
	i := b.nFloats % chunkEntries
	if i == 0 {
		b.floats = append(b.floats, h.spareLocked())
	}
	b.floats[len(b.floats)-1][i] = e
	b.nFloats++
}

// Held is the number of points held.
func (h *Holdback) Held() int64 { return h.held.Load() }

// HeldBytes is the estimated size of the points held and of their series' labels, for the
// exporter's memory budget.
func (h *Holdback) HeldBytes() int64 { return h.heldBytes.Load() }

// Estimated sizes of held data, see sample.Bytes: a float entry, and a histogram's entry.
const (
	heldEntryBytes     = int64(unsafe.Sizeof(heldEntry{}))
	heldHistogramBytes = int64(unsafe.Sizeof(heldHistogram{}))
)

// ref returns the ref at index i. A release calls it without the lock for indexes of the
// entries it popped, which were published under the lock before.
func (h *Holdback) ref(i uint32) *seriesRef { return h.refs.Slot(i) }

// ReleaseTime is when a point may leave: once no gateway can still hold an older one.
func (h *Holdback) ReleaseTime(p sample.Point) int64 { return p.T + h.windowMillis }

// bucketDue is when the bucket of p may be released: the end of its release-time bucket.
func (h *Holdback) bucketDue(p sample.Point) int64 { return h.keyDue(h.key(p)) }

func (h *Holdback) key(p sample.Point) int64 { return floorDiv(h.ReleaseTime(p), h.bucketMillis) }

func (h *Holdback) keyDue(key int64) int64 { return (key + 1) * h.bucketMillis }

// OldestDue is when the oldest held bucket became releasable, if that is not after nowMillis:
// held samples the release has not taken yet, because it waits for room on the shards.
func (h *Holdback) OldestDue(nowMillis int64) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) == 0 {
		return 0, false
	}
	due := h.keyDue(h.keys[0])
	return due, due <= nowMillis
}

// TooFarAhead is what Add refused: points whose timestamp is more than the max_future bound
// ahead of the clock, with one of their series as an example.
type TooFarAhead struct {
	Count   int
	Example sample.Labels
}

// Refused is what Add did not hold, by why.
type Refused struct {
	// TooFarAhead are points stamped more than MaxFutureMillis ahead of the clock.
	TooFarAhead TooFarAhead
	// OverCap are the points of new series beyond MaxSeries, with one of them as an example.
	OverCap        int
	OverCapExample sample.Labels
}

// Add holds every point of series, which arrived at nowMillis from the WAL entry entry (0 without
// a WAL); the caller removed the late ones. Points more than MaxFutureMillis ahead of nowMillis
// are not held, and returned as counted for the caller to drop: held, they would stay until their
// timestamp plus the window (a year-2200 stamp: forever), pinning the write-ahead log's truncation
// and filling max_held_samples, so that every real sample would be released early.
//
// At MaxSeries series remembered, the points of a new series are refused (OverCap): the series
// table is the hold-back's memory that grows with series, not with held points.
func (h *Holdback) Add(series []sample.Series, nowMillis int64, entry uint64) Refused {
	var refused Refused
	if h.maxFutureMillis > 0 {
		series, refused.TooFarAhead = h.refuseTooFarAhead(series, nowMillis)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) == 0 {
		defer h.signalFilled()
	}
	n := 0
	var bytes int64
	var cur *Bucket
	prev := seriestable.NoSlot
	for i := range series {
		ser := &series[i]
		if h.maxSeries > 0 && h.refs.Len() >= h.maxSeries {
			if _, known := h.refs.Lookup(prev, ser.Hash); !known {
				if refused.OverCap == 0 {
					refused.OverCapExample = ser.Labels
				}
				refused.OverCap += len(ser.Points)
				continue
			}
		}
		idx, _ := h.refs.Find(prev, ser.Hash)
		prev = idx
		ref := h.ref(idx)
		if ref.held == 0 && len(ser.Points) > 0 {
			ref.setLabels(ser.Labels)
			bytes += sample.LabelsBytes(ser.Labels)
		} else if len(ser.Points) > 0 {
			ref.refreshLabels(ser.Labels)
		}
		ref.held += uint32(len(ser.Points))
		ref.lastAdded = seconds(nowMillis)
		n += len(ser.Points)
		for _, p := range ser.Points {
			// Points of one push mostly share a bucket: keep it at hand, not in the map.
			if key := h.key(p); cur == nil || key != cur.key {
				if cur = h.buckets[key]; cur == nil {
					cur = &Bucket{key: key, minEntry: entry}
					h.buckets[key] = cur
					heap.Push(&h.keys, key)
				}
				// Pushes may add to a bucket out of entry order.
				cur.minEntry = min(cur.minEntry, entry)
			}
			if p.H != nil {
				cur.histograms = append(cur.histograms, heldHistogram{ref: idx, arrived: h.arrivedOffset(cur.key, nowMillis), h: p.H})
				cur.bytes += heldHistogramBytes + sample.HistogramBytes(p.H)
				bytes += heldHistogramBytes + sample.HistogramBytes(p.H)
			} else {
				h.appendFloat(cur, heldEntry{ref: idx, offsets: h.pack(p.T, cur.key, nowMillis), v: p.V})
				cur.bytes += heldEntryBytes
				bytes += heldEntryBytes
			}
		}
	}
	h.held.Add(int64(n))
	h.heldBytes.Add(bytes)
	if nowMillis-h.lastSweep >= h.idleMillis/4 {
		h.sweepLocked(nowMillis)
	}
	return refused
}

// signalFilled tells Filled's receiver, if points are held now; the caller holds h.mu.
func (h *Holdback) signalFilled() {
	if len(h.keys) == 0 {
		return
	}
	select {
	case h.filled <- struct{}{}:
	default: // one waits already
	}
}

// refuseTooFarAhead filters series, in place, to the points at most maxFutureMillis ahead of
// nowMillis, and counts the others. Series with no point left are removed. The common case, no
// point too far ahead, is one pass that only reads the timestamps and copies nothing.
func (h *Holdback) refuseTooFarAhead(series []sample.Series, nowMillis int64) ([]sample.Series, TooFarAhead) {
	limit := nowMillis + h.maxFutureMillis
	first := slices.IndexFunc(series, func(ser sample.Series) bool {
		return slices.ContainsFunc(ser.Points, func(p sample.Point) bool { return p.T > limit })
	})
	if first < 0 {
		return series, TooFarAhead{}
	}
	var refused TooFarAhead
	kept := series[:first] // filtered in place: position i is read before it can be written
	for i := first; i < len(series); i++ {
		ser := series[i]
		points := ser.Points[:0]
		for _, p := range ser.Points {
			if p.T > limit {
				refused.Count++
				if refused.Example == "" {
					refused.Example = ser.Labels
				}
				continue
			}
			points = append(points, p)
		}
		if len(points) > 0 {
			ser.Points = points
			kept = append(kept, ser)
		}
	}
	return kept, refused
}

// sweepLocked frees the refs of series with no held point that had none added for idleMillis.
// A ref with no held point is referenced by nothing: a release reads the refs of the points it
// popped before it counts them done.
func (h *Holdback) sweepLocked(nowMillis int64) {
	h.lastSweep = nowMillis
	limit := nowMillis - h.idleMillis
	h.refs.Sweep(func(ref *seriesRef) bool { return ref.held == 0 && int64(ref.lastAdded)*1000 < limit })
}

// seconds is the wall-clock time nowMillis in whole seconds, as a ref keeps it: 32 bits last
// until 2106.
func seconds(nowMillis int64) uint32 {
	return uint32(min(max(floorDiv(nowMillis, 1000), 0), math.MaxUint32))
}

// spareFloor is the spare chunks always kept: 4 MiB, 2^18 entries. More are kept while the
// releases free that many (sparePeak): each frees a release interval's samples, which new buckets
// fill again; at 1.5M samples/s and 250 ms, 366 chunks.
const spareFloor = 256

// spareLocked returns a chunk of a released bucket, or a new one.
func (h *Holdback) spareLocked() *entryChunk {
	n := len(h.spare)
	if n == 0 {
		return new(entryChunk)
	}
	c := h.spare[n-1]
	h.spare[n-1] = nil
	h.spare = h.spare[:n-1]
	return c
}

// recycleLocked keeps the chunks of a released bucket for new buckets, once its entries were
// read.
func (h *Holdback) recycleLocked(b *Bucket) {
	for i, c := range b.floats {
		if h.sparePeak.Keeps(len(h.spare)+1, spareFloor) {
			h.spare = append(h.spare, c)
		}
		b.floats[i] = nil
	}
	b.floats, b.nFloats = nil, 0
}

// doneLocked tells that count points of the ref at idx were released. The release that popped
// those points calls it once per series after it read the ref.
func (h *Holdback) doneLocked(idx uint32, count int) {
	ref := h.ref(idx)
	ref.slot = 0
	if ref.held -= uint32(count); ref.held == 0 {
		h.heldBytes.Add(-sample.LabelsBytes(ref.labelsBlock()))
		// The labels of an idle series are not kept alive.
		atomic.StorePointer(&ref.labels, nil)
		ref.labelsLen = 0
	}
}

// PopDue removes and returns, oldest first, the buckets whose every point is due at nowMillis.
// The release calls it on a timer, traffic or not: it also forgets the idle series then, so that
// they do not stay until the next push.
func (h *Holdback) PopDue(nowMillis int64) []*Bucket {
	h.mu.Lock()
	defer h.mu.Unlock()
	if nowMillis-h.lastSweep >= h.idleMillis/4 {
		h.sweepLocked(nowMillis)
	}
	var out []*Bucket
	for len(h.keys) > 0 && h.keyDue(h.keys[0]) <= nowMillis {
		out = append(out, h.popOldestLocked())
	}
	h.trackPoppedLocked(out)
	return out
}

// PopAtLeast removes the oldest buckets until they hold at least n points (or nothing is left).
func (h *Holdback) PopAtLeast(n int64) []*Bucket {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Bucket
	var got int64
	for len(h.keys) > 0 && got < n {
		b := h.popOldestLocked()
		got += int64(b.Len())
		out = append(out, b)
	}
	h.trackPoppedLocked(out)
	return out
}

// trackPoppedLocked tracks the oldest entry of popped buckets before the lock is let go, so that
// a watermark never sees their samples neither held nor queued.
func (h *Holdback) trackPoppedLocked(popped []*Bucket) {
	if h.entries != nil && len(popped) > 0 {
		h.entries.Track(MinEntry(popped))
	}
}

// MinEntry is the oldest write-ahead log entry any point of buckets came from; 0 without a log.
func MinEntry(buckets []*Bucket) uint64 {
	oldest := buckets[0].minEntry
	for _, b := range buckets[1:] {
		oldest = min(oldest, b.minEntry)
	}
	return oldest
}

// OldestEntry is the oldest WAL entry of the samples held.
func (h *Holdback) OldestEntry() (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var oldest uint64
	found := false
	for _, b := range h.buckets {
		if !found || b.minEntry < oldest {
			oldest, found = b.minEntry, true
		}
	}
	return oldest, found
}

// PopAll removes every bucket.
func (h *Holdback) PopAll() []*Bucket { return h.PopAtLeast(1 << 62) }

// popOldestLocked removes the oldest bucket. Its refs stay counted as held until the release
// has read them (doneLocked).
func (h *Holdback) popOldestLocked() *Bucket {
	key := heap.Pop(&h.keys).(int64)
	b := h.buckets[key]
	delete(h.buckets, key)
	h.held.Add(-int64(b.Len()))
	h.heldBytes.Add(-b.bytes)
	return b
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

type bucketKeys []int64

func (k bucketKeys) Len() int           { return len(k) }
func (k bucketKeys) Less(i, j int) bool { return k[i] < k[j] }
func (k bucketKeys) Swap(i, j int)      { k[i], k[j] = k[j], k[i] }
func (k *bucketKeys) Push(x any)        { *k = append(*k, x.(int64)) }
func (k *bucketKeys) Pop() any {
	old := *k
	x := old[len(old)-1]
	*k = old[:len(old)-1]
	return x
}
