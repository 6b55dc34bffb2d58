package seriesguardprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
)

// The lifecycle tests mdatagen would generate, written by hand.

func TestComponentFactoryType(t *testing.T) {
	require.Equal(t, "series_guard", NewFactory().Type().String())
}

func TestComponentConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

func TestComponentLifecycle(t *testing.T) {
	factory := NewFactory()
	cm := confmap.NewFromStringMap(map[string]any{"series_limits": map[string]any{"max_series": 1000}})
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, cm.Unmarshal(&cfg))
	require.NoError(t, cfg.(*Config).Validate())

	t.Run("metrics-shutdown", func(t *testing.T) {
		c, err := factory.CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		require.NoError(t, err)
		require.NoError(t, c.Shutdown(context.Background()), "shutdown before start")
	})
	t.Run("metrics-lifecycle", func(t *testing.T) {
		sink := &consumertest.MetricsSink{}
		c, err := factory.CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
		require.NoError(t, err)
		host := componenttest.NewNopHost()
		require.NoError(t, c.Start(context.Background(), host))
		md := gaugeBatch(10, 0)
		require.NoError(t, c.ConsumeMetrics(context.Background(), md))
		require.Equal(t, 10, sink.DataPointCount())
		require.NoError(t, c.Shutdown(context.Background()))
		require.NoError(t, c.Shutdown(context.Background()), "shutdown twice")
	})
}

func TestHousekeepingSweepsAndLogsOnce(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SeriesLimits.MaxSeries = 1
	cfg.SeriesLimits.IdleTimeout = time.Second
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processor.Settings{ID: component.NewID(metadata.Type), TelemetrySettings: tel.NewTelemetrySettings()}
	logs := newObservedLogger(&set)
	p, err := newSeriesGuard(set, cfg, time.Now)
	require.NoError(t, err)
	p.done.Add(1)
	go p.housekeeping(10*time.Millisecond, 200*time.Millisecond)
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })

	// Two series: one admitted, one refused, many times.
	began := time.Now()
	for range 100 {
		md := gaugeBatch(2, 0)
		_, err := p.processMetrics(context.Background(), md)
		require.NoError(t, err)
	}
	// One line per interval, not one per point: the 100 refusals are summed up in the line(s) of
	// the interval(s) they fell in (one, unless an interval ended during the loop).
	refusedLogged := func() int64 {
		var n int64
		for _, e := range logs.FilterMessageSnippet("Series guard refused").All() {
			n += e.ContextMap()["refused_data_points"].(int64)
			require.Equal(t, []any{"http_server_active_requests"}, e.ContextMap()["sample_metrics"])
			require.Equal(t, []any{"max_series"}, e.ContextMap()["reasons"])
		}
		return n
	}
	require.Eventually(t, func() bool { return refusedLogged() == 100 }, 5*time.Second, 10*time.Millisecond)
	intervals := int(time.Since(began)/(200*time.Millisecond)) + 1
	require.LessOrEqual(t, logs.FilterMessageSnippet("Series guard refused").Len(), intervals)

	// The admitted series goes idle past the window: the sweeper frees its slot.
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.guard.Active() == 0
	}, 5*time.Second, 10*time.Millisecond)
	// Nothing refused since: no further line however long we wait for one.
	lines := logs.FilterMessageSnippet("Series guard refused").Len()
	require.Never(t, func() bool { return logs.FilterMessageSnippet("Series guard refused").Len() > lines }, 500*time.Millisecond, 20*time.Millisecond)
}
