package seriesguardprocessor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
)

// TestLogLinesAreBoundedWhateverTheInput: a 19 MB metric name, label value and tenant value make
// a log line of a few hundred bytes, each name cut to 64 bytes with its full size told (issue
// #18: a 19 MB label wrote a 19.9 MB log line every 10 s).
func TestLogLinesAreBoundedWhateverTheInput(t *testing.T) {
	const huge = 19_000_000
	hugeName := strings.Repeat("n", huge)
	hugeTenant := strings.Repeat("t", huge)
	hugeValue := strings.Repeat("v", huge)

	for _, tc := range []struct {
		name   string
		config func(*Config)
		reason string
	}{
		{"label value too long", func(cfg *Config) { cfg.LabelLimits.MaxLabelValueLength = 1024 }, "label_value_length"},
		{"over max_series", func(cfg *Config) {
			cfg.LabelLimits.MaxLabelValueLength = 0
			cfg.LabelLimits.MaxLabelNameLength = 0
			cfg.SeriesLimits.MaxSeries = 1
		}, "max_series"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.SeriesLimits.Tenant.Attribute = "tenant"
			tc.config(cfg)
			require.NoError(t, cfg.Validate())
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			set := processor.Settings{ID: component.NewID(metadata.Type), TelemetrySettings: tel.NewTelemetrySettings()}
			logs := newObservedLogger(&set)
			p, err := newSeriesGuard(set, cfg, func() time.Time { return time.Unix(1_700_000_000, 0) })
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })

			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("tenant", hugeTenant)
			m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName(hugeName)
			dps := m.SetEmptyGauge().DataPoints()
			for _, route := range []string{"/a", "/b"} {
				dp := dps.AppendEmpty()
				dp.SetDoubleValue(1)
				dp.Attributes().PutStr("route", route)
				dp.Attributes().PutStr("big", hugeValue)
			}
			// Every point refused: the batch goes no further, as the processor helper is told.
			if _, err = p.processMetrics(context.Background(), md); err != nil {
				require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
			}
			p.logOffenders()

			lines := logs.FilterMessageSnippet("Series guard refused").All()
			require.Len(t, lines, 1)
			e := lines[0]
			assert.Equal(t, []any{tc.reason}, e.ContextMap()["reasons"])
			assert.Equal(t, []any{strings.Repeat("n", 64) + "…(19000000 bytes)"}, e.ContextMap()["sample_metrics"])
			assert.Equal(t, []any{strings.Repeat("t", 64) + "…(19000000 bytes)"}, e.ContextMap()["sample_tenants"])

			// The whole line as the collector's JSON encoder writes it.
			buf, err := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()).EncodeEntry(e.Entry, e.Context)
			require.NoError(t, err)
			defer buf.Free()
			t.Logf("log line: %d bytes", buf.Len())
			assert.Less(t, buf.Len(), 1024, "log line: %.300s", buf.String())
		})
	}
}
