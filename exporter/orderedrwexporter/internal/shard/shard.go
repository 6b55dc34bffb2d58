// Package shard sends the samples of a disjoint set of series (by hash), one request at a time:
// it removes the samples not newer than the last one sent of their series, encodes requests of at
// most max_batch_size_bytes as it takes each batch, and hands them to a transport.Sender, retrying
// each before anything newer, like Prometheus' own queue manager. A shard knows nothing of the
// engine that feeds it: it is given its settings and a Hooks to report to.
//
// The engine changes the number of shards with the load (internal/reshard): it stops the running
// shards once they sent what they queued, and HandOver moves the per-series state to the new ones,
// each series to the shard its hash now selects, so that the stale filter goes on where it was.
package shard // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/shard"

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/config/configretry"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/reshard"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// Batch is what a shard queues: the series of one push or release, and when they became due.
type Batch struct {
	// Series and Ones are the batch's series: those with one float point may wait as Ones
	// (smaller), the others as Series; a series is in one of them.
	Series []sample.Series
	Ones   []sample.One
	Due    int64 // wall clock (ms) from which the samples should have been on their way
	// Entry is the oldest WAL entry the samples came from; 0 without a WAL.
	Entry uint64
	// Encoded is the size of the batch's requests once the shard encoded them ahead of their
	// send: then its Series, Ones and Arrays are given back (Hooks.Encoded) and left out.
	Encoded int64
	// Arrays, when set, are the arrays Series, its points and Ones are in, shared with the other
	// batches of the same push or release; the engine reuses them once told Encoded of each of
	// those batches. So a shard keeps no reference into Series or Ones past Hooks.Encoded (the
	// requests it sends them in are encoded, into buffers of their own, before).
	Arrays Releaser
}

// Releaser is told when a batch made of it is done with (Batch.Arrays).
type Releaser interface{ Release() }

// Clock tells the wall-clock time.
type Clock interface{ Now() time.Time }

// Hooks are what a shard reports to, and asks of, the engine that feeds it.
type Hooks interface {
	// Keeping reports whether a shutdown keeps what is not delivered in the write-ahead log:
	// then nothing more is sent, and what a failed request carried is kept rather than dropped.
	Keeping() bool
	// Kept counts n samples left in the write-ahead log by a shutdown.
	Kept(n int)
	// Closing reports whether a shutdown began: a request failing then is counted as shutdown.
	Closing() bool
	// Dropped counts n samples dropped for reason.
	Dropped(n int, reason string)
	// Sent counts n samples the backend accepted.
	Sent(n int)
	// Split counts a request split in halves after the backend rejected its content.
	Split()
	// Encoded tells that the batch's requests were encoded, in bytes, ahead of their send: the
	// batch's series and arrays are not read again. The batch Done is then told of has no
	// series, and its Encoded is bytes.
	Encoded(b Batch, bytes int64)
	// Done tells that the batch was processed; kept when samples of it were left in the WAL.
	Done(b Batch, kept bool)
}

// Settings configure a shard.
type Settings struct {
	// QueueSize is the number of batches queued before pushes block.
	QueueSize int
	// MaxBatchBytes bounds the protobuf size of one request.
	MaxBatchBytes int
	// IdleTimeout is how long the last sent timestamp of a series is remembered.
	IdleTimeout time.Duration
	Clock       Clock
	Poster      transport.Poster
	Retry       configretry.BackOffConfig
	// SendContext is canceled when the shutdown deadline passes: what is not sent is dropped.
	SendContext context.Context
	// RetryStop is closed by a shutdown keeping the WAL, or one with neither deadline nor
	// ShutdownTimeout: each request is then tried once more only.
	RetryStop <-chan struct{}
	// Drops logs dropped samples, shared by every shard.
	Drops *telemetry.DropLog
	// SweepInterval is how often idle series are looked for while no batch comes; 0 is a quarter
	// of IdleTimeout, at least a second.
	SweepInterval time.Duration
	// MaxTracked bounds the series whose state the shards sharing AllTracked keep (this one's
	// alone without it); at the bound the samples of a new series are dropped and counted
	// max_tracked_series. 0 is no bound. Shared rather than divided, so that an uneven spread of
	// series over the shards does not refuse series below the bound; concurrent adds may pass it
	// by less than the number of shards.
	MaxTracked int
	// AllTracked counts the series tracked by every shard of the exporter; nil is this shard's.
	AllTracked *atomic.Int64
	// Meter, when set, is told what the shard sends and how long it takes, for resharding.
	Meter *reshard.Meter
}

// seriesState is all a shard keeps per series, in 8 bytes (16 with its key in the table): the
// timestamp of the newest sample sent, in the low sentBits bits, and when the series was last
// seen, in the top 16, in units of the shard's seenUnit. A series' state is in the shard's table
// from its first sample until it is idle.
type seriesState uint64

const (
	// sentBits hold a sent timestamp (ms), biased by sentBias so that 0 is "nothing sent yet":
	// ±4,400 years around 1970. A translated timestamp is at most 2^63 ns, ±2^44 ms; one beyond
	// [minSent, maxSent] would be kept clamped to it.
	sentBits = 48
	sentMask = 1<<sentBits - 1
	sentBias = 1 << (sentBits - 1)
	minSent  = 1 - sentBias
	maxSent  = sentBias - 1
	// seenBits are the width of the last-seen stamp.
	seenBits = 64 - sentBits
	// idleUnitsMax is the most units an idle timeout spans: a stamp wraps around after 2^16 units,
	// 8 idle timeouts, far beyond a sweep's interval (a quarter of one).
	idleUnitsMax = 1 << (seenBits - 3)
)

// lastSent is the timestamp (ms) of the series' newest sample sent; MinInt64 before the first.
func (st seriesState) lastSent() int64 {
	if biased := int64(st & sentMask); biased != 0 {
		return biased - sentBias
	}
	return math.MinInt64
}

// setLastSent keeps t, in [minSent, maxSent], as the newest sample sent.
func (st *seriesState) setLastSent(t int64) {
	*st = *st&^sentMask | seriesState(min(max(t, minSent), maxSent)+sentBias)
}

// seen keeps stamp as when the series was last seen.
func (st *seriesState) seen(stamp uint16) {
	*st = *st&sentMask | seriesState(stamp)<<sentBits
}

// idleUnits is how many units of the shard's clock went by since the series was last seen, at
// stamp: never more than went by, less only once 2^16 units went by without a sweep.
func (st seriesState) idleUnits(stamp uint16) uint16 { return stamp - uint16(st>>sentBits) }

// Shard owns its series' state, touched only by its own goroutine (Run). Run encodes each batch's
// requests as it takes the batch, and a second goroutine of its own sends them (send), so that
// what waits for the backend is compressed requests, about 12 bytes a sample, not the batches'
// samples (40 bytes each, and their arrays). Both keep the order of the queue, and a batch keeps
// its slot in the queue until its send begins, so that QueueSize still bounds what waits.
type Shard struct {
	set     Settings
	hooks   Hooks
	queue   *queue
	sender  *transport.Sender
	results results
	// enc encodes requests ahead of their send; bodies are sent requests' buffers, for reuse.
	enc    transport.Encoder
	bodies chan []byte

	state     *seriestable.Table[seriesState]
	tracked   atomic.Int64
	lastSweep int64
	// seenUnit is the unit (ms) of the last-seen stamps, a 2^13th of the idle timeout (at least
	// 1 ms): 110 ms at the default 15 minutes; idleUnits the idle timeout in them.
	seenUnit, idleUnits int64

	// request, points and ones are the request being built, reused from batch to batch (each is
	// sent before the next is built), so that building a request allocates nothing: a series
	// refers to its labels' block and, unless some of them are stale, to its points in the batch.
	// A batch's Ones are sent from the batch itself, unless some are removed: then the others are
	// copied into ones.
	request []sample.Series
	points  []sample.Point
	ones    []sample.One
	// scratchPeak is what recent batches needed of them.
	scratchPeak scratch.Peak
	// busy tells that a batch came since the last tick of the sweep timer; a shard that had none
	// for a whole interval lets go of its scratch (releaseIdle).
	busy bool
	// kept tells that a request of the batch being sent was left in the WAL by a shutdown; the
	// sending goroutine's.
	kept bool
}

// New returns a shard; Run starts it.
func New(set Settings, hooks Hooks) *Shard {
	s := &Shard{
		set:    set,
		hooks:  hooks,
		queue:  newQueue(set.QueueSize),
		sender: transport.NewSender(set.SendContext, set.Poster, set.Retry, set.RetryStop),
		state:  seriestable.New[seriesState](),
		bodies: make(chan []byte, keptBodies),
	}
	idle := max(set.IdleTimeout.Milliseconds(), 0)
	s.seenUnit = max((idle+idleUnitsMax-1)/idleUnitsMax, 1)
	s.idleUnits = (idle + s.seenUnit - 1) / s.seenUnit
	if s.set.AllTracked == nil {
		s.set.AllTracked = new(atomic.Int64)
	}
	if s.set.Meter == nil {
		s.set.Meter = new(reshard.Meter)
	}
	s.results = results{s}
	return s
}

// Push queues b, waiting while QueueSize batches are queued, until ctx is done: then b is not
// queued and Push returns ctx's cause.
func (s *Shard) Push(ctx context.Context, b Batch) error { return s.queue.push(ctx, b) }

// Queued is the number of batches queued or encoded, not counting the one being sent.
func (s *Shard) Queued() int { return s.queue.queued() }

// Close makes Run return once it processed the batches queued. Nothing may be pushed after it.
func (s *Shard) Close() { s.queue.close() }

// Tracked is the number of series whose last sent timestamp is remembered.
func (s *Shard) Tracked() int64 { return s.tracked.Load() }

// Run processes the queued batches in order until the shard is closed (Close). Idle series are also
// forgotten on a timer, not only when a batch comes: a shard whose traffic stopped would otherwise
// keep them all (2M series were still tracked after 22 idle minutes).
func (s *Shard) Run() {
	interval := s.set.SweepInterval
	if interval <= 0 {
		interval = max(s.set.IdleTimeout/4, time.Second)
	}
	sweep := time.NewTicker(interval)
	defer sweep.Stop()
	// The batches encoded, for the sending goroutine. Bounded by the queue: a batch keeps its
	// slot until its send begins, so no more than the queue's capacity are ever encoded and
	// waiting.
	jobs := newFIFO[*job](cap(s.queue.slots))
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for range jobs.ready {
			j, ok, closed := jobs.take()
			if closed {
				return
			}
			if !ok {
				continue // woken for a job an earlier wake took
			}
			s.queue.done()
			s.hooks.Done(j.batch, s.send(j))
		}
	}()
	defer func() {
		jobs.close()
		<-sent
	}()
	for {
		select {
		case <-s.queue.ready:
			b, ok, closed := s.queue.take()
			if closed {
				return
			}
			if !ok {
				continue // woken for a batch an earlier wake took
			}
			s.busy = true
			jobs.put(s.prepare(b))
		case <-sweep.C:
			s.sweep(s.set.Clock.Now().UnixMilli())
			s.releaseIdle()
		}
	}
}

// job is a batch encoded ahead of its send: the batch without its series (Batch.Encoded), and
// its requests.
type job struct {
	batch    Batch
	requests []encoded
	// kept is the samples not encoded because a shutdown keeps them in the WAL.
	kept int
}

// encoded is one request encoded ahead of its send, or the error that encoding it returned.
type encoded struct {
	body []byte
	n    int
	// first is the labels of its first series, copied: the batch's are given back.
	first sample.Labels
	// took is how long encoding it took, counted with its send for resharding (the time per
	// sample a shard spends, as Prometheus' queue manager measures it).
	took time.Duration
	err  error
}

// keptBodies is the sent requests' buffers a shard keeps for the next ones: what the sending
// goroutine gives back while Run encodes the next batch.
const keptBodies = 2

// prepare removes the stale points of batch and encodes the rest in requests of at most
// max_batch_size_bytes, then gives the batch's series back (Hooks.Encoded). What a shutdown
// keeps in the WAL is not encoded.
func (s *Shard) prepare(b Batch) *job {
	j := &job{}
	if s.hooks.Keeping() {
		// Not sent at all: the shutdown keeps them in the WAL, to be sent after the restart.
		j.kept = sample.CountPoints(b.Series) + len(b.Ones)
	} else {
		now := s.set.Clock.Now().UnixMilli()
		request, points, total := s.buildRequest(b, now)
		if now-s.lastSweep >= s.set.IdleTimeout.Milliseconds()/4 {
			s.sweep(now)
		}
		if total > 0 {
			j.requests = s.encodeBounded(j.requests, request)
		}
		s.keepScratch(request, points)
	}
	var bytes int64
	for i := range j.requests {
		bytes += int64(len(j.requests[i].body))
	}
	s.hooks.Encoded(b, bytes)
	b.Series, b.Ones, b.Arrays, b.Encoded = nil, nil, nil, bytes
	j.batch = b
	return j
}

// send delivers the requests of j, in order, each retried before the next. It reports whether
// samples of the batch were left in the WAL by a shutdown instead of being delivered: those a
// shutdown keeping the WAL began before they were sent too.
func (s *Shard) send(j *job) (kept bool) {
	s.kept = j.kept > 0
	if s.kept {
		s.hooks.Kept(j.kept)
	}
	for i := range j.requests {
		r := &j.requests[i]
		switch {
		case s.hooks.Keeping():
			s.hooks.Kept(r.n)
			s.kept = true
		case s.set.SendContext.Err() != nil:
			s.hooks.Dropped(r.n, telemetry.ReasonShutdown)
		case r.err != nil:
			s.results.Failed(r.n, r.first, r.err)
		default:
			begin := time.Now()
			s.sender.DeliverEncoded(r.body, r.n, r.first, &s.results)
			s.set.Meter.Completed(r.n, r.took+time.Since(begin))
		}
		s.keepBody(r.body)
		r.body = nil
	}
	return s.kept
}

// buildRequest returns the series of b with only their points newer than the last sent of
// their series, in the shard's reused scratch, and the number of samples in them. The removed
// points are counted stale. The batch's series are not changed but for the order of their points
// (its size is counted again once sent); the fresh points of a series that had stale ones are
// copied into one array for the whole batch. The batch's Ones are sent as they are, unless one
// of them is removed: then the others are copied into the shard's scratch.
func (s *Shard) buildRequest(b Batch, now int64) (request transport.Request, points []sample.Point, total int) {
	series := scratch.Reuse(s.request, len(b.Series))
	points = s.points[:0]
	stale := 0
	prev := seriestable.NoSlot
	var refused refusals
	for i := range b.Series {
		ser := &b.Series[i]
		var st *seriesState
		prev, st = s.track(prev, ser.Hash, now)
		if st == nil {
			refused.note(len(ser.Points), ser.Labels)
			continue
		}
		sample.SortPoints(ser.Points)
		// Marked sent before the request succeeds: a sample that is not delivered is counted
		// dropped, and nothing older may follow it in any case. Sorted, the series' points are
		// all fresh unless one is not newer than the one before it (or than the last sent).
		lastSent := st.lastSent()
		fresh := ser.Points
		for j, p := range ser.Points {
			if p.T <= lastSent {
				// The first stale point: the rest of the series is filtered into points.
				first := len(points)
				points = append(points, ser.Points[:j]...)
				for _, p := range ser.Points[j:] {
					if p.T <= lastSent {
						stale++
						continue
					}
					lastSent = p.T
					points = append(points, p)
				}
				fresh = points[first:len(points):len(points)]
				break
			}
			lastSent = p.T
		}
		if len(fresh) > 0 {
			st.setLastSent(lastSent)
		}
		if len(fresh) > 0 {
			series = append(series, sample.Series{Hash: ser.Hash, Labels: ser.Labels, Points: fresh})
			total += len(fresh)
		}
	}
	ones, copied := b.Ones, false
	for i := range b.Ones {
		one := &b.Ones[i]
		var st *seriesState
		prev, st = s.track(prev, one.Hash, now)
		keep := st != nil && one.T > st.lastSent()
		switch {
		case keep:
			st.setLastSent(one.T)
			if copied {
				ones = append(ones, *one)
			}
			continue
		case st == nil:
			refused.note(1, one.Labels)
		default:
			stale++
		}
		if !copied {
			// The first One removed: the ones before it, and the kept ones after it, go to the
			// scratch (the batch is not changed).
			ones, copied = append(scratch.Reuse(s.ones, len(b.Ones)), b.Ones[:i]...), true
		}
	}
	total += len(ones)
	if copied {
		s.ones = ones
	}
	request = transport.Request{Series: series, Ones: ones}
	s.hooks.Dropped(stale, telemetry.ReasonStale)
	s.set.Meter.Removed(stale + refused.samples)
	if refused.samples > 0 {
		s.hooks.Dropped(refused.samples, telemetry.ReasonMaxTrackedSeries)
		s.set.Drops.Note(telemetry.ReasonMaxTrackedSeries, refused.samples, refused.example, errMaxTracked)
	}
	return request, points, total
}

// refusals are the samples of a batch's series that were beyond the cap, with the labels of the
// first such series for the log.
type refusals struct {
	samples int
	example sample.Labels
}

func (r *refusals) note(samples int, labels sample.Labels) {
	if r.samples == 0 {
		r.example = labels
	}
	r.samples += samples
}

var errMaxTracked = errors.New("a new series beyond `ordering.max_tracked_series`")

// track returns the slot and state of the series hash, seen now, adding it if it is new; prev is
// the slot of the series before it in the batch. A new series beyond MaxTracked is not added:
// its state is nil. Untracked, its samples could not be kept in order.
func (s *Shard) track(prev uint32, hash uint64, now int64) (uint32, *seriesState) {
	if s.set.MaxTracked > 0 && s.set.AllTracked.Load() >= int64(s.set.MaxTracked) {
		idx, ok := s.state.Lookup(prev, hash)
		if !ok {
			return prev, nil
		}
		st := s.state.Slot(idx)
		st.seen(s.stamp(now))
		return idx, st
	}
	idx, added := s.state.Find(prev, hash)
	st := s.state.Slot(idx) // a new series' state is 0: nothing sent
	if added {
		s.tracked.Add(1)
		s.set.AllTracked.Add(1)
	}
	st.seen(s.stamp(now))
	return idx, st
}

// keepScratch keeps the request's arrays for the next batch. The labels and points are not kept
// alive by the scratch; nor is the scratch of an outsized batch (a shutdown's or an early
// release's) kept at all.
func (s *Shard) keepScratch(request transport.Request, points []sample.Point) {
	series, ones := request.Series, s.ones
	clear(series)
	clear(points)
	clear(ones) // the kept Ones of this batch if one was removed (copied), else empty
	s.scratchPeak.Note(max(len(series), len(points), len(ones)))
	if s.scratchPeak.Keeps(max(cap(series), cap(points), cap(ones)), scratchFloor) {
		s.request, s.points, s.ones = series[:0], points[:0], ones[:0]
	} else {
		s.request, s.points, s.ones = nil, nil, nil
	}
}

// releaseIdle lets go of the request scratch, the encoding buffers and the sent requests'
// buffers kept if no batch came since the last call (a tick of the sweep timer, a quarter of the
// idle timeout): kept for the next batch while traffic flows, they are idle memory once traffic
// stops, up to scratchFloor series and points (4.7 MB) a shard and its largest requests
// compressed.
func (s *Shard) releaseIdle() {
	if !s.busy {
		s.request, s.points, s.ones, s.scratchPeak = nil, nil, nil, scratch.Peak{}
		s.enc.Release()
		for len(s.bodies) > 0 {
			s.body(0)
		}
	}
	s.busy = false
}

// encodeBounded appends request to dst encoded in requests of at most MaxBatchBytes. The size
// of each series is computed once: it bounds the requests and, summed, is the size of the
// encoded request, which then needs no second pass over the series.
func (s *Shard) encodeBounded(dst []encoded, request transport.Request) []encoded {
	first, size, n := 0, 0, 0
	for i := range request.Len() {
		sz := request.Size(i)
		if i > first && size+sz > s.set.MaxBatchBytes {
			dst = append(dst, s.encode(request.Slice(first, i), n, size))
			first, size, n = i, 0, 0
		}
		size += sz
		n += request.Samples(i)
	}
	return append(dst, s.encode(request.Slice(first, request.Len()), n, size))
}

// encode encodes the n samples of request, size bytes, into a buffer of their own: the encoder's
// are reused by the next request while this one waits to be sent.
func (s *Shard) encode(request transport.Request, n, size int) encoded {
	begin := time.Now()
	r := encoded{n: n, first: sample.Labels(strings.Clone(string(request.FirstLabels())))}
	body, err := s.enc.Encode(request, size)
	if err != nil {
		r.err = err
	} else {
		r.body = append(s.body(len(body)), body...)
	}
	r.took = time.Since(begin)
	return r
}

// body returns an empty buffer of at least n bytes: one a sent request left if it is large
// enough (keepBody), else a new one of n, so that a request waiting to be sent holds its own size.
func (s *Shard) body(n int) []byte {
	select {
	case b := <-s.bodies:
		if cap(b) >= n {
			return b[:0]
		}
	default:
	}
	return make([]byte, 0, n)
}

// keepBody keeps the buffer of a sent request for a next one, if fewer than keptBodies are kept.
func (s *Shard) keepBody(b []byte) {
	if b == nil {
		return
	}
	select {
	case s.bodies <- b:
	default:
	}
}

// scratchFloor is the series and the points of the request scratch a shard always keeps between
// batches: 4.7 MB (48 B a series, 24 B a point). Larger, it is kept while the batches need it: a
// shard's part of a 250 ms release at 1.5M samples/s is larger, and was made anew every time.
const scratchFloor = 1 << 16

// sweep forgets series idle longer than IdleTimeout, bounding the state to active series.
func (s *Shard) sweep(now int64) {
	s.lastSweep = now
	stamp := s.stamp(now)
	swept := int64(s.state.Sweep(func(st *seriesState) bool { return int64(st.idleUnits(stamp)) > s.idleUnits }))
	s.tracked.Add(-swept)
	s.set.AllTracked.Add(-swept)
}

// stamp is the last-seen stamp of the wall-clock time now (ms): whole units, modulo 2^16. Two
// stamps differ by at most one unit more than the time between them; a series is idle once its
// stamp is more than idleUnits old, so it is never forgotten before IdleTimeout.
func (s *Shard) stamp(now int64) uint16 { return uint16(now / s.seenUnit) }

// HandOver moves the state of every series tracked by from, shards that are stopped (their Run
// returned), to the shard of to that its hash selects (hash modulo len(to), as the engine and the
// hold-back route samples), whose Run has not started. The count of tracked series they share
// does not change. A series whose hash is 0 is kept under key 1 by the table and moves to the
// shard of hash 1; at worst its next sample is not filtered as stale, a one in 2^64 chance.
func HandOver(from, to []*Shard) {
	n := uint64(len(to))
	for _, old := range from {
		for i := range old.state.Slots() {
			key, st := old.state.At(i)
			if key == 0 {
				continue
			}
			dst := to[key%n]
			idx, added := dst.state.Find(seriestable.NoSlot, key)
			*dst.state.Slot(idx) = *st
			if added {
				dst.tracked.Add(1)
			}
		}
		old.tracked.Store(0)
		old.state = seriestable.New[seriesState]()
	}
}

// results is what the shard makes of the outcome of each request.
type results struct{ s *Shard }

func (r results) Sent(n int) {
	r.s.hooks.Sent(n)
	r.s.set.Meter.Delivered(time.Now())
}
func (r results) Split() { r.s.hooks.Split() }

func (r results) Rejected(reason string, n int, labels sample.Labels, err error) {
	r.s.hooks.Dropped(n, reason)
	r.s.set.Drops.Note(reason, n, labels, err)
}

func (r results) Failed(n int, labels sample.Labels, err error) {
	if r.s.hooks.Keeping() {
		// A shutdown with a WAL: the request failed or was cut short, and stays in the log.
		r.s.kept = true
		r.s.hooks.Kept(n)
		return
	}
	reason := telemetry.ReasonSendFailed
	if r.s.hooks.Closing() {
		reason = telemetry.ReasonShutdown
	}
	r.s.hooks.Dropped(n, reason)
	r.s.set.Drops.Note(reason, n, labels, err)
}
