// Package wal is ordered_rw's write-ahead log: every pushed batch is written to it before the
// engine takes it, and stays there until each of its samples is delivered or counted dropped.
// It owns the log, its directory lock, the tracking of the entries still referred to, the
// truncation by that watermark, and the replay at start. The engine tells it which entries its
// stages still hold (Track, Done); the hold-back answers for the samples it holds (Held).
//
// Every entry is tracked from its append until each of its samples is delivered or counted
// dropped: by the push that wrote it, by the bucket holding its samples (hold-back), by the
// release moving them to the shards, by the shard batches carrying them. Samples move only
// forwards along that path, and each step tracks the next holder before letting go of its own,
// so the oldest entry anything refers to is a safe truncation point.
package wal // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/pending"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// The upstream exporter's defaults for its `wal` block, used when an interval is not set.
const (
	DefaultTruncateInterval = time.Minute
	DefaultLagInterval      = 15 * time.Second
)

// Settings configure the write-ahead log.
type Settings struct {
	// Directory holds this engine's log; no other process or exporter may use it.
	Directory string
	// TruncateInterval is how often entries whose samples are all done are removed.
	TruncateInterval time.Duration
	// LagInterval is how often the entries not yet done are counted for the wal_lag gauge.
	LagInterval time.Duration
}

// Telemetry is what the log counts.
type Telemetry interface {
	WALWritten(bytes int)
	WALWriteFailed()
	WALReadFailed()
	WALReplayed(samples int)
	WALTruncated(entries uint64)
}

// Held answers for the samples the hold-back holds: the oldest entry they came from.
type Held interface {
	OldestEntry() (uint64, bool)
}

// WAL is the log with the tracking of its entries.
type WAL struct {
	set    Settings
	logger *zap.Logger
	tel    Telemetry
	log    *entryLog
	// held is nil without hold-back; set by Start.
	held Held

	// entries counts, by index, the work that still refers to an entry: a push in progress, a
	// release being queued, a batch queued on or being sent by a shard. Held samples are tracked
	// by their buckets instead (held). A shard finishes batches out of index order.
	entries pending.Counts[uint64]
	// replayDone is closed once the entries found in the log at start were pushed again; new
	// pushes wait for it, so that they cannot overtake them.
	replayDone chan struct{}
	stop       chan struct{}
	loopDone   sync.WaitGroup
	// lag is the number of log entries not yet done, sampled every LagInterval.
	lag atomic.Int64
	// marked is the watermark last written to the done mark; only the loop uses it.
	marked uint64
}

// Open opens, and locks, the log in set.Directory.
func Open(set Settings, logger *zap.Logger, tel Telemetry) (*WAL, error) {
	if set.TruncateInterval <= 0 {
		set.TruncateInterval = DefaultTruncateInterval
	}
	if set.LagInterval <= 0 {
		set.LagInterval = DefaultLagInterval
	}
	log, err := openLocked(set.Directory)
	if err != nil {
		return nil, err
	}
	if torn := log.torn; torn.cutBytes > 0 {
		// One entry was being written; how many whole entries followed it, if the segment was cut
		// short by something else than a write, the log cannot tell.
		tel.WALReadFailed()
		logger.Warn("The last segment of the write-ahead log ended in a partial entry (a write cut short: full disk, crash); "+
			"it was cut off at the last whole entry, and the samples of the partial entry are lost.",
			zap.String("segment", torn.segment), zap.Int("whole_entries_in_segment", torn.keptEntries),
			zap.Int64("bytes_cut", torn.cutBytes))
	}
	w := &WAL{set: set, logger: logger, tel: tel, log: log,
		replayDone: make(chan struct{}), stop: make(chan struct{})}
	w.skipDone()
	return w, nil
}

// skipDone removes the entries the done mark says were done before the last stop or crash, so
// that the replay does not resend them. A mark that does not fit the log (the log was replaced or
// emptied) is ignored; a mark that cannot be read only means they are resent.
func (w *WAL) skipDone() {
	mark, err := readDoneMark(w.log.dir)
	if err != nil {
		w.logger.Warn("The done mark of the write-ahead log could not be read; entries already delivered may be sent again.", zap.Error(err))
		return
	}
	first, next := w.log.bounds()
	if mark <= first || mark > next {
		return
	}
	removed, err := w.log.truncateBefore(mark)
	if err != nil {
		w.logger.Warn("The write-ahead log could not be truncated to its done mark; entries already delivered may be sent again.", zap.Error(err))
		return
	}
	w.tel.WALTruncated(removed)
	w.marked = mark
	w.logger.Info("Entries of the write-ahead log that were delivered before the last stop are not sent again.", zap.Uint64("entries", removed))
}

// Track counts one more holder of entry.
func (w *WAL) Track(entry uint64) { w.entries.Add(entry) }

// Done counts one holder of entry gone.
func (w *WAL) Done(entry uint64) { w.entries.Done(entry) }

// Append writes series as one entry, tracked until the caller is Done with it, and returns its
// index. A batch the log cannot take is refused.
func (w *WAL) Append(series []sample.Series) (uint64, error) {
	index, size, err := w.log.append(series, &w.entries)
	if err != nil {
		w.tel.WALWriteFailed()
		return 0, fmt.Errorf("ordered_rw: the batch is refused, it could not be written to the write-ahead log: %w", err)
	}
	w.tel.WALWritten(size)
	return index, nil
}

// Read decodes the entry at index into series; it returns them and their number of samples.
func (w *WAL) Read(index uint64) ([]sample.Series, int, error) { return w.log.read(index) }

// Start replays the entries found in the log, pushing each again with push, and starts the
// truncation loop. held, nil without hold-back, answers for the samples held from then on.
func (w *WAL) Start(held Held, push func(series []sample.Series, entry uint64) error) {
	w.held = held
	first, next := w.log.bounds()
	if first < next {
		// Tracked before the truncation loop starts: nothing replayed yet may be truncated.
		w.entries.Add(first)
		go w.replay(first, next, push)
	} else {
		close(w.replayDone)
	}
	w.loopDone.Add(1)
	go w.loop()
}

// AwaitReplay makes a new push wait until the entries found in the log at start were pushed.
func (w *WAL) AwaitReplay(ctx context.Context) error {
	select {
	case <-w.replayDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ordered_rw: waiting for the write-ahead log to be replayed: %w", context.Cause(ctx))
	}
}

// replay pushes the entries [first, next) again, in order, as arrived now: what was held is held
// again until its release time, what is past it is sent at once. The engine's last-sent state is
// empty after a restart, so samples that were delivered but not truncated yet are sent again.
func (w *WAL) replay(first, next uint64, push func([]sample.Series, uint64) error) {
	defer close(w.replayDone)
	w.logger.Info("Replaying the write-ahead log.", zap.String("directory", w.log.dir), zap.Uint64("entries", next-first))
	var entries, samples, failed uint64
	for index := first; index < next; index++ {
		series, n, err := w.log.read(index)
		if err != nil {
			failed++
			w.tel.WALReadFailed()
			w.logger.Error("An entry of the write-ahead log could not be read; its samples are lost.",
				zap.Uint64("index", index), zap.Error(err))
		} else if err := push(series, index); err != nil {
			// A shutdown: the entries not replayed stay tracked, so they stay in the log.
			w.logger.Info("Replay of the write-ahead log stopped by the shutdown.",
				zap.Uint64("entries_left", next-index), zap.Error(err))
			return
		} else {
			entries++
			samples += uint64(n)
			w.tel.WALReplayed(n)
		}
		// The replay's own hold moves past this entry, which its samples now track.
		w.entries.Add(index + 1)
		w.entries.Done(index)
	}
	w.entries.Done(next)
	w.logger.Info("Replayed the write-ahead log.", zap.Uint64("entries", entries), zap.Uint64("samples", samples), zap.Uint64("unreadable_entries", failed))
}

func (w *WAL) loop() {
	defer w.loopDone.Done()
	truncate := time.NewTicker(w.set.TruncateInterval)
	defer truncate.Stop()
	lag := time.NewTicker(w.set.LagInterval)
	defer lag.Stop()
	mark := time.NewTicker(doneMarkInterval)
	defer mark.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-mark.C:
			w.markDone()
		case <-truncate.C:
			if _, err := w.Truncate(); err != nil {
				w.logger.Warn("The write-ahead log could not be truncated; it keeps growing until it can.", zap.Error(err))
			}
		case <-lag.C:
			_, next := w.log.bounds()
			w.lag.Store(int64(next - w.watermark()))
		}
	}
}

// markDone writes the watermark to the done mark when it moved.
func (w *WAL) markDone() {
	watermark := w.watermark()
	if watermark <= w.marked {
		return
	}
	if err := writeDoneMark(w.log.dir, watermark); err != nil {
		w.logger.Debug("The done mark of the write-ahead log could not be written.", zap.Error(err))
		return
	}
	w.marked = watermark
}

// watermark is the oldest log entry that may still hold a sample not done: every entry before
// it can go. The holders are read from the end of the samples' path back to its start, then the
// tracker again, so that a sample moving between two of them while they are read is seen by one.
func (w *WAL) watermark() uint64 {
	_, watermark := w.log.bounds()
	if index, ok := w.entries.Oldest(); ok {
		watermark = min(watermark, index)
	}
	if w.held != nil {
		if index, ok := w.held.OldestEntry(); ok {
			watermark = min(watermark, index)
		}
	}
	if index, ok := w.entries.Oldest(); ok {
		watermark = min(watermark, index)
	}
	return watermark
}

// Truncate removes the log entries whose samples are all delivered or counted dropped, and
// returns how many it removed. It runs every TruncateInterval.
func (w *WAL) Truncate() (uint64, error) {
	removed, err := w.log.truncateBefore(w.watermark())
	if err != nil {
		return 0, fmt.Errorf("ordered_rw: truncating the write-ahead log: %w", err)
	}
	w.tel.WALTruncated(removed)
	return removed, nil
}

// Entries is the number of entries in the log.
func (w *WAL) Entries() int64 {
	first, next := w.log.bounds()
	return int64(next - first)
}

// Lag is the number of entries not yet done, as last sampled.
func (w *WAL) Lag() int64 { return w.lag.Load() }

// Dir is the log's directory.
func (w *WAL) Dir() string { return w.log.dir }

// Stop waits for the replay to end and stops the truncation loop; only after Start.
func (w *WAL) Stop() {
	<-w.replayDone
	close(w.stop)
	w.loopDone.Wait()
}

// Close closes the log and lets go of its directory's lock.
func (w *WAL) Close() error { return w.log.close() }
