// Package http serves fleet_health's endpoints (/livez, /readyz, /status, /fleet, /fleet.html)
// from a confighttp server. It only reads: the verdict comes from the health evaluator and the
// members from the fleet registry, both handed in by the extension through Settings. Serve errors
// after Start are reported through componentstatus, as healthcheckv2's HTTP server does.
package http // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/http"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

var _ component.Component = (*Server)(nil)

// Settings is what the endpoints show and where they record what they refuse. Every field is
// required.
type Settings struct {
	// Report returns the current verdict with every signal.
	Report func() health.Report
	// Running tells whether the pipelines run and since when (`/`, as health_check answers it).
	Running func() (bool, time.Time)
	// Self renders this collector as a fleet member from a verdict (what it reports over OpAMP).
	Self func(health.Report) fleet.Report
	// SelfTrend, when set, is this collector's own trend, shown on its row.
	SelfTrend func() *fleet.Trend
	// TelemetryEndpoint is where the signals are read from; it can change once the effective
	// configuration is known, so it is asked for at each request.
	TelemetryEndpoint func() string
	// OpAMPStatus, when set, is shown in /status under "opamp".
	OpAMPStatus func() any
	// Registry holds the members that report to this collector.
	Registry *fleet.Registry
	// StaleAfter is shown in /fleet, so the page can say when a member turns missing.
	StaleAfter time.Duration
	// Now is the clock (injected by tests).
	Now func() time.Time
	// ViewTTL is how long one rendering of /fleet is served; 0: snapshotTTL (1 s).
	ViewTTL time.Duration
}

// Server serves the endpoints. Start and Shutdown follow component.Component; Shutdown is safe
// before Start and safe twice.
type Server struct {
	config    confighttp.ServerConfig
	telemetry component.TelemetrySettings
	set       Settings
	handler   http.Handler
	snapshots snapshotCache

	mu        sync.Mutex
	server    *http.Server
	serveDone chan struct{}
	started   time.Time
}

// NewServer returns a server for config; nothing listens before Start.
func NewServer(config confighttp.ServerConfig, telemetry component.TelemetrySettings, set Settings) *Server {
	s := &Server{config: config, telemetry: telemetry, set: set}
	s.snapshots.ttl = set.ViewTTL
	s.handler = s.routes()
	return s
}

// Handler is the endpoints without the listener (tests and benchmarks).
func (s *Server) Handler() http.Handler { return s.handler }

// Start binds the endpoint and serves in the background. An error from serving later is
// reported as a permanent error of the extension.
func (s *Server) Start(ctx context.Context, host component.Host) error {
	srv, err := s.config.ToServer(ctx, host.GetExtensions(), s.telemetry, s.handler)
	if err != nil {
		return err
	}
	ln, err := s.config.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("fleet_health: failed to bind to address %s: %w", s.config.NetAddr.Endpoint, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.server, s.serveDone, s.started = srv, done, s.set.Now()
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewPermanentErrorEvent(err))
		}
	}()
	return nil
}

// Shutdown closes the listener and every connection, and waits for serving to end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.server, s.serveDone
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	return err
}

// startedAt is when Start bound the endpoint (zero before).
func (s *Server) startedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}
