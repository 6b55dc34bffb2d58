package fleethealthextension

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"
)

// fleetTelemetry is the extension's self-metrics; the rest of the code calls its verbs and never
// touches instruments.
type fleetTelemetry struct {
	tb          *metadata.TelemetryBuilder
	extensionID attribute.KeyValue
	checkOK     metric.AddOption
	checkFailed metric.AddOption
}

// newFleetTelemetry builds the instruments and registers the gauges' callbacks: readiness,
// utilization per signal, and members per state are read when the collector is scraped.
func newFleetTelemetry(tb *metadata.TelemetryBuilder, extensionID string, ready func() bool, utilization func() map[string]float64, members func() map[string]int) (*fleetTelemetry, error) {
	id := attribute.String("extension", extensionID)
	ft := &fleetTelemetry{
		tb:          tb,
		extensionID: id,
		checkOK:     metric.WithAttributeSet(attribute.NewSet(id, attribute.String("outcome", "ok"))),
		checkFailed: metric.WithAttributeSet(attribute.NewSet(id, attribute.String("outcome", "scrape_failed"))),
	}
	only := metric.WithAttributeSet(attribute.NewSet(id))
	err := errors.Join(
		tb.RegisterExtensionFleetHealthReadinessCallback(func(_ context.Context, o metric.Int64Observer) error {
			v := int64(0)
			if ready() {
				v = 1
			}
			o.Observe(v, only)
			return nil
		}),
		tb.RegisterExtensionFleetHealthUtilizationCallback(func(_ context.Context, o metric.Float64Observer) error {
			for signal, v := range utilization() {
				o.Observe(v, metric.WithAttributes(id, attribute.String("signal", signal)))
			}
			return nil
		}),
		tb.RegisterExtensionFleetHealthMembersCallback(func(_ context.Context, o metric.Int64Observer) error {
			for state, n := range members() {
				o.Observe(int64(n), metric.WithAttributes(id, attribute.String("state", state)))
			}
			return nil
		}),
	)
	return ft, err
}

// checked counts one read of the collector's telemetry.
func (ft *fleetTelemetry) checked(ctx context.Context, ok bool) {
	if ok {
		ft.tb.ExtensionFleetHealthChecks.Add(ctx, 1, ft.checkOK)
		return
	}
	ft.tb.ExtensionFleetHealthChecks.Add(ctx, 1, ft.checkFailed)
}

// reportDropped counts one fleet report refused on arrival or not delivered; reason is one of
// the fleet.Reason* values.
func (ft *fleetTelemetry) reportDropped(ctx context.Context, reason string) {
	ft.tb.ExtensionFleetHealthReportsDropped.Add(ctx, 1, metric.WithAttributes(ft.extensionID, attribute.String("reason", reason)))
}

func (ft *fleetTelemetry) shutdown() { ft.tb.Shutdown() }
