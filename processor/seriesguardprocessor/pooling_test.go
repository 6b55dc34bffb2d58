package seriesguardprocessor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/xpdata/pref"
)

// With the pdata.useProtoPooling feature gate, the pipeline (service/internal/refconsumer)
// returns a batch's objects to pdata's pools as soon as the component's ConsumeMetrics returns,
// and the next unmarshal takes them again. A component that keeps anything of the batch beyond
// that (a pcommon.Map, a data point, a slice of one) reads another request's data later. These
// tests run series_guard with the gate on over batches that are, after each call, overwritten,
// released to the pools and reused by a decoy batch, and require the same output as when the
// batches are left alone.

const poolingGate = "pdata.useProtoPooling"

// enablePooling turns the gate on for the test (it is global: these tests are not parallel).
func enablePooling(t *testing.T) {
	t.Helper()
	reg := featuregate.GlobalRegistry()
	require.NoError(t, reg.Set(poolingGate, true))
	t.Cleanup(func() { require.NoError(t, reg.Set(poolingGate, false)) })
}

// poolingBatch is batch i: two resources (one tenant each), every metric type, string, int and
// bool attributes, a value longer than the label limit (40 > 24); later batches bring new series, so that
// the series cap folds some into overflow series made from what earlier batches carried.
func poolingBatch(i int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 2 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		rm.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("inst-%d", r))
		rm.Resource().Attributes().PutStr("tenant", fmt.Sprintf("team-%d", r))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("scope")
		ms := sm.Metrics()
		ts := pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)*1_000_000_000)
		for s := range 3 + i {
			attrs := func(a pcommon.Map) {
				a.PutStr("series", fmt.Sprintf("s%d", s))
				a.PutInt("shard", int64(s%3))
				a.PutBool("even", s%2 == 0)
				a.PutStr("long", strings.Repeat("v", 40))
			}
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
			cdp.SetStartTimestamp(1_700_000_000_000_000_000)
			cdp.SetTimestamp(ts)
			cdp.SetIntValue(int64(i*10 + s))

			h := ms.AppendEmpty()
			h.SetName("pool.latency")
			h.SetUnit("s")
			hist := h.SetEmptyHistogram()
			hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			hdp := hist.DataPoints().AppendEmpty()
			attrs(hdp.Attributes())
			hdp.SetStartTimestamp(1_700_000_000_000_000_000)
			hdp.SetTimestamp(ts)
			hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
			hdp.BucketCounts().FromRaw([]uint64{uint64(i), 1, uint64(s)})
			hdp.SetCount(uint64(i + 1 + s))
			hdp.SetSum(float64(i + s))

			q := ms.AppendEmpty()
			q.SetName("pool.summary")
			qdp := q.SetEmptySummary().DataPoints().AppendEmpty()
			attrs(qdp.Attributes())
			qdp.SetTimestamp(ts)
			qdp.SetCount(uint64(i + 1))
			qdp.SetSum(float64(i))
			qv := qdp.QuantileValues().AppendEmpty()
			qv.SetQuantile(0.5)
			qv.SetValue(float64(s))
		}
	}
	return md
}

// poolingConfig caps series so that the later batches overflow, truncates long label values and
// counts tenants: every path that could keep something of a batch.
func poolingConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.LabelLimits.MaxLabelValueLength = 24
	cfg.LabelLimits.Action = LabelActionTruncate
	cfg.SeriesLimits.MaxSeries = 40
	cfg.SeriesLimits.Action = SeriesActionOverflow
	cfg.SeriesLimits.Tenant.Attribute = "tenant"
	cfg.SeriesLimits.Tenant.MaxSeries = 25
	return cfg
}

// poison overwrites, in place, everything md carries that a component could keep: names,
// attribute values, point values and timestamps.
func poison(md pmetric.Metrics) {
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

// feedPooled unmarshals each batch as the otlp receiver does (from the pools, with the gate on),
// hands it to consume as the pipeline does (pipeline-owned), and returns what consume output, as
// JSON. With recycle, each batch is then poisoned, released to the pools (as refconsumer does
// when ConsumeMetrics returns) and its objects reused by a poisoned decoy batch.
func feedPooled(t *testing.T, batches []pmetric.Metrics, recycle bool, consume func(pmetric.Metrics) pmetric.Metrics) []string {
	t.Helper()
	var (
		marshaler   pmetric.ProtoMarshaler
		unmarshaler pmetric.ProtoUnmarshaler
		jsonOut     pmetric.JSONMarshaler
	)
	decoy, err := marshaler.MarshalMetrics(poolingBatch(9))
	require.NoError(t, err)
	var outputs []string
	for _, batch := range batches {
		raw, err := marshaler.MarshalMetrics(batch)
		require.NoError(t, err)
		md, err := unmarshaler.UnmarshalMetrics(raw)
		require.NoError(t, err)
		require.True(t, pref.MarkPipelineOwnedMetrics(md))
		out := consume(md)
		b, err := jsonOut.MarshalMetrics(out)
		require.NoError(t, err)
		outputs = append(outputs, string(b))
		if !recycle {
			continue // md stays alive and untouched: the reference run
		}
		poison(md)
		pref.UnrefMetrics(md)
		reuse, err := unmarshaler.UnmarshalMetrics(decoy)
		require.NoError(t, err)
		poison(reuse)
	}
	return outputs
}

func TestPooledBatchesAreNotRetained(t *testing.T) {
	enablePooling(t)
	var batches []pmetric.Metrics
	for i := range 6 {
		batches = append(batches, poolingBatch(i))
	}
	run := func(recycle bool) []string {
		p := newTestGuard(t, poolingConfig())
		return feedPooled(t, batches, recycle, func(md pmetric.Metrics) pmetric.Metrics {
			out, err := p.processMetrics(context.Background(), md)
			require.NoError(t, err)
			return out
		})
	}
	want := run(false)
	require.Contains(t, want[len(want)-1], "otel_metric_overflow", "the series cap must fold series, or the overflow path is not exercised")
	require.Contains(t, want[0], strings.Repeat("v", 6)+"~", "long values must be truncated, not dropped")
	got := run(true)
	require.Len(t, got, len(want))
	for i := range want {
		assert.JSONEq(t, want[i], got[i], "batch %d", i)
		assert.NotContains(t, got[i], "poison", "batch %d", i)
	}
}

// A component that keeps a batch's attributes and reads them in the next call is what the test
// above exists to catch: feedPooled must show it.
func TestPooledBatchesCatchRetention(t *testing.T) {
	enablePooling(t)
	batches := []pmetric.Metrics{poolingBatch(0), poolingBatch(1)}
	run := func(recycle bool) []string {
		var kept pcommon.Map
		return feedPooled(t, batches, recycle, func(md pmetric.Metrics) pmetric.Metrics {
			out := pmetric.NewMetrics()
			if kept != (pcommon.Map{}) {
				v, _ := kept.Get("service.name")
				out.ResourceMetrics().AppendEmpty().Resource().Attributes().PutStr("previous", v.AsString())
			}
			kept = md.ResourceMetrics().At(0).Resource().Attributes()
			return out
		})
	}
	want, got := run(false), run(true)
	assert.Contains(t, want[1], "svc-0")
	assert.NotEqual(t, want[1], got[1], "a retained pcommon.Map must read recycled data")
}
