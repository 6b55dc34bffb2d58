package wal

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// batchOf is n series, named metric_<i>, with points at ts valued at their timestamp.
func batchOf(n int, ts ...int64) []sample.Series {
	out := make([]sample.Series, 0, n)
	for i := range n {
		labels := []prompb.Label{{Name: "__name__", Value: "metric"}, {Name: "series", Value: fmt.Sprint(i)}}
		hash, _ := sample.HashLabels(labels, nil)
		s := sample.Series{Hash: hash, Labels: sample.NewLabels(labels)}
		for _, t := range ts {
			s.Points = append(s.Points, sample.Point{T: t, V: float64(t)})
		}
		out = append(out, s)
	}
	return out
}

type counts struct{ written, replayed, truncated, readFailed int }

func (c *counts) WALWritten(int)        { c.written++ }
func (*counts) WALWriteFailed()         {}
func (c *counts) WALReadFailed()        { c.readFailed++ }
func (c *counts) WALReplayed(n int)     { c.replayed += n }
func (c *counts) WALTruncated(n uint64) { c.truncated += int(n) }
func open(t *testing.T, dir string) *WAL {
	t.Helper()
	w, err := Open(Settings{Directory: dir, TruncateInterval: time.Hour, LagInterval: time.Hour}, zap.NewNop(), &counts{})
	require.NoError(t, err)
	return w
}

type held struct {
	entry uint64
	ok    bool
}

func (h held) OldestEntry() (uint64, bool) { return h.entry, h.ok }

// Truncation stops at the oldest entry still tracked or held; an entry appended is tracked until
// its writer is done with it.
func TestTruncateStopsAtTheWatermark(t *testing.T) {
	w := open(t, t.TempDir())
	defer func() { require.NoError(t, w.Close()) }()
	h := &held{}
	w.held = h
	for range 3 {
		_, err := w.Append(batchOf(2, 1000))
		require.NoError(t, err)
	}
	removed, err := w.Truncate()
	require.NoError(t, err)
	assert.Zero(t, removed, "every entry is still tracked by its append")
	w.Done(1)
	w.Done(3)
	removed, err = w.Truncate()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), removed, "entry 2 is still tracked")
	*h = held{entry: 2, ok: true}
	w.Done(2)
	removed, err = w.Truncate()
	require.NoError(t, err)
	assert.Zero(t, removed, "entry 2's samples are held")
	*h = held{}
	removed, err = w.Truncate()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), removed)
	assert.Zero(t, w.Entries())
}

// The entries found at start are pushed again in order, before AwaitReplay lets new pushes in,
// and stay tracked until the push is done with them.
func TestReplayPushesTheEntriesInOrder(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir)
	for _, ts := range []int64{1000, 2000} {
		_, err := first.Append(batchOf(3, ts))
		require.NoError(t, err)
	}
	require.NoError(t, first.Close())

	second := open(t, dir)
	var pushed []int64
	second.Start(nil, func(series []sample.Series, entry uint64) error {
		pushed = append(pushed, series[0].Points[0].T)
		second.Track(entry) // as a holder of the samples would
		return nil
	})
	require.NoError(t, second.AwaitReplay(context.Background()))
	assert.Equal(t, []int64{1000, 2000}, pushed)
	assert.Equal(t, 6, second.tel.(*counts).replayed)
	removed, err := second.Truncate()
	require.NoError(t, err)
	assert.Zero(t, removed, "the replayed samples' holders keep their entries")
	second.Done(1)
	second.Done(2)
	removed, err = second.Truncate()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), removed)
	second.Stop()
	require.NoError(t, second.Close())
}

// An entry is a remote-write request, as before labels were kept encoded (prompb's bytes: a log
// written by an earlier version replays), and reads back as the series written: the same labels'
// blocks, hashes and points, histograms included.
func TestEntriesReadBackAsWritten(t *testing.T) {
	w := open(t, t.TempDir())
	defer func() { require.NoError(t, w.Close()) }()
	series := batchOf(3, 2000, 1000)
	h := &prompb.Histogram{Timestamp: 3000, Count: &prompb.Histogram_CountInt{CountInt: 4}, Sum: 2.5, PositiveSpans: []prompb.BucketSpan{{Offset: 1, Length: 1}}, PositiveDeltas: []int64{4}}
	series[1].Points = append(series[1].Points, sample.Point{T: 3000, H: h})
	entry, err := w.Append(series)
	require.NoError(t, err)

	data, err := w.log.log.Read(entry)
	require.NoError(t, err)
	raw, err := snappy.Decode(nil, data)
	require.NoError(t, err)
	want := prompb.WriteRequest{}
	for _, s := range series {
		ts := prompb.TimeSeries{Labels: s.Labels.Prompb()}
		for _, p := range s.Points {
			if p.H != nil {
				ts.Histograms = append(ts.Histograms, *p.H)
			} else {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: p.T, Value: p.V})
			}
		}
		want.Timeseries = append(want.Timeseries, ts)
	}
	wantRaw, err := want.Marshal()
	require.NoError(t, err)
	require.Equal(t, wantRaw, raw)

	got, samples, err := w.log.read(entry)
	require.NoError(t, err)
	assert.Equal(t, 7, samples)
	require.Len(t, got, len(series))
	for i := range series {
		assert.Equal(t, series[i].Hash, got[i].Hash)
		assert.Equal(t, series[i].Labels, got[i].Labels)
		require.Len(t, got[i].Points, len(series[i].Points))
		for j, p := range series[i].Points {
			if p.H != nil {
				assert.Equal(t, p.H.String(), got[i].Points[j].H.String())
				continue
			}
			assert.Equal(t, p, got[i].Points[j])
		}
	}
}
