package walk

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"
)

var epoch = time.Unix(1_700_000_000, 0)

func clock() time.Time { return epoch }

// gauges is one resource with one gauge of n points; point i has attrs[i%len(attrs)] attributes.
func gauges(n int, attrs ...int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "walk")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("walk.load")
	dps := m.SetEmptyGauge().DataPoints()
	for i := range n {
		dp := dps.AppendEmpty()
		dp.SetDoubleValue(1)
		dp.Attributes().PutStr("series", fmt.Sprint(i))
		for j := 1; j < attrs[i%len(attrs)]; j++ {
			dp.Attributes().PutStr(fmt.Sprintf("a%d", j), "v")
		}
	}
	return md
}

func TestWalkLabelLimitsOnly(t *testing.T) {
	// __name__, job, otel_scope_name... disabled: __name__ + job + the point's attributes.
	w := New(Settings{
		LabelLimits: identity.Limits{MaxLabels: 4},
		Identity:    identity.Settings{DisableScopeInfo: true},
	}, nil, guard.NewRefused(time.Hour, epoch), clock)
	md := gauges(6, 1, 2, 3) // 3, 4 and 5 labels
	counts := w.Walk(md)
	assert.Equal(t, 4, md.DataPointCount(), "the two points with 5 labels are dropped")
	assert.Equal(t, int64(2), counts.RefusedPoints[guard.ReasonLabels])
	assert.Equal(t, int64(2), counts.RefusedSamples[guard.ReasonLabels])
	assert.Equal(t, int64(2), counts.RefusedSeries[guard.ReasonLabels])
	assert.True(t, counts.Any())

	o := w.TakeOffenders()
	assert.Equal(t, int64(2), o.RefusedPoints)
	assert.Equal(t, []string{"walk_load"}, o.Metrics)
	assert.Equal(t, map[string]struct{}{"labels": {}}, o.Reasons)
	assert.Zero(t, w.TakeOffenders().RefusedPoints, "taking the offenders starts a new sample")

	// The same series again: counted as points and samples, not as new series.
	counts = w.Walk(gauges(6, 1, 2, 3))
	assert.Equal(t, int64(2), counts.RefusedPoints[guard.ReasonLabels])
	assert.Zero(t, counts.RefusedSeries[guard.ReasonLabels])
}

func TestWalkRemovesWhatIsEmptied(t *testing.T) {
	w := New(Settings{LabelLimits: identity.Limits{MaxLabels: 2}}, nil, guard.NewRefused(time.Hour, epoch), clock)
	md := gauges(3, 5)
	w.Walk(md)
	assert.Zero(t, md.ResourceMetrics().Len(), "no point left: the metric, scope and resource go too")
}

func TestWalkSeriesCap(t *testing.T) {
	g := guard.New(guard.Limits{MaxSeries: 2, Window: time.Hour, MaxTracked: 2}, epoch)
	w := New(Settings{}, g, guard.NewRefused(time.Hour, epoch), clock)
	md := gauges(5, 1)
	counts := w.Walk(md)
	assert.Equal(t, 2, md.DataPointCount())
	assert.Equal(t, int64(3), counts.RefusedPoints[guard.ReasonMaxSeries])
	assert.Equal(t, int64(2), g.Active())
}

func TestWalkOverflowFolds(t *testing.T) {
	g := guard.New(guard.Limits{MaxSeries: 1, Window: time.Hour, MaxTracked: 10, Overflow: true}, epoch)
	w := New(Settings{Overflow: true}, g, guard.NewRefused(time.Hour, epoch), clock)
	md := gauges(3, 1)
	counts := w.Walk(md)
	assert.Equal(t, int64(2), counts.FoldedPoints[guard.ReasonMaxSeries])
	assert.Zero(t, counts.RefusedPoints[guard.ReasonMaxSeries])
	require.Equal(t, 2, md.ResourceMetrics().Len(), "the batch's resource, then the overflow series' own")
	overflow := md.ResourceMetrics().At(1).ScopeMetrics().At(0).Metrics().At(0)
	assert.Equal(t, "walk.load", overflow.Name())
	v, ok := overflow.Gauge().DataPoints().At(0).Attributes().Get(OverflowAttribute)
	require.True(t, ok)
	assert.Equal(t, "true", v.Str())
	assert.Equal(t, 2.0, overflow.Gauge().DataPoints().At(0).DoubleValue(), "the sum of the folded gauges")
}

func TestTruncateValue(t *testing.T) {
	long := strings.Repeat("a", 100)
	got := truncateValue(long, 30)
	assert.Len(t, got, 30)
	assert.True(t, strings.HasPrefix(got, strings.Repeat("a", 13)+"~"))
	assert.NotEqual(t, got, truncateValue(long+"b", 30), "distinct values stay distinct")

	// A cut inside a multi-byte rune moves back to its start: the prefix stays valid UTF-8.
	multi := strings.Repeat("é", 50) // 2 bytes each
	got = truncateValue(multi, 30)   // the cut at byte 13 is inside a rune
	assert.True(t, utf8.ValidString(got))
	assert.Len(t, got, 29)

	attrs := pcommon.NewMap()
	attrs.PutStr("short", "ok")
	attrs.PutStr("long", long)
	truncateValues(attrs, 30)
	v, _ := attrs.Get("short")
	assert.Equal(t, "ok", v.Str())
	v, _ = attrs.Get("long")
	assert.Len(t, v.Str(), 30)
}

func TestLayouts(t *testing.T) {
	dp := pmetric.NewHistogramDataPoint()
	dp.ExplicitBounds().FromRaw([]float64{1, 2, 3})
	dp.BucketCounts().FromRaw([]uint64{1, 1, 1, 1})
	assert.Equal(t, 5, HistogramWeight(dp), "3 bounds, +Inf, _count")
	without := HistogramLayout(dp)
	dp.SetSum(3)
	assert.Equal(t, 6, HistogramWeight(dp), "and _sum")
	assert.NotEqual(t, without, HistogramLayout(dp), "a _sum is a new layout")

	s := pmetric.NewSummaryDataPoint()
	s.QuantileValues().AppendEmpty().SetQuantile(0.5)
	half := SummaryLayout(s)
	s.QuantileValues().At(0).SetQuantile(0.99)
	assert.NotEqual(t, half, SummaryLayout(s))
	assert.NotEqual(t, MixHash(1, 2, 0), MixHash(1, 2, half))
}
