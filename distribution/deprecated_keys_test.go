package distribution

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A config written for the previous release, with every key of our own components that was
// renamed since, must still validate and start, with exactly one warning per key naming its
// replacement (the converter's renames_<component>.go tables).
const deprecatedKeysConfig = `
receivers:
  otlp:
    protocols: {http: {endpoint: 127.0.0.1:4318}}
processors:
  series_guard:
    series_limits:
      max_series: 1000
      window: 2h
      action: drop
exporters:
  debug: {}
extensions:
  fleet_health:
    endpoint: 127.0.0.1:13133
    recovery: 20s
service:
  extensions: [fleet_health]
  pipelines:
    metrics: {receivers: [otlp], processors: [series_guard], exporters: [debug]}
`

var deprecatedKeyWarnings = []string{
	`retired setting "processors.series_guard.series_limits.window" rewritten to "processors.series_guard.series_limits.idle_timeout"`,
	`retired setting "processors.series_guard.series_limits.action: drop" rewritten to "processors.series_guard.series_limits.action: drop_series"`,
	`retired setting "extensions.fleet_health.recovery" rewritten to "extensions.fleet_health.recovery_duration"`,
}

func TestDeprecatedKeysStillWork(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "old.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(deprecatedKeysConfig), 0o600))

	out, err := runBinary(t, "validate", "--config", cfg)
	require.NoError(t, err, out)
	for _, w := range deprecatedKeyWarnings {
		assert.Equal(t, 1, strings.Count(out, "warning: deprecated setting: "+w), "want one warning %q in:\n%s", w, out)
	}

	// Also with the ADOT compatibility gate off: our own renames do not depend on it.
	out, err = runBinary(t, "validate", "--feature-gates=-otelcolfleet.adotCompat", "--config", cfg)
	require.NoError(t, err, out)

	logs, stop := startExample(t, cfg)
	require.Eventually(t, func() bool { return httpStatus("http://127.0.0.1:13133/livez") == http.StatusOK },
		time.Minute, 200*time.Millisecond, "fleet_health never answered:\n%s", logs)
	for _, w := range deprecatedKeyWarnings {
		assert.Equal(t, 1, strings.Count(logs.String(), w), "want one log warning %q in:\n%s", w, logs)
	}
	stop()
}
