package seriesid

import (
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
	var buf []byte
	point := func(m pcommon.Map) uint64 {
		var h uint64
		h, buf = Point(buf, 42, m)
		return h
	}
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
	h, _ := Point(nil, 43, attrs("a", "1"))
	assert.NotEqual(t, point(attrs("a", "1")), h, "the metric is part of the identity")
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
