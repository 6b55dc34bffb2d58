package seriesid

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func attrs(kv ...any) pcommon.Map {
	m := pcommon.NewMap()
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			m.PutStr(kv[i].(string), v)
		case int:
			m.PutInt(kv[i].(string), int64(v))
		case float64:
			m.PutDouble(kv[i].(string), v)
		case bool:
			m.PutBool(kv[i].(string), v)
		case nil:
			m.PutEmpty(kv[i].(string))
		}
	}
	return m
}

// TestPointTellsValuesApart: values that differ in type or bytes (even when they render to one
// label value) and attribute orders give different identities; equal inputs, equal ones.
func TestPointTellsValuesApart(t *testing.T) {
	point := func(m pcommon.Map) uint64 { return Point(42, m) }
	distinct := []pcommon.Map{
		attrs("a", "1"),
		attrs("a", 1),
		attrs("a", 1.0),
		attrs("a", true),
		attrs("a", "true"),
		attrs("a", nil),
		attrs("a", ""),
		attrs("a", "1", "b", "2"),
		attrs("b", "2", "a", "1"),
		attrs("a", "1b", "", "2"), // length prefixes keep ("a","1b") and ("a","1"),("b",..) apart
		attrs("a1", "b"),
		attrs("ab", "c"),
		attrs("a", "bc"),
		attrs("", "abc"),
		attrs("abc", ""),
		attrs("a", int(^uint64(0)>>1)),
		attrs("a", 0),
		attrs("a", false),
		attrs("a", 0.0),
	}
	seen := map[uint64]int{}
	for i, m := range distinct {
		h := point(m)
		if j, ok := seen[h]; ok {
			t.Fatalf("attributes %d and %d have one identity", j, i)
		}
		seen[h] = i
		c := pcommon.NewMap()
		m.CopyTo(c)
		assert.Equal(t, h, point(c), "the identity of attributes %d is not stable", i)
	}
	assert.NotEqual(t, point(attrs("a", "1")), Point(43, attrs("a", "1")), "the metric is part of the identity")
}

func TestResourceReadsOnlyJobAndInstance(t *testing.T) {
	base := attrs("service.name", "api", "service.namespace", "shop", "service.instance.id", "i-1")
	h := Resource(nil, base)
	other := attrs("service.name", "api", "service.namespace", "shop", "service.instance.id", "i-1", "host.name", "x")
	assert.Equal(t, h, Resource(nil, other), "an attribute that makes no label changes the identity")
	assert.NotEqual(t, h, Resource(nil, attrs("service.name", "api", "service.instance.id", "i-1")))
	assert.NotEqual(t, h, Resource(nil, attrs("service.name", "api", "service.namespace", "shop", "service.instance.id", "i-2")))
	a, _ := Attributes(nil, base)
	b, _ := Attributes(nil, other)
	assert.NotEqual(t, a, b, "Attributes reads every attribute")
}

func TestScopeMetricSub(t *testing.T) {
	s := pcommon.NewInstrumentationScope()
	s.SetName("lib")
	assert.Equal(t, uint64(0), Scope(nil, s, true), "scope info off: the scope is not part of the identity")
	named := Scope(nil, s, false)
	s.SetVersion("1")
	assert.NotEqual(t, named, Scope(nil, s, false))

	assert.NotEqual(t, Metric(nil, 1, 2, KindGauge, "m"), Metric(nil, 1, 2, KindCounter, "m"))
	assert.NotEqual(t, Metric(nil, 1, 2, KindGauge, "m"), Metric(nil, 1, 3, KindGauge, "m"))
	assert.NotEqual(t, Metric(nil, 1, 2, KindGauge, "m"), Metric(nil, 2, 2, KindGauge, "m"))
	assert.NotEqual(t, Metric(nil, 1, 2, KindGauge, "m"), Metric(nil, 1, 2, KindGauge, "n"))

	assert.NotEqual(t, Sub(7, SubBucket, 1), Sub(7, SubBucket, 2))
	assert.NotEqual(t, Sub(7, SubSum, 0), Sub(7, SubCount, 0))
	assert.NotEqual(t, Sub(7, SubSum, 0), Sub(8, SubSum, 0))
}

// TestPointSpreadsRealisticIdentities hashes half a million identities that differ little (one
// attribute value of a few bytes, lengths on every side of the 4-, 8- and 16-byte cases of the
// string step, integer values, attribute sets that differ only in where a string is cut) and
// requires no collision: at that many a uniform 64-bit hash collides with probability
// ~7e-9, so a collision here means the hash loses information.
func TestPointSpreadsRealisticIdentities(t *testing.T) {
	seen := make(map[uint64]string, 1_100_000)
	check := func(h uint64, what string) {
		if prev, ok := seen[h]; ok {
			t.Fatalf("%s and %s have one identity", prev, what)
		}
		seen[h] = what
	}
	m := pcommon.NewMap()
	m.PutEmpty("k8s.pod.name")
	m.PutStr("http.method", "GET")
	for i := range 200_000 {
		m.PutStr("k8s.pod.name", fmt.Sprintf("checkout-%d", i)) // replaced in place: the order stays
		check(Point(1, m), fmt.Sprintf("pod %d", i))
		m.PutInt("k8s.pod.name", int64(i))
		check(Point(1, m), fmt.Sprintf("pod int %d", i))
	}
	// Every cut of one string between a key and a value, at every length up to 40.
	const text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
	for n := 0; n <= 40; n++ {
		for cut := 0; cut <= n; cut++ {
			check(Point(2, attrs(text[:cut], text[cut:n])), fmt.Sprintf("cut %d of %d", cut, n))
		}
	}
	// Strings that differ in one byte at every position, at lengths across the cases.
	for _, n := range []int{1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 49} {
		for pos := 0; pos < n; pos++ {
			b := []byte(text[:n])
			b[pos] ^= 0x20
			check(Point(3, attrs("k", string(b))), fmt.Sprintf("flip %d of %d", pos, n))
		}
	}
}
