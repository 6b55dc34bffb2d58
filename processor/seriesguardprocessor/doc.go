// Package seriesguardprocessor is the series_guard processor: an exact, bounded guard on the
// Prometheus series a pipeline produces, placed before the remote-write exporter. It enforces
// label limits and caps on active series (in total, per metric, per tenant), dropping or folding
// the series over them, and counts every point it refuses by reason.
//
// The root holds the configuration, the factory, the processor's shell (lifecycle, lock, sweeper,
// log) and the telemetry wrapper. The work is in internal/: walk decides each data point,
// identity computes the series a point becomes, guard keeps the admitted series and the overflow
// accumulators, metadata is the component's type and instruments.
package seriesguardprocessor // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"
