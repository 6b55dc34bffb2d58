package transport

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// randomSeries returns a series with random labels (empty and long names and values among
// them), float samples or native histograms, sometimes exemplars.
func randomSeries(r *rand.Rand) prompb.TimeSeries {
	var ts prompb.TimeSeries
	str := func() string {
		switch r.IntN(6) {
		case 0:
			return ""
		case 1:
			return strings.Repeat("v", 100+r.IntN(300))
		}
		return strconv.FormatUint(r.Uint64(), 36)
	}
	for range r.IntN(10) {
		ts.Labels = append(ts.Labels, prompb.Label{Name: str(), Value: str()})
	}
	if r.IntN(4) == 0 {
		for range 1 + r.IntN(3) {
			ts.Histograms = append(ts.Histograms, prompb.Histogram{
				Timestamp: r.Int64(), Count: &prompb.Histogram_CountInt{CountInt: r.Uint64N(1000)}, Sum: r.NormFloat64(),
				Schema: int32(r.IntN(8)), PositiveSpans: []prompb.BucketSpan{{Offset: 1, Length: 2}}, PositiveDeltas: []int64{r.Int64N(9), -r.Int64N(9)},
			})
		}
	} else {
		odd := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(-1), math.Float64frombits(1)}
		for range r.IntN(5) {
			s := prompb.Sample{Timestamp: r.Int64N(1 << 42), Value: r.NormFloat64()}
			switch r.IntN(6) {
			case 0:
				s.Value = odd[r.IntN(len(odd))]
			case 1:
				s.Timestamp = []int64{0, -1, 1, math.MaxInt64, math.MinInt64}[r.IntN(5)]
			}
			ts.Samples = append(ts.Samples, s)
		}
	}
	if r.IntN(8) == 0 {
		ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{Labels: []prompb.Label{{Name: "trace_id", Value: str()}}, Value: 1, Timestamp: 2})
	}
	return ts
}

// Encode writes what prompb's Marshal writes for the same series, whether a series carries its
// labels encoded (SetLabelsBlock) or not, and SeriesSize sums to that size.
func TestEncodeIsPrompbMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var enc Encoder
	for round := range 300 {
		plain := make([]prompb.TimeSeries, r.IntN(20))
		blocks := make([]prompb.TimeSeries, len(plain))
		size := 0
		for i := range plain {
			plain[i] = randomSeries(r)
			blocks[i] = plain[i]
			if r.IntN(3) > 0 {
				SetLabelsBlock(&blocks[i], sample.AppendLabelsPB(nil, plain[i].Labels))
			}
			size += SeriesSize(&blocks[i])
		}
		want, err := (&prompb.WriteRequest{Timeseries: plain}).Marshal()
		require.NoError(t, err)
		require.Equal(t, len(want), size, "round %d: the sum of SeriesSize", round)
		for _, known := range []int{size, 0} {
			body, err := enc.Encode(&prompb.WriteRequest{Timeseries: blocks}, known)
			require.NoError(t, err)
			got, err := snappy.Decode(nil, body)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "round %d", round)
		}
	}
	_, err := enc.Encode(&prompb.WriteRequest{Metadata: []prompb.MetricMetadata{{MetricFamilyName: "m"}}}, 0)
	require.Error(t, err, "metadata is not encoded here: refused rather than left out")
}

// A request whose series carry label blocks splits on a rejection as one without: the halves
// keep their blocks, and the backend stores every sample but the rejected one, under its labels.
func TestDeliverSplitsSeriesWithLabelBlocks(t *testing.T) {
	backend := promtest.NewBackend(t)
	sender := newSender(t, backend, fastRetry())
	withBlocks := func(tss []prompb.TimeSeries) []prompb.TimeSeries {
		for i := range tss {
			SetLabelsBlock(&tss[i], sample.AppendLabelsPB(nil, tss[i].Labels))
		}
		return tss
	}
	sender.Deliver(withBlocks(request(1, 5000)), 1, 0, &results{rejected: map[string]int{}})

	r := &results{rejected: map[string]int{}}
	sender.Deliver(withBlocks(request(100, 4000)), 100, 0, r)
	assert.Equal(t, 99, r.sent)
	assert.Equal(t, map[string]int{telemetry.ReasonOutOfOrder: 1}, r.rejected)
	assert.Positive(t, r.splits)
	assert.Equal(t, 100, backend.StoredCount())
	stored := backend.Stored()
	for i := range 100 {
		assert.NotEmpty(t, stored[promtest.LabelsKey(labels(i))], "series %d", i)
	}
}

// BenchmarkEncodeRequest encodes a request of 2,000 series of 8 labels and one sample each (the
// shape of the gateway's requests) as prompb marshals it (the encoding before label blocks), and
// as Encode does without and with the series' label blocks; per series, snappy included.
//
//	go test -run '^$' -bench BenchmarkEncodeRequest -benchmem ./exporter/orderedrwexporter/internal/transport
func BenchmarkEncodeRequest(b *testing.B) {
	const numSeries = 2000
	plain := make([]prompb.TimeSeries, numSeries)
	blocks := make([]prompb.TimeSeries, numSeries)
	for i := range plain {
		ls := []prompb.Label{{Name: "__name__", Value: "http_server_request_duration_seconds_count"}}
		for j := range 7 {
			ls = append(ls, prompb.Label{Name: "label_" + strconv.Itoa(j), Value: "value-" + strconv.Itoa(i*7+j)})
		}
		plain[i] = prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000 + int64(i), Value: float64(i)}}}
		blocks[i] = plain[i]
		SetLabelsBlock(&blocks[i], sample.AppendLabelsPB(nil, ls))
	}
	sizeOf := func(tss []prompb.TimeSeries) int {
		n := 0
		for i := range tss {
			n += SeriesSize(&tss[i])
		}
		return n
	}
	b.Run("prompb", func(b *testing.B) {
		var buf, compressed []byte
		for b.Loop() {
			req := prompb.WriteRequest{Timeseries: plain}
			size := 0
			for i := range plain {
				sz := plain[i].Size()
				size += 1 + varintSize(uint64(sz)) + sz
			}
			if cap(buf) < size {
				buf = make([]byte, size)
			}
			n, err := req.MarshalToSizedBuffer(buf[:size])
			if err != nil {
				b.Fatal(err)
			}
			compressed = snappy.Encode(compressed[:cap(compressed)], buf[:n])
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*numSeries), "ns/series")
	})
	for _, c := range []struct {
		name string
		tss  []prompb.TimeSeries
	}{{"labels", plain}, {"blocks", blocks}} {
		b.Run(c.name, func(b *testing.B) {
			var enc Encoder
			for b.Loop() {
				if _, err := enc.Encode(&prompb.WriteRequest{Timeseries: c.tss}, sizeOf(c.tss)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*numSeries), "ns/series")
		})
	}
}
