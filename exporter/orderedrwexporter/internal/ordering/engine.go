package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
)

// Clock tells the wall-clock time; tests inject their own.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Settings configure an Engine.
type Settings struct {
	// Shards is the number of series shards, each sending one request at a time.
	Shards int
	// QueueSize is the number of batches each shard queues before pushes block.
	QueueSize int
	// MaxBatchBytes bounds the protobuf size of one request.
	MaxBatchBytes int
	Retry         configretry.BackOffConfig
	// Holdback enables holding each sample until its timestamp plus Window.
	Holdback bool
	Window   time.Duration
	// MaxHeldSamples bounds hold-back; beyond it the oldest held samples are released early.
	MaxHeldSamples int
	// SeriesIdleTimeout is how long the last sent timestamp of a series is remembered.
	SeriesIdleTimeout time.Duration
	// RejectionLogInterval is the least time between two logs of dropped samples.
	RejectionLogInterval time.Duration
	// ReleaseInterval is the granularity of release times; 0 picks one from Window.
	ReleaseInterval time.Duration
	// Clock defaults to the system clock.
	Clock Clock
	// WAL, when set, writes every push to a write-ahead log before the engine takes it.
	WAL *WALSettings
}

// Engine orders and sends samples: Push hands it the translated series of one batch.
type Engine struct {
	set        Settings
	logger     *zap.Logger
	tel        *telemetry
	poster     Poster
	clock      Clock
	shards     []*shard
	hold       *holdback
	rejections *rejectionLog

	// sendCtx is canceled when the deadline of the shutdown passes: whatever is not sent by then
	// is counted dropped.
	sendCtx    context.Context
	cancelSend context.CancelFunc
	// retryStop is closed at a shutdown without deadline, so that each request is tried once more.
	retryStop   chan struct{}
	stopRelease chan struct{}
	releaseDone sync.WaitGroup
	shardsDone  sync.WaitGroup
	// releaseMu makes releasing one step from taking buckets to queueing them on the shards:
	// two releases interleaving could queue a newer point of a series before an older one.
	releaseMu sync.Mutex
	// releaseEpoch numbers releases; guarded by releaseMu.
	releaseEpoch uint64

	// mu guards closed; pushes hold it shared while they queue on the shards, whose channels
	// are closed under it.
	mu           sync.RWMutex
	started      bool
	closed       bool
	shutdownOnce sync.Once
	closing      atomic.Bool
	undelivered  atomic.Int64
	// pending counts batches queued on shards and not yet processed.
	pending atomic.Int64
	// due tracks when each of those batches became due, for the send lag.
	due dueTimes

	// The write-ahead log, nil without one. entries tracks the log entries that pushes, releases
	// and shard batches still refer to; held samples are tracked by their buckets.
	wal     *walLog
	entries entryTracker
	// keep is set by a shutdown with a WAL: what is not delivered yet stays in the log instead of
	// being sent; kept counts the samples the shards left there.
	keep atomic.Bool
	kept atomic.Int64
	// replayDone is closed once the entries found in the log at start were pushed again; new
	// pushes wait for it, so that they cannot overtake them.
	replayDone  chan struct{}
	stopWAL     chan struct{}
	walLoopDone sync.WaitGroup
	// walLag is the number of log entries not yet done, sampled every WALSettings.LagInterval.
	walLag atomic.Int64
}

// NewEngine returns an engine that posts requests with poster.
func NewEngine(set Settings, tset component.TelemetrySettings, exporterID string, poster Poster) (*Engine, error) {
	if set.Shards < 1 {
		set.Shards = 1
	}
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
	tel, err := newTelemetry(tset, exporterID)
	if err != nil {
		return nil, err
	}
	sendCtx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		set:         set,
		logger:      tset.Logger,
		tel:         tel,
		poster:      poster,
		clock:       set.Clock,
		rejections:  &rejectionLog{logger: tset.Logger, interval: set.RejectionLogInterval, counts: map[string]int{}},
		sendCtx:     sendCtx,
		cancelSend:  cancel,
		retryStop:   make(chan struct{}),
		stopRelease: make(chan struct{}),
	}
	for range set.Shards {
		e.shards = append(e.shards, newShard(e, set.QueueSize))
	}
	if set.Holdback {
		e.hold = newHoldback(set.Window.Milliseconds(), set.ReleaseInterval.Milliseconds(), set.SeriesIdleTimeout.Milliseconds())
	}
	g := gauges{
		heldSamples:   e.HeldSamples,
		heldSeries:    e.TrackedSeries,
		sendLag:       e.SendLag,
		queueSize:     e.QueueSize,
		queueCapacity: e.QueueCapacity,
	}
	if set.WAL != nil {
		walSet := *set.WAL
		if walSet.TruncateInterval <= 0 {
			walSet.TruncateInterval = DefaultWALTruncateInterval
		}
		if walSet.LagInterval <= 0 {
			walSet.LagInterval = DefaultWALLagInterval
		}
		if e.wal, err = openWAL(walSet.Directory); err != nil {
			tel.shutdown()
			return nil, err
		}
		e.set.WAL = &walSet
		e.replayDone = make(chan struct{})
		e.stopWAL = make(chan struct{})
		if e.hold != nil {
			e.hold.entries = &e.entries
		}
		g.walEntries = e.WALEntries
		g.walLag = e.walLag.Load
	}
	if err = tel.registerGauges(g); err != nil {
		tel.shutdown()
		return nil, errors.Join(err, e.closeWAL())
	}
	return e, nil
}

func (e *Engine) closeWAL() error {
	if e.wal == nil {
		return nil
	}
	return e.wal.close()
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
	for _, s := range e.shards {
		e.shardsDone.Add(1)
		go s.run()
	}
	if e.hold != nil {
		e.releaseDone.Add(1)
		go e.releaseLoop()
	}
	if e.wal != nil {
		e.startWAL()
	}
}

// Idle reports whether no batch is queued or being sent.
func (e *Engine) Idle() bool { return e.pending.Load() == 0 }

// HeldSamples is the number of samples in hold-back.
func (e *Engine) HeldSamples() int64 {
	if e.hold == nil {
		return 0
	}
	return e.hold.held.Load()
}

// TrackedSeries is the number of series whose last sent timestamp is remembered.
func (e *Engine) TrackedSeries() int64 {
	var n int64
	for _, s := range e.shards {
		n += s.tracked.Load()
	}
	return n
}

// ErrClosed is returned by Push after Shutdown.
var ErrClosed = errors.New("ordered_rw exporter is shut down")

// Push takes the series of one batch. Without hold-back they are queued on their shards at once;
// with it, each sample is held until its release time, or queued at once (apart from on-time
// samples) when it arrives after it. Push blocks while the shard queues are full.
//
// With a WAL, the batch is written to the log first; if that fails, the batch is refused.
func (e *Engine) Push(ctx context.Context, series []Series) error {
	if e.wal != nil {
		if err := e.awaitReplay(ctx); err != nil {
			return err
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed || !e.started {
		return ErrClosed
	}
	var entry uint64
	if e.wal != nil {
		index, size, err := e.wal.append(series, &e.entries)
		if err != nil {
			e.tel.walWriteFailed()
			return fmt.Errorf("ordered_rw: the batch is refused, it could not be written to the write-ahead log: %w", err)
		}
		defer e.entries.done(index)
		e.tel.walWritten(size)
		entry = index
	}
	return e.push(ctx, series, entry)
}

// push holds or queues series, which are in the log at entry (0 without a WAL). The caller holds
// mu shared and keeps entry tracked until push returns.
func (e *Engine) push(ctx context.Context, series []Series, entry uint64) error {
	now := e.clock.Now().UnixMilli()
	if e.hold == nil {
		return e.enqueue(ctx, e.byShard(series), now, entry)
	}

	var late []Series
	lateCount := 0
	onTime := series[:0] // filtered in place: position i is read before it can be written
	for i := range series {
		ser := series[i]
		split := 0 // points before split are late: sorted, a series' late points come first
		sortPoints(ser.Points)
		for split < len(ser.Points) && e.hold.releaseTime(ser.Points[split]) <= now {
			split++
		}
		if split > 0 {
			late = append(late, Series{Hash: ser.Hash, Labels: ser.Labels, Points: ser.Points[:split]})
			lateCount += split
		}
		if split < len(ser.Points) {
			ser.Points = ser.Points[split:]
			onTime = append(onTime, ser)
		}
	}
	if lateCount > 0 {
		// A late batch is a request of its own: if the backend rejects one of its samples,
		// the on-time samples are not in that request. Queued before the on-time samples are
		// held, so that an early release cannot put a newer sample of a series ahead of it.
		e.tel.released(lateCount, ReleaseLate)
		if err := e.enqueue(ctx, e.byShard(late), now, entry); err != nil {
			return err
		}
	}
	e.hold.add(onTime, now, entry)
	if excess := e.hold.held.Load() - int64(e.set.MaxHeldSamples); excess > 0 {
		e.releaseMu.Lock()
		defer e.releaseMu.Unlock()
		e.release(e.hold.popAtLeast(excess), ReleaseEarly)
	}
	return nil
}

func (e *Engine) releaseLoop() {
	defer e.releaseDone.Done()
	ticker := time.NewTicker(e.set.ReleaseInterval)
	defer ticker.Stop()
	for {
		select {
		case <-e.stopRelease:
			return
		case <-ticker.C:
			e.ReleaseDue()
		}
	}
}

// ReleaseDue releases every held sample whose release time has passed on the engine's clock.
func (e *Engine) ReleaseDue() {
	if e.keep.Load() {
		return // a shutdown keeps held samples in the write-ahead log
	}
	e.releaseMu.Lock()
	defer e.releaseMu.Unlock()
	e.release(e.hold.popDue(e.clock.Now().UnixMilli()), ReleaseOnTime)
}

// holdLatencySampling is one over the share of released samples whose hold latency is recorded.
const holdLatencySampling = 16

// release queues buckets, oldest first, on their shards: one batch per shard, each series with
// its points in timestamp order. The caller holds releaseMu. With a WAL, the pop that returned
// buckets tracked their oldest entry; release queues the batches under it, then lets it go.
func (e *Engine) release(buckets []*bucket, reason string) {
	if len(buckets) == 0 {
		return
	}
	h := e.hold
	var entry uint64
	if e.wal != nil {
		entry = oldestEntry(buckets)
		defer e.entries.done(entry)
	}
	now := e.clock.Now().UnixMilli()
	// The send lag counts from when the samples became due: for an on-time release, when their
	// bucket could first be released (the release may have waited for room on the shards); for
	// early and shutdown releases, which are ahead of time, from now.
	due := now
	if reason == ReleaseOnTime {
		due = min(h.keyDue(buckets[0].key), now)
	}
	// Two passes, so that the points of every series are slices of one allocation: first give
	// each series a slot and count its points, then place the points.
	type slot struct {
		idx   uint32
		ref   *seriesRef
		count int
	}
	var slots []slot
	e.releaseEpoch++
	count := 0
	for _, b := range buckets {
		count += b.len()
	}
	slotOf := make([]int32, 0, count)
	assign := func(idx uint32) {
		ref := h.ref(idx)
		if ref.epoch != e.releaseEpoch {
			ref.epoch, ref.slot = e.releaseEpoch, int32(len(slots))
			slots = append(slots, slot{idx: idx, ref: ref})
		}
		slots[ref.slot].count++
		slotOf = append(slotOf, ref.slot)
	}
	for _, b := range buckets {
		for i := range b.floats {
			assign(b.floats[i].ref)
			// Every holdLatencySampling-th sample: recording each one cost 6% of the
			// collector's CPU at 500k samples/s, and a sample of them shows the same distribution.
			if len(slotOf)%holdLatencySampling == 1 {
				e.tel.held(now - h.arrivedAt(b, b.floats[i].arrived))
			}
		}
		for i := range b.histograms {
			assign(b.histograms[i].ref)
			if len(slotOf)%holdLatencySampling == 1 {
				e.tel.held(now - h.arrivedAt(b, b.histograms[i].arrived))
			}
		}
	}
	points := make([]Point, count)
	offsets := make([]int, len(slots))
	next := 0
	for i := range slots {
		offsets[i] = next
		next += slots[i].count
	}
	k := 0
	place := func(p Point) {
		i := slotOf[k]
		points[offsets[i]] = p
		offsets[i]++
		k++
	}
	for _, b := range buckets {
		for _, entry := range b.floats {
			place(Point{T: entry.t, V: entry.v})
		}
		for _, entry := range b.histograms {
			place(Point{T: entry.h.Timestamp, H: entry.h})
		}
	}
	perShard := make([][]Series, len(e.shards))
	sizes := make([]int, len(e.shards))
	for _, sl := range slots {
		sizes[sl.ref.hash%uint64(len(e.shards))]++
	}
	for i, n := range sizes {
		perShard[i] = make([]Series, 0, n)
	}
	end := 0
	for _, sl := range slots {
		shard := sl.ref.hash % uint64(len(e.shards))
		first := end
		end += sl.count
		perShard[shard] = append(perShard[shard], Series{Hash: sl.ref.hash, Labels: sl.ref.labels, Points: points[first:end:end]})
	}
	// The refs and the entries were read: refs with no point left are freed, the buckets' arrays
	// reused.
	h.mu.Lock()
	for _, sl := range slots {
		h.doneLocked(sl.idx, sl.count)
	}
	for _, b := range buckets {
		h.recycleLocked(b)
	}
	h.mu.Unlock()
	e.tel.released(count, reason)
	// Releases wait for room on the shards rather than drop: the shards drain on their own, and
	// while a release waits, held data and then pushes are held back too.
	if err := e.enqueue(e.sendCtx, perShard, due, entry); err != nil {
		e.logger.Warn("Held samples could not be queued before the shutdown deadline.", zap.Error(err))
	}
}

// byShard splits series by shard, keeping their order, into one array sized up front: growing a
// slice per shard allocated about twice the series again, per push.
func (e *Engine) byShard(series []Series) [][]Series {
	n := uint64(len(e.shards))
	ends := make([]int, n)
	for _, s := range series {
		ends[s.Hash%n]++
	}
	for i := 1; i < len(ends); i++ {
		ends[i] += ends[i-1]
	}
	all := make([]Series, len(series))
	perShard := make([][]Series, n)
	start := 0
	for i, end := range ends {
		perShard[i] = all[start:start:end]
		start = end
	}
	for _, s := range series {
		i := s.Hash % n
		perShard[i] = append(perShard[i], s)
	}
	return perShard
}

// enqueue queues one batch per shard, due since dueMillis, from the log entry entry (with a WAL);
// what it cannot queue before ctx ends is counted dropped when ctx is the send context
// (shutdown), or returned to the caller otherwise.
func (e *Engine) enqueue(ctx context.Context, perShard [][]Series, dueMillis int64, entry uint64) error {
	for i, series := range perShard {
		if len(series) == 0 {
			continue
		}
		e.pending.Add(1)
		// Counted while it waits for room too: a push blocked on a full queue is late as well.
		e.due.add(dueMillis)
		if e.wal != nil {
			e.entries.add(entry)
		}
		select {
		case e.shards[i].in <- batch{series: series, due: dueMillis, entry: entry}:
		case <-ctx.Done():
			e.pending.Add(-1)
			e.due.done(dueMillis)
			if e.wal != nil {
				e.entries.done(entry)
			}
			left := 0
			for _, b := range perShard[i:] {
				for _, s := range b {
					left += len(s.Points)
				}
			}
			if ctx == e.sendCtx {
				e.drop(left, ReasonShutdown)
				return fmt.Errorf("%d samples not queued: %w", left, context.Cause(ctx))
			}
			return fmt.Errorf("ordered_rw: %d samples not queued, the shard queues are full: %w", left, context.Cause(ctx))
		}
	}
	return nil
}

func (e *Engine) drop(n int, reason string) {
	e.tel.dropped(n, reason)
	if reason == ReasonShutdown {
		e.undelivered.Add(int64(n))
	}
}

// shutdownSendReserve is the time left for sending when held samples must be released ahead of
// their schedule because the shutdown deadline is near; at most half of the time the shutdown has.
const shutdownSendReserve = 2 * time.Second

// Shutdown stops taking pushes, keeps releasing held samples on their schedule until none is left,
// and waits until the shards sent everything or ctx ends. It reports how many samples could not
// be delivered.
//
// Held samples are not flushed at once: another gateway may still hold older samples of the same
// series, which it releases at their own time; sent ahead of them, this gateway's samples would
// have those rejected as out of order. The wait is bounded by the window (plus the release
// granularity); what a deadline of ctx does not leave time for is released early, before it.
//
// With a WAL nothing is waited for: what is not delivered stays in the log (shutdownKeepingWAL).
func (e *Engine) Shutdown(ctx context.Context) error {
	first := false
	e.shutdownOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	defer e.tel.shutdown()
	defer e.cancelSend()
	if e.wal != nil {
		return e.shutdownKeepingWAL(ctx)
	}
	// Before waiting for pushes blocked on full shard queues: the shards must stop retrying (or
	// give up at the deadline) for those pushes to return.
	e.closing.Store(true)
	stop := context.AfterFunc(ctx, e.cancelSend)
	defer stop()
	if _, ok := ctx.Deadline(); !ok {
		// Without a deadline a backend outage would hold the shutdown for max_elapsed_time per
		// request; try each request once instead.
		close(e.retryStop)
	}
	e.mu.Lock()
	e.closed = true
	started := e.started
	e.mu.Unlock()
	if !started {
		return nil
	}

	if e.hold != nil {
		// The shutdown releases on its own from here: at once, what is due already.
		close(e.stopRelease)
		e.releaseDone.Wait()
		e.awaitHeldReleased(ctx)
		e.releaseMu.Lock()
		e.release(e.hold.popAll(), ReleaseShutdown)
		e.releaseMu.Unlock()
	}
	for _, s := range e.shards {
		close(s.in)
	}
	e.shardsDone.Wait()
	e.rejections.flush()
	if n := e.undelivered.Load(); n > 0 {
		e.logger.Error("Samples could not be delivered before the shutdown ended.", zap.Int64("samples", n))
		return fmt.Errorf("ordered_rw: %d samples could not be delivered at shutdown", n)
	}
	return nil
}

// awaitHeldReleased releases held samples at their time, at once what is due already, then at
// every release interval, until none is held. It returns early, leaving the rest to be released at
// once, when ctx ends, when its deadline is shutdownSendReserve away, or a window after it began:
// only a sample stamped in the future is held longer, and a shutdown must not wait for it.
func (e *Engine) awaitHeldReleased(ctx context.Context) {
	e.ReleaseDue()
	held := e.hold.held.Load()
	if held == 0 {
		return
	}
	e.logger.Info("Releasing held samples on their schedule before shutting down.",
		zap.Int64("held_samples", held), zap.Duration("window", e.set.Window))
	// A sample that arrived just now is due a window from now, at the end of its release bucket,
	// and released at the next tick after that: three intervals cover both with room to spare.
	bound := time.NewTimer(e.set.Window + 3*e.set.ReleaseInterval)
	defer bound.Stop()
	var early <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		timer := time.NewTimer(left - min(shutdownSendReserve, left/2))
		defer timer.Stop()
		early = timer.C
	}
	poll := time.NewTicker(e.set.ReleaseInterval)
	defer poll.Stop()
	for e.hold.held.Load() > 0 {
		select {
		case <-poll.C:
			e.ReleaseDue()
		case <-bound.C:
			e.logger.Warn("Samples still held a window after the shutdown began (timestamps in the future) are released now.",
				zap.Int64("held_samples", e.hold.held.Load()))
			return
		case <-early:
			e.logger.Warn("The shutdown deadline is near: held samples are released ahead of their time.",
				zap.Int64("held_samples", e.hold.held.Load()))
			return
		case <-ctx.Done():
			return
		}
	}
}
