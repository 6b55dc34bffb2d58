package orderedrwexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
)

func TestComponentFactoryType(t *testing.T) {
	require.Equal(t, "ordered_rw", NewFactory().Type().String())
}

func TestComponentConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

// TestComponentLifecycle goes through the factory, as the collector does: create, start, push,
// shut down (which releases held samples before its deadline), and shut down without start.
func TestComponentLifecycle(t *testing.T) {
	backend := promtest.NewBackend(t)
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig().(*Config)
	cfg.HTTP.Endpoint = backend.URL()
	cfg.Ordering.Holdback.Window = time.Hour // nothing is released before the shutdown
	set := exportertest.NewNopSettings(metadata.Type)

	exp, err := factory.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Shutdown(context.Background()), "shutdown before start")

	exp, err = factory.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), gauges(10, time.Now(), true)))
	require.Zero(t, backend.Requests())
	// Held samples keep their schedule at shutdown, up to the window; a deadline releases them
	// ahead of it, early enough to send them.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, exp.Shutdown(ctx))
	require.Equal(t, 11, backend.StoredCount(), "10 samples and target_info released at the shutdown deadline")
	require.Error(t, exp.ConsumeMetrics(context.Background(), gauges(1, time.Now(), false)))
}
