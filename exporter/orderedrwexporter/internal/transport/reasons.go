package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"strings"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// rejectionReason classifies the body of a 400/409/422 answer. Prometheus, Cortex, Mimir and
// Amazon Managed Service for Prometheus word these differently; the substrings below cover the
// messages each of them returns.
func rejectionReason(status int, body string) string {
	b := strings.ToLower(body)
	switch {
	case strings.Contains(b, "out of order"), strings.Contains(b, "out-of-order"):
		return telemetry.ReasonOutOfOrder
	case strings.Contains(b, "duplicate"):
		return telemetry.ReasonDuplicate
	case strings.Contains(b, "too old"), strings.Contains(b, "too-old"), strings.Contains(b, "out of bounds"),
		strings.Contains(b, "too far in the past"):
		return telemetry.ReasonTooOld
	case strings.Contains(b, "limit"), status == 413:
		return telemetry.ReasonLimits
	}
	return telemetry.ReasonOther
}
