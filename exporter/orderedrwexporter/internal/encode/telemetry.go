package encode

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
)

// FallbackMetricName is the counter of data points the translator encoded instead of the
// encoder, by reason.
const FallbackMetricName = "otelcol_exporter_ordered_rw_encoder_fallback_metric_points"

// Telemetry counts what the encoder left to the translator.
type Telemetry struct {
	fallback metric.Int64Counter
	byReason [numReasons]metric.MeasurementOption
}

// NewTelemetry builds the counter; exporterID is the value of its `exporter` attribute.
func NewTelemetry(set component.TelemetrySettings, exporterID string) (*Telemetry, error) {
	counter, err := metadata.Meter(set).Int64Counter(FallbackMetricName,
		metric.WithDescription("Data points of metrics that ordered_rw's encoder left to the upstream translator, by reason (exponential_histogram, nhcb, reserved_label). [Alpha]"),
		metric.WithUnit("{datapoint}"))
	if err != nil {
		return nil, err
	}
	t := &Telemetry{fallback: counter}
	for r := range numReasons {
		t.byReason[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("exporter", exporterID), attribute.String("reason", r.String())))
	}
	return t, nil
}

// FellBack records the data points of one push that the translator encoded.
func (t *Telemetry) FellBack(points [numReasons]int) {
	for r, n := range points {
		if n > 0 {
			t.fallback.Add(context.Background(), int64(n), t.byReason[r])
		}
	}
}
