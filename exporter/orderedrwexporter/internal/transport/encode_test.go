package transport

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// randomSeries returns a series with random labels (empty and long names and values among
// them), float samples (zeros, NaNs, -0, extreme timestamps among them) or native histograms,
// and the prompb TimeSeries that says the same.
func randomSeries(r *rand.Rand) (sample.Series, prompb.TimeSeries) {
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
	ser := sample.Series{Labels: sample.NewLabels(ts.Labels)}
	if r.IntN(4) == 0 {
		for range 1 + r.IntN(3) {
			ts.Histograms = append(ts.Histograms, prompb.Histogram{
				Timestamp: r.Int64(), Count: &prompb.Histogram_CountInt{CountInt: r.Uint64N(1000)}, Sum: r.NormFloat64(),
				Schema: int32(r.IntN(8)), PositiveSpans: []prompb.BucketSpan{{Offset: 1, Length: 2}}, PositiveDeltas: []int64{r.Int64N(9), -r.Int64N(9)},
			})
		}
		for i := range ts.Histograms {
			ser.Points = append(ser.Points, sample.Point{T: ts.Histograms[i].Timestamp, H: &ts.Histograms[i]})
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
			ser.Points = append(ser.Points, sample.Point{T: s.Timestamp, V: s.Value})
		}
	}
	return ser, ts
}

// Encode writes what prompb's Marshal writes for the same series, and SeriesSize sums to that
// size.
func TestEncodeIsPrompbMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var enc Encoder
	for round := range 500 {
		series := make([]sample.Series, r.IntN(20))
		timeseries := make([]prompb.TimeSeries, len(series))
		size := 0
		for i := range series {
			series[i], timeseries[i] = randomSeries(r)
			size += SeriesSize(&series[i])
		}
		want, err := (&prompb.WriteRequest{Timeseries: timeseries}).Marshal()
		require.NoError(t, err)
		require.Equal(t, len(want), size, "round %d: the sum of SeriesSize", round)
		for _, known := range []int{size, 0} {
			body, err := enc.Encode(series, known)
			require.NoError(t, err)
			got, err := snappy.Decode(nil, body)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "round %d", round)
		}
	}
}

// FuzzEncodeIsPrompbMarshal: a series of any two labels and any float sample is written as
// prompb writes it.
func FuzzEncodeIsPrompbMarshal(f *testing.F) {
	f.Add("__name__", "up", "job", "a", int64(1_700_000_000_000), 1.5)
	f.Add("", "", "", "", int64(0), 0.0)
	f.Add("", "v", "n", "", int64(-1), math.Copysign(0, -1))
	f.Add("le", "+Inf", "\xff\xfe", "\x00", int64(math.MinInt64), math.NaN())
	f.Add(strings.Repeat("n", 127), strings.Repeat("v", 128), strings.Repeat("x", 16383), strings.Repeat("y", 16384), int64(math.MaxInt64), math.Inf(1))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string, ts int64, v float64) {
		labels := []prompb.Label{{Name: n1, Value: v1}, {Name: n2, Value: v2}}
		want, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: labels, Samples: []prompb.Sample{{Timestamp: ts, Value: v}}}}}).Marshal()
		require.NoError(t, err)
		series := []sample.Series{{Labels: sample.NewLabels(labels), Points: []sample.Point{{T: ts, V: v}}}}
		var enc Encoder
		body, err := enc.Encode(series, 0)
		require.NoError(t, err)
		got, err := snappy.Decode(nil, body)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		require.Len(t, got, SeriesSize(&series[0]))
	})
}

// BenchmarkEncodeRequest encodes a request of 2,000 series of 8 labels and one sample each (the
// shape of the gateway's requests) as prompb marshals it (the encoding before label blocks:
// the shard copied each series into a prompb.TimeSeries), and as Encode does from the series'
// blocks; per series, snappy included.
//
//	go test -run '^$' -bench BenchmarkEncodeRequest -benchmem ./exporter/orderedrwexporter/internal/transport
func BenchmarkEncodeRequest(b *testing.B) {
	const numSeries = 2000
	plain := make([]prompb.TimeSeries, numSeries)
	series := make([]sample.Series, numSeries)
	for i := range plain {
		ls := []prompb.Label{{Name: "__name__", Value: "http_server_request_duration_seconds_count"}}
		for j := range 7 {
			ls = append(ls, prompb.Label{Name: "label_" + strconv.Itoa(j), Value: "value-" + strconv.Itoa(i*7+j)})
		}
		t, v := 1_700_000_000_000+int64(i), float64(i)
		plain[i] = prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: t, Value: v}}}
		series[i] = sample.Series{Labels: sample.NewLabels(ls), Points: []sample.Point{{T: t, V: v}}}
	}
	b.Run("prompb", func(b *testing.B) {
		var buf, compressed []byte
		for b.Loop() {
			req := prompb.WriteRequest{Timeseries: plain}
			size := 0
			for i := range plain {
				sz := plain[i].Size()
				size += 1 + sample.UvarintSize(uint64(sz)) + sz
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
	b.Run("blocks", func(b *testing.B) {
		var enc Encoder
		for b.Loop() {
			size := 0
			for i := range series {
				size += SeriesSize(&series[i])
			}
			if _, err := enc.Encode(series, size); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*numSeries), "ns/series")
	})
}
