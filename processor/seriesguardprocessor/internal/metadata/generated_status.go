// Written by hand in the shape mdatagen generates (mdatagen is not available here);
// metadata_test.go in the component root checks it against metadata.yaml.

// Package metadata contains the telemetry and build information for the processor/series_guard
// component.
package metadata // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("series_guard")
	ScopeName = "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"
)

const (
	MetricsStability = component.StabilityLevelAlpha
)
