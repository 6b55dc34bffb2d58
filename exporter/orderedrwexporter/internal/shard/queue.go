package shard // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/shard"

import (
	"context"
	"sync"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
)

// queue is a shard's batches, first in first out, bounded like a channel of its capacity, but in
// a fifo that grows with what is queued: a channel of Batch is allocated at its capacity
// (remote_write_queue.queue_size batches of 56 B, 560 KB at the default) and kept for the
// exporter's life, while a shard that keeps up queues a few batches at a time.
type queue struct {
	// slots holds one token a batch queued or being queued, or taken and not done with: a push
	// takes one or waits, and the shard gives it back as it begins to send the batch (done), so
	// that pushes block when that many batches wait in the shard, queued or encoded ahead of their
	// send, as they would on a channel of that capacity. A channel of struct{} allocates no buffer.
	slots chan struct{}
	fifo[Batch]
}

func newQueue(capacity int) *queue {
	capacity = max(capacity, 1)
	return &queue{slots: make(chan struct{}, capacity), fifo: newFIFO[Batch](capacity)}
}

// push queues b, waiting for room until ctx is done (then it returns ctx's cause).
func (q *queue) push(ctx context.Context, b Batch) error {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	q.put(b)
	return nil
}

// done gives back the slot of a batch taken: the shard no longer keeps it waiting.
func (q *queue) done() { <-q.slots }

// queued is the number of batches queued (and being queued), or taken and not done with.
func (q *queue) queued() int { return len(q.slots) }

// fifo is a list of Ts, first in first out, that one goroutine takes from when ready tells it to.
// A shard hands work on through two: the batches pushed, to Run (queue), and the batches Run
// encoded, to the goroutine that sends them. It has no bound of its own (queue's slots bound
// both); its ring grows with what is put, up to limit, and the ring of a burst is let go of once
// the fifo has been short for a while.
type fifo[T any] struct {
	// ready tells the taker that something was put or the fifo closed (buffered: wakes coalesce,
	// and take sets it again while values are left).
	ready chan struct{}

	mu sync.Mutex
	// ring holds the n values put from head on, wrapping around.
	ring    []T
	head, n int
	// limit is what the ring grows to at most: the bound the caller keeps.
	limit  int
	closed bool
	// peak is the most values held since the fifo was last empty; ringPeak what recent such
	// spells needed.
	peak     int
	ringPeak scratch.Peak
}

// ringFloor is the values a ring always keeps room for once made (a few KB).
const ringFloor = 64

func newFIFO[T any](limit int) fifo[T] {
	return fifo[T]{ready: make(chan struct{}, 1), limit: limit}
}

// put adds v at the end. Nothing may be put after close.
func (f *fifo[T]) put(v T) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		panic("shard: put after close") // as a send on a closed channel: v would be lost
	}
	if f.n == len(f.ring) {
		f.grow()
	}
	f.ring[(f.head+f.n)%len(f.ring)] = v
	f.n++
	f.peak = max(f.peak, f.n)
	f.mu.Unlock()
	f.wake()
}

// grow doubles the ring, which is full (to the limit, unless more are held), the values put first
// at its start. The caller holds mu.
func (f *fifo[T]) grow() {
	ring := make([]T, max(min(max(2*len(f.ring), 8), f.limit), f.n+1))
	wrapped := copy(ring, f.ring[f.head:])
	copy(ring[wrapped:], f.ring[:f.head])
	f.ring, f.head = ring, 0
}

// take returns the oldest value put; ok is false when there is none, closed then tells whether
// none will come.
func (f *fifo[T]) take() (v T, ok, closed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		return v, false, f.closed
	}
	var zero T
	v = f.ring[f.head]
	f.ring[f.head] = zero // keeps nothing of v alive
	f.head = (f.head + 1) % len(f.ring)
	f.n--
	if f.n > 0 || f.closed {
		f.wake()
		return v, true, false
	}
	f.head = 0
	f.ringPeak.Note(f.peak)
	f.peak = 0
	if !f.ringPeak.Keeps(len(f.ring), ringFloor) {
		f.ring = nil
	}
	return v, true, false
}

// close makes take report closed once the values put are taken. Nothing may be put after.
func (f *fifo[T]) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wake()
}

// wake tells the taker that there is something to take; wakes coalesce.
func (f *fifo[T]) wake() {
	select {
	case f.ready <- struct{}{}:
	default:
	}
}
