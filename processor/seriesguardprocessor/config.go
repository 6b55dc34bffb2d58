package seriesguardprocessor // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"

import (
	"errors"
	"fmt"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component"
)

// LabelAction says what happens to a series whose label value is too long.
type LabelAction string

const (
	// LabelActionDropSeries drops every data point of a series that breaks a label limit.
	LabelActionDropSeries LabelAction = "drop_series"
	// LabelActionTruncate cuts an overlong data-point attribute value and appends a hash of the
	// whole value, so distinct values stay distinct series. Other label limits still drop.
	LabelActionTruncate LabelAction = "truncate"
)

// SeriesAction says what happens to a new series refused by a series cap.
type SeriesAction string

const (
	// SeriesActionDrop drops the data points of refused series.
	SeriesActionDrop SeriesAction = "drop"
	// SeriesActionOverflow folds refused series into one series per metric (and tenant) labelled
	// otel_metric_overflow="true".
	SeriesActionOverflow SeriesAction = "overflow"
)

// Config of the series_guard processor. Zero turns a limit off.
type Config struct {
	LabelLimits  LabelLimitsConfig  `mapstructure:"label_limits"`
	SeriesLimits SeriesLimitsConfig `mapstructure:"series_limits"`
	// MaxTrackedSeries bounds the series the processor remembers (admitted plus folded). Zero
	// derives it from the limits: max_series (plus max(max_series, 10,000) for folded series
	// with action overflow), or DefaultMaxTrackedSeries when only per-metric or per-tenant caps
	// are set.
	MaxTrackedSeries int `mapstructure:"max_tracked_series"`
	// Translation mirrors the prometheus_remote_write exporter settings that decide which series
	// a data point becomes; set them the same as the exporter's.
	Translation TranslationConfig `mapstructure:"translation"`
	_           struct{}
}

// LabelLimitsConfig bounds the labels of one Prometheus series. Defaults are Amazon Managed
// Service for Prometheus quotas.
type LabelLimitsConfig struct {
	// MaxLabelsPerSeries counts every label, __name__ included. 0 = no limit.
	MaxLabelsPerSeries int `mapstructure:"max_labels_per_series"`
	// MaxLabelNameLength in bytes. 0 = no limit.
	MaxLabelNameLength int `mapstructure:"max_label_name_length"`
	// MaxLabelValueLength in bytes. 0 = no limit.
	MaxLabelValueLength int         `mapstructure:"max_label_value_length"`
	Action              LabelAction `mapstructure:"action"`
	_                   struct{}
}

// SeriesLimitsConfig caps active series. A series is active while it was seen within Window.
type SeriesLimitsConfig struct {
	// MaxSeries caps active series in total. 0 = no limit.
	MaxSeries int `mapstructure:"max_series"`
	// MaxSeriesPerMetric caps active series of one metric name. 0 = no limit.
	MaxSeriesPerMetric int          `mapstructure:"max_series_per_metric"`
	Tenant             TenantConfig `mapstructure:"tenant"`
	// Window is how long a series stays active after it was last seen (sliding).
	Window time.Duration `mapstructure:"window"`
	Action SeriesAction  `mapstructure:"action"`
	_      struct{}
}

// TenantConfig caps active series per tenant.
type TenantConfig struct {
	// Attribute names the tenant: looked up in the data-point attributes, then in the resource.
	// Empty = no tenants.
	Attribute string `mapstructure:"attribute"`
	// MaxSeries caps active series per tenant. 0 = no limit.
	MaxSeries int `mapstructure:"max_series"`
	// Overrides gives named tenants their own cap (0 = no limit for that tenant).
	Overrides map[string]int `mapstructure:"overrides"`
	_         struct{}
}

// TranslationConfig holds the exporter settings that decide series identity.
type TranslationConfig struct {
	// Namespace prefixes metric names, as the exporter's `namespace`.
	Namespace string `mapstructure:"namespace"`
	// AddMetricSuffixes adds unit and type suffixes (`_total`, `_seconds`...), as the exporter's
	// (deprecated there, still its default: true).
	AddMetricSuffixes bool `mapstructure:"add_metric_suffixes"`
	// TranslationStrategy, when set, takes precedence over AddMetricSuffixes, as in the exporter.
	// Remote write v1 supports UnderscoreEscapingWithSuffixes and UnderscoreEscapingWithoutSuffixes.
	TranslationStrategy string `mapstructure:"translation_strategy"`
	// DisableScopeInfo drops the otel_scope_* labels, as the exporter's `disable_scope_info`.
	DisableScopeInfo bool `mapstructure:"disable_scope_info"`
	// ExternalLabels are added to every series by the exporter: they count against the limits.
	ExternalLabels map[string]string `mapstructure:"external_labels"`
	// ResourceToTelemetryConversion and ResourceConstantLabels promote resource attributes to
	// labels, exactly as the exporter's keys of the same names.
	ResourceToTelemetryConversion resourcetotelemetry.Settings `mapstructure:"resource_to_telemetry_conversion"`
	ResourceConstantLabels        resourcetotelemetry.Settings `mapstructure:"resource_constant_labels"`
	_                             struct{}
}

var _ component.Config = (*Config)(nil)

// minTruncatedValueLength leaves room for a part of the value, the separator and the hash.
const minTruncatedValueLength = truncateHashLength + 2

// truncateHashLength is the length of the hex hash appended to a truncated value.
const truncateHashLength = 16

var errNegative = errors.New("must not be negative")

// Validate checks every key and rejects configurations that cannot work.
func (cfg *Config) Validate() error {
	var errs error
	nonNegative := func(key string, v int) {
		if v < 0 {
			errs = errors.Join(errs, fmt.Errorf("%s %w, got %d", key, errNegative, v))
		}
	}
	ll := cfg.LabelLimits
	nonNegative("label_limits.max_labels_per_series", ll.MaxLabelsPerSeries)
	nonNegative("label_limits.max_label_name_length", ll.MaxLabelNameLength)
	nonNegative("label_limits.max_label_value_length", ll.MaxLabelValueLength)
	switch ll.Action {
	case LabelActionDropSeries:
	case LabelActionTruncate:
		if ll.MaxLabelValueLength > 0 && ll.MaxLabelValueLength < minTruncatedValueLength {
			errs = errors.Join(errs, fmt.Errorf("label_limits.max_label_value_length must be at least %d with action %q (room for the hash suffix), got %d",
				minTruncatedValueLength, LabelActionTruncate, ll.MaxLabelValueLength))
		}
	default:
		errs = errors.Join(errs, fmt.Errorf("label_limits.action must be %q or %q, got %q", LabelActionDropSeries, LabelActionTruncate, ll.Action))
	}
	if ll.MaxLabelsPerSeries > 0 && len(cfg.Translation.ExternalLabels)+1 > ll.MaxLabelsPerSeries {
		errs = errors.Join(errs, fmt.Errorf("label_limits.max_labels_per_series (%d) leaves no room: __name__ and %d translation.external_labels already use %d labels",
			ll.MaxLabelsPerSeries, len(cfg.Translation.ExternalLabels), len(cfg.Translation.ExternalLabels)+1))
	}

	sl := cfg.SeriesLimits
	nonNegative("series_limits.max_series", sl.MaxSeries)
	nonNegative("series_limits.max_series_per_metric", sl.MaxSeriesPerMetric)
	nonNegative("series_limits.tenant.max_series", sl.Tenant.MaxSeries)
	nonNegative("max_tracked_series", cfg.MaxTrackedSeries)
	switch {
	case sl.Window <= 0:
		errs = errors.Join(errs, fmt.Errorf("series_limits.window must be positive, got %s", sl.Window))
	case sl.Window < time.Second:
		// The state keeps last-seen times at 100 ms resolution and sweeps at most every second.
		errs = errors.Join(errs, fmt.Errorf("series_limits.window must be at least 1s, got %s", sl.Window))
	}
	switch sl.Action {
	case SeriesActionDrop, SeriesActionOverflow:
	default:
		errs = errors.Join(errs, fmt.Errorf("series_limits.action must be %q or %q, got %q", SeriesActionDrop, SeriesActionOverflow, sl.Action))
	}
	if sl.MaxSeries > 0 && sl.MaxSeriesPerMetric > sl.MaxSeries {
		errs = errors.Join(errs, fmt.Errorf("series_limits.max_series_per_metric (%d) is above series_limits.max_series (%d): the per-metric cap could never be reached",
			sl.MaxSeriesPerMetric, sl.MaxSeries))
	}
	if sl.MaxSeries > 0 && sl.Tenant.MaxSeries > sl.MaxSeries {
		errs = errors.Join(errs, fmt.Errorf("series_limits.tenant.max_series (%d) is above series_limits.max_series (%d): the tenant cap could never be reached",
			sl.Tenant.MaxSeries, sl.MaxSeries))
	}
	if sl.Tenant.Attribute == "" && (sl.Tenant.MaxSeries > 0 || len(sl.Tenant.Overrides) > 0) {
		errs = errors.Join(errs, errors.New("series_limits.tenant.attribute must be set when series_limits.tenant.max_series or overrides are set, got \"\""))
	}
	for tenant, limit := range sl.Tenant.Overrides {
		if limit < 0 {
			errs = errors.Join(errs, fmt.Errorf("series_limits.tenant.overrides[%s] %w, got %d", tenant, errNegative, limit))
		}
		if sl.MaxSeries > 0 && limit > sl.MaxSeries {
			errs = errors.Join(errs, fmt.Errorf("series_limits.tenant.overrides[%s] (%d) is above series_limits.max_series (%d)", tenant, limit, sl.MaxSeries))
		}
	}
	if cfg.MaxTrackedSeries > 0 && sl.MaxSeries > 0 && cfg.MaxTrackedSeries < sl.MaxSeries {
		errs = errors.Join(errs, fmt.Errorf("max_tracked_series (%d) is below series_limits.max_series (%d): admitted series could not all be tracked",
			cfg.MaxTrackedSeries, sl.MaxSeries))
	}
	if cfg.MaxTrackedSeries > 0 && !cfg.seriesLimited() {
		errs = errors.Join(errs, fmt.Errorf("max_tracked_series (%d) is set but no series limit is: nothing is tracked without series_limits", cfg.MaxTrackedSeries))
	}

	tr := cfg.Translation
	switch tr.TranslationStrategy {
	case "", "UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes":
	default:
		errs = errors.Join(errs, fmt.Errorf("translation.translation_strategy must be UnderscoreEscapingWithSuffixes or UnderscoreEscapingWithoutSuffixes (remote write v1), got %q", tr.TranslationStrategy))
	}
	if err := tr.ResourceToTelemetryConversion.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("translation.resource_to_telemetry_conversion: %w", err))
	}
	if err := tr.ResourceConstantLabels.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("translation.resource_constant_labels: %w", err))
	}
	if tr.ResourceConstantLabels.Enabled || tr.ResourceConstantLabels.ExcludeServiceAttributes {
		errs = errors.Join(errs, errors.New("translation.resource_constant_labels supports included and excluded only, as the exporter, got enabled or exclude_service_attributes"))
	}
	if !tr.ResourceToTelemetryConversion.IsEmpty() && !tr.ResourceConstantLabels.IsEmpty() {
		errs = errors.Join(errs, errors.New("translation: set resource_to_telemetry_conversion or resource_constant_labels, not both (as the exporter)"))
	}
	return errs
}

// seriesLimited reports whether any series cap is set, which is what makes tracking necessary.
func (cfg *Config) seriesLimited() bool {
	sl := cfg.SeriesLimits
	return sl.MaxSeries > 0 || sl.MaxSeriesPerMetric > 0 || sl.Tenant.MaxSeries > 0 || len(sl.Tenant.Overrides) > 0
}

// DefaultMaxTrackedSeries bounds the state when only per-metric or per-tenant caps are set.
const DefaultMaxTrackedSeries = 1_000_000

// DefaultMinFoldedSeries is the least room for folded series that a derived max_tracked_series
// leaves with action overflow.
const DefaultMinFoldedSeries = 10_000

// effectiveMaxTracked is max_tracked_series, derived from the limits when it is 0.
func (cfg *Config) effectiveMaxTracked() int {
	if cfg.MaxTrackedSeries > 0 || !cfg.seriesLimited() {
		return cfg.MaxTrackedSeries
	}
	if cfg.SeriesLimits.MaxSeries > 0 {
		if cfg.SeriesLimits.Action == SeriesActionOverflow {
			// Folded series are remembered too, to keep the overflow sums correct.
			return cfg.SeriesLimits.MaxSeries + max(cfg.SeriesLimits.MaxSeries, DefaultMinFoldedSeries)
		}
		return cfg.SeriesLimits.MaxSeries
	}
	return DefaultMaxTrackedSeries
}

// withSuffixes resolves translation_strategy over add_metric_suffixes as the exporter does.
func (tr *TranslationConfig) withSuffixes() bool {
	switch tr.TranslationStrategy {
	case "UnderscoreEscapingWithSuffixes":
		return true
	case "UnderscoreEscapingWithoutSuffixes":
		return false
	}
	return tr.AddMetricSuffixes
}
