package seriesguardprocessor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
)

// TestConcurrentBatches runs batches from several goroutines while the sweeper and the telemetry
// callbacks run (for -race), and checks the cap holds exactly under contention.
func TestConcurrentBatches(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SeriesLimits.MaxSeries = 1500
	cfg.SeriesLimits.Tenant.Attribute = "k8s.namespace.name"
	cfg.SeriesLimits.Tenant.MaxSeries = 1500
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processor.Settings{ID: component.NewID(metadata.Type), TelemetrySettings: tel.NewTelemetrySettings()}
	p, err := newSeriesGuard(set, cfg, time.Now)
	require.NoError(t, err)
	p.done.Add(1)
	go p.housekeeping(time.Millisecond, 5*time.Millisecond)
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })

	var wg sync.WaitGroup
	var mu sync.Mutex
	kept := map[string]bool{}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				md := gaugeBatch(500, (w*20+round)%8*250) // overlapping ranges of series
				out, err := p.processMetrics(context.Background(), md)
				if err != nil {
					continue // everything refused
				}
				dps := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
				mu.Lock()
				for i := 0; i < dps.Len(); i++ {
					v, _ := dps.At(i).Attributes().Get("series")
					kept[v.Str()] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			_, err := tel.GetMetric("otelcol_processor_series_guard_active_series")
			assert.NoError(t, err)
		}
	}()
	wg.Wait()
	require.Len(t, kept, 1500, "exactly max_series distinct series got through")
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Equal(t, int64(1500), p.guard.Active())
}
