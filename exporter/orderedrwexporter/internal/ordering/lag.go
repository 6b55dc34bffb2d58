package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"sync"
	"time"
)

// batch is what a shard queues: the series of one push or release, and when they became due.
type batch struct {
	series []Series
	due    int64 // wall clock (ms) from which the samples should have been on their way
	// entry is the oldest WAL entry the samples came from; 0 without a WAL.
	entry uint64
}

// pendingCounts counts, by key, the work still in progress, and finds the lowest key any of it
// has. Counts rather than a FIFO, since the work does not finish in key order.
type pendingCounts[K int64 | uint64] struct {
	mu     sync.Mutex
	counts map[K]int
}

func (p *pendingCounts[K]) add(key K) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = map[K]int{}
	}
	p.counts[key]++
}

func (p *pendingCounts[K]) done(key K) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts[key]--; p.counts[key] <= 0 {
		delete(p.counts, key)
	}
}

// oldest is the lowest key with work in progress. It scans the distinct keys, at most one per
// batch pending (a few thousand); its callers run on a gauge read or a truncation, not per push.
func (p *pendingCounts[K]) oldest() (K, bool) {
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

// dueTimes counts the batches queued on, waiting for room on, or being sent by the shards, by the
// time each became due, so that the oldest can be found without looking into the queues. Batches
// of one queue are not in due order (a late batch goes after a release that became due
// earlier).
type dueTimes = pendingCounts[int64]

// SendLag is how far behind the exporter is: now minus the time the oldest sample that is due and
// not yet delivered became due. A sample is due when it is queued without hold-back (stamp mode,
// or late), when its release time passes in hold-back (released or not: a release may be waiting
// for room on the shards), and when it is released early. Held samples before their release time
// do not count: holding them is the exporter's job, not a delay. 0 when nothing due is waiting.
//
// Due time, not the sample's own timestamp: a backfill, or an agent whose clock is behind, sends
// old samples that a healthy exporter delivers at once, and taking the gateway out of rotation
// would do nothing for them.
func (e *Engine) SendLag() time.Duration {
	now := e.clock.Now().UnixMilli()
	oldest, found := e.due.oldest()
	if e.hold != nil {
		if held, ok := e.hold.oldestDue(now); ok && (!found || held < oldest) {
			oldest, found = held, true
		}
	}
	if !found || oldest >= now {
		return 0
	}
	return time.Duration(now-oldest) * time.Millisecond
}

// QueueSize is the number of batches queued on the shards, not counting those being sent.
func (e *Engine) QueueSize() int64 {
	var n int64
	for _, s := range e.shards {
		n += int64(len(s.in))
	}
	return n
}

// QueueCapacity is the number of batches the shards may queue before pushes block.
func (e *Engine) QueueCapacity() int64 { return int64(len(e.shards) * e.set.QueueSize) }
