// Package seriesid hashes the raw identity of the Prometheus series a data point becomes, without
// building its labels: what the labels are made of (the resource attributes the translator reads,
// the scope, the translated metric name and kind, the point's attributes in their order, and for
// a histogram or summary point which of its series) is appended to a scratch buffer and hashed
// with xxhash. The one implementation of that hash, shared by ordered_rw's encoder (which maps an
// identity to its cached label block) and series_guard (which maps an identity to its series).
//
// The hash is of the raw data, not of the labels: two identities may name one label set
// (attributes in another order, names that collide once sanitized, attributes whose value is
// empty), so a user maps identities to label sets, many to one, and must not count identities as
// series. The converse, two label sets with one identity hash, is the risk every 64-bit series hash
// takes (~3e-8 at 1M series). Settings that are fixed for a component's life (namespace, suffixes,
// external labels) are not part of the hash.
package seriesid // import "github.com/otelcol-fleet/otelcol-fleet/internal/seriesid"

import (
	"encoding/binary"
	"math"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Kinds of metric, as far as the labels are concerned: the translated name differs, and
// histograms and summaries make several series from one point.
const (
	KindGauge byte = iota + 1 // gauges and non-monotonic sums
	KindCounter
	KindHistogram
	KindSummary
	KindTargetInfo
	KindNativeHistogram // exponential histograms: one native-histogram series per point
)

// Series of a histogram or summary point, mixed into the point's identity by Sub.
const (
	SubSum byte = iota + 1
	SubCount
	SubBucket // with the bound
	SubInf
	SubQuantile // with the quantile
)

// The resource attributes every series' job and instance labels are made of.
const (
	serviceName       = "service.name"
	serviceNamespace  = "service.namespace"
	serviceInstanceID = "service.instance.id"
)

// AppendValue appends v to buf unambiguously (type, then length-prefixed bytes): different
// values may give one label value (AsString), never the other way round.
func AppendValue(buf []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		buf = append(buf, 's')
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		return append(buf, s...)
	case pcommon.ValueTypeInt:
		return binary.LittleEndian.AppendUint64(append(buf, 'i'), uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return binary.LittleEndian.AppendUint64(append(buf, 'd'), math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(buf, 't')
		}
		return append(buf, 'f')
	case pcommon.ValueTypeEmpty:
		return append(buf, 'e')
	default: // bytes, maps and slices: rare, hashed as the translator renders them
		s := v.AsString()
		buf = append(buf, 'o')
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		return append(buf, s...)
	}
}

// AppendString appends s to buf, length-prefixed.
func AppendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// AppendAttributes appends every attribute of m, key and value, in m's order.
func AppendAttributes(buf []byte, m pcommon.Map) []byte {
	buf = binary.AppendUvarint(buf, uint64(m.Len()))
	for k, v := range m.All() {
		buf = AppendString(buf, k)
		buf = AppendValue(buf, v)
	}
	return buf
}

// Resource is the part of a resource that every series' labels depend on when no resource
// attribute is promoted to a label: job and instance. buf is scratch.
func Resource(buf []byte, attrs pcommon.Map) uint64 {
	buf = buf[:0]
	for _, key := range [...]string{serviceName, serviceNamespace, serviceInstanceID} {
		if v, ok := attrs.Get(key); ok {
			buf = AppendValue(append(buf, 1), v)
		} else {
			buf = append(buf, 0)
		}
	}
	return xxhash.Sum64(buf)
}

// Attributes hashes every attribute of m in m's order: the resource's part of the identity when
// resource attributes are promoted to labels. It returns buf grown, to be reused as scratch.
func Attributes(buf []byte, m pcommon.Map) (uint64, []byte) {
	buf = AppendAttributes(buf[:0], m)
	return xxhash.Sum64(buf), buf
}

// Scope is the part of a scope that the labels depend on: nothing (0) when scope info is off.
// buf is scratch.
func Scope(buf []byte, scope pcommon.InstrumentationScope, disabled bool) uint64 {
	if disabled {
		return 0
	}
	buf = AppendString(buf[:0], scope.Name())
	buf = AppendString(buf, scope.Version())
	buf = AppendAttributes(buf, scope.Attributes())
	return xxhash.Sum64(buf)
}

// Metric identifies a metric by what its series' names are made of, under a resource and a
// scope (their Resource or Attributes, and Scope hashes). buf is scratch.
func Metric(buf []byte, resource, scope uint64, kind byte, promName string) uint64 {
	buf = binary.LittleEndian.AppendUint64(buf[:0], resource)
	buf = binary.LittleEndian.AppendUint64(buf, scope)
	buf = AppendString(append(buf, kind), promName)
	return xxhash.Sum64(buf)
}

// Point is the identity of a point's series: its metric's (Metric) and its attributes. It
// returns buf grown, to be reused as scratch.
func Point(buf []byte, metric uint64, attrs pcommon.Map) (uint64, []byte) {
	buf = binary.LittleEndian.AppendUint64(buf[:0], metric)
	buf = AppendAttributes(buf, attrs)
	return xxhash.Sum64(buf), buf
}

// Sub is the identity of one of the series a histogram or summary point makes: sub says which,
// bound is the bucket's bound or the quantile (0 for the others).
func Sub(point uint64, sub byte, bound float64) uint64 {
	var b [17]byte
	binary.LittleEndian.PutUint64(b[:8], point)
	b[8] = sub
	binary.LittleEndian.PutUint64(b[9:], math.Float64bits(bound))
	return xxhash.Sum64(b[:])
}
