package walk // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
)

// OverflowAttribute marks the series that absorbs refused series, as the OpenTelemetry SDKs do.
const OverflowAttribute = "otel_metric_overflow"

// emitOverflows appends the overflow series touched by this batch under an empty resource and
// scope, so they carry no job, instance or scope labels: one series per metric (and tenant).
func (w *Walker) emitOverflows(md pmetric.Metrics) {
	var metrics pmetric.MetricSlice
	w.guard.TakePending(func(o *guard.Overflow, ts pcommon.Timestamp) {
		if metrics == (pmetric.MetricSlice{}) {
			metrics = md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
		}
		m := metrics.AppendEmpty()
		m.SetName(o.Name)
		m.SetUnit(o.Unit)
		m.SetDescription(o.Description)
		var attrs pcommon.Map
		switch o.Key.Kind {
		case guard.KindGauge:
			var dp pmetric.NumberDataPoint
			if o.NonMonotonicSum {
				sum := m.SetEmptySum()
				sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dp = sum.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(o.Start)
			} else {
				dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
			}
			dp.SetDoubleValue(o.Value)
			dp.SetTimestamp(ts)
			attrs = dp.Attributes()
		case guard.KindCounter:
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := sum.DataPoints().AppendEmpty()
			dp.SetDoubleValue(o.Value)
			dp.SetStartTimestamp(o.Start)
			dp.SetTimestamp(ts)
			attrs = dp.Attributes()
		case guard.KindHistogram:
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := h.DataPoints().AppendEmpty()
			dp.ExplicitBounds().FromRaw(o.Bounds)
			dp.BucketCounts().FromRaw(o.Buckets)
			dp.SetCount(o.Count)
			dp.SetSum(o.Sum)
			dp.SetStartTimestamp(o.Start)
			dp.SetTimestamp(ts)
			attrs = dp.Attributes()
		}
		attrs.PutStr(OverflowAttribute, "true")
		if o.Key.Tenant != "" {
			attrs.PutStr(w.tenantAttr, o.Key.Tenant)
		}
	})
}
