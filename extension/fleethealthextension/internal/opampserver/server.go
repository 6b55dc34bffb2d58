// Package opampserver is fleet_health's server side of OpAMP: an opamp-go server that accepts
// any OpAMP agent (fleet_health's agent side, or a stock collector with opampextension) over
// WebSocket or plain HTTP and records what it reports in the fleet registry. It is served from
// its own confighttp listener, so TLS and authenticator extensions apply as to any receiver.
//
// What a client can do to this collector is bounded: concurrent connections (a listener that
// closes connections beyond the limit at once), the size of one message (max_request_body_size,
// for WebSocket messages too), the number of members (new ones are refused when full, live ones
// are never evicted), and each member's report (internal/fleet). A member is keyed by its
// instance uid and bound to the credential that first reported it (the address, without auth),
// so a client cannot overwrite another's entry.
package opampserver // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampserver"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampagent"
)

// Path is where OpAMP is served (opamp-go's and the spec's default).
const Path = "/v1/opamp"

var _ component.Component = (*Server)(nil)

// Settings is what the server records into and where it counts what it refuses.
type Settings struct {
	Registry *fleet.Registry
	// MaxConnections bounds concurrent connections; more are closed on arrival.
	MaxConnections int
	// MaxMessageBytes bounds one message, plain HTTP or WebSocket.
	MaxMessageBytes int64
	// Dropped counts one message or connection refused, with its reason.
	Dropped func(ctx context.Context, reason string)
}

// Server serves OpAMP. Shutdown is safe before Start and twice.
type Server struct {
	config    confighttp.ServerConfig
	telemetry component.TelemetrySettings
	set       Settings
	logger    *zap.Logger

	mu        sync.Mutex
	opamp     server.OpAMPServer
	http      *http.Server
	serveDone chan struct{}
	listener  *limitListener

	logOnce sync.Map // reason → struct{}: each kind of refusal is logged once
}

// New returns a server for config; nothing listens before Start.
func New(config confighttp.ServerConfig, telemetry component.TelemetrySettings, set Settings) *Server {
	return &Server{config: config, telemetry: telemetry, set: set, logger: telemetry.Logger}
}

// Start binds the endpoint and serves in the background.
func (s *Server) Start(ctx context.Context, host component.Host) error {
	op := server.New(zapLogger{s.logger})
	handler, connContext, err := op.Attach(server.Settings{
		Callbacks:          types.Callbacks{OnConnecting: s.onConnecting},
		CustomCapabilities: []string{opampagent.Capability},
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, handler)
	srv, err := s.config.ToServer(ctx, host.GetExtensions(), s.telemetry, mux)
	if err != nil {
		return err
	}
	// opamp-go finds a plain HTTP request's connection in its context.
	srv.ConnContext = connContext
	ln, err := s.config.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("fleet_health: failed to bind the OpAMP server to %s: %w", s.config.NetAddr.Endpoint, err)
	}
	limited := &limitListener{Listener: ln, max: int64(s.set.MaxConnections), refused: func() {
		s.dropped(context.Background(), fleet.ReasonConnLimit, "OpAMP connection refused: connection limit reached; more are refused until connections close.")
	}}
	done := make(chan struct{})
	s.mu.Lock()
	s.opamp, s.http, s.serveDone, s.listener = op, srv, done, limited
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewPermanentErrorEvent(err))
		}
	}()
	s.logger.Info("OpAMP server listening.", zap.String("endpoint", ln.Addr().String()), zap.String("path", Path),
		zap.Bool("auth", s.config.Auth.HasValue()), zap.Int("max_connections", s.set.MaxConnections))
	return nil
}

// Addr is where the server listens (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Connections is how many connections are open now.
func (s *Server) Connections() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return 0
	}
	return s.listener.open.Load()
}

// Shutdown closes the listener and every connection (WebSocket ones included) and waits for
// serving to end or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done, ln := s.http, s.serveDone, s.listener
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	// Hijacked WebSocket connections are not closed by http.Server.Close.
	ln.closeAll()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	return err
}

// onConnecting accepts every connection that passed authentication (confighttp's interceptor
// runs before) and gives it callbacks that know who it is.
func (s *Server) onConnecting(req *http.Request) types.ConnectionResponse {
	c := &connection{srv: s, owner: ownerOf(req, s.config.Auth.HasValue())}
	return types.ConnectionResponse{Accept: true, ConnectionCallbacks: types.ConnectionCallbacks{
		OnConnected: c.onConnected,
		OnMessage:   c.onMessage,
	}}
}

// ownerOf is who may update the members a connection reports: with auth, a hash of the
// credential it authenticated with (the Authorization header, and the client certificate under
// mTLS); without, the client's address. Only a hash is kept: never the credential itself.
func ownerOf(req *http.Request, auth bool) string {
	h := sha256.New()
	if auth {
		for _, v := range req.Header.Values("Authorization") {
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
	}
	if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
		h.Write(req.TLS.PeerCertificates[0].Raw)
	}
	if !auth && (req.TLS == nil || len(req.TLS.PeerCertificates) == 0) {
		host, _, err := net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			host = req.RemoteAddr
		}
		return "addr:" + host
	}
	return "cred:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// dropped counts a refusal and logs the first of each reason (never per message).
func (s *Server) dropped(ctx context.Context, reason, msg string) {
	if s.set.Dropped != nil {
		s.set.Dropped(ctx, reason)
	}
	if _, seen := s.logOnce.LoadOrStore(reason, struct{}{}); !seen {
		s.logger.Warn(msg+" Further refusals are only counted (otelcol_extension_fleet_health_reports_dropped).", zap.String("reason", reason))
	}
}

// zapLogger hands opamp-go's messages to zap at Debug: an agent that disconnects is routine.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Debugf(_ context.Context, format string, v ...any) {
	z.l.Debug(fmt.Sprintf(format, v...))
}

func (z zapLogger) Errorf(_ context.Context, format string, v ...any) {
	z.l.Debug(fmt.Sprintf(format, v...))
}
