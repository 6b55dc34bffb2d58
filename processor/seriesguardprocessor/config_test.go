package seriesguardprocessor

import (
	"path/filepath"
	"strings"
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
	// The defaults, spelled out: AMP's label quotas, no series cap.
	assert.Equal(t, &Config{
		LabelLimits:  LabelLimitsConfig{MaxLabelsPerSeries: 70, MaxLabelNameLength: 1024, MaxLabelValueLength: 2048, Action: LabelActionDropSeries},
		SeriesLimits: SeriesLimitsConfig{IdleTimeout: time.Hour, Action: SeriesActionDropSeries},
		Translation:  TranslationConfig{AddMetricSuffixes: true},
	}, cfg)
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
					IdleTimeout:        30 * time.Minute,
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

// TestValidate has one case per rule: each section's own Validate, then the root's cross-section
// rules, each error compared whole.
func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		modify   func(*Config)
		validate func(*Config) error
		err      string
	}{
		// label_limits
		{"negative labels", func(c *Config) { c.LabelLimits.MaxLabelsPerSeries = -1 }, labelLimits,
			"`label_limits.max_labels_per_series` must not be negative, found -1"},
		{"negative name length", func(c *Config) { c.LabelLimits.MaxLabelNameLength = -2 }, labelLimits,
			"`label_limits.max_label_name_length` must not be negative, found -2"},
		{"negative value length", func(c *Config) { c.LabelLimits.MaxLabelValueLength = -3 }, labelLimits,
			"`label_limits.max_label_value_length` must not be negative, found -3"},
		{"label action", func(c *Config) { c.LabelLimits.Action = "cut" }, labelLimits,
			"`label_limits.action` must be drop_series or truncate, found \"cut\""},
		{"truncate too short", func(c *Config) {
			c.LabelLimits.Action = LabelActionTruncate
			c.LabelLimits.MaxLabelValueLength = 10
		}, labelLimits, "`label_limits.max_label_value_length` must be at least 18 with `label_limits.action: truncate` (room for the hash suffix), found 10"},
		// series_limits
		{"negative max series", func(c *Config) { c.SeriesLimits.MaxSeries = -1 }, seriesLimits,
			"`series_limits.max_series` must not be negative, found -1"},
		{"negative per metric", func(c *Config) { c.SeriesLimits.MaxSeriesPerMetric = -1 }, seriesLimits,
			"`series_limits.max_series_per_metric` must not be negative, found -1"},
		{"idle timeout negative", func(c *Config) { c.SeriesLimits.IdleTimeout = -time.Second }, seriesLimits,
			"`series_limits.idle_timeout` must be positive, found -1s"},
		{"idle timeout zero", func(c *Config) { c.SeriesLimits.IdleTimeout = 0 }, seriesLimits,
			"`series_limits.idle_timeout` must be positive, found 0s"},
		{"idle timeout below a second", func(c *Config) { c.SeriesLimits.IdleTimeout = time.Millisecond }, seriesLimits,
			"`series_limits.idle_timeout` must be at least 1s, found 1ms"},
		{"series action", func(c *Config) { c.SeriesLimits.Action = "fold" }, seriesLimits,
			"`series_limits.action` must be drop_series or overflow, found \"fold\""},
		{"deprecated series action without the converter", func(c *Config) { c.SeriesLimits.Action = "drop" }, seriesLimits,
			"`series_limits.action` must be drop_series or overflow, found \"drop\""},
		{"per metric above total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.SeriesLimits.MaxSeriesPerMetric = 11
		}, seriesLimits, "`series_limits.max_series_per_metric` must not exceed `series_limits.max_series` (10), found 11 (the per-metric cap could never be reached)"},
		{"tenant above total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.SeriesLimits.Tenant = TenantConfig{Attribute: "team", MaxSeries: 11}
		}, seriesLimits, "`series_limits.tenant.max_series` must not exceed `series_limits.max_series` (10), found 11 (the tenant cap could never be reached)"},
		{"override above total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.SeriesLimits.Tenant = TenantConfig{Attribute: "team", Overrides: map[string]int{"payments": 50}}
		}, seriesLimits, "`series_limits.tenant.overrides.payments` must not exceed `series_limits.max_series` (10), found 50"},
		// series_limits.tenant
		{"negative tenant", func(c *Config) {
			c.SeriesLimits.Tenant = TenantConfig{Attribute: "team", MaxSeries: -1}
		}, tenant, "`series_limits.tenant.max_series` must not be negative, found -1"},
		{"tenant without attribute", func(c *Config) { c.SeriesLimits.Tenant.MaxSeries = 5 }, tenant,
			"`series_limits.tenant.attribute` must be set when `series_limits.tenant.max_series` or `series_limits.tenant.overrides` is, found \"\""},
		{"override negative", func(c *Config) {
			c.SeriesLimits.Tenant = TenantConfig{Attribute: "team", Overrides: map[string]int{"payments": -5}}
		}, tenant, "`series_limits.tenant.overrides.payments` must not be negative, found -5"},
		// translation
		{"translation strategy", func(c *Config) { c.Translation.TranslationStrategy = "NoTranslation" }, translation,
			"`translation.translation_strategy` must be UnderscoreEscapingWithSuffixes or UnderscoreEscapingWithoutSuffixes (remote write v1), found \"NoTranslation\""},
		{"constant labels enabled", func(c *Config) { c.Translation.ResourceConstantLabels.Enabled = true }, translation,
			"`translation.resource_constant_labels` supports included and excluded only, as the exporter, found enabled: true, exclude_service_attributes: false"},
		{"both promotions", func(c *Config) {
			c.Translation.ResourceToTelemetryConversion.Enabled = true
			c.Translation.ResourceConstantLabels.Included = []string{"a"}
		}, translation, "`translation.resource_to_telemetry_conversion` and `translation.resource_constant_labels` must not both be set (as the exporter), found both"},
		// the root: rules across sections
		{"negative tracked", func(c *Config) { c.MaxTrackedSeries = -1 }, root,
			"`max_tracked_series` must not be negative, found -1"},
		{"external labels fill the label budget", func(c *Config) {
			c.LabelLimits.MaxLabelsPerSeries = 2
			c.Translation.ExternalLabels = map[string]string{"a": "1", "b": "2"}
		}, root, "`label_limits.max_labels_per_series` must be at least 3, the labels `__name__` and 2 `translation.external_labels` take, found 2"},
		{"tracked below total", func(c *Config) {
			c.SeriesLimits.MaxSeries = 10
			c.MaxTrackedSeries = 5
		}, root, "`max_tracked_series` must be at least `series_limits.max_series` (10), found 5 (admitted series could not all be tracked)"},
		{"tracked without limits", func(c *Config) { c.MaxTrackedSeries = 5 }, root,
			"`max_tracked_series` must be 0 when no `series_limits` cap is set (nothing is tracked), found 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, tt.validate(cfg), "the defaults are valid")
			tt.modify(cfg)
			require.EqualError(t, tt.validate(cfg), tt.err)
		})
	}
}

func labelLimits(c *Config) error  { return c.LabelLimits.Validate() }
func seriesLimits(c *Config) error { return c.SeriesLimits.Validate() }
func tenant(c *Config) error       { return c.SeriesLimits.Tenant.Validate() }
func translation(c *Config) error  { return c.Translation.Validate() }
func root(c *Config) error         { return c.Validate() }

// TestValidateEdges: each bound is inclusive, so the edge of every rule is valid.
func TestValidateEdges(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.LabelLimits.MaxLabelsPerSeries = 3
	cfg.Translation.ExternalLabels = map[string]string{"a": "1", "b": "2"}
	cfg.LabelLimits.Action = LabelActionTruncate
	cfg.LabelLimits.MaxLabelValueLength = 18
	cfg.SeriesLimits.IdleTimeout = time.Second
	cfg.SeriesLimits.MaxSeries = 10
	cfg.SeriesLimits.MaxSeriesPerMetric = 10
	cfg.SeriesLimits.Tenant = TenantConfig{Attribute: "team", MaxSeries: 10, Overrides: map[string]int{"payments": 10, "free": 0}}
	cfg.MaxTrackedSeries = 10
	require.NoError(t, confmap.Validate(cfg))
}

// TestValidateWalksSections checks that the collector's walk reaches every section's Validate,
// the resourcetotelemetry blocks' own included, and reports them all at once.
func TestValidateWalksSections(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.LabelLimits.Action = "cut"
	cfg.SeriesLimits.MaxSeries = -1
	cfg.SeriesLimits.Tenant.MaxSeries = -2
	cfg.Translation.TranslationStrategy = "NoTranslation"
	cfg.Translation.ResourceToTelemetryConversion = resourcetotelemetry.Settings{Enabled: true, Included: []string{"a"}}
	cfg.MaxTrackedSeries = -3
	err := confmap.Validate(cfg)
	require.Error(t, err)
	for _, want := range []string{
		"`max_tracked_series` must not be negative, found -3",
		"label_limits: `label_limits.action` must be drop_series or truncate, found \"cut\"",
		"series_limits: `series_limits.max_series` must not be negative, found -1",
		"series_limits::tenant: `series_limits.tenant.max_series` must not be negative, found -2",
		"translation: `translation.translation_strategy` must be",
		"translation::resource_to_telemetry_conversion: cannot configure both legacy enabled/exclude_service_attributes and included/excluded patterns",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Equal(t, 1, strings.Count(err.Error(), "cannot configure both"), "each block validated once")
}

// TestDeprecatedKeysNeedTheConverter: the component knows only the new keys. The converter
// rewrites the deprecated ones (converter/adotcompatconverter, renames_seriesguard.go); without it
// they are refused, never silently ignored.
func TestDeprecatedKeysNeedTheConverter(t *testing.T) {
	cfg := createDefaultConfig()
	err := confmap.NewFromStringMap(map[string]any{"series_limits": map[string]any{"window": "2h"}}).Unmarshal(cfg)
	require.ErrorContains(t, err, "'series_limits' has invalid keys: window")
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
