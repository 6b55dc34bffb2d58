package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/reshard"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/shard"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
)

// shardSet is the engine's running shards and what resharding needs. Like Prometheus' queue
// manager, the engine starts with MinShards and, every ReshardInterval, computes the shards the
// load asks for (reshard.Calculator); to change their number it stops the running shards once
// they sent everything queued on them (retries included), moves the per-series state to new
// shards (shard.HandOver) and starts those. Pushes and releases wait meanwhile: the write lock
// keeps anything from being queued on a shard being stopped, and since every sample queued before
// the reshard is sent before any queued after it, each series stays in order although it may
// move to another shard.
type shardSet struct {
	// mu is held shared while batches are queued (enqueue), exclusively while shards are swapped.
	mu sync.RWMutex
	// running is replaced under mu; view is the same, for readers without the lock (gauges,
	// which must not wait for a reshard).
	running []*shard.Shard
	view    atomic.Pointer[[]*shard.Shard]
	done    sync.WaitGroup

	poster     transport.Poster
	allTracked *atomic.Int64
	meter      *reshard.Meter
	calc       *reshard.Calculator

	stop     chan struct{}
	loopDone sync.WaitGroup
}

func (s *shardSet) init(e *Engine, poster transport.Poster) {
	s.poster = poster
	s.allTracked = new(atomic.Int64)
	s.meter = new(reshard.Meter)
	s.calc = reshard.NewCalculator(reshard.Settings{MinShards: e.set.MinShards, MaxShards: e.set.MaxShards, Interval: e.set.ReshardInterval}, s.meter)
	s.stop = make(chan struct{})
	s.swap(e.newShards(e.set.MinShards))
}

// start runs the shards, and the reshard loop when the number of shards may change.
func (s *shardSet) start(e *Engine) {
	s.run()
	if e.set.MaxShards > e.set.MinShards {
		s.loopDone.Add(1)
		go e.reshardLoop()
	}
}

// run starts the goroutines of the running shards. The caller holds mu or is the only user.
func (s *shardSet) run() {
	for _, sh := range s.running {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			sh.Run()
		}()
	}
}

// drain stops the reshard loop, then closes the shard queues and waits until the shards
// processed what they hold.
func (s *shardSet) drain() {
	close(s.stop)
	s.loopDone.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range s.running {
		sh.Close()
	}
	s.done.Wait()
}

// swap makes shards the running ones. The caller holds mu or is the only user.
func (s *shardSet) swap(shards []*shard.Shard) {
	s.running = shards
	s.view.Store(&shards)
}

// NumShards is the number of shards running.
func (e *Engine) NumShards() int { return len(*e.shards.view.Load()) }

// Shards is NumShards, for the shards gauge.
func (e *Engine) Shards() int64 { return int64(e.NumShards()) }

func (e *Engine) reshardLoop() {
	defer e.shards.loopDone.Done()
	interval := e.set.ReshardInterval
	if interval <= 0 {
		interval = reshard.DefaultInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-e.shards.stop:
			return
		case <-ticker.C:
			current := e.NumShards()
			d := e.shards.calc.Update(current, e.SendLag(), time.Now())
			switch {
			case d.Reshard:
				e.logger.Info("Resharding.", zap.Int("from", current), zap.Int("to", d.Shards), zap.Float64("desired_shards", d.Desired))
				e.reshard(d.Shards)
			case d.Skipped != "":
				e.logger.Debug("Skipping resharding.", zap.Int("shards", current), zap.Int("wanted", d.Shards),
					zap.Float64("desired_shards", d.Desired), zap.String("reason", d.Skipped))
			}
		}
	}
}

// reshard replaces the running shards by n new ones, the per-series state moving with its
// series; see shardSet. It blocks pushes until the running shards sent what they hold.
func (e *Engine) reshard(n int) {
	s := &e.shards
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range s.running {
		sh.Close()
	}
	s.done.Wait()
	next := e.newShards(n)
	shard.HandOver(s.running, next)
	s.swap(next)
	s.run()
}
