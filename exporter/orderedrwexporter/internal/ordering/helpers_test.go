package ordering

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is advanced by the test only.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(ms int64) *fakeClock { return &fakeClock{now: time.UnixMilli(ms)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Set(ms int64) { c.mu.Lock(); c.now = time.UnixMilli(ms); c.mu.Unlock() }

type harness struct {
	engine  *Engine
	tel     *componenttest.Telemetry
	backend *promtest.Backend
}

func fastRetry() configretry.BackOffConfig {
	r := configretry.NewDefaultBackOffConfig()
	r.InitialInterval = time.Millisecond
	r.MaxInterval = 5 * time.Millisecond
	r.MaxElapsedTime = 5 * time.Second
	return r
}

func newHarness(t *testing.T, backend *promtest.Backend, set Settings) *harness {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tset := tel.NewTelemetrySettings()
	tset.Logger = zap.NewNop()
	if set.MinShards == 0 && set.MaxShards == 0 {
		set.MinShards, set.MaxShards = 4, 4
	}
	if set.QueueSize == 0 {
		set.QueueSize = 100 * set.MaxShards // QueueSize is shared by the shards
	}
	if set.MaxBatchBytes == 0 {
		set.MaxBatchBytes = 3_000_000
	}
	if set.Retry.InitialInterval == 0 {
		set.Retry = fastRetry()
	}
	poster := &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL(), UserAgent: "test/0"}
	e, err := NewEngine(set, tset, "ordered_rw", poster)
	require.NoError(t, err)
	e.Start()
	return &harness{engine: e, tel: tel, backend: backend}
}

func (h *harness) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.engine.Shutdown(ctx))
}

// counter sums the data points of a counter whose attributes include want. A counter nothing was
// added to yet has no data: it counts 0. A name metadata.yaml does not list fails the test, so
// that an assertion that a counter is zero cannot pass because the counter was renamed.
func (h *harness) counter(t *testing.T, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	kind, known := knownMetrics(t)[name]
	require.True(t, known, "%s is not a metric of metadata.yaml", name)
	require.Equal(t, "sum", kind, "%s is not a counter", name)
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if hasAll(dp.Attributes, want) {
			total += dp.Value
		}
	}
	return total
}

func (h *harness) gauge(t *testing.T, name string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(t, err)
	dps := m.Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, dps, 1)
	require.Equal(t, "ordered_rw", mustValue(dps[0].Attributes, "exporter"))
	return dps[0].Value
}

func (h *harness) floatGauge(t *testing.T, name string) float64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(t, err)
	dps := m.Data.(metricdata.Gauge[float64]).DataPoints
	require.Len(t, dps, 1)
	require.Equal(t, "ordered_rw", mustValue(dps[0].Attributes, "exporter"))
	return dps[0].Value
}

var (
	metricsOnce sync.Once
	metricKinds map[string]string
	metricsErr  error
)

// knownMetrics are the metrics of the component's metadata.yaml, by full name, with their kind
// (sum, gauge or histogram).
func knownMetrics(t *testing.T) map[string]string {
	t.Helper()
	metricsOnce.Do(func() {
		var raw []byte
		if raw, metricsErr = os.ReadFile(filepath.Join("..", "..", "metadata.yaml")); metricsErr != nil {
			return
		}
		var md struct {
			Telemetry struct {
				Metrics map[string]map[string]any `yaml:"metrics"`
			} `yaml:"telemetry"`
		}
		if metricsErr = yaml.Unmarshal(raw, &md); metricsErr != nil {
			return
		}
		metricKinds = map[string]string{}
		for name, m := range md.Telemetry.Metrics {
			for _, kind := range []string{"sum", "gauge", "histogram"} {
				if _, ok := m[kind]; ok {
					metricKinds["otelcol_"+name] = kind
				}
			}
		}
	})
	require.NoError(t, metricsErr)
	require.NotEmpty(t, metricKinds)
	return metricKinds
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

func mustValue(set attribute.Set, key string) string {
	v, _ := set.Value(attribute.Key(key))
	return v.AsString()
}

func reason(r string) attribute.KeyValue { return attribute.String("reason", r) }

// series builds one translated series named metric_<i> with points at the given timestamps; the
// value of a point is its timestamp, so that resends are identical.
// queuedBytes is the estimated size of series as a push queues them (split): the memory budget's.
func queuedBytes(series []sample.Series) int64 {
	b := split(series, 1, new(batchArrays))
	var n int64
	for _, batch := range b.series {
		n += sample.Bytes(batch)
	}
	for _, ones := range b.ones {
		n += sample.OnesBytes(ones)
	}
	return n
}

func series(i int, ts ...int64) sample.Series {
	labels := []prompb.Label{{Name: "__name__", Value: "metric"}, {Name: "series", Value: fmt.Sprint(i)}}
	hash, _ := sample.HashLabels(labels, nil)
	s := sample.Series{Hash: hash, Labels: sample.NewLabels(labels)}
	for _, t := range ts {
		s.Points = append(s.Points, sample.Point{T: t, V: float64(t)})
	}
	return s
}

func key(i int) string {
	return promtest.LabelsKey([]prompb.Label{{Name: "__name__", Value: "metric"}, {Name: "series", Value: fmt.Sprint(i)}})
}

// requireStoredInOrder checks every listed series holds exactly want, in that order.
func requireStoredInOrder(t *testing.T, b *promtest.Backend, n int, want ...int64) {
	t.Helper()
	stored := b.Stored()
	for i := range n {
		var got []int64
		for _, s := range stored[key(i)] {
			got = append(got, s.T)
		}
		require.Equal(t, want, got, "series %d", i)
	}
}
