package fleethealthextension

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

// Config is the fleet_health extension's configuration.
type Config struct {
	// ServerConfig is where the endpoints are served (`endpoint`, TLS, auth, ...).
	confighttp.ServerConfig `mapstructure:",squash"`

	// CheckInterval is how often the collector's own telemetry is read and readiness is decided;
	// ratios are computed over this interval. Must be positive.
	CheckInterval time.Duration `mapstructure:"check_interval"`

	// TelemetryEndpoint is the URL of the collector's own Prometheus telemetry. Empty: derived
	// from the first pull Prometheus reader in service::telemetry::metrics, else
	// http://localhost:8888/metrics (the collector's default).
	TelemetryEndpoint string `mapstructure:"telemetry_endpoint"`

	// Thresholds cross which /readyz answers 503. Zero disables a threshold.
	Thresholds ThresholdsConfig `mapstructure:"thresholds"`

	// RecoveryDuration is how long the collector must be healthy before /readyz answers 200
	// again after a problem, so readiness does not flap (healthcheckv2's word for it). Zero:
	// ready as soon as the problem clears. Formerly `recovery` (rewritten by the adotcompat
	// converter, with a warning).
	RecoveryDuration time.Duration `mapstructure:"recovery_duration"`

	// Fleet configures reporting to, and receiving reports from, other collectors.
	Fleet FleetConfig `mapstructure:"fleet"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// ThresholdsConfig holds the readiness thresholds: shares between 0 and 1, and a delay.
type ThresholdsConfig struct {
	// QueueUtilization: any exporter's sending-queue size / capacity.
	QueueUtilization float64 `mapstructure:"queue_utilization"`
	// MemoryUtilization: resident memory / limit (memory_limiter's, else the cgroup's).
	MemoryUtilization float64 `mapstructure:"memory_utilization"`
	// RefusedRatio: share of a receiver's incoming items refused in the last interval.
	RefusedRatio float64 `mapstructure:"refused_ratio"`
	// SendFailureRatio: share of an exporter's items that failed to send or to enqueue in the
	// last interval.
	SendFailureRatio float64 `mapstructure:"send_failure_ratio"`
	// SendLag: how long ago the oldest sample due and not yet delivered by an exporter that
	// publishes its send lag (ordered_rw) became due. Zero disables it.
	SendLag time.Duration `mapstructure:"send_lag"`
}

// health returns the thresholds as the evaluator takes them.
func (th ThresholdsConfig) health() health.Thresholds {
	return health.Thresholds{
		QueueUtilization:  th.QueueUtilization,
		MemoryUtilization: th.MemoryUtilization,
		RefusedRatio:      th.RefusedRatio,
		SendFailureRatio:  th.SendFailureRatio,
		SendLagSeconds:    th.SendLag.Seconds(),
	}
}

// FleetConfig configures the fleet view.
type FleetConfig struct {
	// ReportTo is the fleet_health address of the collector this one reports to
	// (e.g. http://gateway:13133; /fleet is added when the URL has no path). Empty: no reports.
	ReportTo string `mapstructure:"report_to"`
	// ID names this collector in the fleet. Empty: the HOSTNAME variable, else the host name
	// (the distribution's one default collector name, internal/hostname).
	ID string `mapstructure:"id"`
	// Role is shown next to the id (e.g. agent, gateway).
	Role string `mapstructure:"role"`
	// StaleAfter is how long a member may stay silent before it is shown as missing.
	StaleAfter time.Duration `mapstructure:"stale_after"`
	// ForgetAfter is how long a missing member stays in the view.
	ForgetAfter time.Duration `mapstructure:"forget_after"`
	// MaxMembers bounds how many members are kept; reports from new members beyond it are
	// refused (429) and counted as dropped with reason member_limit.
	MaxMembers int `mapstructure:"max_members"`
}

var (
	_ confmap.Validator = (*Config)(nil)
	_ confmap.Validator = (*ThresholdsConfig)(nil)
	_ confmap.Validator = (*FleetConfig)(nil)
)

var errNoEndpoint = errors.New("`endpoint` must not be empty")

// Validate checks the root's own keys; the collector validates the nested sections with their
// own Validate. Errors name the full key and the value found.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.NetAddr.Endpoint == "" {
		errs = append(errs, errNoEndpoint)
	}
	if cfg.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("`check_interval` must be positive, found %s", cfg.CheckInterval))
	}
	if cfg.RecoveryDuration < 0 {
		errs = append(errs, fmt.Errorf("`recovery_duration` must not be negative, found %s", cfg.RecoveryDuration))
	}
	if cfg.TelemetryEndpoint != "" {
		if u, err := url.Parse(cfg.TelemetryEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("`telemetry_endpoint` must be an http(s) URL, found %q", cfg.TelemetryEndpoint))
		}
	}
	return errors.Join(errs...)
}

// Validate checks each threshold: shares between 0 and 1, a delay not negative; 0 disables any.
func (th *ThresholdsConfig) Validate() error {
	var errs []error
	for _, share := range []struct {
		key   string
		value float64
	}{
		{"queue_utilization", th.QueueUtilization},
		{"memory_utilization", th.MemoryUtilization},
		{"refused_ratio", th.RefusedRatio},
		{"send_failure_ratio", th.SendFailureRatio},
	} {
		// Written so that NaN is refused too.
		if !(share.value >= 0 && share.value <= 1) {
			errs = append(errs, fmt.Errorf("`thresholds.%s` must be between 0 and 1 (0 disables it), found %g", share.key, share.value))
		}
	}
	if th.SendLag < 0 {
		errs = append(errs, fmt.Errorf("`thresholds.send_lag` must not be negative (0 disables it), found %s", th.SendLag))
	}
	return errors.Join(errs...)
}

// Validate checks the fleet settings.
func (fc *FleetConfig) Validate() error {
	var errs []error
	if fc.ReportTo != "" {
		if _, err := fleet.ReportURL(fc.ReportTo); err != nil {
			errs = append(errs, fmt.Errorf("`fleet.report_to` must be an http(s) URL, found %q: %w", fc.ReportTo, err))
		}
	}
	if fc.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("`fleet.stale_after` must be positive, found %s", fc.StaleAfter))
	}
	if fc.ForgetAfter < fc.StaleAfter {
		errs = append(errs, fmt.Errorf("`fleet.forget_after` must be at least `fleet.stale_after` (%s), found %s", fc.StaleAfter, fc.ForgetAfter))
	}
	if fc.MaxMembers <= 0 {
		errs = append(errs, fmt.Errorf("`fleet.max_members` must be positive, found %d", fc.MaxMembers))
	}
	return errors.Join(errs...)
}
