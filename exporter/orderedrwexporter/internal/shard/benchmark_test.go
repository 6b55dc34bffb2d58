package shard

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// BenchmarkHandOver moves the state of 1M series from 5 shards to 4, as a reshard does while
// pushes wait: the figure the README gives for the cost of a reshard.
func BenchmarkHandOver(b *testing.B) {
	const numSeries = 1_000_000
	hashes := make([]uint64, numSeries)
	for i := range hashes {
		hashes[i] = rand.Uint64()
	}
	fill := func(n int) []*Shard {
		shards := make([]*Shard, n)
		for i := range shards {
			shards[i] = &Shard{state: seriestable.New[seriesState]()}
		}
		return shards
	}
	for b.Loop() {
		b.StopTimer()
		from := fill(5)
		for _, h := range hashes {
			s := from[h%5]
			idx, _ := s.state.Find(seriestable.NoSlot, h)
			s.state.Slot(idx).setLastSent(1)
			s.tracked.Add(1)
		}
		to := fill(4)
		b.StartTimer()
		HandOver(from, to)
	}
}

// BenchmarkTrackedMemory reports the live memory (memtest.Live: heap and mapped) a shard's state
// takes per series it tracks (the state in its table, the table's index), n series each seen
// once; mapped-B/series is the part outside the Go heap.
//
//	go test -run '^$' -bench BenchmarkTrackedMemory -benchtime 1x ./exporter/orderedrwexporter/internal/shard/
func BenchmarkTrackedMemory(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			hashes := make([]uint64, n)
			for i := range hashes {
				hashes[i] = rand.Uint64()
			}
			for range b.N {
				before, mappedBefore := memtest.Live(), offheap.Mapped()
				s := New(Settings{IdleTimeout: 15 * time.Minute}, nil)
				prev := seriestable.NoSlot
				for _, h := range hashes {
					prev, _ = s.track(prev, h, 1_000_000)
				}
				after := memtest.Live()
				b.ReportMetric((float64(after)-float64(before))/float64(n), "B/series")
				b.ReportMetric(float64(offheap.Mapped()-mappedBefore)/float64(n), "mapped-B/series")
				runtime.KeepAlive(s)
			}
		})
	}
}

// BenchmarkNew reports what a shard allocates when it is made, at the default
// remote_write_queue.queue_size of one shard (10,000 batches).
//
//	go test -run '^$' -bench 'BenchmarkNew$' -benchmem ./exporter/orderedrwexporter/internal/shard/
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		s := New(Settings{QueueSize: 10_000, IdleTimeout: 15 * time.Minute}, nil)
		runtime.KeepAlive(s)
	}
}

// BenchmarkQueue hands batches from a pusher to a shard's goroutine through its queue, and
// through a channel of the same capacity, which the queue replaced, for comparison.
func BenchmarkQueue(b *testing.B) {
	const capacity = 10_000
	b.Run("queue", func(b *testing.B) {
		q := newQueue(capacity)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range q.ready {
				for {
					_, ok, closed := q.take()
					if closed {
						return
					}
					if !ok {
						break
					}
					q.done()
				}
			}
		}()
		for b.Loop() {
			_ = q.push(context.Background(), Batch{})
		}
		q.close()
		<-done
	})
	b.Run("channel", func(b *testing.B) {
		c := make(chan Batch, capacity)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range c {
			}
		}()
		for b.Loop() {
			c <- Batch{}
		}
		close(c)
		<-done
	})
}
