package ordering

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
)

// Requests stay under max_batch_size_bytes; a series never straddles two requests out of order.
func TestRequestsBoundedBySize(t *testing.T) {
	backend := promtest.NewBackend(t)
	h := newHarness(t, backend, Settings{Shards: 1, MaxBatchBytes: 300})
	var batch []Series
	for i := range 50 {
		batch = append(batch, series(i, 1000, 2000))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	waitIdle(t, h.engine)
	requireStoredInOrder(t, backend, 50, 1000, 2000)
	assert.Greater(t, backend.Requests(), 5)
	h.shutdown(t)
}

func TestSplitHalves(t *testing.T) {
	h := func(ts int64) prompb.Histogram { return prompb.Histogram{Timestamp: ts} }
	timeseries := []prompb.TimeSeries{
		{Labels: []prompb.Label{{Name: "a"}}, Samples: []prompb.Sample{{Timestamp: 1}, {Timestamp: 2}, {Timestamp: 3}}},
		{Labels: []prompb.Label{{Name: "b"}}, Histograms: []prompb.Histogram{h(1), h(2), h(3)}},
	}
	first, second := splitHalves(timeseries, 2)
	require.Len(t, first, 1)
	assert.Equal(t, []prompb.Sample{{Timestamp: 1}, {Timestamp: 2}}, first[0].Samples)
	require.Len(t, second, 2)
	assert.Equal(t, []prompb.Sample{{Timestamp: 3}}, second[0].Samples)

	first, second = splitHalves(timeseries, 4)
	require.Len(t, first, 2)
	assert.Equal(t, []prompb.Histogram{h(1)}, first[1].Histograms)
	require.Len(t, second, 1)
	assert.Equal(t, []prompb.Histogram{h(2), h(3)}, second[0].Histograms)

	first, second = splitHalves(timeseries, 3)
	assert.Len(t, first, 1)
	assert.Len(t, second, 1)
}

func TestSetLabelKeepsOrder(t *testing.T) {
	labels := []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "job", Value: "j"}}
	labels = SetLabel(labels, "collector_gateway", "gw")
	assert.Equal(t, []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "collector_gateway", Value: "gw"}, {Name: "job", Value: "j"}}, labels)
	labels = SetLabel(labels, "job", "k")
	assert.Equal(t, "k", labels[2].Value)
	h1, _ := HashLabels(labels, nil)
	h2, _ := HashLabels([]prompb.Label{{Name: "__name__", Value: "m"}, {Name: "collector_gateway", Value: "gw"}, {Name: "job", Value: "k"}}, nil)
	assert.Equal(t, h1, h2)
}

// The request size summed from the series' sizes is the size the protobuf encoder computes.
func TestEncodedSizeFromSeriesSizes(t *testing.T) {
	var timeseries []prompb.TimeSeries
	size := 0
	for i := range 300 {
		ts := prompb.TimeSeries{Labels: series(i, 0).Labels, Samples: make([]prompb.Sample, i%7+1)}
		timeseries = append(timeseries, ts)
		sz := ts.Size()
		size += 1 + varintSize(uint64(sz)) + sz
	}
	assert.Equal(t, (&prompb.WriteRequest{Timeseries: timeseries}).Size(), size)
}
