// Package pending counts work in progress by key and finds the lowest key any of it has: the
// write-ahead log's entries still referred to, and the due times of the batches on the shards.
package pending // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/pending"

import "sync"

// Counts counts, by key, the work still in progress. Counts rather than a FIFO, since the work
// does not finish in key order. The zero value is ready to use; it is safe for concurrent use.
type Counts[K int64 | uint64] struct {
	mu     sync.Mutex
	counts map[K]int
}

// Add counts one more piece of work at key.
func (p *Counts[K]) Add(key K) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = map[K]int{}
	}
	p.counts[key]++
}

// Done counts one piece of work at key finished.
func (p *Counts[K]) Done(key K) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts[key]--; p.counts[key] <= 0 {
		delete(p.counts, key)
	}
}

// Oldest is the lowest key with work in progress. It scans the distinct keys, at most one per
// batch pending (a few thousand); its callers run on a gauge read or a truncation, not per push.
func (p *Counts[K]) Oldest() (K, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var oldest K
	found := false
	for key := range p.counts {
		if !found || key < oldest {
			oldest, found = key, true
		}
	}
	return oldest, found
}
