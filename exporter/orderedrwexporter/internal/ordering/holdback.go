package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"container/heap"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/prompb"
)

// seriesRef is shared by every held point of one series, across pushes, so that a held point
// costs its value and timestamps, not a copy of its labels. It lives while the series has held
// points.
type seriesRef struct {
	hash   uint64
	labels []prompb.Label
	held   int // guarded by holdback.mu
	// slot of the series in the release being built, valid when epoch is that release's; used
	// instead of a map per release, under Engine.releaseMu.
	slot  int32
	epoch uint64
}

type heldEntry struct {
	ref     *seriesRef
	point   Point
	arrived int64 // wall clock, ms
}

// holdback holds points until their release time, timestamp + window. Points are bucketed by
// release time, so that releasing costs the points due and nothing is scanned per series.
type holdback struct {
	windowMillis int64
	bucketMillis int64

	mu      sync.Mutex
	refs    map[uint64]*seriesRef // series with held points
	buckets map[int64][]heldEntry
	keys    bucketKeys // min-heap of the keys of buckets
	held    atomic.Int64
}

func newHoldback(windowMillis, bucketMillis int64) *holdback {
	return &holdback{windowMillis: windowMillis, bucketMillis: bucketMillis, buckets: map[int64][]heldEntry{}, refs: map[uint64]*seriesRef{}}
}

// releaseTime is when a point may leave: once no gateway can still hold an older one.
func (h *holdback) releaseTime(p Point) int64 { return p.T + h.windowMillis }

// bucketDue is when the bucket of p may be released: the end of its release-time bucket.
func (h *holdback) bucketDue(p Point) int64 {
	return (floorDiv(h.releaseTime(p), h.bucketMillis) + 1) * h.bucketMillis
}

// oldestDue is when the oldest held bucket became releasable, if that is not after nowMillis:
// held samples the release has not taken yet, because it waits for room on the shards.
func (h *holdback) oldestDue(nowMillis int64) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) == 0 {
		return 0, false
	}
	due := (h.keys[0] + 1) * h.bucketMillis
	return due, due <= nowMillis
}

// add holds every point of series, which arrived at nowMillis; the caller removed the late ones.
func (h *holdback) add(series []Series, nowMillis int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	var (
		curKey     int64
		cur        []heldEntry
		haveBucket bool
	)
	for i := range series {
		ser := &series[i]
		ref := h.refs[ser.Hash]
		if ref == nil {
			ref = &seriesRef{hash: ser.Hash, labels: ser.Labels}
			h.refs[ser.Hash] = ref
		}
		ref.held += len(ser.Points)
		n += len(ser.Points)
		for _, p := range ser.Points {
			// Points of one push mostly share a bucket: keep it at hand, not in the map.
			if key := floorDiv(h.releaseTime(p), h.bucketMillis); !haveBucket || key != curKey {
				if haveBucket {
					h.buckets[curKey] = cur
				}
				var ok bool
				if cur, ok = h.buckets[key]; !ok {
					heap.Push(&h.keys, key)
				}
				curKey, haveBucket = key, true
			}
			cur = append(cur, heldEntry{ref: ref, point: p, arrived: nowMillis})
		}
	}
	if haveBucket {
		h.buckets[curKey] = cur
	}
	h.held.Add(int64(n))
}

// popDue removes and returns, oldest first, the buckets whose every point is due at nowMillis.
func (h *holdback) popDue(nowMillis int64) [][]heldEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]heldEntry
	for len(h.keys) > 0 && (h.keys[0]+1)*h.bucketMillis <= nowMillis {
		out = append(out, h.popOldestLocked())
	}
	return out
}

// popAtLeast removes the oldest buckets until they hold at least n points (or nothing is left).
func (h *holdback) popAtLeast(n int64) [][]heldEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]heldEntry
	var got int64
	for len(h.keys) > 0 && got < n {
		b := h.popOldestLocked()
		got += int64(len(b))
		out = append(out, b)
	}
	return out
}

func (h *holdback) popAll() [][]heldEntry { return h.popAtLeast(1 << 62) }

func (h *holdback) popOldestLocked() []heldEntry {
	key := heap.Pop(&h.keys).(int64)
	b := h.buckets[key]
	delete(h.buckets, key)
	for _, e := range b {
		if e.ref.held--; e.ref.held == 0 {
			delete(h.refs, e.ref.hash)
		}
	}
	h.held.Add(-int64(len(b)))
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
