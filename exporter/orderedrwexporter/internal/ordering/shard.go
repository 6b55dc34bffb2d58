package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"errors"
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v7"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// seriesState is all a shard keeps per series: what it sent last and when it last saw it. A
// series' state is in the shard's table from its first sample until it is idle.
type seriesState struct {
	lastSent int64 // timestamp (ms) of the newest sample sent; MinInt64 before the first
	lastSeen int64 // wall clock (ms), to expire idle series
}

// shard owns a disjoint set of series (by hash) and sends their samples one request at a time,
// retrying each before anything newer, like Prometheus' own queue manager. Its state is touched
// only by its own goroutine.
type shard struct {
	engine    *Engine
	in        chan batch
	state     *seriesTable[seriesState]
	tracked   atomic.Int64
	lastSweep int64

	enc encoder
	// timeseries and samples are the request being built, reused from batch to batch (each is
	// sent before the next is built), so that building a request allocates nothing.
	timeseries []prompb.TimeSeries
	samples    []prompb.Sample
	// kept tells that a request of the batch being processed was left in the WAL by a shutdown.
	kept bool
}

func newShard(e *Engine, queueSize int) *shard {
	return &shard{engine: e, in: make(chan batch, queueSize), state: newSeriesTable[seriesState]()}
}

func (s *shard) run() {
	defer s.engine.shardsDone.Done()
	e := s.engine
	for b := range s.in {
		kept := s.process(b.series)
		e.due.done(b.due)
		e.pending.Add(-1)
		// A batch left in the WAL by a shutdown keeps its entry from being truncated.
		if e.wal != nil && !kept {
			e.entries.done(b.entry)
		}
	}
}

// process removes the stale points of batch, then sends the rest in requests of at most
// max_batch_size_bytes. It reports whether samples of batch were left in the WAL by a shutdown
// instead of being delivered.
func (s *shard) process(batch []Series) (kept bool) {
	e := s.engine
	if e.keep.Load() {
		// Not sent at all: the shutdown keeps them in the WAL, to be sent after the restart.
		n := 0
		for i := range batch {
			n += len(batch[i].Points)
		}
		e.kept.Add(int64(n))
		return true
	}
	s.kept = false
	now := e.clock.Now().UnixMilli()
	stale, total := 0, 0
	// One array for the float samples of the whole batch, sliced per series.
	points := 0
	for i := range batch {
		points += len(batch[i].Points)
	}
	timeseries := reuse(s.timeseries, len(batch))
	samples := reuse(s.samples, points)
	defer func() {
		// The labels are not kept alive by the scratch; nor is the scratch of an outsized batch
		// (a shutdown's or an early release's) kept at all.
		clear(timeseries)
		if cap(timeseries) <= maxScratch && cap(samples) <= maxScratch {
			s.timeseries, s.samples = timeseries[:0], samples[:0]
		} else {
			s.timeseries, s.samples = nil, nil
		}
	}()
	prev := noSlot
	for i := range batch {
		ser := &batch[i]
		idx, added := s.state.find(prev, ser.Hash)
		prev = idx
		st := s.state.slot(idx)
		if added {
			st.lastSent = math.MinInt64
			s.tracked.Add(1)
		}
		st.lastSeen = now
		sortPoints(ser.Points)
		ts := prompb.TimeSeries{Labels: ser.Labels}
		first := len(samples)
		for _, p := range ser.Points {
			// Marked sent before the request succeeds: a sample that is not delivered is counted
			// dropped, and nothing older may follow it in any case.
			if p.T <= st.lastSent {
				stale++
				continue
			}
			st.lastSent = p.T
			if p.H != nil {
				ts.Histograms = append(ts.Histograms, *p.H)
			} else {
				samples = append(samples, prompb.Sample{Value: p.V, Timestamp: p.T})
			}
		}
		if len(samples) > first {
			ts.Samples = samples[first:len(samples):len(samples)]
		}
		if n := len(ts.Samples) + len(ts.Histograms); n > 0 {
			timeseries = append(timeseries, ts)
			total += n
		}
	}
	e.tel.dropped(stale, ReasonStale)
	if now-s.lastSweep >= e.set.SeriesIdleTimeout.Milliseconds()/4 {
		s.sweep(now)
	}
	if total == 0 {
		return false
	}
	if e.sendCtx.Err() != nil {
		e.drop(total, ReasonShutdown)
		return false
	}

	// The size of each series is computed once: it bounds the requests and, summed, is the
	// size of the encoded request, which then needs no second pass over the series.
	first, size, n := 0, 0, 0
	for i := range timeseries {
		sz := timeseries[i].Size()
		sz += 1 + varintSize(uint64(sz)) // field tag and length prefix in the WriteRequest
		if i > first && size+sz > e.set.MaxBatchBytes {
			s.deliver(timeseries[first:i], n, size)
			first, size, n = i, 0, 0
		}
		size += sz
		n += len(timeseries[i].Samples) + len(timeseries[i].Histograms)
	}
	s.deliver(timeseries[first:], n, size)
	return s.kept
}

// maxScratch bounds the series and the samples of the request scratch a shard keeps between
// batches: at most 7.3 MB (96 B a series, 16 B a sample).
const maxScratch = 1 << 16

// reuse returns buf emptied if it has room for n elements, else a new slice that has.
func reuse[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, 0, n)
	}
	return buf[:0]
}

// sweep forgets series idle longer than SeriesIdleTimeout, bounding the state to active series.
func (s *shard) sweep(now int64) {
	s.lastSweep = now
	limit := now - s.engine.set.SeriesIdleTimeout.Milliseconds()
	s.tracked.Add(-int64(s.state.sweep(func(st *seriesState) bool { return st.lastSeen < limit })))
}

// deliver sends n samples. When the backend rejects their content (400, 409, 413, 422) the request
// is split in halves, each delivered the same way, so that one rejected sample costs one sample.
// Resending is safe: a Prometheus-compatible store accepts an identical sample it already holds.
// encodedSize is the size of the encoded request when known, 0 otherwise.
func (s *shard) deliver(timeseries []prompb.TimeSeries, n, encodedSize int) {
	e := s.engine
	err := s.send(timeseries, encodedSize)
	if err == nil {
		e.tel.sent(n)
		return
	}
	var status *StatusError
	if errors.As(err, &status) && status.rejectsContent() {
		if n == 1 {
			reason := rejectionReason(status.Status, status.Body)
			e.tel.dropped(1, reason)
			e.rejections.note(reason, 1, timeseries[0].Labels, err)
			return
		}
		e.tel.split()
		first, second := splitHalves(timeseries, n/2)
		s.deliver(first, n/2, 0)
		s.deliver(second, n-n/2, 0)
		return
	}
	if e.keep.Load() {
		// A shutdown with a WAL: the request failed or was cut short, and stays in the log.
		s.kept = true
		e.kept.Add(int64(n))
		return
	}
	reason := ReasonSendFailed
	if e.closing.Load() {
		reason = ReasonShutdown
	}
	e.drop(n, reason)
	e.rejections.note(reason, n, timeseries[0].Labels, err)
}

// send posts one request, retrying server errors, throttling and network errors with the
// retry_on_failure backoff. Nothing else of this shard is sent meanwhile.
func (s *shard) send(timeseries []prompb.TimeSeries, encodedSize int) error {
	e := s.engine
	body, err := s.enc.encode(&prompb.WriteRequest{Timeseries: timeseries}, encodedSize)
	if err != nil {
		return err
	}
	retry := e.set.Retry
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     retry.InitialInterval,
		RandomizationFactor: retry.RandomizationFactor,
		Multiplier:          retry.Multiplier,
		MaxInterval:         retry.MaxInterval,
	}
	bo.Reset()
	start := time.Now()
	for {
		err = e.poster.Post(e.sendCtx, body)
		if err == nil || !retryable(err) || !retry.Enabled || e.sendCtx.Err() != nil {
			return err
		}
		wait := bo.NextBackOff()
		if retry.MaxElapsedTime > 0 && time.Since(start)+wait > retry.MaxElapsedTime {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-e.retryStop:
			timer.Stop()
			return err
		case <-e.sendCtx.Done():
			timer.Stop()
			return err
		}
	}
}

func retryable(err error) bool {
	var status *StatusError
	if errors.As(err, &status) {
		return status.retryable()
	}
	return true // connection refused or reset, timeouts: the backend never answered
}

// encoder marshals and snappy-compresses remote-write requests into buffers it reuses.
type encoder struct {
	protobuf []byte
	snappy   []byte
}

// encode returns req marshalled and compressed, in a buffer valid until the next call. size is
// req's encoded size when known, 0 otherwise.
func (c *encoder) encode(req *prompb.WriteRequest, size int) ([]byte, error) {
	if size <= 0 {
		size = req.Size()
	}
	// Grown with room to spare: request sizes vary, and growing to each new largest exactly
	// reallocated the buffers again and again.
	if cap(c.protobuf) < size {
		c.protobuf = make([]byte, size, size+size/4)
	}
	c.protobuf = c.protobuf[:size]
	n, err := req.MarshalToSizedBuffer(c.protobuf)
	if err != nil {
		return nil, err
	}
	c.protobuf = c.protobuf[:n]
	if m := snappy.MaxEncodedLen(n); cap(c.snappy) < m {
		c.snappy = make([]byte, m+m/4)
	}
	return snappy.Encode(c.snappy[:cap(c.snappy)], c.protobuf), nil
}

func varintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// splitHalves returns the first `want` samples of timeseries, in order, and the rest. A series is
// cut in the middle when needed; the translator never mixes float and histogram samples in one
// series, so cutting either list is enough.
func splitHalves(timeseries []prompb.TimeSeries, want int) (first, second []prompb.TimeSeries) {
	for i := range timeseries {
		ts := timeseries[i]
		c := len(ts.Samples) + len(ts.Histograms)
		if c <= want {
			first = append(first, ts)
			want -= c
			if want == 0 {
				return first, timeseries[i+1:]
			}
			continue
		}
		head, tail := ts, ts
		if len(ts.Samples) > 0 {
			head.Samples, tail.Samples = ts.Samples[:want], ts.Samples[want:]
		} else {
			head.Histograms, tail.Histograms = ts.Histograms[:want], ts.Histograms[want:]
		}
		first = append(first, head)
		second = append(make([]prompb.TimeSeries, 0, len(timeseries)-i), tail)
		return first, append(second, timeseries[i+1:]...)
	}
	return first, nil
}
