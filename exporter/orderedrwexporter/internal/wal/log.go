package wal // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/tidwall/wal"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
)

// entryLog is the log itself: entries are snappy-compressed remote-write requests holding the
// series of one push, numbered from 1 by tidwall/wal.
type entryLog struct {
	dir  string
	lock *os.File // holds the directory's lock; nil where there is none

	mu    sync.Mutex
	log   *wal.Log
	first uint64            // first index still in the log
	next  uint64            // index the next append gets
	enc   transport.Encoder // reused under mu
	// torn is what was cut off the end of the last segment at open.
	torn tornTail
}

// tracker is told each entry appended, before anything can compute a watermark past it.
type tracker interface{ Add(entry uint64) }

func openLocked(dir string) (*entryLog, error) {
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

func openLog(dir string) (*entryLog, error) {
	torn, err := cutTornTail(dir)
	if err != nil {
		return nil, fmt.Errorf("ordered_rw: cannot open the write-ahead log in %q (under `wal.directory`): %w", dir, err)
	}
	l, err := wal.Open(dir, &wal.Options{
		// Reads happen only at replay, in index order: one cached segment is enough, and a larger
		// cache would keep every replayed 20 MB segment in memory.
		SegmentCacheSize: 1,
		NoCopy:           true, // read data is decoded at once and never kept
		AllowEmpty:       true, // truncation may remove every entry
	})
	if err != nil {
		return nil, fmt.Errorf("ordered_rw: cannot open the write-ahead log in %q (under `wal.directory`): %w", dir, err)
	}
	first, err := l.FirstIndex()
	if err == nil {
		var last uint64
		last, err = l.LastIndex()
		if err == nil {
			return &entryLog{dir: dir, log: l, first: first, next: last + 1, torn: torn}, nil
		}
	}
	_ = l.Close()
	return nil, fmt.Errorf("ordered_rw: cannot read the write-ahead log in %q (under `wal.directory`): %w", dir, err)
}

// append writes series as one entry and, before anything can compute a watermark past it,
// registers it with tracker. It returns the entry's index and size.
func (w *entryLog) append(series []sample.Series, tracker tracker) (uint64, int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := w.enc.Encode(transport.Request{Series: series}, 0)
	if err != nil {
		return 0, 0, err
	}
	index := w.next
	if err := w.log.Write(index, data); err != nil {
		return 0, 0, err
	}
	w.next++
	tracker.Add(index)
	return index, len(data), nil
}

// read decodes the entry at index into series.
func (w *entryLog) read(index uint64) ([]sample.Series, int, error) {
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
	series := make([]sample.Series, 0, len(req.Timeseries))
	var scratch []byte
	samples := 0
	for _, ts := range req.Timeseries {
		var hash uint64
		hash, scratch = sample.HashLabels(ts.Labels, scratch)
		// Written sorted, read as written: the block is the bytes the entry holds.
		s := sample.Series{Hash: hash, Labels: sample.NewLabels(ts.Labels), Points: sample.AppendPoints(make([]sample.Point, 0, len(ts.Samples)+len(ts.Histograms)), &ts)}
		samples += len(s.Points)
		series = append(series, s)
	}
	return series, samples, nil
}

// bounds returns the first index in the log and the index the next append gets.
func (w *entryLog) bounds() (first, next uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.next
}

// truncateBefore removes the entries before index; it returns how many it removed.
func (w *entryLog) truncateBefore(index uint64) (uint64, error) {
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

func (w *entryLog) close() error {
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
