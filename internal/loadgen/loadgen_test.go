package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBatchIsDeterministic(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	g := New(Config{Metric: "m", Series: 10, Start: start, Interval: time.Second, ServiceName: "svc",
		Tenants: []string{"a", "b"}, ExtraResourceAttributes: map[string]string{"host.name": "h"}})
	md := g.Batch(3, 0, 10)
	require.Equal(t, 10, md.DataPointCount())
	require.Equal(t, 2, md.ResourceMetrics().Len(), "one resource per tenant")
	seen := map[string]float64{}
	for i := range md.ResourceMetrics().Len() {
		rm := md.ResourceMetrics().At(i)
		tenant, _ := rm.Resource().Attributes().Get("tenant")
		host, _ := rm.Resource().Attributes().Get("host.name")
		assert.Equal(t, "h", host.Str())
		dps := rm.ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
		for j := range dps.Len() {
			dp := dps.At(j)
			s, _ := dp.Attributes().Get("series")
			seen[s.Str()] = dp.DoubleValue()
			assert.Equal(t, start.Add(3*time.Second).UnixNano(), int64(dp.Timestamp()))
			assert.Contains(t, []string{"a", "b"}, tenant.Str())
		}
	}
	assert.Equal(t, Value(7, 3), seen["s7"])
	assert.Equal(t, 7e6+3, seen["s7"])
}

func TestDiff(t *testing.T) {
	g := New(Config{Metric: "m", Series: 2, Start: time.Unix(100, 0)})
	want := g.Expected(2, 0, 2)
	stored := g.Expected(2, 0, 2)
	m, w, u := Diff(want, stored)
	assert.Zero(t, m+w+u)
	delete(stored["s0"], time.Unix(100, 0).UnixMilli())
	stored["s1"][time.Unix(101, 0).UnixMilli()] = -1
	stored["s1"][1] = 5
	m, w, u = Diff(want, stored)
	assert.Equal(t, [3]int{1, 1, 1}, [3]int{m, w, u})
}
