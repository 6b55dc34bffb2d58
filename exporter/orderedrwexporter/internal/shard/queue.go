package shard // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/shard"

import (
	"context"
	"sync"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
)

// queue is a shard's batches, first in first out, bounded like a channel of its capacity, but in
// an array that grows with what is queued: a channel of Batch is allocated at its capacity
// (remote_write_queue.queue_size batches of 56 B, 560 KB at the default) and kept for the
// exporter's life, while a shard that keeps up queues a few batches at a time.
type queue struct {
	// slots holds one token a batch queued or being queued, or taken and not done with: a push
	// takes one or waits, and the shard gives it back as it begins to send the batch (done), so
	// that pushes block when that many batches wait in the shard, queued or encoded ahead of their
	// send, as they would on a channel of that capacity. A channel of struct{} allocates no buffer.
	slots chan struct{}
	// ready tells the shard that a batch is queued or the queue closed (buffered: wakes coalesce,
	// and take sets it again while batches are left).
	ready chan struct{}

	mu sync.Mutex
	// ring holds the n batches queued from head on, wrapping around.
	ring    []Batch
	head, n int
	closed  bool
	// peak is the most batches queued since the queue was last empty; ringPeak what recent such
	// spells needed, so that the ring of a burst is let go of once traffic is back to normal.
	peak     int
	ringPeak scratch.Peak
}

// ringFloor is the batches a ring always keeps room for once made (a few KB).
const ringFloor = 64

func newQueue(capacity int) *queue {
	return &queue{slots: make(chan struct{}, max(capacity, 1)), ready: make(chan struct{}, 1)}
}

// push queues b, waiting for room until ctx is done (then it returns ctx's cause).
func (q *queue) push(ctx context.Context, b Batch) error {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		panic("shard: push after Close") // as a send on a closed channel: the batch would be lost
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = b
	q.n++
	q.peak = max(q.peak, q.n)
	q.mu.Unlock()
	q.wake()
	return nil
}

// grow doubles the ring, which is full (at most to the capacity), the batches queued first at
// its start. The caller holds mu.
func (q *queue) grow() {
	ring := make([]Batch, min(max(2*len(q.ring), 8), cap(q.slots)))
	wrapped := copy(ring, q.ring[q.head:])
	copy(ring[wrapped:], q.ring[:q.head])
	q.ring, q.head = ring, 0
}

// take returns the oldest batch queued, whose slot is given back by done; ok is false when there
// is none, closed then tells whether none will come.
func (q *queue) take() (b Batch, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return Batch{}, false, q.closed
	}
	b = q.ring[q.head]
	q.ring[q.head] = Batch{} // keeps nothing of the batch alive
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	if q.n > 0 || q.closed {
		q.wake()
		return b, true, false
	}
	q.head = 0
	q.ringPeak.Note(q.peak)
	q.peak = 0
	if !q.ringPeak.Keeps(len(q.ring), ringFloor) {
		q.ring = nil
	}
	return b, true, false
}

// close makes take report closed once the batches queued are taken. Nothing may be pushed after.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}

// done gives back the slot of a batch taken: the shard no longer keeps it waiting.
func (q *queue) done() { <-q.slots }

// queued is the number of batches queued (and being queued), or taken and not done with.
func (q *queue) queued() int { return len(q.slots) }

func (q *queue) wake() { wake(q.ready) }

// wake tells the goroutine waiting on ready, a channel of one, that there is something to take;
// wakes coalesce.
func wake(ready chan struct{}) {
	select {
	case ready <- struct{}{}:
	default:
	}
}
