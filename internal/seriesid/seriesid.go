// Package seriesid hashes the raw identity of the Prometheus series a data point becomes, without
// building its labels: what the labels are made of (the resource attributes the translator reads,
// the scope, the translated metric name and kind, the point's attributes in their order, and for
// a histogram or summary point which of its series). The one implementation of that hash, shared
// by ordered_rw's encoder (which maps an identity to its cached label block) and series_guard
// (which maps an identity to its series).
//
// A resource's, a scope's and a metric's part (Resource, Attributes, Scope, Metric) are computed
// once per resource, scope and metric: appended to a scratch buffer after a seed drawn once per
// process, and hashed with xxhash. A point's part (Point), paid for every data point by both
// callers, folds the attribute strings into a running state directly, with no buffer (a
// wyhash-style step per string, length included), from the same seed.
//
// The hash is of the raw data, not of the labels: two identities may name one label set
// (attributes in another order, names that collide once sanitized, attributes whose value is
// empty), so a user maps identities to label sets, many to one, and must not count identities as
// series. Settings that are fixed for a component's life (namespace, suffixes, external labels)
// are not part of the hash.
//
// # Collisions
//
// Both callers keep only the 64-bit hash of an identity (internal/seriestable compares keys, not
// identities), so two identities with one hash are taken for one, silently:
//
//   - ordered_rw's encoder would write the second identity's samples under the first one's cached
//     labels (its identities table, exporter/orderedrwexporter/internal/encode);
//   - series_guard would take a point of the second identity for a point of the first one's
//     admitted series, and pass it without computing its label set: not counted against the caps
//     nor checked against the label limits (guard.SeenIdentity).
//
// That is the risk every 64-bit series hash of the project takes (the label-set hashes that both
// components count series by are 64-bit and unverified too): for a uniform hash, about n²/2⁶⁵
// among n identities live at once, 3e-8 at 1M. Point is built to be that uniform: each string's
// bytes and length go through 64×64→128-bit multiplications (wyhash's mixing; wyhash passes
// SMHasher), values carry their type, and TestPointSpreadsRealisticIdentities hashes half a
// million near-identical identities without a collision. The per-process seed means that a
// sender cannot search for colliding data offline (a birthday search of an unseeded 64-bit hash
// takes ~2³² tries; xxhash with seed 0, used before, had no such defence), and that a given
// collision, if one happens, does not repeat after a restart.
//
// No hash of this package is persisted: the encoder's and series_guard's identity tables live in
// memory only, and ordered_rw's WAL records labels (and hashes them again on replay with
// sample.HashLabels), never identities. So Point's values may differ between processes and
// versions.
package seriesid // import "github.com/otelcol-fleet/otelcol-fleet/internal/seriesid"

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"

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
	buf = seeded(buf)
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
	buf = AppendAttributes(seeded(buf), m)
	return xxhash.Sum64(buf), buf
}

// Scope is the part of a scope that the labels depend on: nothing (0) when scope info is off.
// buf is scratch.
func Scope(buf []byte, scope pcommon.InstrumentationScope, disabled bool) uint64 {
	if disabled {
		return 0
	}
	buf = AppendString(seeded(buf), scope.Name())
	buf = AppendString(buf, scope.Version())
	buf = AppendAttributes(buf, scope.Attributes())
	return xxhash.Sum64(buf)
}

// Metric identifies a metric by what its series' names are made of, under a resource and a
// scope (their Resource or Attributes, and Scope hashes). buf is scratch.
func Metric(buf []byte, resource, scope uint64, kind byte, promName string) uint64 {
	buf = binary.LittleEndian.AppendUint64(seeded(buf), resource)
	buf = binary.LittleEndian.AppendUint64(buf, scope)
	buf = AppendString(append(buf, kind), promName)
	return xxhash.Sum64(buf)
}

// Point is the identity of a point's series: its metric's (Metric) and its attributes, in their
// order. The attributes are hashed as they are, with no intermediate buffer: each key and each
// value (its type, then its bytes or bits) is folded into a running 64-bit state by a
// wyhash-style step (see fold), strings with their length, so that ("ab","c") and ("a","bc")
// differ and the encoding of the attributes the hash reads is unambiguous. The state starts from
// a seed drawn once per process (see secret).
func Point(metric uint64, attrs pcommon.Map) uint64 {
	h := mum(metric^secret^wyp0, uint64(attrs.Len())^wyp1)
	for k, v := range attrs.All() {
		h = foldString(h, k)
		h = foldValue(h, v)
	}
	return h
}

// secret seeds every hash of the package: drawn once per process, so that which inputs collide
// differs from one process to the next and cannot be computed in advance by whoever sends the
// data. The hashes are compared only within one process (see the package doc): nothing persists
// them.
var secret = rand.Uint64() | 1

// The wyhash (final version 4) constants.
const (
	wyp0 = 0xa0761d6478bd642f
	wyp1 = 0xe7037ed1a0b428db
	wyp2 = 0x8ebc6af09c88c6e3
	wyp3 = 0x589965cc75374cc3
)

// mum multiplies a and b into 128 bits and folds the halves: wyhash's mixing step.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// Value type tags, folded in before a value so that values of different types differ.
const (
	tagStr uint64 = iota + 1
	tagInt
	tagDouble
	tagBool
	tagEmpty
	tagOther
)

// foldValue folds v into h unambiguously (type, then content): different values may give one
// label value (AsString), never the other way round. It mirrors AppendValue.
func foldValue(h uint64, v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return foldString(h^tagStr, v.Str())
	case pcommon.ValueTypeInt:
		return foldWord(h^tagInt, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return foldWord(h^tagDouble, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		b := uint64(0)
		if v.Bool() {
			b = 1
		}
		return foldWord(h^tagBool, b)
	case pcommon.ValueTypeEmpty:
		return foldWord(h^tagEmpty, 0)
	default: // bytes, maps and slices: rare, hashed as the translator renders them
		return foldString(h^tagOther, v.AsString())
	}
}

// foldWord folds 8 bytes into h. The word is masked with the per-process secret so that no
// value known in advance zeroes a factor of the multiplication (which would lose h).
func foldWord(h, x uint64) uint64 {
	hi, lo := bits.Mul64(h^wyp0, x^secret^wyp1)
	return mum(lo^wyp2, hi^wyp3)
}

// foldString folds s and its length into h: wyhash's string hash (final version 4) seeded with
// h, without the seed's initial scramble (h is already mixed).
func foldString(h uint64, s string) uint64 {
	n := len(s)
	var a, b uint64
	switch {
	case n > 16:
		i := 0
		for ; n-i > 16; i += 16 {
			h = mum(read8(s[i:])^wyp1, read8(s[i+8:])^h)
		}
		// The last 16 bytes, overlapping what the loop read.
		a, b = read8(s[n-16:]), read8(s[n-8:])
	case n >= 4:
		q := (n >> 3) << 2
		a = read4(s)<<32 | read4(s[q:])
		b = read4(s[n-4:])<<32 | read4(s[n-4-q:])
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	hi, lo := bits.Mul64(a^wyp1, b^h)
	return mum(lo^wyp0^uint64(n), hi^wyp1)
}

// read8 reads the first 8 bytes of s, little-endian (one load: the compiler merges the bytes).
func read8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// read4 reads the first 4 bytes of s, little-endian.
func read4(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// Sub is the identity of one of the series a histogram or summary point makes: sub says which,
// bound is the bucket's bound or the quantile (0 for the others).
func Sub(point uint64, sub byte, bound float64) uint64 {
	var b [25]byte
	binary.LittleEndian.PutUint64(b[:8], secret)
	binary.LittleEndian.PutUint64(b[8:16], point)
	b[16] = sub
	binary.LittleEndian.PutUint64(b[17:], math.Float64bits(bound))
	return xxhash.Sum64(b[:])
}

// seeded empties buf and starts it with the per-process secret, so that the xxhash of what
// follows is seeded (see secret).
func seeded(buf []byte) []byte { return binary.LittleEndian.AppendUint64(buf[:0], secret) }
