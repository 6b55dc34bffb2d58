package encode // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-fleet/otelcol-fleet/internal/seriesid"
)

// A series' identity is a 64-bit hash of what its labels are made of, computed without building
// them (module-root internal/seriesid, shared with series_guard). The encoder's settings are
// fixed for its life, so they are not part of it.
//
// Two identities may name one label set (attributes in another order, names that collide once
// sanitised, attributes whose value is empty): the encoder maps both to one cached series. The
// converse, two label sets with one identity hash, is the risk every 64-bit series hash of this
// exporter takes (the engine identifies series by the hash of their labels): ~3e-8 at 1M series.
//
// The names below keep encode.go's spelling of the shared hash.

const (
	kindGauge      = seriesid.KindGauge // gauges and non-monotonic sums
	kindCounter    = seriesid.KindCounter
	kindHistogram  = seriesid.KindHistogram
	kindSummary    = seriesid.KindSummary
	kindTargetInfo = seriesid.KindTargetInfo

	subSum      = seriesid.SubSum
	subCount    = seriesid.SubCount
	subBucket   = seriesid.SubBucket // with the bound
	subInf      = seriesid.SubInf
	subQuantile = seriesid.SubQuantile // with the quantile
)

func attributesHash(buf []byte, m pcommon.Map) (uint64, []byte) { return seriesid.Attributes(buf, m) }

func resourceHash(buf []byte, attrs pcommon.Map) uint64 { return seriesid.Resource(buf, attrs) }

func scopeHash(buf []byte, scope pcommon.InstrumentationScope, disabled bool) uint64 {
	return seriesid.Scope(buf, scope, disabled)
}

func metricHash(buf []byte, resource, scope uint64, kind byte, promName string) uint64 {
	return seriesid.Metric(buf, resource, scope, kind, promName)
}

func pointHash(metric uint64, attrs pcommon.Map) uint64 { return seriesid.Point(metric, attrs) }

func subHash(point uint64, sub byte, bound float64) uint64 { return seriesid.Sub(point, sub, bound) }
