package encode // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"

import (
	"encoding/binary"
	"math"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// A series' identity is a 64-bit hash of what its labels are made of, computed without building
// them: the resource attributes the translator reads for every series (service.name,
// service.namespace, service.instance.id), the scope (unless scope info is off), the translated
// metric name and kind, the point's attributes in their order, and for the series a histogram
// or summary point makes, which one it is. The encoder's settings are fixed for its life, so they
// are not part of it.
//
// Two identities may name one label set (attributes in another order, names that collide once
// sanitised, attributes whose value is empty): the encoder maps both to one cached series. The
// converse, two label sets with one identity hash, is the risk every 64-bit series hash of this
// exporter takes (the engine identifies series by the hash of their labels): ~3e-8 at 1M series.

// Kinds of metric, as far as the labels are concerned: the translated name differs, and
// histograms and summaries make several series from one point.
const (
	kindGauge byte = iota + 1 // gauges and non-monotonic sums
	kindCounter
	kindHistogram
	kindSummary
	kindTargetInfo
)

// Series of a histogram or summary point, mixed into the point's identity.
const (
	subSum byte = iota + 1
	subCount
	subBucket // with the bound
	subInf
	subQuantile // with the quantile
)

// appendValue appends v to buf unambiguously (type, then length-prefixed bytes): different
// values may give one label value (AsString), never the other way round.
func appendValue(buf []byte, v pcommon.Value) []byte {
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

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// appendAttributes appends every attribute of m, key and value, in m's order.
func appendAttributes(buf []byte, m pcommon.Map) []byte {
	buf = binary.AppendUvarint(buf, uint64(m.Len()))
	for k, v := range m.All() {
		buf = appendString(buf, k)
		buf = appendValue(buf, v)
	}
	return buf
}

// resourceHash is the part of a resource that every series' labels depend on: job and instance.
func resourceHash(buf []byte, attrs pcommon.Map) uint64 {
	buf = buf[:0]
	for _, key := range [...]string{serviceName, serviceNamespace, serviceInstanceID} {
		if v, ok := attrs.Get(key); ok {
			buf = appendValue(append(buf, 1), v)
		} else {
			buf = append(buf, 0)
		}
	}
	return xxhash.Sum64(buf)
}

// scopeHash is the part of a scope that the labels depend on: nothing when scope info is off.
func scopeHash(buf []byte, scope pcommon.InstrumentationScope, disabled bool) uint64 {
	if disabled {
		return 0
	}
	buf = appendString(buf[:0], scope.Name())
	buf = appendString(buf, scope.Version())
	buf = appendAttributes(buf, scope.Attributes())
	return xxhash.Sum64(buf)
}

// metricHash identifies a metric by what its series' names are made of.
func metricHash(buf []byte, resource, scope uint64, kind byte, promName string) uint64 {
	buf = binary.LittleEndian.AppendUint64(buf[:0], resource)
	buf = binary.LittleEndian.AppendUint64(buf, scope)
	buf = appendString(append(buf, kind), promName)
	return xxhash.Sum64(buf)
}

// pointHash is the identity of a point's series: its metric's and its attributes.
func pointHash(buf []byte, metric uint64, attrs pcommon.Map) (uint64, []byte) {
	buf = binary.LittleEndian.AppendUint64(buf[:0], metric)
	buf = appendAttributes(buf, attrs)
	return xxhash.Sum64(buf), buf
}

// subHash is the identity of one of the series a histogram or summary point makes.
func subHash(point uint64, sub byte, bound float64) uint64 {
	var b [17]byte
	binary.LittleEndian.PutUint64(b[:8], point)
	b[8] = sub
	binary.LittleEndian.PutUint64(b[9:], math.Float64bits(bound))
	return xxhash.Sum64(b[:])
}
