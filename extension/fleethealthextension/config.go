package fleethealthextension

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampagent"
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

	// Fleet configures the fleet view: this collector's name in it, and how members age.
	Fleet FleetConfig `mapstructure:"fleet"`

	// OpAMP is the agent side: the OpAMP server this collector reports to. Empty endpoint: none.
	OpAMP OpAMPClientConfig `mapstructure:"opamp"`

	// OpAMPServer is the server side: accept OpAMP agents and show them in /fleet. Absent: off.
	OpAMPServer configoptional.Optional[OpAMPServerConfig] `mapstructure:"opamp_server"`

	// ReleaseStartupPages: once the pipelines run, give the kernel back the resident pages of the
	// collector's binary (code, read-only data), most of which only the start touched; those a
	// running collector needs fault back in. Linux only (elsewhere: nothing, logged at Debug).
	// false: the pages stay resident for the life of the process, as in any collector.
	ReleaseStartupPages bool `mapstructure:"release_startup_pages"`

	// GCHeadroomMiB: while the collector allocates fast, let the Go heap grow between
	// collections by a second's allocation, up to this many MiB, where GOGC alone would give a
	// small live heap little headroom and the garbage collector would run several times a second
	// (internal/gcheadroom). At rest GOGC's own headroom applies. 0: GOGC alone, as in any
	// collector. Also left to GOGC when the GOGC environment variable is set.
	GCHeadroomMiB uint32 `mapstructure:"gc_headroom_mib"`

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
	// ReportTo was the fleet_health address reports were POSTed to, a protocol of our own that
	// OpAMP replaced. Kept only to refuse it with a pointer to `opamp` (not a pure rename, so
	// not the converter's business).
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
	// MaxMembers bounds how many members are kept; new members beyond it are refused (live
	// members are never evicted) and counted as dropped with reason member_limit. It also bounds
	// the OpAMP server's concurrent connections (MaxMembers + connectionHeadroom).
	MaxMembers int `mapstructure:"max_members"`
}

// OpAMPClientConfig is the OpAMP server this collector reports to. The keys are those of the
// collector's HTTP client settings that an OpAMP connection uses (confighttp's endpoint, headers,
// tls and auth, with the same types); opamp-go v0.23 dials the connection itself and takes no
// http.Client, so confighttp's other keys (timeouts, compression, buffers) would not be honoured
// and are not accepted.
type OpAMPClientConfig struct {
	// Endpoint is the server's URL: ws:// or wss:// for WebSocket (one connection, reports
	// pushed at once), http:// or https:// for plain HTTP (polled every check_interval). The
	// path is the server's (fleet_health and most servers: /v1/opamp). Empty: no reports.
	Endpoint string `mapstructure:"endpoint"`
	// Headers are sent with every connection or request. Values are opaque (never logged).
	Headers configopaque.MapList `mapstructure:"headers"`
	// TLS settings for wss:// and https:// (CA, client certificate for mTLS, server name).
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Auth names an authenticator extension (bearertokenauth, sigv4auth, oauth2client...)
	// whose headers are added to every connection or request.
	Auth configoptional.Optional[configauth.Config] `mapstructure:"auth"`
}

// OpAMPServerConfig is where OpAMP agents connect: the collector's HTTP server settings
// (endpoint, tls, auth with an authenticator extension such as bearertokenauth, max_request_body_size
// which also bounds one WebSocket message).
type OpAMPServerConfig struct {
	confighttp.ServerConfig `mapstructure:",squash"`
}

var (
	_ confmap.Validator = (*Config)(nil)
	_ confmap.Validator = (*ThresholdsConfig)(nil)
	_ confmap.Validator = (*FleetConfig)(nil)
	_ confmap.Validator = (*OpAMPClientConfig)(nil)
	_ confmap.Validator = (*OpAMPServerConfig)(nil)
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
		errs = append(errs, fmt.Errorf("`fleet.report_to` was removed with the JSON `POST /fleet` protocol, found %q: report over OpAMP with `opamp.endpoint` "+
			"(e.g. ws://gateway:4320/v1/opamp) to a collector whose fleet_health has `opamp_server`", fc.ReportTo))
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

// Validate checks the agent side's endpoint.
func (oc *OpAMPClientConfig) Validate() error {
	if oc.Endpoint == "" {
		return nil
	}
	u, err := url.Parse(oc.Endpoint)
	switch {
	case err != nil:
		return fmt.Errorf("`opamp.endpoint` must be a ws, wss, http or https URL, found an unparsable URL: %w", errors.Unwrap(err))
	case u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("`opamp.endpoint` must be a ws, wss, http or https URL, found scheme %q", u.Scheme)
	case u.Host == "":
		return fmt.Errorf("`opamp.endpoint` must name a host, found %q", opampagent.SafeURL(oc.Endpoint))
	case u.User != nil:
		// Credentials in a URL end up in logs and status pages; headers and auth are opaque.
		return errors.New("`opamp.endpoint` must not carry credentials (user info): use `opamp.headers` or `opamp.auth`")
	}
	return nil
}

// Validate checks the server side's listener.
func (sc *OpAMPServerConfig) Validate() error {
	if sc.NetAddr.Endpoint == "" {
		return errors.New("`opamp_server.endpoint` must not be empty")
	}
	if sc.MaxRequestBodySize < 0 {
		return fmt.Errorf("`opamp_server.max_request_body_size` must not be negative, found %d", sc.MaxRequestBodySize)
	}
	return nil
}
