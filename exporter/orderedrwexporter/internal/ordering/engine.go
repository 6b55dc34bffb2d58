// Package ordering is ordered_rw's coordinator: it wires the hold-back (holdback), the
// series-sharded senders (shard, which send through transport) and the write-ahead log (wal),
// and keeps remote-write samples in strictly increasing timestamp order per series across them.
// A pushed batch goes: log (with a WAL), then hold-back or straight to the shards; a release
// goes from the hold-back to the shards. None of those packages reaches back into the engine:
// each is handed what it needs (settings, a Hooks or Tracker interface, a function).
package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/holdback"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/shard"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
)

// Clock tells the wall-clock time; tests inject their own.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Settings configure an Engine.
type Settings struct {
	// MinShards and MaxShards bound the number of series shards, each sending one request at a
	// time; the engine starts with MinShards and reshards with the load (reshard.go).
	MinShards, MaxShards int
	// ReshardInterval is how often the number of shards is reconsidered; 0 is
	// reshard.DefaultInterval (Prometheus' 10 s).
	ReshardInterval time.Duration
	// QueueSize is the number of batches the shards queue, together, before pushes block: each of
	// n shards queues QueueSize/n (at least 1).
	QueueSize int
	// MaxBatchBytes bounds the protobuf size of one request.
	MaxBatchBytes int
	Retry         configretry.BackOffConfig
	// Holdback enables holding each sample until its timestamp plus Window.
	Holdback bool
	Window   time.Duration
	// MaxHeldSamples bounds hold-back; beyond it the oldest held samples are released early.
	MaxHeldSamples int
	// MaxFuture bounds how far ahead of the clock a held sample's timestamp may be; samples
	// further ahead are dropped and counted too_far_in_future. 0 is no bound.
	MaxFuture time.Duration
	// MaxTrackedSeries bounds the series whose state is kept, by the hold-back and by the shards
	// (divided among them); the samples of a new series beyond it are dropped and counted
	// max_tracked_series. 0 is no bound.
	MaxTrackedSeries int
	// SeriesIdleTimeout is how long the last sent timestamp of a series is remembered.
	SeriesIdleTimeout time.Duration
	// RejectionLogInterval is the least time between two logs of dropped samples.
	RejectionLogInterval time.Duration
	// ReleaseInterval is the granularity of release times; 0 picks one from Window.
	ReleaseInterval time.Duration
	// Clock defaults to the system clock.
	Clock Clock
	// WAL, when set, writes every push to a write-ahead log before the engine takes it.
	WAL *wal.Settings
	// MaxBufferedBytes bounds the estimated bytes of the samples queued and held (sample.Bytes);
	// beyond it Push refuses with a retryable BudgetError. 0 is no bound.
	MaxBufferedBytes int64
	// ShutdownTimeout bounds a shutdown without WAL, whatever the context's deadline (the earlier
	// of both applies); 0 leaves only the context's.
	ShutdownTimeout time.Duration
	// Epochs are the encoder's (encode.Encoder.Epochs), when the series pushed come from one:
	// its cached label blocks are outside the Go heap, and unmapped once nothing refers to them.
	// Every push's and release's batches pin them until done, and the hold-back is scanned for
	// the blocks its series refer to. nil: the labels pushed are on the heap.
	Epochs *sample.Epochs
}

// Engine orders and sends samples: Push hands it the translated series of one batch.
type Engine struct {
	set    Settings
	logger *zap.Logger
	tel    *telemetry.Telemetry
	clock  Clock
	// shards is the running shard set, replaced by a reshard; see shardSet.
	shards shardSet
	// hold is nil without hold-back.
	hold  *holdback.Holdback
	drops *telemetry.DropLog
	// budgetLog logs pushes refused over MaxBufferedBytes.
	budgetLog *budgetLog
	// log is the write-ahead log, noJournal without one.
	log journal
	// acct follows the batches queued on the shards; the shards report to it.
	acct *accounting
	// pushArrays and releaseArrays keep the arrays of batches done with (arrays.go).
	pushArrays, releaseArrays arraysPool

	// sendCtx is canceled when the deadline of the shutdown passes: whatever is not sent by then
	// is counted dropped.
	sendCtx    context.Context
	cancelSend context.CancelFunc
	// retryStop is closed at a shutdown keeping the WAL, or one with neither deadline nor
	// ShutdownTimeout, so that each request is tried once more.
	retryStop   chan struct{}
	stopRelease chan struct{}
	releaseDone sync.WaitGroup
	// releaseMu makes releasing one step from taking buckets to queueing them on the shards:
	// two releases interleaving could queue a newer point of a series before an older one.
	releaseMu sync.Mutex

	// mu guards started and closed; pushes hold it shared while they queue on the shards, which are
	// closed under it.
	mu           sync.RWMutex
	started      bool
	closed       bool
	shutdownOnce sync.Once
}

// NewEngine returns an engine that posts requests with poster.
func NewEngine(set Settings, tset component.TelemetrySettings, exporterID string, poster transport.Poster) (*Engine, error) {
	set = withDefaults(set)
	tel, err := telemetry.New(tset, exporterID)
	if err != nil {
		return nil, err
	}
	sendCtx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		set:         set,
		logger:      tset.Logger,
		tel:         tel,
		clock:       set.Clock,
		drops:       telemetry.NewDropLog(tset.Logger, set.RejectionLogInterval),
		budgetLog:   &budgetLog{logger: tset.Logger, interval: set.RejectionLogInterval},
		log:         noJournal{},
		acct:        &accounting{tel: tel, log: noJournal{}},
		sendCtx:     sendCtx,
		cancelSend:  cancel,
		retryStop:   make(chan struct{}),
		stopRelease: make(chan struct{}),
	}
	e.pushArrays.max, e.pushArrays.floor = maxFreePushArrays, pushArraysFloor
	e.releaseArrays.max, e.releaseArrays.floor = maxFreeReleaseArrays, releaseArraysFloor
	e.pushArrays.epochs, e.releaseArrays.epochs = set.Epochs, set.Epochs
	if err = e.openWAL(tset.Logger); err != nil {
		tel.Shutdown()
		return nil, err
	}
	e.shards.init(e, poster)
	g := telemetry.Gauges{
		Shards:        e.Shards,
		DesiredShards: e.shards.calc.Desired,
		HeldSamples:   e.HeldSamples,
		BufferedBytes: e.BufferedBytes,
		TrackedSeries: e.TrackedSeries,
		SendLag:       e.SendLag,
		QueueSize:     e.QueueSize,
		QueueCapacity: e.QueueCapacity,
	}
	if w, ok := e.log.(*wal.WAL); ok {
		g.WALEntries, g.WALLag = w.Entries, w.Lag
	}
	if err = tel.RegisterGauges(g); err != nil {
		tel.Shutdown()
		return nil, errors.Join(err, e.log.Close())
	}
	return e, nil
}

func withDefaults(set Settings) Settings {
	set.MinShards = max(set.MinShards, 1)
	set.MaxShards = max(set.MaxShards, set.MinShards)
	if set.QueueSize < 1 {
		set.QueueSize = 1
	}
	if set.Clock == nil {
		set.Clock = systemClock{}
	}
	if set.SeriesIdleTimeout <= 0 {
		set.SeriesIdleTimeout = 15 * time.Minute
	}
	if set.RejectionLogInterval <= 0 {
		set.RejectionLogInterval = 10 * time.Second
	}
	if set.ReleaseInterval <= 0 {
		// Fine enough that a sample waits at most 5% of the window beyond its release time,
		// coarse enough that a bucket gathers many samples into one request per shard.
		set.ReleaseInterval = min(max(set.Window/20, 10*time.Millisecond), 250*time.Millisecond)
	}
	// Whole milliseconds, and no wider than a held sample's timestamp offset holds (holdback).
	set.ReleaseInterval = min(max(set.ReleaseInterval, time.Millisecond), time.Hour)
	return set
}

// openWAL opens the log, with a WAL, and creates the hold-back, which tracks in the log the
// entries of what it pops. The log asks the hold-back for the oldest entry held once started.
func (e *Engine) openWAL(logger *zap.Logger) error {
	var tracker holdback.Tracker
	if e.set.WAL != nil {
		w, err := wal.Open(*e.set.WAL, logger, e.tel)
		if err != nil {
			return err
		}
		e.log, e.acct.log, tracker = w, w, w
	}
	if e.set.Holdback {
		e.hold = holdback.New(holdback.Settings{
			WindowMillis: e.set.Window.Milliseconds(), BucketMillis: e.set.ReleaseInterval.Milliseconds(),
			IdleMillis: e.set.SeriesIdleTimeout.Milliseconds(), MaxFutureMillis: e.set.MaxFuture.Milliseconds(),
			MaxSeries: e.set.MaxTrackedSeries,
		}, tracker, e.tel.Held)
		if e.set.Epochs != nil {
			e.set.Epochs.SetScan(e.hold.VisitLabels)
		}
	}
	return nil
}

// newShards returns n shards, not running yet, each queueing its share of QueueSize.
func (e *Engine) newShards(n int) []*shard.Shard {
	shards := make([]*shard.Shard, n)
	for i := range shards {
		shards[i] = shard.New(shard.Settings{
			QueueSize:     max(e.set.QueueSize/n, 1),
			MaxBatchBytes: e.set.MaxBatchBytes,
			IdleTimeout:   e.set.SeriesIdleTimeout,
			MaxTracked:    e.set.MaxTrackedSeries,
			AllTracked:    e.shards.allTracked, // the cap on tracked series is shared by the shards
			Meter:         e.shards.meter,
			Clock:         e.clock,
			Poster:        e.shards.poster,
			Retry:         e.set.Retry,
			SendContext:   e.sendCtx,
			RetryStop:     e.retryStop,
			Drops:         e.drops,
		}, e.acct)
	}
	return shards
}

// Start starts the shards and, with hold-back, the releaser; with a WAL, the replay of the
// entries found in the log and the truncation loop.
func (e *Engine) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.closed {
		return
	}
	e.started = true
	e.shards.start(e)
	if e.hold != nil {
		e.releaseDone.Add(1)
		go e.releaseLoop()
	}
	var held wal.Held // an interface holding a nil *Holdback would not be nil
	if e.hold != nil {
		held = e.hold
	}
	e.log.Start(held, e.pushReplayed)
}

// Idle reports whether no batch is queued or being sent.
func (e *Engine) Idle() bool { return e.acct.batches.Load() == 0 }

// HeldSamples is the number of samples in hold-back.
func (e *Engine) HeldSamples() int64 {
	if e.hold == nil {
		return 0
	}
	return e.hold.Held()
}

// TrackedSeries is the number of series whose last sent timestamp is remembered.
func (e *Engine) TrackedSeries() int64 { return e.shards.allTracked.Load() }

// ErrClosed is returned by Push after Shutdown.
var ErrClosed = errors.New("ordered_rw exporter is shut down")

// Push takes the series of one batch, and keeps nothing of their arrays once it returns: what
// it queues or holds is copied (the encoder reuses its output from one push to the next). Without hold-back they are queued on their shards at once;
// with it, each sample is held until its release time, or queued at once (apart from on-time
// samples) when it arrives after it. Push blocks while the shard queues are full.
//
// With a WAL, the batch is written to the log first; if that fails, the batch is refused.
// Beyond MaxBufferedBytes the batch is refused first, with a retryable BudgetError.
//
// The samples of a push that returns an error are counted refused (the standard send_failed),
// but those queued before the error, which are counted when they are delivered or dropped.
func (e *Engine) Push(ctx context.Context, series []sample.Series) error {
	if err := e.awaitReplay(ctx); err != nil {
		e.tel.Refused(sample.CountPoints(series))
		return err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed || !e.started {
		e.tel.Refused(sample.CountPoints(series))
		return ErrClosed
	}
	if err := e.admit(series); err != nil {
		return err
	}
	entry, err := e.log.Append(series)
	if err != nil {
		e.tel.Refused(sample.CountPoints(series))
		return err
	}
	defer e.log.Done(entry)
	return e.push(ctx, series, entry)
}

// awaitReplay makes a new push wait until the entries found in the log at start were pushed.
func (e *Engine) awaitReplay(ctx context.Context) error {
	e.mu.RLock()
	running := e.started && !e.closed
	e.mu.RUnlock()
	if !running {
		return ErrClosed
	}
	return e.log.AwaitReplay(ctx)
}

// pushReplayed pushes again the series of the log entry entry, found at start.
func (e *Engine) pushReplayed(series []sample.Series, entry uint64) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return e.push(e.sendCtx, series, entry)
}

// push holds or queues series, which are in the log at entry (0 without a WAL). The caller holds
// mu shared and keeps entry tracked until push returns.
func (e *Engine) push(ctx context.Context, series []sample.Series, entry uint64) error {
	// The demand the shards are sized for: counted as it comes, as Prometheus counts what is
	// appended, not as it is queued, which full queues slow down to what the shards send.
	e.shards.meter.Queued(sample.CountPoints(series))
	now := e.clock.Now().UnixMilli()
	if e.hold == nil {
		arrays := e.pushArrays.get()
		defer arrays.Release()
		return e.enqueue(ctx, e.byShard(series, arrays), now, entry, arrays)
	}
	late, lateCount, onTime := e.splitLate(series, now)
	if lateCount > 0 {
		// A late batch is a request of its own: if the backend rejects one of its samples,
		// the on-time samples are not in that request. Queued before the on-time samples are
		// held, so that an early release cannot put a newer sample of a series ahead of it.
		e.tel.Released(lateCount, telemetry.ReleaseLate)
		arrays := e.pushArrays.get()
		defer arrays.Release()
		if err := e.enqueue(ctx, e.byShard(late, arrays), now, entry, arrays); err != nil {
			e.tel.Refused(sample.CountPoints(onTime)) // never held
			return err
		}
	}
	refused := e.hold.Add(onTime, now, entry)
	if tooFar := refused.TooFarAhead; tooFar.Count > 0 {
		e.acct.Dropped(tooFar.Count, telemetry.ReasonTooFarInFuture)
		e.drops.Note(telemetry.ReasonTooFarInFuture, tooFar.Count, tooFar.Example,
			fmt.Errorf("timestamp more than %s (`ordering.holdback.max_future`) ahead of the collector's clock", e.set.MaxFuture))
	}
	if refused.OverCap > 0 {
		e.acct.Dropped(refused.OverCap, telemetry.ReasonMaxTrackedSeries)
		e.drops.Note(telemetry.ReasonMaxTrackedSeries, refused.OverCap, refused.OverCapExample,
			fmt.Errorf("a new series beyond `ordering.max_tracked_series` (%d)", e.set.MaxTrackedSeries))
	}
	if excess := e.hold.Held() - int64(e.set.MaxHeldSamples); excess > 0 {
		e.releaseMu.Lock()
		defer e.releaseMu.Unlock()
		e.release(e.hold.PopAtLeast(excess), telemetry.ReleaseEarly)
	}
	return nil
}

// splitLate sorts the points of each series and parts them into the late ones, whose release
// time passed at now, and the on-time ones; series is filtered in place into onTime.
func (e *Engine) splitLate(series []sample.Series, now int64) (late []sample.Series, lateCount int, onTime []sample.Series) {
	kept := 0 // series[:kept] are the on-time ones so far, filtered in place
	for i := range series {
		ser := &series[i]
		split := 0 // points before split are late: sorted, a series' late points come first
		sample.SortPoints(ser.Points)
		for split < len(ser.Points) && e.hold.ReleaseTime(ser.Points[split]) <= now {
			split++
		}
		if split > 0 {
			late = append(late, sample.Series{Hash: ser.Hash, Labels: ser.Labels, Points: ser.Points[:split]})
			lateCount += split
		}
		if split < len(ser.Points) {
			// Written only if it changed: most pushes have nothing late, and rewriting every
			// series (pointers, so with write barriers while the GC marks) cost 5% of the push.
			if split > 0 || kept < i {
				series[kept] = sample.Series{Hash: ser.Hash, Labels: ser.Labels, Points: ser.Points[split:]}
			}
			kept++
		}
	}
	return late, lateCount, series[:kept]
}

// shardBatches are a push's or a release's series split by shard: series[i] and ones[i] are
// shard i's (either may be nil: none of that form).
type shardBatches struct {
	series [][]sample.Series
	ones   [][]sample.One
}

// shards is the number of shards the batches were split for; 0 when there is nothing.
func (b shardBatches) shards() int { return max(len(b.series), len(b.ones)) }

// samples is the number of samples in the batches of the shards from on.
func (b shardBatches) samples(from int) int {
	n := 0
	for i := from; i < len(b.series); i++ {
		n += sample.CountPoints(b.series[i])
	}
	for i := from; i < len(b.ones); i++ {
		n += len(b.ones[i])
	}
	return n
}

// resplit splits the batches again for shards, in new arrays; their points stay where they are.
func (b shardBatches) resplit(shards int) shardBatches {
	all := sample.AppendAsSeries(slices.Concat(b.series...), slices.Concat(b.ones...))
	return split(all, shards, new(batchArrays))
}

// byShard splits series by shard, keeping their order, in arrays; the points of those that are
// not Ones are copied into arrays too, so that Push keeps nothing of its caller's arrays.
func (e *Engine) byShard(series []sample.Series, arrays *batchArrays) shardBatches {
	b := split(series, e.NumShards(), arrays)
	if b.series != nil {
		arrays.keepPoints(b.series)
	}
	return b
}

// split splits series into shards batches, in arrays: a series with one float point as a One
// (40 bytes while it waits on its shard, against 72 for a Series and its Point), the others as
// Series.
func split(series []sample.Series, shards int, arrays *batchArrays) shardBatches {
	ones := 0
	for i := range series {
		if series[i].IsOne() {
			ones++
		}
	}
	var b shardBatches
	if ones < len(series) {
		b.series = byShard(series, shards, arrays, ones > 0)
	}
	if ones > 0 {
		b.ones = onesByShard(series, ones, shards, arrays)
	}
	return b
}

// byShard splits series into shards batches, in arrays (new arrays when arrays is nil), into one
// array sized up front: growing a slice per shard allocated about twice the series again, per
// push. With skipOnes, the series that are ones are left out (onesByShard takes them).
func byShard(series []sample.Series, shards int, arrays *batchArrays, skipOnes bool) [][]sample.Series {
	if arrays == nil {
		arrays = new(batchArrays)
	}
	if shards == 1 {
		// One shard (the least, which a collector below its send capacity runs): the series in
		// their order, copied in one move, without dividing every hash twice to find it.
		all := scratch.Reuse(arrays.Series, len(series))
		if skipOnes {
			for i := range series {
				if !series[i].IsOne() {
					all = append(all, series[i])
				}
			}
		} else {
			all = append(all, series...)
		}
		perShard := scratch.Reuse(arrays.PerShard, 1)[:1]
		perShard[0] = all[:len(all):len(all)]
		arrays.Series, arrays.PerShard = all, perShard
		return perShard
	}
	n := uint64(shards)
	sizes := scratch.Reuse(arrays.sizes, shards)[:shards]
	clear(sizes)
	total := 0
	for i := range series {
		if s := &series[i]; !skipOnes || !s.IsOne() {
			sizes[s.Hash%n]++
			total++
		}
	}
	all := scratch.Reuse(arrays.Series, total)[:total]
	perShard := scratch.Reuse(arrays.PerShard, shards)[:shards]
	arrays.sizes, arrays.Series, arrays.PerShard = sizes, all, perShard
	scratch.Carve(all, perShard, sizes)
	for i := range series {
		if s := &series[i]; !skipOnes || !s.IsOne() {
			j := s.Hash % n
			perShard[j] = append(perShard[j], *s)
		}
	}
	return perShard
}

// onesByShard splits the series of series that are ones, count of them, into shards batches of
// Ones, in arrays, as byShard does the others.
func onesByShard(series []sample.Series, count, shards int, arrays *batchArrays) [][]sample.One {
	all := scratch.Reuse(arrays.Ones, count)[:count]
	perShard := scratch.Reuse(arrays.OnesPerShard, shards)[:shards]
	arrays.Ones, arrays.OnesPerShard = all, perShard
	if shards == 1 {
		k := 0
		for i := range series {
			if s := &series[i]; s.IsOne() {
				all[k] = sample.One{Hash: s.Hash, Labels: s.Labels, T: s.Points[0].T, V: s.Points[0].V}
				k++
			}
		}
		perShard[0] = all[:k:k]
		return perShard
	}
	n := uint64(shards)
	sizes := scratch.Reuse(arrays.sizes, shards)[:shards]
	clear(sizes)
	for i := range series {
		if s := &series[i]; s.IsOne() {
			sizes[s.Hash%n]++
		}
	}
	arrays.sizes = sizes
	scratch.Carve(all, perShard, sizes)
	for i := range series {
		if s := &series[i]; s.IsOne() {
			j := s.Hash % n
			perShard[j] = append(perShard[j], sample.One{Hash: s.Hash, Labels: s.Labels, T: s.Points[0].T, V: s.Points[0].V})
		}
	}
	return perShard
}

// enqueue queues one batch per shard, due since dueMillis, from the log entry entry (with a WAL),
// made of arrays (nil: arrays of their own, not reused);
// what it cannot queue before ctx ends is counted dropped when ctx is the send context
// (shutdown), or returned to the caller otherwise. perShard was split for the shards running when
// it was built; if a reshard came in between, it is split again for the new ones.
//
// The shard set is held shared until every batch is queued: a reshard waits for that, so that
// nothing is queued on a shard it stopped, and what was queued before it is sent before the
// series move.
func (e *Engine) enqueue(ctx context.Context, perShard shardBatches, dueMillis int64, entry uint64, arrays *batchArrays) error {
	e.shards.mu.RLock()
	defer e.shards.mu.RUnlock()
	shards := e.shards.running
	if n := perShard.shards(); n != 0 && n != len(shards) {
		// New arrays for the series; their points are still in arrays.
		perShard = perShard.resplit(len(shards))
	}
	for i := range perShard.shards() {
		b := shard.Batch{Due: dueMillis, Entry: entry}
		if perShard.series != nil {
			b.Series = perShard.series[i]
		}
		if perShard.ones != nil {
			b.Ones = perShard.ones[i]
		}
		if len(b.Series)+len(b.Ones) == 0 {
			continue
		}
		if arrays != nil {
			arrays.hold()
			b.Arrays = arrays // not a nil *batchArrays in a non-nil interface
		}
		// Counted while it waits for room too: a push blocked on a full queue is late as well.
		e.acct.queued(b)
		if err := shards[i].Push(ctx, b); err != nil {
			e.acct.unqueued(b)
			left := perShard.samples(i)
			if ctx == e.sendCtx {
				e.acct.Dropped(left, telemetry.ReasonShutdown)
				return fmt.Errorf("%d samples not queued: %w", left, context.Cause(ctx))
			}
			e.tel.Refused(left)
			return fmt.Errorf("ordered_rw: %d samples not queued, the shard queues are full: %w", left, context.Cause(ctx))
		}
	}
	return nil
}
