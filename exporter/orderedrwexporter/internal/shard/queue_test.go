package shard

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
)

func batchDue(due int64) Batch { return Batch{Due: due} }

// The queue gives batches back in the order they were pushed, across the ring's wrapping around
// and growing while wrapped, and keeps nothing of a batch taken.
func TestQueueIsFirstInFirstOut(t *testing.T) {
	q := newQueue(100)
	rng := rand.New(rand.NewPCG(1, 2))
	next, want := int64(0), int64(0)
	for range 5000 {
		if q.queued() < 100 && (q.queued() == 0 || rng.IntN(3) > 0) {
			require.NoError(t, q.push(context.Background(), batchDue(next)))
			next++
			continue
		}
		b, ok, closed := q.take()
		require.True(t, ok)
		require.False(t, closed)
		q.done()
		require.Equal(t, want, b.Due)
		want++
	}
	for q.queued() > 0 {
		b, ok, _ := q.take()
		require.True(t, ok)
		q.done()
		require.Equal(t, want, b.Due)
		want++
	}
	assert.Equal(t, next, want)
	assert.LessOrEqual(t, len(q.ring), 100, "never beyond the capacity")
	for _, b := range q.ring {
		assert.Zero(t, b)
	}
}

// A push waits while capacity batches are queued or taken and not done with, until one is done
// with or its context is done.
func TestQueuePushWaitsForRoom(t *testing.T) {
	q := newQueue(3)
	for i := range 3 {
		require.NoError(t, q.push(context.Background(), batchDue(int64(i))))
	}
	assert.Equal(t, 3, q.queued())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, q.push(ctx, batchDue(3)), context.DeadlineExceeded, "full: not queued")
	assert.Equal(t, 3, q.queued())

	pushed := make(chan error)
	go func() { pushed <- q.push(context.Background(), batchDue(3)) }()
	select {
	case <-pushed:
		t.Fatal("pushed into a full queue")
	case <-time.After(20 * time.Millisecond):
	}
	b, ok, _ := q.take()
	require.True(t, ok)
	assert.Equal(t, int64(0), b.Due)
	select {
	case <-pushed:
		t.Fatal("pushed while the batch taken is not done with")
	case <-time.After(20 * time.Millisecond):
	}
	q.done()
	require.NoError(t, <-pushed, "room once a batch is done with")
	assert.Equal(t, 3, q.queued())
	for want := int64(1); want <= 3; want++ {
		b, _, _ := q.take()
		q.done()
		assert.Equal(t, want, b.Due)
	}
	assert.Zero(t, q.queued())
}

// A closed queue gives the batches queued before it closed, then reports closed.
func TestQueueClosedDrainsFirst(t *testing.T) {
	q := newQueue(10)
	require.NoError(t, q.push(context.Background(), batchDue(1)))
	require.NoError(t, q.push(context.Background(), batchDue(2)))
	q.close()
	for want := int64(1); want <= 2; want++ {
		<-q.ready
		b, ok, closed := q.take()
		require.True(t, ok)
		require.False(t, closed)
		assert.Equal(t, want, b.Due)
	}
	<-q.ready
	_, ok, closed := q.take()
	assert.False(t, ok)
	assert.True(t, closed)
	assert.Panics(t, func() { _ = q.push(context.Background(), batchDue(3)) }, "the batch would be lost")
}

// The ring is not made at the queue's capacity but as batches come, and the ring of a burst is let
// go of once the queue has been short for a while.
func TestQueueRingFollowsWhatIsQueued(t *testing.T) {
	q := newQueue(10_000)
	assert.Nil(t, q.ring)
	spell := func(n int) {
		for i := range n {
			require.NoError(t, q.push(context.Background(), batchDue(int64(i))))
		}
		for range n {
			_, ok, _ := q.take()
			require.True(t, ok)
			q.done()
		}
	}
	spell(3)
	assert.Len(t, q.ring, 8)
	spell(5000)
	assert.GreaterOrEqual(t, len(q.ring), 5000)
	for range 200 {
		spell(3)
	}
	assert.LessOrEqual(t, len(q.ring), ringFloor, "the burst's ring let go of")
	spell(3)
	assert.Len(t, q.ring, 8)
}

// Batches pushed from several goroutines into a short queue reach Run once each, each pusher's in
// the order it pushed them, and Run returns after Close only once it processed the last.
func TestQueueConcurrentPushesReachRunInOrder(t *testing.T) {
	s, h := newShard(t, promtest.NewBackend(t), 3_000_000, &clock{}) // a queue of 10
	h.keeping = true                                                 // nothing is sent: Run only reports each batch
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	const pushers, each = 4, 500
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				assert.NoError(t, s.Push(context.Background(), batchDue(int64(p*each+i))))
			}
		}()
	}
	wg.Wait()
	s.Close()
	<-done
	require.Len(t, h.done, pushers*each)
	last := map[int64]int64{}
	for _, b := range h.done {
		p := b.Due / each
		if prev, ok := last[p]; ok {
			require.Equal(t, prev+1, b.Due, "pusher %d", p)
		}
		last[p] = b.Due
	}
	assert.Len(t, last, pushers)
	assert.Zero(t, s.Queued())
}
