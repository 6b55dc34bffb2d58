package walk // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"
)

// MixHash is the identity of a series group: its labels, its metric name and its layout (bucket
// bounds, quantiles; 0 for a number point).
func MixHash(labels, nameHash, layout uint64) uint64 {
	return identity.Mix(identity.Mix(labels, nameHash), layout)
}

// HistogramWeight is the number of series a histogram point becomes: one per bucket bound, +Inf,
// _count, and _sum when it has one.
func HistogramWeight(dp pmetric.HistogramDataPoint) int {
	weight := min(dp.ExplicitBounds().Len(), dp.BucketCounts().Len()) + 2
	if dp.HasSum() {
		weight++
	}
	return weight
}

// HistogramLayout identifies the series of a histogram point besides its labels: the bucket
// bounds (one series each) and whether it has a _sum.
func HistogramLayout(dp pmetric.HistogramDataPoint) uint64 {
	h := identity.HashFloats(dp.ExplicitBounds())
	if dp.HasSum() {
		h = identity.Mix(h, 1)
	}
	return h
}

// SummaryLayout identifies the quantiles of a summary point: each is its own series.
func SummaryLayout(dp pmetric.SummaryDataPoint) uint64 {
	q := dp.QuantileValues()
	layout := uint64(q.Len())
	for i := 0; i < q.Len(); i++ {
		layout = identity.Mix(layout, math.Float64bits(q.At(i).Quantile()))
	}
	return layout
}
