package encode

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// reference is what ordered_rw sent before the encoder: the translator's series, the stamp
// added to its external labels and then set over any label of its name. Where setting the stamp
// made two series one (a data label of the stamp's name), ordered_rw sent that label set twice;
// the encoder sends one series: reference merges them, and says which, since the translator's
// order of the two is random.
func reference(t testing.TB, md pmetric.Metrics, set Settings) (out map[string][]string, merged []string) {
	tr := set.Translator
	if set.StampLabel != "" {
		tr.ExternalLabels = maps.Clone(tr.ExternalLabels)
		if tr.ExternalLabels == nil {
			tr.ExternalLabels = map[string]string{}
		}
		tr.ExternalLabels[set.StampLabel] = set.StampValue
	}
	tss, _ := prometheusremotewrite.FromMetrics(md, tr)
	out = map[string][]string{}
	for _, ts := range tss {
		labels := ts.Labels
		if set.StampLabel != "" {
			labels = sample.SetLabel(labels, set.StampLabel, set.StampValue)
		}
		key := labelsKey(labels)
		points, dup := out[key]
		if dup {
			require.NotEmpty(t, set.StampLabel, "the translator sent one label set twice")
			merged = append(merged, key)
		}
		for _, s := range ts.Samples {
			points = append(points, pointString(sample.Point{T: s.Timestamp, V: s.Value}))
		}
		for i := range ts.Histograms {
			points = append(points, pointString(sample.Point{T: ts.Histograms[i].Timestamp, H: &ts.Histograms[i]}))
		}
		out[key] = points
	}
	return out, merged
}

// encoded is the encoder's series in reference's form, checked for what the engine relies on:
// labels sorted, the hash of the labels, one series per label set; and for what requests rely
// on: each block is prompb's encoding of its labels.
func encoded(t testing.TB, series []sample.Series) map[string][]string {
	out := map[string][]string{}
	for _, s := range series {
		labels := s.Labels.Prompb()
		require.True(t, slices.IsSortedFunc(labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }), "labels not sorted: %v", s.Labels)
		hash, _ := sample.HashLabels(labels, nil)
		require.Equal(t, hash, s.Hash, "hash of %v", s.Labels)
		require.Equal(t, hash, s.Labels.Hash(), "hash of %v", s.Labels)
		block, err := (&prompb.TimeSeries{Labels: labels}).Marshal()
		require.NoError(t, err)
		require.Equal(t, string(block), string(s.Labels), "block of %v", s.Labels)
		key := labelsKey(labels)
		require.NotContains(t, out, key, "the encoder sent one label set twice")
		// Float samples, then histograms, as remote write carries them (two lists in a series):
		// their order between the two kinds means nothing.
		var points []string
		for _, p := range s.Points {
			if p.H == nil {
				points = append(points, pointString(p))
			}
		}
		for _, p := range s.Points {
			if p.H != nil {
				points = append(points, pointString(p))
			}
		}
		out[key] = points
	}
	return out
}

// labelsKey renders labels sorted by name and value: the translator orders two labels of one
// name (a histogram's le attribute) as its map iteration happens to.
func labelsKey(labels []prompb.Label) string {
	labels = slices.Clone(labels)
	slices.SortFunc(labels, func(a, b prompb.Label) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Value, b.Value))
	})
	return sample.NewLabels(labels).String()
}

// pointString renders a point exactly: a value's bits (stale markers and NaNs compare), a
// histogram in full.
func pointString(p sample.Point) string {
	if p.H != nil {
		return fmt.Sprintf("%d h%s", p.T, p.H.String())
	}
	return fmt.Sprintf("%d %016x", p.T, math.Float64bits(p.V))
}

// requireSame encodes md with enc three times (a series is cached when seen the second time:
// the third push finds every series cached) and requires the translator's series each time.
func requireSame(t testing.TB, enc *Encoder, md pmetric.Metrics, set Settings) Result {
	want, merged := reference(t, md, set)
	for _, key := range merged {
		slices.Sort(want[key])
	}
	var res Result
	for push := range 3 {
		res = enc.Encode(md, enc.start.Add(time.Duration(push)*time.Second))
		got := encoded(t, res.Series)
		for _, key := range merged {
			slices.Sort(got[key])
		}
		require.Equal(t, want, got, "push %d", push)
	}
	return res
}

type testCase struct {
	name     string
	settings func(*Settings)
	metrics  func(pmetric.Metrics)
	fallback map[Reason]int
}

var testStart = pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 123_456_789))

// newResource appends a resource with job, instance and one more attribute (so target_info).
func newResource(md pmetric.Metrics, extra ...string) (pcommon.Map, pmetric.MetricSlice) {
	rm := md.ResourceMetrics().AppendEmpty()
	attrs := rm.Resource().Attributes()
	attrs.PutStr("service.name", "svc")
	attrs.PutStr("service.instance.id", "i-1")
	attrs.PutStr("host.name", "node-1")
	for i := 0; i+1 < len(extra); i += 2 {
		attrs.PutStr(extra[i], extra[i+1])
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("scope.lib")
	sm.Scope().SetVersion("1.2.3")
	sm.Scope().Attributes().PutStr("team", "a")
	return attrs, sm.Metrics()
}

// jobOnlyGauge returns a push of one resource with only service.name (job only: no target_info)
// and one gauge "g", whose points the caller appends.
func jobOnlyGauge() (pmetric.Metrics, pmetric.NumberDataPointSlice) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("g")
	return md, m.SetEmptyGauge().DataPoints()
}

func gauge(ms pmetric.MetricSlice, name, unit string, points int, attrs ...string) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	dps := m.SetEmptyGauge().DataPoints()
	addNumbers(dps, points, attrs...)
	return dps
}

func sum(ms pmetric.MetricSlice, name, unit string, monotonic bool, temporality pmetric.AggregationTemporality, points int, attrs ...string) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	s := m.SetEmptySum()
	s.SetIsMonotonic(monotonic)
	s.SetAggregationTemporality(temporality)
	addNumbers(s.DataPoints(), points, attrs...)
	return s.DataPoints()
}

func addNumbers(dps pmetric.NumberDataPointSlice, points int, attrs ...string) {
	for i := range points {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(testStart + pcommon.Timestamp(i)*1e6)
		for j := 0; j+1 < len(attrs); j += 2 {
			dp.Attributes().PutStr(attrs[j], attrs[j+1])
		}
		dp.Attributes().PutInt("point", int64(i%3))
		if i%2 == 0 {
			dp.SetDoubleValue(float64(i) + 0.5)
		} else {
			dp.SetIntValue(int64(i))
		}
	}
}

func histogram(ms pmetric.MetricSlice, name, unit string, points int, attrs ...string) pmetric.HistogramDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range points {
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(testStart + pcommon.Timestamp(i)*1e6)
		for j := 0; j+1 < len(attrs); j += 2 {
			dp.Attributes().PutStr(attrs[j], attrs[j+1])
		}
		dp.Attributes().PutInt("point", int64(i))
		dp.ExplicitBounds().FromRaw([]float64{0.005, 0.1, 1, 2.5e10})
		dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5})
		dp.SetCount(15)
		if i%2 == 0 {
			dp.SetSum(42.5)
		}
	}
	return h.DataPoints()
}

func summary(ms pmetric.MetricSlice, name string, points int, attrs ...string) pmetric.SummaryDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	s := m.SetEmptySummary()
	for i := range points {
		dp := s.DataPoints().AppendEmpty()
		dp.SetTimestamp(testStart + pcommon.Timestamp(i)*1e6)
		for j := 0; j+1 < len(attrs); j += 2 {
			dp.Attributes().PutStr(attrs[j], attrs[j+1])
		}
		dp.SetCount(7)
		dp.SetSum(3.25)
		for _, q := range []float64{0, 0.5, 0.99, 1} {
			qv := dp.QuantileValues().AppendEmpty()
			qv.SetQuantile(q)
			qv.SetValue(q * 10)
		}
	}
	return s.DataPoints()
}

func exponential(ms pmetric.MetricSlice, name string, points int) {
	m := ms.AppendEmpty()
	m.SetName(name)
	h := m.SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range points {
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(testStart + pcommon.Timestamp(i)*1e6)
		dp.SetScale(2)
		dp.SetCount(6)
		dp.SetSum(10)
		dp.SetZeroCount(1)
		dp.Positive().SetOffset(1)
		dp.Positive().BucketCounts().FromRaw([]uint64{2, 3})
	}
}

func everyType(md pmetric.Metrics) {
	_, ms := newResource(md)
	gauge(ms, "cpu.utilization", "1", 3, "cpu", "0")
	sum(ms, "http.requests", "{request}", true, pmetric.AggregationTemporalityCumulative, 3, "method", "GET")
	sum(ms, "queue.size", "By", false, pmetric.AggregationTemporalityCumulative, 2)
	histogram(ms, "http.duration", "ms", 2, "route", "/a")
	summary(ms, "rpc.latency", 2, "rpc", "x")
}

func TestEncoderMatchesTranslator(t *testing.T) {
	cases := []testCase{
		{name: "every type", metrics: everyType},
		{name: "no scope info, no target_info", settings: func(s *Settings) {
			s.Translator.DisableScopeInfo = true
			s.Translator.DisableTargetInfo = true
		}, metrics: everyType},
		{name: "namespace and external labels", settings: func(s *Settings) {
			s.Translator.Namespace = "ns"
			s.Translator.ExternalLabels = map[string]string{"cluster": "c1", "host_name": "ext", "job": "ext-job"}
		}, metrics: everyType},
		{name: "add_metric_suffixes", settings: func(s *Settings) { s.Translator.AddMetricSuffixes = true }, metrics: everyType},
		{name: "UnderscoreEscapingWithSuffixes", settings: strategy("UnderscoreEscapingWithSuffixes"), metrics: everyType},
		{name: "UnderscoreEscapingWithoutSuffixes", settings: strategy("UnderscoreEscapingWithoutSuffixes"), metrics: everyType},
		{name: "NoUTF8EscapingWithSuffixes", settings: strategy("NoUTF8EscapingWithSuffixes"), metrics: everyType},
		{name: "NoTranslation", settings: strategy("NoTranslation"), metrics: everyType},
		{name: "stamp over a label of its name", settings: func(s *Settings) { s.StampLabel, s.StampValue = "collector_gateway", "gw-1" },
			metrics: func(md pmetric.Metrics) {
				_, ms := newResource(md)
				gauge(ms, "g", "", 2, "collector_gateway", "data")
				histogram(ms, "h", "", 1)
			}},
		{name: "delta sums and histograms are dropped", metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			sum(ms, "delta.requests", "", true, pmetric.AggregationTemporalityDelta, 2)
			m := ms.AppendEmpty()
			m.SetName("delta.hist")
			m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			m.Histogram().DataPoints().AppendEmpty().SetTimestamp(testStart + 5e9)
			gauge(ms, "kept", "", 1)
		}},
		{name: "staleness markers", metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			dps := gauge(ms, "g", "", 2)
			dps.At(1).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			hs := histogram(ms, "h", "", 1)
			hs.At(0).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			ss := summary(ms, "s", 1)
			ss.At(0).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}},
		{name: "target_info: only identifying attributes, namespace", settings: func(s *Settings) { s.Translator.Namespace = "ns" },
			metrics: func(md pmetric.Metrics) {
				rm := md.ResourceMetrics().AppendEmpty()
				rm.Resource().Attributes().PutStr("service.name", "only")
				gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "g", "", 1)
				rm = md.ResourceMetrics().AppendEmpty()
				rm.Resource().Attributes().PutStr("service.namespace", "team")
				rm.Resource().Attributes().PutStr("service.name", "svc")
				rm.Resource().Attributes().PutStr("k8s.pod.name", "p")
				rm.Resource().Attributes().PutStr("empty", "")
				gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "g", "", 1)
				rm = md.ResourceMetrics().AppendEmpty() // no job nor instance: no target_info
				rm.Resource().Attributes().PutStr("host.name", "h")
				gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "g", "", 1)
				rm = md.ResourceMetrics().AppendEmpty() // an attribute named job
				rm.Resource().Attributes().PutStr("job", "from-attr")
				gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "g", "", 1)
			}},
		{name: "resource_to_telemetry_conversion", metrics: func(md pmetric.Metrics) {
			res, ms := newResource(md, "cloud.region", "eu")
			dps := gauge(ms, "g", "", 2)
			// What the resourcetotelemetry wrapper does before the exporter sees the data.
			for i := 0; i < dps.Len(); i++ {
				for k, v := range res.All() {
					v.CopyTo(dps.At(i).Attributes().PutEmpty(k))
				}
			}
		}},
		{name: "invalid UTF-8, empty and colliding names", settings: strategy("NoUTF8EscapingWithSuffixes"),
			metrics: collisions, fallback: map[Reason]int{ReasonReservedLabel: 2}},
		{name: "invalid UTF-8, empty and colliding names, escaped", metrics: collisions, fallback: map[Reason]int{ReasonReservedLabel: 2}},
		{name: "attribute values of every type", metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			dps := gauge(ms, "g", "", 1)
			attrs := dps.At(0).Attributes()
			attrs.PutBool("b", true)
			attrs.PutDouble("d", 1.5)
			attrs.PutEmpty("e")
			attrs.PutEmptyBytes("y").FromRaw([]byte{1, 2})
			attrs.PutEmptyMap("m").PutStr("k", "v")
			attrs.PutEmptySlice("s").AppendEmpty().SetInt(3)
			attrs.PutStr("empty", "")
		}},
		{name: "exponential histograms go to the translator", metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			exponential(ms, "latency", 2)
			gauge(ms, "g", "", 1)
		}, fallback: map[Reason]int{ReasonExponentialHistogram: 2}},
		{name: "NHCB goes to the translator", settings: func(s *Settings) { s.Translator.ConvertExplicitHistogramsToNHCB = true },
			metrics: func(md pmetric.Metrics) {
				_, ms := newResource(md)
				histogram(ms, "h", "s", 2)
			}, fallback: map[Reason]int{ReasonNHCB: 2}},
		{name: "NHCB and classic go to the translator", settings: func(s *Settings) {
			s.Translator.ConvertExplicitHistogramsToNHCB = true
			s.Translator.KeepClassicHistograms = true
		}, metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			histogram(ms, "h", "s", 1)
		}, fallback: map[Reason]int{ReasonNHCB: 1}},
		{name: "a gauge's __name__ attribute is overwritten", metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			gauge(ms, "g", "", 1, "__name__", "x")
		}},
		{name: "exemplars are not sent", metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			dps := sum(ms, "c", "", true, pmetric.AggregationTemporalityCumulative, 1)
			ex := dps.At(0).Exemplars().AppendEmpty()
			ex.SetDoubleValue(1)
			ex.SetTraceID(pcommon.TraceID{1})
		}},
		{name: "two metrics with one name merge", metrics: func(md pmetric.Metrics) {
			_, ms := newResource(md)
			gauge(ms, "a.b", "", 2)
			gauge(ms, "a_b", "", 2)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := Settings{MaxSeries: 1000, IdleTimeout: time.Minute}
			if tc.settings != nil {
				tc.settings(&set)
			}
			md := pmetric.NewMetrics()
			tc.metrics(md)
			res := requireSame(t, New(set), md, set)
			for r := range numReasons {
				assert.Equal(t, tc.fallback[r], res.Fallback[r], "fallback points for %s", r)
			}
		})
	}
}

func strategy(name string) func(*Settings) {
	return func(s *Settings) { s.Translator.TranslationStrategy = name }
}

func collisions(md pmetric.Metrics) {
	_, ms := newResource(md)
	gauge(ms, "", "", 1)
	gauge(ms, "_", "", 1)
	gauge(ms, "__", "", 1)
	gauge(ms, "9lives", "", 1)
	gauge(ms, "bad\xffname", "", 1, "k\xff", "v\xfe")
	gauge(ms, "g", "", 1, "a.b", "1", "a_b", "2", "a-b", "1")
	gauge(ms, "g2", "", 1, "", "empty key")
	gauge(ms, "g3", "", 1, "___", "underscores")
	gauge(ms, "g4", "", 1, "1st", "digit")
	histogram(ms, "h", "", 1, "le", "0.5")
	summary(ms, "s", 1, "quantile", "0.5")
}

// The stale marker is Prometheus' own.
func TestStaleMarker(t *testing.T) {
	assert.Equal(t, value.StaleNaN, math.Float64bits(staleNaN))
}

// A series is cached when seen a second time; series not seen for the idle timeout leave the
// cache; the cache never holds more than MaxSeries, and what it cannot hold is still encoded,
// each label set once.
func TestCacheIsSweptAndBounded(t *testing.T) {
	set := Settings{MaxSeries: 10, IdleTimeout: 4 * time.Second}
	enc := New(set)
	push := func(at time.Duration, series int, first int) Result {
		md, dps := jobOnlyGauge()
		for i := range series {
			dp := dps.AppendEmpty()
			dp.Attributes().PutInt("series", int64(first+i))
			dp.SetTimestamp(testStart)
		}
		res := enc.Encode(md, enc.start.Add(at))
		want, _ := reference(t, md, set)
		require.Equal(t, want, encoded(t, res.Series))
		return res
	}
	push(0, 6, 0)
	assert.Equal(t, 0, enc.CachedSeries(), "seen once: not cached")
	assert.Equal(t, 6, enc.seen.Len())
	push(time.Second, 6, 0)
	assert.Equal(t, 6, enc.CachedSeries(), "seen twice: cached")
	push(2*time.Second, 6, 100)
	push(3*time.Second, 6, 100) // 4 fit, 2 are encoded uncached
	assert.Equal(t, 10, enc.CachedSeries())
	push(4*time.Second, 2, 0) // series 0 and 1 stay
	// Swept at a quarter of the timeout: the series last seen more than 4 s ago are gone.
	push(8*time.Second, 1, 0)
	assert.Equal(t, 2, enc.CachedSeries())
	assert.Equal(t, 2, enc.identities.Len())
	push(20*time.Second, 0, 0)
	assert.Equal(t, 0, enc.CachedSeries())
	assert.Equal(t, 0, enc.identities.Len())
	assert.Equal(t, 0, enc.seen.Len())
}

func TestFallbackIsCounted(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	counter, err := NewTelemetry(tel.NewTelemetrySettings(), "ordered_rw")
	require.NoError(t, err)
	set := Settings{MaxSeries: 100, IdleTimeout: time.Minute}
	md := pmetric.NewMetrics()
	_, ms := newResource(md)
	exponential(ms, "latency", 3)
	histogram(ms, "h", "", 2, "le", "1")
	gauge(ms, "g", "", 1)
	counter.FellBack(New(set).Encode(md, time.Now()).Fallback)
	got, err := tel.GetMetric(FallbackMetricName)
	require.NoError(t, err)
	points := got.Data.(metricdata.Sum[int64]).DataPoints
	byReason := map[string]int64{}
	for _, p := range points {
		reason, _ := p.Attributes.Value("reason")
		exporter, _ := p.Attributes.Value("exporter")
		assert.Equal(t, "ordered_rw", exporter.AsString())
		byReason[reason.AsString()] = p.Value
	}
	assert.Equal(t, map[string]int64{"exponential_histogram": 3, "reserved_label": 2}, byReason)
}

// A recycled output's arrays carry the next push, emptied of the last one's; an output not
// recycled is never written again, and an empty one is reused at once.
func TestRecycledOutputIsReused(t *testing.T) {
	set := Settings{MaxSeries: 100, IdleTimeout: time.Minute}
	enc := New(set)
	push := func(value float64) Result {
		md := pmetric.NewMetrics()
		_, ms := newResource(md)
		dps := gauge(ms, "g", "", 3, "k", "v")
		for i := range dps.Len() {
			dps.At(i).SetDoubleValue(value)
		}
		res := enc.Encode(md, enc.start)
		require.Equal(t, func() map[string][]string { want, _ := reference(t, md, set); return want }(), encoded(t, res.Series))
		return res
	}
	first := push(1)
	kept := slices.Clone(first.Series)
	second := push(2)
	require.NotSame(t, &first.Series[0], &second.Series[0], "lent: not reused")
	assert.Equal(t, kept, first.Series, "an output lent is not written by later pushes")

	enc.Recycle(first.Series)
	third := push(3)
	assert.Same(t, &first.Series[0], &third.Series[0], "recycled: reused")
	enc.Recycle(third.Series)
	enc.Recycle(third.Series) // twice is harmless
	enc.Recycle(second.Series)
	assert.Len(t, enc.outputs.free, 2)
	assert.Empty(t, enc.outputs.lent)
}

// Two identities of one label set (attributes whose names collide once sanitised) are one
// series, also once both are cached: the second is a link to the first's entry, which lives as
// long as either identity is seen, so that the second alone keeps the series (and the link)
// from the sweep; when neither is seen for the idle timeout, both go.
func TestLinkedIdentitiesShareOneSeries(t *testing.T) {
	set := Settings{MaxSeries: 10, IdleTimeout: 4 * time.Second}
	enc := New(set)
	push := func(at time.Duration, names ...string) {
		md, dps := jobOnlyGauge()
		for i, name := range names {
			dp := dps.AppendEmpty()
			dp.Attributes().PutStr(name, "v")
			dp.SetTimestamp(testStart + pcommon.Timestamp(i))
		}
		res := enc.Encode(md, enc.start.Add(at))
		want, _ := reference(t, md, set)
		require.Equal(t, want, encoded(t, res.Series))
		require.Len(t, res.Series, min(len(names), 1), "one series")
	}
	push(0, "a.b", "a_b")
	push(time.Second, "a.b", "a_b")
	assert.Equal(t, 1, enc.CachedSeries())
	assert.Equal(t, 2, enc.identities.Len(), "an entry and a link to it")
	push(2*time.Second, "a_b", "a.b")
	for at := 3 * time.Second; at < 12*time.Second; at += time.Second {
		push(at, "a_b") // the link alone keeps the series
	}
	assert.Equal(t, 1, enc.CachedSeries())
	assert.Equal(t, 2, enc.identities.Len())
	push(12*time.Second, "a.b", "a_b")
	push(20 * time.Second)
	assert.Equal(t, 0, enc.CachedSeries())
	assert.Equal(t, 0, enc.identities.Len())
	assert.Zero(t, enc.identities.Slots(), "the table's memory given back")
}

// When every series seen once has been seen again, the table of series seen once gives its
// memory back at once (not at the next sweep); a small one keeps it.
func TestSeenOnceTableGivesMemoryBack(t *testing.T) {
	for _, series := range []int{100, keepSeen + 100} {
		enc := New(Settings{MaxSeries: 2 * series, IdleTimeout: time.Hour})
		md, dps := jobOnlyGauge()
		for i := range series {
			dp := dps.AppendEmpty()
			dp.Attributes().PutInt("series", int64(i))
			dp.SetTimestamp(testStart)
		}
		enc.Encode(md, enc.start)
		require.Equal(t, series, enc.seen.Len())
		enc.Encode(md, enc.start.Add(time.Second))
		require.Equal(t, series, enc.CachedSeries())
		require.Zero(t, enc.seen.Len())
		if series > keepSeen {
			assert.Zero(t, enc.seen.Slots(), "%d series: given back", series)
		} else {
			assert.Equal(t, uint32(series), enc.seen.Slots(), "%d series: kept", series)
		}
	}
}

// Points in another order than the one their series were cached in are looked up a run at a
// time, their table reads started together (prefetched); the series are the translator's
// whatever the order, and the runs in order again are looked up as they come.
func TestPointsOutOfOrderArePrefetched(t *testing.T) {
	const series = 4 * prefetchRun
	set := Settings{MaxSeries: 2 * series, IdleTimeout: time.Hour}
	enc := New(set)
	push := func(at time.Duration, order func(int) int) {
		md, dps := jobOnlyGauge()
		for i := range series {
			dp := dps.AppendEmpty()
			dp.Attributes().PutInt("series", int64(order(i)))
			dp.SetTimestamp(testStart + pcommon.Timestamp(at))
			dp.SetDoubleValue(float64(i))
		}
		res := enc.Encode(md, enc.start.Add(at))
		want, _ := reference(t, md, set)
		require.Equal(t, want, encoded(t, res.Series))
	}
	inOrder := func(i int) int { return i }
	shuffled := func(i int) int { return i * 769 % series } // 769 is prime: a permutation
	push(0, inOrder)
	push(time.Second, inOrder)
	require.Equal(t, series, enc.CachedSeries())
	push(2*time.Second, shuffled)
	assert.Greater(t, enc.disordered, prefetchRun/16, "the last run was out of order")
	push(3*time.Second, shuffled)
	push(4*time.Second, inOrder)
	assert.Zero(t, enc.disordered, "the last run was in order")
}
