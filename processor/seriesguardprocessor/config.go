package seriesguardprocessor // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"
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
	// SeriesActionDropSeries drops the data points of refused series. The same word as
	// label_limits' drop_series: a cap that drops whole series says drop_series everywhere.
	// The converter rewrites the deprecated value "drop" to it.
	SeriesActionDropSeries SeriesAction = "drop_series"
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
	MaxLabelValueLength int `mapstructure:"max_label_value_length"`
	// Action is drop_series or truncate.
	Action LabelAction `mapstructure:"action"`
	_      struct{}
}

// SeriesLimitsConfig caps active series. A series is active until it has not been seen for
// IdleTimeout.
type SeriesLimitsConfig struct {
	// MaxSeries caps active series in total. 0 = no limit.
	MaxSeries int `mapstructure:"max_series"`
	// MaxSeriesPerMetric caps active series of one metric name. 0 = no limit.
	MaxSeriesPerMetric int          `mapstructure:"max_series_per_metric"`
	Tenant             TenantConfig `mapstructure:"tenant"`
	// IdleTimeout is how long a series stays active after it was last seen: each point restarts
	// it. Must be at least 1s. (Formerly `window`, a word now kept for ordered_rw's lateness
	// window; the converter rewrites the deprecated key.)
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// Action is drop_series or overflow.
	Action SeriesAction `mapstructure:"action"`
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

// The translation strategies remote write v1 can send (the exporter's names).
const (
	translationWithSuffixes    = "UnderscoreEscapingWithSuffixes"
	translationWithoutSuffixes = "UnderscoreEscapingWithoutSuffixes"
)

// minTruncatedValueLength leaves room for a part of the value, the separator and the hash.
const minTruncatedValueLength = walk.TruncateHashLength + 2

// minIdleTimeout: the state keeps last-seen times at 100 ms resolution and sweeps at most every
// second.
const minIdleTimeout = time.Second

// nonNegative reports a negative value of key, or nil.
func nonNegative(key string, v int) error {
	if v < 0 {
		return fmt.Errorf("`%s` must not be negative, found %d", key, v)
	}
	return nil
}

// Validate checks the label limits on their own; the collector calls it as it walks the config.
func (ll *LabelLimitsConfig) Validate() error {
	errs := []error{
		nonNegative("label_limits.max_labels_per_series", ll.MaxLabelsPerSeries),
		nonNegative("label_limits.max_label_name_length", ll.MaxLabelNameLength),
		nonNegative("label_limits.max_label_value_length", ll.MaxLabelValueLength),
	}
	switch ll.Action {
	case LabelActionDropSeries:
	case LabelActionTruncate:
		if ll.MaxLabelValueLength > 0 && ll.MaxLabelValueLength < minTruncatedValueLength {
			errs = append(errs, fmt.Errorf("`label_limits.max_label_value_length` must be at least %d with `label_limits.action: %s` (room for the hash suffix), found %d",
				minTruncatedValueLength, LabelActionTruncate, ll.MaxLabelValueLength))
		}
	default:
		errs = append(errs, fmt.Errorf("`label_limits.action` must be %s or %s, found %q", LabelActionDropSeries, LabelActionTruncate, ll.Action))
	}
	return errors.Join(errs...)
}

// Validate checks the series caps against each other (the tenant's own keys are TenantConfig's).
func (sl *SeriesLimitsConfig) Validate() error {
	errs := []error{
		nonNegative("series_limits.max_series", sl.MaxSeries),
		nonNegative("series_limits.max_series_per_metric", sl.MaxSeriesPerMetric),
	}
	switch {
	case sl.IdleTimeout <= 0:
		errs = append(errs, fmt.Errorf("`series_limits.idle_timeout` must be positive, found %s", sl.IdleTimeout))
	case sl.IdleTimeout < minIdleTimeout:
		errs = append(errs, fmt.Errorf("`series_limits.idle_timeout` must be at least %s, found %s", minIdleTimeout, sl.IdleTimeout))
	}
	switch sl.Action {
	case SeriesActionDropSeries, SeriesActionOverflow:
	default:
		errs = append(errs, fmt.Errorf("`series_limits.action` must be %s or %s, found %q", SeriesActionDropSeries, SeriesActionOverflow, sl.Action))
	}
	if sl.MaxSeries > 0 && sl.MaxSeriesPerMetric > sl.MaxSeries {
		errs = append(errs, fmt.Errorf("`series_limits.max_series_per_metric` must not exceed `series_limits.max_series` (%d), found %d (the per-metric cap could never be reached)",
			sl.MaxSeries, sl.MaxSeriesPerMetric))
	}
	if sl.MaxSeries > 0 && sl.Tenant.MaxSeries > sl.MaxSeries {
		errs = append(errs, fmt.Errorf("`series_limits.tenant.max_series` must not exceed `series_limits.max_series` (%d), found %d (the tenant cap could never be reached)",
			sl.MaxSeries, sl.Tenant.MaxSeries))
	}
	if sl.MaxSeries > 0 {
		for _, tenant := range sortedKeys(sl.Tenant.Overrides) {
			if limit := sl.Tenant.Overrides[tenant]; limit > sl.MaxSeries {
				errs = append(errs, fmt.Errorf("`series_limits.tenant.overrides.%s` must not exceed `series_limits.max_series` (%d), found %d", tenant, sl.MaxSeries, limit))
			}
		}
	}
	return errors.Join(errs...)
}

// Validate checks the tenant caps on their own.
func (tc *TenantConfig) Validate() error {
	errs := []error{nonNegative("series_limits.tenant.max_series", tc.MaxSeries)}
	if tc.Attribute == "" && (tc.MaxSeries > 0 || len(tc.Overrides) > 0) {
		errs = append(errs, errors.New("`series_limits.tenant.attribute` must be set when `series_limits.tenant.max_series` or `series_limits.tenant.overrides` is, found \"\""))
	}
	for _, tenant := range sortedKeys(tc.Overrides) {
		errs = append(errs, nonNegative("series_limits.tenant.overrides."+tenant, tc.Overrides[tenant]))
	}
	return errors.Join(errs...)
}

// Validate checks the translation keys the exporter would refuse. Each resourcetotelemetry
// block validates itself (the collector calls its Validate as it walks the config).
func (tr *TranslationConfig) Validate() error {
	var errs []error
	switch tr.TranslationStrategy {
	case "", translationWithSuffixes, translationWithoutSuffixes:
	default:
		errs = append(errs, fmt.Errorf("`translation.translation_strategy` must be %s or %s (remote write v1), found %q",
			translationWithSuffixes, translationWithoutSuffixes, tr.TranslationStrategy))
	}
	if tr.ResourceConstantLabels.Enabled || tr.ResourceConstantLabels.ExcludeServiceAttributes {
		errs = append(errs, fmt.Errorf("`translation.resource_constant_labels` supports included and excluded only, as the exporter, found enabled: %t, exclude_service_attributes: %t",
			tr.ResourceConstantLabels.Enabled, tr.ResourceConstantLabels.ExcludeServiceAttributes))
	}
	if !tr.ResourceToTelemetryConversion.IsEmpty() && !tr.ResourceConstantLabels.IsEmpty() {
		errs = append(errs, errors.New("`translation.resource_to_telemetry_conversion` and `translation.resource_constant_labels` must not both be set (as the exporter), found both"))
	}
	return errors.Join(errs...)
}

// Validate checks the rules that span sections; each section checks itself.
func (cfg *Config) Validate() error {
	errs := []error{nonNegative("max_tracked_series", cfg.MaxTrackedSeries)}
	ll, sl := cfg.LabelLimits, cfg.SeriesLimits
	if used := len(cfg.Translation.ExternalLabels) + 1; ll.MaxLabelsPerSeries > 0 && used > ll.MaxLabelsPerSeries {
		errs = append(errs, fmt.Errorf("`label_limits.max_labels_per_series` must be at least %d, the labels `__name__` and %d `translation.external_labels` take, found %d",
			used, len(cfg.Translation.ExternalLabels), ll.MaxLabelsPerSeries))
	}
	if cfg.MaxTrackedSeries > 0 && sl.MaxSeries > 0 && cfg.MaxTrackedSeries < sl.MaxSeries {
		errs = append(errs, fmt.Errorf("`max_tracked_series` must be at least `series_limits.max_series` (%d), found %d (admitted series could not all be tracked)",
			sl.MaxSeries, cfg.MaxTrackedSeries))
	}
	if cfg.MaxTrackedSeries > 0 && !cfg.seriesLimited() {
		errs = append(errs, fmt.Errorf("`max_tracked_series` must be 0 when no `series_limits` cap is set (nothing is tracked), found %d", cfg.MaxTrackedSeries))
	}
	return errors.Join(errs...)
}

// sortedKeys orders the tenants of overrides, so errors come in a stable order.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
	case translationWithSuffixes:
		return true
	case translationWithoutSuffixes:
		return false
	}
	return tr.AddMetricSuffixes
}

// walkSettings resolves the configuration into the walker's rules.
func (cfg *Config) walkSettings() walk.Settings {
	ll := cfg.LabelLimits
	return walk.Settings{
		LabelLimits: identity.Limits{
			MaxLabels:      ll.MaxLabelsPerSeries,
			MaxNameLength:  ll.MaxLabelNameLength,
			MaxValueLength: ll.MaxLabelValueLength,
		},
		Truncate:        ll.Action == LabelActionTruncate && ll.MaxLabelValueLength > 0,
		TenantAttribute: cfg.SeriesLimits.Tenant.Attribute,
		Overflow:        cfg.SeriesLimits.Action == SeriesActionOverflow,
		Identity:        cfg.Translation.identitySettings(),
	}
}

// identitySettings are the exporter's translation settings that decide series identity.
func (tr *TranslationConfig) identitySettings() identity.Settings {
	promote := tr.ResourceConstantLabels
	if promote.IsEmpty() {
		promote = tr.ResourceToTelemetryConversion
	}
	return identity.Settings{
		Namespace:        tr.Namespace,
		WithSuffixes:     tr.withSuffixes(),
		DisableScopeInfo: tr.DisableScopeInfo,
		ExternalLabels:   tr.ExternalLabels,
		Promote:          identity.NewPromotion(promote.Enabled, promote.ExcludeServiceAttributes, promote.Included, promote.Excluded),
	}
}
