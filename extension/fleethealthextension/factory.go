package fleethealthextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"
)

const (
	// defaultEndpoint is health_check's, so fleet_health is a drop-in for existing probes.
	defaultEndpoint      = "localhost:13133"
	defaultCheckInterval = 5 * time.Second
	// defaultTelemetryEndpoint is used when service::telemetry names no pull reader.
	defaultTelemetryEndpoint = "http://localhost:8888/metrics"

	defaultQueueUtilization  = 0.8
	defaultMemoryUtilization = 0.9
	defaultRefusedRatio      = 0.01
	defaultSendFailureRatio  = 0.05
	// defaultSendLag is three attempts of ordered_rw's default 5 s `timeout`: a destination that
	// answers, even slowly or with a few retries, stays under it; one that stopped answering
	// trips it within 15 s.
	defaultSendLag          = 15 * time.Second
	defaultRecoveryDuration = 30 * time.Second

	defaultRole        = "collector"
	defaultStaleAfter  = 30 * time.Second
	defaultForgetAfter = time.Hour
	defaultMaxMembers  = 1000

	// defaultOpAMPServerEndpoint is OpAMP's customary port, on localhost: listening wider is
	// a decision (and wants auth).
	defaultOpAMPServerEndpoint = "localhost:4320"
	// defaultOpAMPMaxMessageBytes bounds one OpAMP message (plain HTTP body or WebSocket
	// message): an agent's description, health and redacted configuration fit many times.
	defaultOpAMPMaxMessageBytes = 1 << 20
	// connectionHeadroom is how many connections beyond fleet.max_members the OpAMP server
	// keeps open: agents reconnecting overlap their old connection briefly.
	connectionHeadroom = 64

	// defaultGCHeadroomMiB bounds the heap's headroom between collections while busy. A gateway
	// at 200k series and 100k samples/s (live heap ~8 MB, ~30 MB/s of garbage) collects ~4 times
	// a second at GOGC 100; with 16 MiB about twice, for ~7 MB of peak RSS, which keeps it under
	// 100 MB there; 24 MiB took a third more collections off for 16 MB (BENCHMARKS.md). At
	// saturation the live heap is larger and GOGC's headroom already covers it.
	defaultGCHeadroomMiB = 16
)

// NewFactory returns the fleet_health extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	return &Config{
		ServerConfig:  server,
		CheckInterval: defaultCheckInterval,
		Thresholds: ThresholdsConfig{
			QueueUtilization:  defaultQueueUtilization,
			MemoryUtilization: defaultMemoryUtilization,
			RefusedRatio:      defaultRefusedRatio,
			SendFailureRatio:  defaultSendFailureRatio,
			SendLag:           defaultSendLag,
		},
		RecoveryDuration: defaultRecoveryDuration,
		Fleet: FleetConfig{
			Role:        defaultRole,
			StaleAfter:  defaultStaleAfter,
			ForgetAfter: defaultForgetAfter,
			MaxMembers:  defaultMaxMembers,
		},
		OpAMPServer:         configoptional.Default(defaultOpAMPServerConfig()),
		ReleaseStartupPages: true,
		GCHeadroomMiB:       defaultGCHeadroomMiB,
	}
}

func defaultOpAMPServerConfig() OpAMPServerConfig {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultOpAMPServerEndpoint
	server.MaxRequestBodySize = defaultOpAMPMaxMessageBytes
	return OpAMPServerConfig{ServerConfig: server}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newFleetHealth(cfg.(*Config), set, time.Now)
}
