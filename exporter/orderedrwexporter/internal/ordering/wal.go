package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/tidwall/wal"
	"go.uber.org/zap"
)

// The upstream exporter's defaults for its `wal` block, used when an interval is not set.
const (
	DefaultWALTruncateInterval = time.Minute
	DefaultWALLagInterval      = 15 * time.Second
)

// WALSettings configure the write-ahead log: every pushed batch is written to it before the
// engine takes it, and stays there until each of its samples is delivered or counted dropped.
type WALSettings struct {
	// Directory holds this engine's log; no other process or exporter may use it.
	Directory string
	// TruncateInterval is how often entries whose samples are all done are removed.
	TruncateInterval time.Duration
	// LagInterval is how often the entries not yet done are counted for the wal_lag gauge.
	LagInterval time.Duration
}

// entryTracker counts, by WAL index, the work that still refers to an entry: a push in progress,
// a release being queued, a batch queued on or being sent by a shard. Held samples are tracked by
// their buckets instead. A shard finishes batches out of index order.
type entryTracker = pendingCounts[uint64]

// walLog is the log itself: entries are snappy-compressed remote-write requests holding the
// series of one push, numbered from 1 by tidwall/wal.
type walLog struct {
	dir  string
	lock *os.File // holds the directory's lock; nil where there is none

	mu    sync.Mutex
	log   *wal.Log
	first uint64  // first index still in the log
	next  uint64  // index the next append gets
	enc   encoder // reused under mu
}

func openWAL(dir string) (*walLog, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ordered_rw: cannot open the write-ahead log in %q (under `wal.directory`): %w", dir, err)
	}
	w, err := openLog(dir)
	if err != nil {
		if lock != nil {
			_ = lock.Close()
		}
		return nil, err
	}
	w.lock = lock
	return w, nil
}

func openLog(dir string) (*walLog, error) {
	log, err := wal.Open(dir, &wal.Options{
		// Reads happen only at replay, in index order: one cached segment is enough, and a larger
		// cache would keep every replayed 20 MB segment in memory.
		SegmentCacheSize: 1,
		NoCopy:           true, // read data is decoded at once and never kept
		AllowEmpty:       true, // truncation may remove every entry
	})
	if err != nil {
		return nil, fmt.Errorf("ordered_rw: cannot open the write-ahead log in %q (under `wal.directory`): %w", dir, err)
	}
	first, err := log.FirstIndex()
	if err == nil {
		var last uint64
		last, err = log.LastIndex()
		if err == nil {
			return &walLog{dir: dir, log: log, first: first, next: last + 1}, nil
		}
	}
	_ = log.Close()
	return nil, fmt.Errorf("ordered_rw: cannot read the write-ahead log in %q (under `wal.directory`): %w", dir, err)
}

// append writes series as one entry and, before anything can compute a watermark past it,
// registers it with tracker. It returns the entry's index and size.
func (w *walLog) append(series []Series, tracker *entryTracker) (uint64, int, error) {
	req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(series))}
	points := 0
	for i := range series {
		points += len(series[i].Points)
	}
	// One allocation for the float samples of the whole push, sliced per series.
	samples := make([]prompb.Sample, 0, points)
	for i := range series {
		ts := &req.Timeseries[i]
		ts.Labels = series[i].Labels
		first := len(samples)
		for _, p := range series[i].Points {
			if p.H != nil {
				ts.Histograms = append(ts.Histograms, *p.H)
			} else {
				samples = append(samples, prompb.Sample{Timestamp: p.T, Value: p.V})
			}
		}
		ts.Samples = samples[first:len(samples):len(samples)]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := w.enc.encode(&req, 0)
	if err != nil {
		return 0, 0, err
	}
	index := w.next
	if err := w.log.Write(index, data); err != nil {
		return 0, 0, err
	}
	w.next++
	tracker.add(index)
	return index, len(data), nil
}

// read decodes the entry at index into series.
func (w *walLog) read(index uint64) ([]Series, int, error) {
	data, err := w.log.Read(index)
	if err != nil {
		return nil, 0, err
	}
	raw, err := snappy.Decode(nil, data)
	if err != nil {
		return nil, 0, fmt.Errorf("entry %d: snappy: %w", index, err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, 0, fmt.Errorf("entry %d: protobuf: %w", index, err)
	}
	series := make([]Series, 0, len(req.Timeseries))
	var scratch []byte
	samples := 0
	for _, ts := range req.Timeseries {
		var hash uint64
		hash, scratch = HashLabels(ts.Labels, scratch)
		s := Series{Hash: hash, Labels: ts.Labels, Points: AppendPoints(make([]Point, 0, len(ts.Samples)+len(ts.Histograms)), &ts)}
		samples += len(s.Points)
		series = append(series, s)
	}
	return series, samples, nil
}

// bounds returns the first index in the log and the index the next append gets.
func (w *walLog) bounds() (first, next uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.next
}

// truncateBefore removes the entries before index; it returns how many it removed.
func (w *walLog) truncateBefore(index uint64) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	index = min(index, w.next)
	if index <= w.first {
		return 0, nil
	}
	if err := w.log.TruncateFront(index); err != nil {
		return 0, err
	}
	removed := index - w.first
	w.first = index
	return removed, nil
}

func (w *walLog) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.log.Close()
	if errors.Is(err, wal.ErrClosed) {
		err = nil
	}
	if w.lock != nil {
		// Closing the file releases the lock; the file stays, as harmless as it is empty.
		err = errors.Join(err, w.lock.Close())
		w.lock = nil
	}
	return err
}

// The engine's side of the WAL: replay at start, truncation by a completion watermark, and a
// shutdown that keeps what is not delivered in the log.
//
// Every entry is tracked from its append until each of its samples is delivered or counted
// dropped: by the push that wrote it (Push), by the bucket holding its samples (holdback), by the
// release moving them to the shards, by the shard batches carrying them. Samples move only
// forwards along that path, and each step tracks the next holder before letting go of its own,
// so the oldest entry anything refers to is a safe truncation point.

// awaitReplay makes a new push wait until the entries found in the log at start were pushed.
func (e *Engine) awaitReplay(ctx context.Context) error {
	e.mu.RLock()
	running := e.started && !e.closed
	e.mu.RUnlock()
	if !running {
		return ErrClosed
	}
	select {
	case <-e.replayDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ordered_rw: waiting for the write-ahead log to be replayed: %w", context.Cause(ctx))
	}
}

// startWAL replays the log and starts the truncation loop; called by Start under mu.
func (e *Engine) startWAL() {
	first, next := e.wal.bounds()
	if first < next {
		// Tracked before the truncation loop starts: nothing replayed yet may be truncated.
		e.entries.add(first)
		go e.replay(first, next)
	} else {
		close(e.replayDone)
	}
	e.walLoopDone.Add(1)
	go e.walLoop()
}

// replay pushes the entries [first, next) again, in order, as arrived now: what was held is held
// again until its release time, what is past it is sent at once. The engine's last-sent state is
// empty after a restart, so samples that were delivered but not truncated yet are sent again.
func (e *Engine) replay(first, next uint64) {
	defer close(e.replayDone)
	e.logger.Info("Replaying the write-ahead log.", zap.String("directory", e.wal.dir), zap.Uint64("entries", next-first))
	var entries, samples, failed uint64
	for index := first; index < next; index++ {
		series, n, err := e.wal.read(index)
		if err != nil {
			failed++
			e.tel.walReadFailed()
			e.logger.Error("An entry of the write-ahead log could not be read; its samples are lost.",
				zap.Uint64("index", index), zap.Error(err))
		} else if err := e.pushReplayed(series, index); err != nil {
			// A shutdown: the entries not replayed stay tracked, so they stay in the log.
			e.logger.Info("Replay of the write-ahead log stopped by the shutdown.",
				zap.Uint64("entries_left", next-index), zap.Error(err))
			return
		} else {
			entries++
			samples += uint64(n)
			e.tel.walReplayed(n)
		}
		// The replay's own hold moves past this entry, which its samples now track.
		e.entries.add(index + 1)
		e.entries.done(index)
	}
	e.entries.done(next)
	e.logger.Info("Replayed the write-ahead log.", zap.Uint64("entries", entries), zap.Uint64("samples", samples), zap.Uint64("unreadable_entries", failed))
}

func (e *Engine) pushReplayed(series []Series, index uint64) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return e.push(e.sendCtx, series, index)
}

func (e *Engine) walLoop() {
	defer e.walLoopDone.Done()
	truncate := time.NewTicker(e.set.WAL.TruncateInterval)
	defer truncate.Stop()
	lag := time.NewTicker(e.set.WAL.LagInterval)
	defer lag.Stop()
	for {
		select {
		case <-e.stopWAL:
			return
		case <-truncate.C:
			if _, err := e.TruncateWAL(); err != nil {
				e.logger.Warn("The write-ahead log could not be truncated; it keeps growing until it can.", zap.Error(err))
			}
		case <-lag.C:
			_, next := e.wal.bounds()
			e.walLag.Store(int64(next - e.walWatermark()))
		}
	}
}

// walWatermark is the oldest log entry that may still hold a sample not done: every entry before
// it can go. The holders are read from the end of the samples' path back to its start, then the
// tracker again, so that a sample moving between two of them while they are read is seen by one.
func (e *Engine) walWatermark() uint64 {
	_, watermark := e.wal.bounds()
	if index, ok := e.entries.oldest(); ok {
		watermark = min(watermark, index)
	}
	if e.hold != nil {
		if index, ok := e.hold.oldestEntry(); ok {
			watermark = min(watermark, index)
		}
	}
	if index, ok := e.entries.oldest(); ok {
		watermark = min(watermark, index)
	}
	return watermark
}

// TruncateWAL removes the log entries whose samples are all delivered or counted dropped, and
// returns how many it removed. It runs every WALSettings.TruncateInterval.
func (e *Engine) TruncateWAL() (uint64, error) {
	if e.wal == nil {
		return 0, nil
	}
	removed, err := e.wal.truncateBefore(e.walWatermark())
	if err != nil {
		return 0, fmt.Errorf("ordered_rw: truncating the write-ahead log: %w", err)
	}
	e.tel.walTruncated(removed)
	return removed, nil
}

// WALEntries is the number of entries in the log.
func (e *Engine) WALEntries() int64 {
	first, next := e.wal.bounds()
	return int64(next - first)
}

// shutdownKeepingWAL stops taking pushes and releasing held samples, lets requests already sent
// finish (one attempt, no retry), leaves everything else in the log, truncates the log to what is
// left and closes it. Nothing is counted undelivered: what is left is sent after the restart.
func (e *Engine) shutdownKeepingWAL(ctx context.Context) error {
	e.keep.Store(true)
	e.closing.Store(true)
	stop := context.AfterFunc(ctx, e.cancelSend)
	defer stop()
	close(e.retryStop)
	e.mu.Lock()
	e.closed = true
	started := e.started
	e.mu.Unlock()
	if !started {
		// Nothing was replayed: the log is left as it is.
		return e.wal.close()
	}
	<-e.replayDone
	if e.hold != nil {
		close(e.stopRelease)
		e.releaseDone.Wait()
	}
	close(e.stopWAL)
	e.walLoopDone.Wait()
	for _, s := range e.shards {
		close(s.in)
	}
	e.shardsDone.Wait()
	e.rejections.flush()

	truncated, truncErr := e.TruncateWAL()
	first, next := e.wal.bounds()
	closeErr := e.wal.close()
	e.logger.Info("Samples not delivered yet are kept in the write-ahead log, to be sent after the restart.",
		zap.Int64("held_samples", e.HeldSamples()),
		zap.Int64("queued_samples", e.kept.Load()),
		zap.Uint64("entries", next-first),
		zap.Uint64("truncated_entries", truncated),
		zap.String("directory", e.wal.dir))
	return errors.Join(truncErr, closeErr)
}
