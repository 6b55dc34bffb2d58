// Package metadata holds what mdatagen would generate from metadata.yaml; mdatagen is not
// available here, so it is written by hand and metadata_test.go checks that both agree.
package metadata // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("fleet_health")
	ScopeName = "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension"
)

const (
	ExtensionStability = component.StabilityLevelAlpha
)
