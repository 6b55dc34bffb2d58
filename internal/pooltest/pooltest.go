// Package pooltest helps the components' tests of the pdata.useProtoPooling feature gate. With
// the gate, the pipeline (service/internal/refconsumer) returns a batch's objects to pdata's
// pools as soon as a component's ConsumeMetrics returns, and the next unmarshal takes them again:
// a component that keeps anything of a batch beyond that reads another request's data later.
// The tests built on this package feed batches as the otlp receiver does, then poison, release
// and reuse each one, and require the same output as when the batches are left alone.
package pooltest // import "github.com/otelcol-fleet/otelcol-fleet/internal/pooltest"

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/xpdata/pref"
)

// Gate is the feature gate under test.
const Gate = "pdata.useProtoPooling"

// Enable turns the gate on for the test, off again at its end (the gate is global: such tests
// are not parallel).
func Enable(tb testing.TB) {
	tb.Helper()
	SetGate(tb, true)
}

// SetGate sets the gate for the test or benchmark and turns it off at its end.
func SetGate(tb testing.TB, on bool) {
	tb.Helper()
	reg := featuregate.GlobalRegistry()
	require.NoError(tb, reg.Set(Gate, on))
	tb.Cleanup(func() { require.NoError(tb, reg.Set(Gate, false)) })
}

// Unmarshal marshals md and unmarshals it as the otlp receiver does (from the pools when the
// gate is on), marked pipeline-owned as the service marks what a receiver hands it.
func Unmarshal(tb testing.TB, md pmetric.Metrics) pmetric.Metrics {
	tb.Helper()
	var marshaler pmetric.ProtoMarshaler
	raw, err := marshaler.MarshalMetrics(md)
	require.NoError(tb, err)
	return UnmarshalRaw(tb, raw)
}

// UnmarshalRaw is Unmarshal of an already encoded request.
func UnmarshalRaw(tb testing.TB, raw []byte) pmetric.Metrics {
	tb.Helper()
	var unmarshaler pmetric.ProtoUnmarshaler
	md, err := unmarshaler.UnmarshalMetrics(raw)
	require.NoError(tb, err)
	require.True(tb, pref.MarkPipelineOwnedMetrics(md))
	return md
}

// Recycle is what happens to md once the component returned: it is poisoned, released to the
// pools (as refconsumer does), and its objects are taken again by decoy, poisoned too.
func Recycle(tb testing.TB, md pmetric.Metrics, decoy []byte) {
	tb.Helper()
	Poison(md)
	pref.UnrefMetrics(md)
	Poison(UnmarshalRaw(tb, decoy))
}

// AppendSeries appends series s of batch i to ms in every metric type (gauge, monotonic counter,
// histogram, summary, exponential histogram), each point with attrs, at ts (start for the
// cumulative ones); values change with i.
func AppendSeries(ms pmetric.MetricSlice, attrs func(pcommon.Map), start, ts pcommon.Timestamp, i, s int) {
	g := ms.AppendEmpty()
	g.SetName("pool.gauge")
	g.SetUnit("By")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	attrs(dp.Attributes())
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(float64(i*100 + s))

	c := ms.AppendEmpty()
	c.SetName("pool.requests")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cdp := sum.DataPoints().AppendEmpty()
	attrs(cdp.Attributes())
	cdp.SetStartTimestamp(start)
	cdp.SetTimestamp(ts)
	cdp.SetIntValue(int64(i*10 + s))

	h := ms.AppendEmpty()
	h.SetName("pool.latency")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	attrs(hdp.Attributes())
	hdp.SetStartTimestamp(start)
	hdp.SetTimestamp(ts)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{uint64(i), 1, uint64(s)})
	hdp.SetCount(uint64(i + 1 + s))
	hdp.SetSum(float64(i + s))

	q := ms.AppendEmpty()
	q.SetName("pool.summary")
	qdp := q.SetEmptySummary().DataPoints().AppendEmpty()
	attrs(qdp.Attributes())
	qdp.SetStartTimestamp(start)
	qdp.SetTimestamp(ts)
	qdp.SetCount(uint64(i + 1))
	qdp.SetSum(float64(i))
	qv := qdp.QuantileValues().AppendEmpty()
	qv.SetQuantile(0.5)
	qv.SetValue(float64(s))

	e := ms.AppendEmpty()
	e.SetName("pool.size")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	edp := eh.DataPoints().AppendEmpty()
	attrs(edp.Attributes())
	edp.SetStartTimestamp(start)
	edp.SetTimestamp(ts)
	edp.SetScale(1)
	edp.SetCount(uint64(2*i + 1))
	edp.SetSum(float64(i))
	edp.SetZeroCount(1)
	edp.Positive().SetOffset(int32(s))
	edp.Positive().BucketCounts().FromRaw([]uint64{uint64(i), uint64(i)})
}

// Poison overwrites, in place, everything md carries that a component could keep: names,
// attribute values, point values and timestamps.
func Poison(md pmetric.Metrics) {
	poisonMap := func(m pcommon.Map) {
		m.Range(func(k string, v pcommon.Value) bool {
			v.SetStr("poison-" + k)
			return true
		})
		m.PutStr("poison", "poison")
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		poisonMap(rms.At(i).Resource().Attributes())
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sms.At(j).Scope().SetName("poison")
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				m.SetName("poison_" + m.Name())
				m.SetUnit("poison")
				switch m.Type() {
				case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
					var dps pmetric.NumberDataPointSlice
					if m.Type() == pmetric.MetricTypeSum {
						dps = m.Sum().DataPoints()
					} else {
						dps = m.Gauge().DataPoints()
					}
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).SetDoubleValue(-1)
						dps.At(x).SetTimestamp(1)
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).BucketCounts().FromRaw([]uint64{9, 9, 9})
						dps.At(x).ExplicitBounds().FromRaw([]float64{-1, -2})
						dps.At(x).SetTimestamp(1)
					}
				case pmetric.MetricTypeSummary:
					dps := m.Summary().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).QuantileValues().At(0).SetValue(-1)
						dps.At(x).SetTimestamp(1)
					}
				case pmetric.MetricTypeExponentialHistogram:
					dps := m.ExponentialHistogram().DataPoints()
					for x := 0; x < dps.Len(); x++ {
						poisonMap(dps.At(x).Attributes())
						dps.At(x).Positive().BucketCounts().FromRaw([]uint64{9, 9})
						dps.At(x).SetTimestamp(1)
					}
				}
			}
		}
	}
}
