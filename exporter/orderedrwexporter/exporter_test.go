package orderedrwexporter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) set(now time.Time) { c.mu.Lock(); c.now = now; c.mu.Unlock() }

// gauges builds one resource with numSeries gauge points at ts; with attrs the resource carries
// attributes beyond service name and instance, so the translator emits target_info for it.
func gauges(numSeries int, ts time.Time, attrs bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	rm.Resource().Attributes().PutStr("service.instance.id", "inst-1")
	if attrs {
		rm.Resource().Attributes().PutStr("host.name", "node-1")
		rm.Resource().Attributes().PutStr("cloud.region", "us-east-1")
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("test_gauge")
	dps := m.SetEmptyGauge().DataPoints()
	for i := range numSeries {
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("series", fmt.Sprint(i))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(float64(ts.UnixMilli()))
	}
	return md
}

func testConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.Endpoint = endpoint
	cfg.BackOffConfig.InitialInterval = time.Millisecond
	cfg.BackOffConfig.MaxInterval = 5 * time.Millisecond
	return cfg
}

func startExporter(t *testing.T, cfg *Config, clock *fakeClock) *ordExporter {
	t.Helper()
	set := exportertest.NewNopSettings(metadata.Type)
	exp, err := newExporter(cfg, set)
	require.NoError(t, err)
	if clock != nil {
		exp.clock = clock
	}
	require.NoError(t, exp.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.shutdown(context.Background())) })
	return exp
}

func waitIdle(t *testing.T, exps ...*ordExporter) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, e := range exps {
			if !e.engine.Idle() {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}

// target_info is written by every gateway that sees the resource; with hold-back, two gateways
// getting alternate batches of one resource write it, and the metrics, without one rejection.
func TestTwoGatewaysTargetInfoHoldback(t *testing.T) {
	for _, attrs := range []bool{false, true} {
		t.Run(fmt.Sprintf("target_info=%v", attrs), func(t *testing.T) {
			backend := promtest.NewBackend(t)
			clock := &fakeClock{now: time.UnixMilli(100_000)}
			cfg := testConfig(backend.URL())
			cfg.Ordering.Holdback.Window = 3 * time.Second
			gws := []*ordExporter{startExporter(t, cfg, clock), startExporter(t, cfg, clock)}
			delays := []time.Duration{100 * time.Millisecond, 1800 * time.Millisecond}
			const numSeries, points = 20, 20
			start := time.UnixMilli(100_000)
			for now := start; now.Before(start.Add((points + 5) * time.Second)); now = now.Add(100 * time.Millisecond) {
				clock.set(now)
				for p := range points {
					ts := start.Add(time.Duration(p) * time.Second)
					gw := p % 2
					if arrival := ts.Add(delays[gw]); !arrival.After(now) && arrival.After(now.Add(-100*time.Millisecond)) {
						require.NoError(t, gws[gw].pushMetrics(context.Background(), gauges(numSeries, ts, attrs)))
					}
				}
				for _, gw := range gws {
					gw.engine.ReleaseDue()
				}
				waitIdle(t, gws...)
			}
			assert.Zero(t, backend.Rejected())
			stored := backend.Stored()
			wantSeries := numSeries
			if attrs {
				wantSeries++ // target_info
			}
			require.Len(t, stored, wantSeries)
			for key, samples := range stored {
				require.Len(t, samples, points, key)
				for i := 1; i < len(samples); i++ {
					require.Less(t, samples[i-1].T, samples[i].T, key)
				}
			}
		})
	}
}

// stamp: each gateway writes its own series, so no two gateways can collide even without hold-back.
func TestStampMode(t *testing.T) {
	backend := promtest.NewBackend(t)
	var gws []*ordExporter
	for i := range 2 {
		cfg := testConfig(backend.URL())
		cfg.Ordering.Mode = ModeStamp
		cfg.Ordering.Stamp.Value = fmt.Sprintf("gw%d", i)
		gws = append(gws, startExporter(t, cfg, nil))
	}
	start := time.UnixMilli(100_000)
	// The slow gateway sends its older samples last: without the stamp they would be rejected.
	for p := 3; p >= 0; p-- {
		require.NoError(t, gws[p%2].pushMetrics(context.Background(), gauges(5, start.Add(time.Duration(p)*time.Second), true)))
		waitIdle(t, gws...)
	}
	assert.Zero(t, backend.Rejected())
	stored := backend.Stored()
	assert.Len(t, stored, 12, "5 series and target_info, per gateway")
	for key := range stored {
		assert.Regexp(t, `collector_gateway=gw[01]`, key)
	}
}

// none: pushed samples go to the backend at once, with no release (the clock never moves and
// ReleaseDue is never called), nothing is held, the series carry no stamp, and a sample older
// than its series' last sent one is still removed before sending.
func TestModeNoneSendsAtOnce(t *testing.T) {
	backend := promtest.NewBackend(t)
	cfg := testConfig(backend.URL())
	cfg.Ordering.Mode = ModeNone
	exp := startExporter(t, cfg, &fakeClock{now: time.UnixMilli(100_000)})
	require.NoError(t, exp.pushMetrics(context.Background(), gauges(5, time.UnixMilli(100_000), false)))
	waitIdle(t, exp)
	assert.Equal(t, 5, backend.StoredCount())
	assert.Zero(t, exp.engine.HeldSamples())
	for key := range backend.Stored() {
		assert.NotContains(t, key, defaultStampLabel)
	}
	require.NoError(t, exp.pushMetrics(context.Background(), gauges(5, time.UnixMilli(99_000), false)))
	waitIdle(t, exp)
	assert.Equal(t, 5, backend.StoredCount(), "stale samples are not sent")
	assert.Zero(t, backend.Rejected())
}

// The requests carry the remote-write 1.0 headers, the configured headers and external labels.
func TestRequestHeadersAndLabels(t *testing.T) {
	backend := promtest.NewBackend(t)
	cfg := testConfig(backend.URL())
	cfg.Ordering.Mode = ModeStamp
	cfg.Ordering.Stamp.Value = "gw"
	cfg.HTTP.Headers = configopaque.MapList{{Name: "X-Scope-OrgID", Value: "tenant-1"}}
	cfg.ExternalLabels = map[string]string{"cluster": "c1"}
	exp := startExporter(t, cfg, nil)
	require.NoError(t, exp.pushMetrics(context.Background(), gauges(1, time.UnixMilli(100_000), false)))
	waitIdle(t, exp)
	h := backend.LastHeaders()
	assert.Equal(t, "snappy", h.Get("Content-Encoding"))
	assert.Equal(t, "application/x-protobuf", h.Get("Content-Type"))
	assert.Equal(t, "0.1.0", h.Get("X-Prometheus-Remote-Write-Version"))
	assert.Equal(t, "tenant-1", h.Get("X-Scope-OrgID"))
	assert.Contains(t, backend.Stored(), "{__name__=test_gauge,cluster=c1,collector_gateway=gw,instance=inst-1,job=svc,series=0}")
}

// HashLabels relies on the translator returning labels sorted by name, and on SetLabel keeping
// them sorted; a change of either would split series silently.
func TestTranslatedLabelsAreSorted(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1/api/v1/write")
	cfg.Ordering.Mode = ModeHoldbackAndStamp
	cfg.Ordering.Stamp.Value = "gw"
	cfg.ExternalLabels = map[string]string{"zone": "z", "a_cluster": "c"}
	exp, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	series := exp.translate(gauges(50, time.UnixMilli(100_000), true))
	require.Len(t, series, 51)
	for _, s := range series {
		require.True(t, slices.IsSortedFunc(s.Labels.Prompb(), func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }), "%v", s.Labels)
		require.Contains(t, s.Labels.Prompb(), prompb.Label{Name: "collector_gateway", Value: "gw"})
	}
}
