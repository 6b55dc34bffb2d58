package fleethealthextension

import (
	"context"
	"maps"
	"net/http"
	"os"
	"slices"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampagent"
)

// newAgent builds the OpAMP agent from `opamp`: TLS and headers from the collector's config
// types, and the auth extension's headers through opampagent.AuthHeaderFunc.
func (fh *fleetHealth) newAgent(ctx context.Context, host component.Host) (*opampagent.Agent, error) {
	oc := fh.cfg.OpAMP
	tlsCfg, err := oc.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	for name, value := range oc.Headers.Iter {
		header.Set(name, string(value))
	}
	var headerFunc func(http.Header) http.Header
	if oc.Auth.HasValue() {
		auth, err := oc.Auth.Get().GetHTTPClientAuthenticator(ctx, host.GetExtensions())
		if err != nil {
			return nil, err
		}
		headerFunc, err = opampagent.AuthHeaderFunc(oc.Endpoint, auth, func(err error) {
			fh.logger.Debug("The authenticator did not add its headers to an OpAMP request.", zap.Error(err))
		})
		if err != nil {
			return nil, err
		}
	}
	hostName, _ := os.Hostname()
	instanceID := ""
	if v, ok := fh.set.Resource.Attributes().Get("service.instance.id"); ok {
		instanceID = v.AsString()
	}
	serviceName := fh.set.BuildInfo.Command
	if v, ok := fh.set.Resource.Attributes().Get("service.name"); ok && v.AsString() != "" {
		serviceName = v.AsString()
	}
	agent, err := opampagent.New(opampagent.Settings{
		Endpoint:   oc.Endpoint,
		Header:     header,
		HeaderFunc: headerFunc,
		TLS:        tlsCfg,
		Interval:   fh.cfg.CheckInterval,
		Logger:     fh.logger,
		Description: opampagent.Description{
			ServiceName:       serviceName,
			ServiceInstanceID: instanceID,
			ServiceVersion:    fh.set.BuildInfo.Version,
			HostName:          hostName,
			FleetID:           fh.id,
			Role:              fh.cfg.Fleet.Role,
		},
	})
	if err != nil {
		return nil, err
	}
	fh.mu.Lock()
	effective := fh.effectiveConfig
	fh.mu.Unlock()
	if effective != nil {
		agent.SetEffectiveConfig(effective)
	}
	return agent, nil
}

// reportOpAMP hands a verdict to the OpAMP agent: health at once when it changed, and the
// figures when withFigures (after a check). Never blocks: the agent only replaces what it
// sends next.
func (fh *fleetHealth) reportOpAMP(r health.Report, withFigures bool) {
	fh.mu.Lock()
	agent := fh.agent
	topology := make(opampagent.Topology, len(fh.topology))
	for p, members := range fh.topology {
		topology[p] = slices.Sorted(maps.Keys(members))
	}
	fh.mu.Unlock()
	if agent == nil {
		return
	}
	if withFigures {
		agent.Update(r, topology)
		return
	}
	agent.UpdateHealth(r, topology)
}

// opampStatusDoc is /status's "opamp": where the collector reports and who reports to it.
// Endpoints are shown without user info or query; headers and tokens never.
type opampStatusDoc struct {
	Endpoint  string                `json:"endpoint,omitempty"`
	Connected *bool                 `json:"connected,omitempty"`
	Server    *opampServerStatusDoc `json:"server,omitempty"`
}

type opampServerStatusDoc struct {
	Endpoint    string `json:"endpoint"`
	Connections int64  `json:"connections"`
	Auth        bool   `json:"auth"`
}

func (fh *fleetHealth) opampStatus() any {
	doc := opampStatusDoc{}
	fh.mu.Lock()
	agent := fh.agent
	fh.mu.Unlock()
	if fh.cfg.OpAMP.Endpoint != "" {
		doc.Endpoint = opampagent.SafeURL(fh.cfg.OpAMP.Endpoint)
	}
	if agent != nil {
		connected := agent.Connected()
		doc.Connected = &connected
	}
	if fh.opampServer != nil {
		endpoint := fh.cfg.OpAMPServer.Get().NetAddr.Endpoint
		if addr := fh.opampServer.Addr(); addr != nil {
			endpoint = addr.String()
		}
		doc.Server = &opampServerStatusDoc{Endpoint: endpoint, Connections: fh.opampServer.Connections(), Auth: fh.cfg.OpAMPServer.Get().Auth.HasValue()}
	}
	if doc.Endpoint == "" && doc.Server == nil {
		return nil
	}
	return doc
}
