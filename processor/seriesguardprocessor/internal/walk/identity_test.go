package walk

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"
)

// onePoint is a batch of one gauge point with these attributes, in this order.
func onePoint(kv ...string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "walk")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("walk.load")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(1)
	for i := 0; i < len(kv); i += 2 {
		dp.Attributes().PutStr(kv[i], kv[i+1])
	}
	return md
}

// TestRawIdentitiesOfOneLabelSetAreOneSeries: attributes in another order, names that collide
// once sanitized, values of another type that read the same, and attributes with empty values are other raw identities of the same label
// set: each is remembered (the first form on its second sighting, the others on their first,
// their series being admitted already), and all count as the one series.
func TestRawIdentitiesOfOneLabelSetAreOneSeries(t *testing.T) {
	for name, batches := range map[string][]func() pmetric.Metrics{
		"attribute order": {
			func() pmetric.Metrics { return onePoint("a", "1", "b", "2") },
			func() pmetric.Metrics { return onePoint("b", "2", "a", "1") },
		},
		"sanitized collision": {
			func() pmetric.Metrics { return onePoint("a.b", "1") },
			func() pmetric.Metrics { return onePoint("a_b", "1") },
			func() pmetric.Metrics { return onePoint("a.b", "1", "a_b", "1") }, // merged: one value
		},
		"value type": {
			func() pmetric.Metrics { return onePoint("a", "1") },
			func() pmetric.Metrics {
				md := onePoint()
				md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().PutInt("a", 1)
				return md
			},
		},
		"empty value": {
			func() pmetric.Metrics { return onePoint("a", "1") },
			func() pmetric.Metrics { return onePoint("a", "1", "e", "") },
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := guard.New(guard.Limits{MaxSeries: 1, Window: time.Hour, MaxTracked: 10}, epoch)
			w := New(Settings{}, g, guard.NewRefused(time.Hour, epoch), clock)
			for round := range 2 { // first sightings, then known identities
				for i, batch := range batches {
					md := batch()
					counts := w.Walk(md)
					require.False(t, counts.Any(), "round %d, batch %d: refused as a second series", round, i)
					require.Equal(t, 1, md.DataPointCount())
				}
			}
			assert.Equal(t, int64(1), g.Active())
			assert.Equal(t, len(batches), g.Identities(), "one identity per raw form")

			// A label set that differs is a second series, over the cap of one.
			counts := w.Walk(onePoint("a", "2", "b", "2"))
			assert.Equal(t, int64(1), counts.RefusedPoints[guard.ReasonMaxSeries])
		})
	}
}

// TestIdentitiesExpireWithTheirSeries: series seen through their identities only stay active;
// once idle past the timeout, series and identities are swept together, and the same points
// are admitted again as new series.
func TestIdentitiesExpireWithTheirSeries(t *testing.T) {
	now := epoch
	g := guard.New(guard.Limits{MaxSeries: 5, Window: time.Minute, MaxTracked: 5}, epoch)
	w := New(Settings{}, g, guard.NewRefused(time.Minute, epoch), func() time.Time { return now })

	requireNothingRefused(t, w.Walk(gauges(5, 2)))
	require.Zero(t, g.Identities(), "a series seen once costs no identity")
	requireNothingRefused(t, w.Walk(gauges(5, 2)))
	require.Equal(t, 5, g.Identities(), "remembered on the second sighting")
	for range 3 { // known identities keep the series active past one timeout
		now = now.Add(40 * time.Second)
		requireNothingRefused(t, w.Walk(gauges(5, 2)))
		g.Sweep(g.Tick(now))
		require.Equal(t, int64(5), g.Active())
		require.Equal(t, 5, g.Identities())
	}
	now = now.Add(2 * time.Minute)
	assert.Equal(t, int64(5), g.Sweep(g.Tick(now)))
	assert.Zero(t, g.Identities())
	assert.Zero(t, g.Active())

	// The cap is free again: five new series fill it, the old ones are refused.
	requireNothingRefused(t, w.Walk(onePoint("other", "1")))
	counts := w.Walk(gauges(5, 2))
	assert.Equal(t, int64(1), counts.RefusedPoints[guard.ReasonMaxSeries])
	assert.Equal(t, int64(5), g.Active())
}

// TestTruncatedPointsAreTruncatedEveryTime: a point whose value is cut to fit is not remembered
// by its raw identity (which is that of the uncut value), so it is cut again in every batch.
func TestTruncatedPointsAreTruncatedEveryTime(t *testing.T) {
	g := guard.New(guard.Limits{MaxSeries: 5, Window: time.Hour, MaxTracked: 5}, epoch)
	w := New(Settings{LabelLimits: identity.Limits{MaxValueLength: 30}, Truncate: true}, g, guard.NewRefused(time.Hour, epoch), clock)
	for round := range 3 {
		md := onePoint("long", strings.Repeat("v", 100))
		requireNothingRefused(t, w.Walk(md))
		v, ok := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().Get("long")
		require.True(t, ok)
		assert.Len(t, v.Str(), 30, "round %d", round)
	}
	assert.Equal(t, int64(1), g.Active())
	assert.Zero(t, g.Identities())
}

// TestIdentitiesSeparateWhatLabelsSeparate: what makes labels differ makes identities differ:
// the resource's job, the scope, the metric, and with promotion any resource attribute.
func TestIdentitiesSeparateWhatLabelsSeparate(t *testing.T) {
	g := guard.New(guard.Limits{MaxSeries: 100, Window: time.Hour, MaxTracked: 100}, epoch)
	promote := identity.NewPromotion(true, false, nil, nil)
	w := New(Settings{Identity: identity.Settings{Promote: promote, WithSuffixes: true}}, g, guard.NewRefused(time.Hour, epoch), clock)
	variants := []func(pmetric.Metrics){
		func(pmetric.Metrics) {},
		func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.name", "other")
		},
		func(md pmetric.Metrics) { md.ResourceMetrics().At(0).Resource().Attributes().PutStr("host.name", "h") },
		func(md pmetric.Metrics) { md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().SetName("lib") },
		func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Attributes().PutStr("k", "v")
		},
		func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("other")
		},
		func(md pmetric.Metrics) { md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetUnit("s") },
		func(md pmetric.Metrics) {
			m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
			dps := pmetric.NewNumberDataPointSlice()
			m.Gauge().DataPoints().CopyTo(dps)
			dps.CopyTo(m.SetEmptySum().DataPoints())
			m.Sum().SetIsMonotonic(true)
			m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		},
		func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().PutStr("a", "2")
		},
	}
	for round := range 2 {
		for i, change := range variants {
			md := onePoint("a", "1")
			change(md)
			requireNothingRefused(t, w.Walk(md))
			want := int64(len(variants)) // the second round: every series known
			if round == 0 {
				want = int64(i + 1)
			}
			require.Equal(t, want, g.Active(), "round %d, variant %d", round, i)
		}
	}
	assert.Equal(t, len(variants), g.Identities())
}

func requireNothingRefused(t *testing.T, c Counts) {
	t.Helper()
	require.False(t, c.Any(), "refused or folded: %+v", c)
}

// TestRawIdentitiesAreSkippedUnderChurn: after a run of points of new series the walker stops
// hashing raw identities ahead (they would only be thrown away), yet still remembers the
// identity of every point whose series turns out to be admitted, and goes back to identifying
// ahead once points are of known series again.
func TestRawIdentitiesAreSkippedUnderChurn(t *testing.T) {
	g := guard.New(guard.Limits{MaxSeries: 1000, Window: time.Hour, MaxTracked: 1000}, epoch)
	w := New(Settings{}, g, guard.NewRefused(time.Hour, epoch), clock)
	requireNothingRefused(t, w.Walk(gauges(600, 1)))
	require.True(t, w.skipIDs, "600 new series: raw identities are not computed ahead")
	require.Zero(t, g.Identities())

	requireNothingRefused(t, w.Walk(gauges(600, 1)))
	assert.Equal(t, 600, g.Identities(), "every admitted series seen again is remembered")
	assert.False(t, w.skipIDs, "known series: identified ahead again")

	requireNothingRefused(t, w.Walk(gauges(600, 1)))
	assert.Equal(t, int64(600), g.Active())
	assert.Equal(t, 600, g.Identities())
}
