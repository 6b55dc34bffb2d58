package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// processingJob is the service.name (Prometheus' job label) of the processing scenario's data.
const processingJob = "e2e-processing"

// processingStep is one request of the processing scenario, as an application behind the
// agent would send it: the cases examples/gateway/gateway.yaml's filter, transform and
// attributes processors handle, next to data they must leave alone.
//
//   - fleet_e2e_orders: two users' series, each with a client address that changes every step
//     (deleted by attributes: each user keeps one series) and an end-user id (hashed).
//   - fleet_e2e_http_requests: /api/orders (kept) and the /healthz and /readyz probes (dropped
//     by filter's data-point condition).
//   - scrape_series_added, scrape_samples_post_metric_relabeling: dropped by name.
//   - process.runtime.jvm.memory.usage{pool, type}: renamed by transform to
//     jvm.memory.used{jvm.memory.pool.name, jvm.memory.type}.
//
// Every kept value is unique per series and step, so each stored sample can be checked.
func processingStep(ts time.Time, step int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", processingJob)
	// The tenant series_guard budgets by (gateway.yaml's default tenant attribute).
	rm.Resource().Attributes().PutStr("k8s.namespace.name", "shop")
	metrics := rm.ScopeMetrics().AppendEmpty().Metrics()
	now := pcommon.NewTimestampFromTime(ts)
	gauge := func(name string) pmetric.NumberDataPointSlice {
		m := metrics.AppendEmpty()
		m.SetName(name)
		return m.SetEmptyGauge().DataPoints()
	}
	point := func(dps pmetric.NumberDataPointSlice, value float64, attrs ...string) {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetDoubleValue(value)
		for i := 0; i+1 < len(attrs); i += 2 {
			dp.Attributes().PutStr(attrs[i], attrs[i+1])
		}
	}

	orders := gauge("fleet_e2e_orders")
	point(orders, 100+float64(step), "series", "alice", "enduser.id", "alice@example.com", "client.address", fmt.Sprintf("203.0.113.%d", step))
	point(orders, 200+float64(step), "series", "bob", "enduser.id", "bob@example.com", "client.address", fmt.Sprintf("198.51.100.%d", step))

	requests := gauge("fleet_e2e_http_requests")
	point(requests, 300+float64(step), "http.route", "/api/orders")
	point(requests, 1, "http.route", "/healthz")
	point(requests, 1, "http.route", "/readyz")

	point(gauge("scrape_series_added"), 0)
	point(gauge("scrape_samples_post_metric_relabeling"), 42)

	jvm := metrics.AppendEmpty()
	jvm.SetName("process.runtime.jvm.memory.usage")
	jvm.SetUnit("By")
	sum := jvm.SetEmptySum()
	sum.SetIsMonotonic(false)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, p := range []struct {
		pool, typ string
		value     float64
	}{{"G1 Eden Space", "heap", 1e6}, {"Metaspace", "non_heap", 2e6}} {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(ts.Add(-time.Duration(step+1) * time.Second)))
		dp.SetTimestamp(now)
		dp.SetDoubleValue(p.value + float64(step))
		dp.Attributes().PutStr("pool", p.pool)
		dp.Attributes().PutStr("type", p.typ)
	}
	return md
}

// processingFiltered is how many data points of each step filter drops: two scrape metrics
// and two health-check routes.
const processingFiltered = 4

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// processingExpected is what Prometheus must hold after steps: the series (labels that
// identify them, as stored) -> timestamp in ms -> value, and nothing else.
func processingExpected(start time.Time, steps int) map[string]map[int64]float64 {
	out := map[string]map[int64]float64{}
	add := func(labels map[string]string, base float64) {
		samples := map[int64]float64{}
		for k := range steps {
			samples[start.Add(time.Duration(k)*time.Second).UnixMilli()] = base + float64(k)
		}
		out[fleettest.LabelString(labels)] = samples
	}
	add(map[string]string{"__name__": "fleet_e2e_orders", "series": "alice", "enduser_id": sha256Hex("alice@example.com")}, 100)
	add(map[string]string{"__name__": "fleet_e2e_orders", "series": "bob", "enduser_id": sha256Hex("bob@example.com")}, 200)
	add(map[string]string{"__name__": "fleet_e2e_http_requests", "http_route": "/api/orders"}, 300)
	add(map[string]string{"__name__": "jvm_memory_used_bytes", "jvm_memory_pool_name": "G1 Eden Space", "jvm_memory_type": "heap"}, 1e6)
	add(map[string]string{"__name__": "jvm_memory_used_bytes", "jvm_memory_pool_name": "Metaspace", "jvm_memory_type": "non_heap"}, 2e6)
	return out
}

// identifying drops the labels every series of the job carries (job, instance, the
// instrumentation scope's), leaving those that tell the test's series apart.
func identifying(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if k == "job" || k == "instance" || strings.HasPrefix(k, "otel_scope_") {
			continue
		}
		out[k] = v
	}
	return out
}

// TestGatewayProcessing is scenario 7: the guide's central processing, as
// examples/gateway/gateway.yaml configures it (filter, transform and attributes before
// series_guard), through an agent, the round-robin balancer and two gateways into a real
// Prometheus. What filter drops never arrives and each dropped point is counted by the gateway
// that dropped it; the JVM metric arrives only under its new name and labels; the client
// address never arrives and the end-user id arrives hashed; series_guard counts only the series
// that reach the backend, so dropped and merged series take no budget.
func TestGatewayProcessing(t *testing.T) {
	const steps = 4
	s := Start(t, Options{Gateways: twoGateways("gateway.yaml"), Agents: 1})
	start := time.Now().Add(500 * time.Millisecond).Truncate(time.Millisecond)
	for k := range steps {
		ts := start.Add(time.Duration(k) * time.Second)
		time.Sleep(time.Until(ts))
		agent := s.Agents[k%len(s.Agents)]
		require.NoError(t, fleettest.TrySendOTLP(agent.OTLPEndpoint, processingStep(ts, k)), "step %d", k)
	}
	s.Drain(3*time.Second, time.Minute)

	expected := processingExpected(start, steps)
	selector := fmt.Sprintf(`{job=%q, __name__!="target_info"}`, processingJob)
	stored := func() map[string]map[int64]float64 {
		out := map[string]map[int64]float64{}
		for _, ser := range s.Prom.RawSamples(t, selector, time.Since(start)+5*time.Minute) {
			key := fleettest.LabelString(identifying(ser.Labels))
			if out[key] == nil {
				out[key] = map[int64]float64{}
			}
			for ts, v := range ser.Samples {
				out[key][ts] = v
			}
		}
		return out
	}
	// ordered_rw holds samples for its window (5s): wait until every kept sample is stored.
	want := len(expected) * steps
	got := map[string]map[int64]float64{}
	require.Eventually(t, func() bool {
		got = stored()
		n := 0
		for _, samples := range got {
			n += len(samples)
		}
		return n >= want
	}, time.Minute, 500*time.Millisecond, "Prometheus never held the %d kept samples; it has %v", want, got)

	// Exactly the expected series and samples: nothing filtered arrived, nothing under the old
	// JVM name or labels, no client_address label, the end-user id only as its hash.
	if !assert.Equal(t, expected, got, "what Prometheus stored for job %s", processingJob) {
		s.DumpLogs(os.Stdout)
	}
	names := map[string]bool{}
	for _, ser := range s.Prom.Series(t, fmt.Sprintf(`{job=%q}`, processingJob)) {
		names[ser["__name__"]] = true
		assert.NotContains(t, ser, "client_address", "a client address reached Prometheus")
		assert.NotContains(t, ser, "pool", "the JVM metric kept its old attribute")
		assert.NotContains(t, ser, "type")
		assert.NotContains(t, ser["enduser_id"], "@", "an end-user id reached Prometheus unhashed")
		assert.NotEqual(t, "/healthz", ser["http_route"])
		assert.NotEqual(t, "/readyz", ser["http_route"])
	}
	nameList := make([]string, 0, len(names))
	for n := range names {
		nameList = append(nameList, n)
	}
	sort.Strings(nameList)
	t.Logf("metric names stored for job %s: %v", processingJob, nameList)
	for _, dropped := range []string{"scrape_series_added", "scrape_samples_post_metric_relabeling", "process_runtime_jvm_memory_usage", "process_runtime_jvm_memory_usage_bytes"} {
		assert.False(t, names[dropped], "%s reached Prometheus", dropped)
	}

	// The gateways' own metrics: every point filter dropped is counted, in whichever gateway
	// dropped it, and series_guard saw only the five series that were stored.
	filtered := 0.0
	for _, g := range s.Gateways {
		m := g.Metrics(t)
		n := fleettest.Sum(m, "otelcol_processor_filter_datapoints_filtered", map[string]string{"filter": "filter"})
		active := fleettest.Sum(m, "otelcol_processor_series_guard_tenant_active_series", map[string]string{"tenant": "shop"})
		t.Logf("%s: otelcol_processor_filter_datapoints_filtered %g, series_guard active series of tenant shop %g", g.Name, n, active)
		filtered += n
		if n > 0 {
			// A gateway that received the data: without filter and attributes it would
			// track 4 more series, plus one per client address and step.
			assert.Equal(t, float64(len(expected)), active, "%s: series_guard's active series of tenant shop", g.Name)
		}
	}
	assert.Equal(t, float64(steps*processingFiltered), filtered, "data points filtered, summed over the gateways")
}
