package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"container/heap"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/prompb"
)

// seriesRef is shared by every held point of one series from one push, so that a held point
// costs its value and timestamps, not a copy of its labels.
type seriesRef struct {
	hash   uint64
	labels []prompb.Label
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
	buckets map[int64][]heldEntry
	keys    bucketKeys // min-heap of the keys of buckets
	held    atomic.Int64
}

func newHoldback(windowMillis, bucketMillis int64) *holdback {
	return &holdback{windowMillis: windowMillis, bucketMillis: bucketMillis, buckets: map[int64][]heldEntry{}}
}

// releaseTime is when a point may leave: once no gateway can still hold an older one.
func (h *holdback) releaseTime(p Point) int64 { return p.T + h.windowMillis }

// add holds the points of series; the caller already removed the late ones.
func (h *holdback) add(entries []heldEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range entries {
		key := floorDiv(h.releaseTime(e.point), h.bucketMillis)
		b, ok := h.buckets[key]
		if !ok {
			heap.Push(&h.keys, key)
		}
		h.buckets[key] = append(b, e)
	}
	h.held.Add(int64(len(entries)))
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
