package transport

import (
	"math"
	"math/rand/v2"
	"slices"
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

// Encode writes what prompb's Marshal writes for the same series, Series then Ones, and the
// sizes of a request's series (SeriesSize, OneSize) sum to that size.
func TestEncodeIsPrompbMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var enc Encoder
	ones := 0
	for round := range 500 {
		var req Request
		var timeseries, onesTimeseries []prompb.TimeSeries
		for range r.IntN(20) {
			ser, ts := randomSeries(r)
			if ser.IsOne() && r.IntN(2) == 0 {
				// (a sample at 0 is left out of its Sample, as by prompb)
				req.Ones = append(req.Ones, sample.One{Hash: ser.Hash, Labels: ser.Labels, T: ser.Points[0].T, V: ser.Points[0].V})
				onesTimeseries = append(onesTimeseries, ts)
				continue
			}
			req.Series = append(req.Series, ser)
			timeseries = append(timeseries, ts)
		}
		ones += len(req.Ones)
		size := 0
		for i := range req.Len() {
			size += req.Size(i)
		}
		want, err := (&prompb.WriteRequest{Timeseries: append(timeseries, onesTimeseries...)}).Marshal()
		require.NoError(t, err)
		require.Equal(t, len(want), size, "round %d: the sum of SeriesSize and OneSize", round)
		for _, known := range []int{size, 0} {
			body, err := enc.Encode(req, known)
			require.NoError(t, err)
			got, err := snappy.Decode(nil, body)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "round %d", round)
		}
	}
	require.Greater(t, ones, 100, "Ones were encoded")
}

// Encode compresses the request block by block as it writes it, into the bytes snappy.Encode
// writes for the whole protobuf: requests of many blocks, series crossing a block's end, a series
// larger than a block, and requests ending on, just before and just after a block's end.
func TestEncodeIsSnappyOfTheWholeRequest(t *testing.T) {
	requireSnappyOfWhole := func(t *testing.T, enc *Encoder, timeseries []prompb.TimeSeries) {
		t.Helper()
		series := make([]sample.Series, len(timeseries))
		for i := range timeseries {
			series[i] = sample.Series{Labels: sample.NewLabels(timeseries[i].Labels)}
			for _, s := range timeseries[i].Samples {
				series[i].Points = append(series[i].Points, sample.Point{T: s.Timestamp, V: s.Value})
			}
			for j := range timeseries[i].Histograms {
				h := &timeseries[i].Histograms[j]
				series[i].Points = append(series[i].Points, sample.Point{T: h.Timestamp, H: h})
			}
		}
		whole, err := (&prompb.WriteRequest{Timeseries: timeseries}).Marshal()
		require.NoError(t, err)
		body, err := enc.Encode(Request{Series: series}, 0)
		require.NoError(t, err)
		require.Equal(t, snappy.Encode(nil, whole), body, "a request of %d bytes", len(whole))
	}
	t.Run("random", func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		var enc Encoder
		for range 40 {
			timeseries := make([]prompb.TimeSeries, r.IntN(3000))
			for i := range timeseries {
				_, timeseries[i] = randomSeries(r)
			}
			requireSnappyOfWhole(t, &enc, timeseries)
		}
	})
	t.Run("a series larger than blocks", func(t *testing.T) {
		var enc Encoder
		ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "up"}}}
		for i := range 20_000 { // ~400 KB: six blocks and a part
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: 1_700_000_000_000 + int64(i), Value: float64(i % 7)})
		}
		requireSnappyOfWhole(t, &enc, []prompb.TimeSeries{{Labels: []prompb.Label{{Name: "a", Value: "b"}}}, ts, ts})
	})
	t.Run("at a block's end", func(t *testing.T) {
		var enc Encoder
		for _, blocks := range []int{1, 2} {
			// A series of one long label is a few bytes more than its value: sizes step by one.
			for value := blocks*snappyBlockSize - 40; value <= blocks*snappyBlockSize+10; value++ {
				ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "n", Value: strings.Repeat("v", value)}}}
				requireSnappyOfWhole(t, &enc, []prompb.TimeSeries{ts})
				requireSnappyOfWhole(t, &enc, []prompb.TimeSeries{{Samples: []prompb.Sample{{Timestamp: 1, Value: 2}}}, ts})
			}
		}
	})
	t.Run("empty", func(t *testing.T) {
		var enc Encoder
		requireSnappyOfWhole(t, &enc, nil)
	})
}

// A size given that is not the series' encoded size is an error, not a request whose length
// says another size than its content (nor a panic).
func TestEncodeRefusesAWrongSize(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	series := make([]sample.Series, 3000)
	size := 0
	for i := range series {
		series[i], _ = randomSeries(r)
		size += SeriesSize(&series[i])
	}
	require.Greater(t, size, 2*snappyBlockSize)
	var enc Encoder
	for _, wrong := range []int{1, snappyBlockSize, size - 1, size + 1, 2 * size} {
		_, err := enc.Encode(Request{Series: series}, wrong)
		require.ErrorContains(t, err, "were computed", "size %d for %d", wrong, size)
	}
	body, err := enc.Encode(Request{Series: series}, size)
	require.NoError(t, err, "the encoder is usable after a refusal")
	_, err = snappy.Decode(nil, body)
	require.NoError(t, err)
}

// Decode gives back what Encode wrote: random requests of Series and Ones, encoded, decoded
// (Ones as Series of their point) and encoded again are the same bytes, histograms, empty labels
// and odd values included.
func TestDecodeIsEncodeReversed(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var enc Encoder
	for range 200 {
		var req Request
		for range r.IntN(50) {
			ser, _ := randomSeries(r)
			if ser.IsOne() && r.IntN(2) == 0 {
				req.Ones = append(req.Ones, sample.One{Labels: ser.Labels, T: ser.Points[0].T, V: ser.Points[0].V})
				continue
			}
			req.Series = append(req.Series, ser)
		}
		body, err := enc.Encode(req, 0)
		require.NoError(t, err)
		body = slices.Clone(body)
		series, err := Decode(body)
		require.NoError(t, err)
		require.Len(t, series, req.Len())
		again, err := enc.Encode(Request{Series: series}, 0)
		require.NoError(t, err)
		require.Equal(t, body, again)
	}
	_, err := Decode([]byte("not snappy"))
	require.Error(t, err)
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
		body, err := enc.Encode(Request{Series: series}, 0)
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
			if _, err := enc.Encode(Request{Series: series}, size); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*numSeries), "ns/series")
		// What the encoder keeps between requests.
		b.ReportMetric(float64(cap(enc.block)+cap(enc.compressed)), "kept-B")
	})
}
