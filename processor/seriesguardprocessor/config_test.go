package seriesguardprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
)

func TestUnmarshalDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(&cfg))
	assert.Equal(t, createDefaultConfig(), cfg)
	require.NoError(t, confmap.Validate(cfg))
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id       component.ID
		expected *Config
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig().(*Config)},
		{
			id: component.NewIDWithName(metadata.Type, "full"),
			expected: &Config{
				LabelLimits: LabelLimitsConfig{MaxLabelsPerSeries: 30, MaxLabelNameLength: 100, MaxLabelValueLength: 200, Action: LabelActionTruncate},
				SeriesLimits: SeriesLimitsConfig{
					MaxSeries:          100000,
					MaxSeriesPerMetric: 5000,
					Tenant:             TenantConfig{Attribute: "k8s.namespace.name", MaxSeries: 20000, Overrides: map[string]int{"payments": 50000}},
					Window:             30 * time.Minute,
					Action:             SeriesActionOverflow,
				},
				MaxTrackedSeries: 300000,
				Translation: TranslationConfig{
					Namespace:              "fleet",
					AddMetricSuffixes:      false,
					DisableScopeInfo:       true,
					ExternalLabels:         map[string]string{"cluster": "prod"},
					ResourceConstantLabels: resourcetotelemetry.Settings{Included: []string{"k8s.*"}},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		err    string
	}{
		{"negative labels", func(c *Config) { c.LabelLimits.MaxLabelsPerSeries = -1 }, "label_limits.max_labels_per_series must not be negative, got -1"},
		{"negative name length", func(c *Config) { c.LabelLimits.MaxLabelNameLength = -2 }, "label_limits.max_label_name_length must not be negative, got -2"},
		{"negative value length", func(c *Config) { c.LabelLimits.MaxLabelValueLength = -3 }, "label_limits.max_label_value_length must not be negative, got -3"},
		{"label action", func(c *Config) { c.LabelLimits.Action = "cut" }, `label_limits.action must be "drop_series" or "truncate", got "cut"`},
		{"truncate too short", func(c *Config) {
			c.LabelLimits.Action = LabelActionTruncate
			c.LabelLimits.MaxLabelValueLength = 10
		}, `label_limits.max_label_value_length must be at least 18 with action "truncate" (room for the hash suffix), got 10`},
		{"external labels fill the label budget", func(c *Config) {
			c.LabelLimits.MaxLabelsPerSeries = 2
			c.Translation.ExternalLabels = map[string]string{"a": "1", "b": "2"}
		}, "label_limits.max_labels_per_series (2) leaves no room: __name__ and 2 translation.external_labels already use 3 labels"},
		{"negative max series", func(c *Config) { c.SeriesLimits.MaxSeries = -1 }, "series_limits.max_series must not be negative, got -1"},
		{"negative per metric", func(c *Config) { c.SeriesLimits.MaxSeriesPerMetric = -1 }, "series_limits.max_series_per_metric must not be negative, got -1"},
		{"negative tenant", func(c *Config) {
			c.SeriesLimits.Tenant.Attribute = "team"
			c.SeriesLimits.Tenant.MaxSeries = -1
		}, "series_limits.tenant.max_series must not be negative, got -1"},
		{"negative tracked", func(c *Config) { c.MaxTrackedSeries = -1 }, "max_tracked_series must not be negative, got -1"},
		{"window negative", func(c *Config) { c.SeriesLimits.Window = -time.Second }, "series_limits.window must be positive, got -1s"},
		{"window zero", func(c *Config) { c.SeriesLimits.Window = 0 }, "series_limits.window must be positive, got 0s"},
		{"window below tick", func(c *Config) { c.SeriesLimits.Window = time.Millisecond }, "series_limits.window must be at least 1s, got 1ms"},
		{"series action", func(c *Config) { c.SeriesLimits.Action = "fold" }, `series_limits.action must be "drop" or "overflow", got "fold"`},
		{"per metric above total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.SeriesLimits.MaxSeriesPerMetric = 11
		}, "series_limits.max_series_per_metric (11) is above series_limits.max_series (10): the per-metric cap could never be reached"},
		{"tenant above total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.SeriesLimits.Tenant = TenantConfig{Attribute: "team", MaxSeries: 11}
		}, "series_limits.tenant.max_series (11) is above series_limits.max_series (10): the tenant cap could never be reached"},
		{"tenant without attribute", func(c *Config) { c.SeriesLimits.Tenant.MaxSeries = 5 }, `series_limits.tenant.attribute must be set when series_limits.tenant.max_series or overrides are set, got ""`},
		{"override negative", func(c *Config) {
			c.SeriesLimits.Tenant = TenantConfig{Attribute: "team", Overrides: map[string]int{"payments": -5}}
		}, "series_limits.tenant.overrides[payments] must not be negative, got -5"},
		{"override above total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.SeriesLimits.Tenant = TenantConfig{Attribute: "team", Overrides: map[string]int{"payments": 50}}
		}, "series_limits.tenant.overrides[payments] (50) is above series_limits.max_series (10)"},
		{"tracked below total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.MaxTrackedSeries = 5
		}, "max_tracked_series (5) is below series_limits.max_series (10): admitted series could not all be tracked"},
		{"tracked without limits", func(c *Config) { c.MaxTrackedSeries = 5 }, "max_tracked_series (5) is set but no series limit is: nothing is tracked without series_limits"},
		{"translation strategy", func(c *Config) { c.Translation.TranslationStrategy = "NoTranslation" }, `translation.translation_strategy must be UnderscoreEscapingWithSuffixes or UnderscoreEscapingWithoutSuffixes (remote write v1), got "NoTranslation"`},
		{"both promotions", func(c *Config) {
			c.Translation.ResourceToTelemetryConversion.Enabled = true
			c.Translation.ResourceConstantLabels.Included = []string{"a"}
		}, "translation: set resource_to_telemetry_conversion or resource_constant_labels, not both (as the exporter)"},
		{"constant labels enabled", func(c *Config) { c.Translation.ResourceConstantLabels.Enabled = true }, "translation.resource_constant_labels supports included and excluded only, as the exporter, got enabled or exclude_service_attributes"},
		{"mixed legacy and patterns", func(c *Config) {
			c.Translation.ResourceToTelemetryConversion.Enabled = true
			c.Translation.ResourceToTelemetryConversion.Included = []string{"a"}
		}, "translation.resource_to_telemetry_conversion: cannot configure both legacy enabled/exclude_service_attributes and included/excluded patterns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.modify(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

func TestEffectiveMaxTracked(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, 0, cfg.effectiveMaxTracked(), "nothing tracked without series limits")
	cfg.SeriesLimits.MaxSeries = 100
	assert.Equal(t, 100, cfg.effectiveMaxTracked())
	cfg.SeriesLimits.Action = SeriesActionOverflow
	assert.Equal(t, 100+DefaultMinFoldedSeries, cfg.effectiveMaxTracked(), "folded series are tracked too")
	cfg.SeriesLimits.MaxSeries = 50_000
	assert.Equal(t, 100_000, cfg.effectiveMaxTracked())
	cfg.SeriesLimits.MaxSeries = 100
	cfg.SeriesLimits.MaxSeries = 0
	cfg.SeriesLimits.MaxSeriesPerMetric = 10
	assert.Equal(t, DefaultMaxTrackedSeries, cfg.effectiveMaxTracked())
	cfg.MaxTrackedSeries = 42
	assert.Equal(t, 42, cfg.effectiveMaxTracked())
}
