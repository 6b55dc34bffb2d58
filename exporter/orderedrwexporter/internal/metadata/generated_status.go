// Hand-written in the shape mdatagen generates (mdatagen is not served here); metadata_test.go
// keeps it in agreement with metadata.yaml.

// Package metadata contains the telemetry and build information for the exporter/ordered_rw
// component.
package metadata // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("ordered_rw")
	ScopeName = "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"
)

const (
	MetricsStability = component.StabilityLevelAlpha
)
