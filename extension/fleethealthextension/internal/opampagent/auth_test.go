package opampagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	sigv4authextension "github.com/open-telemetry/opentelemetry-collector-contrib/extension/sigv4authextension"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
)

// TestSigV4HeadersForTheHandshake: with the collector's sigv4auth extension, the headers added
// to a WebSocket handshake are a SigV4 signature of it (service aps, the configured region).
func TestSigV4HeadersForTheHandshake(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "dummy-secret")
	factory := sigv4authextension.NewFactory()
	cfg := factory.CreateDefaultConfig().(*sigv4authextension.Config)
	cfg.Region, cfg.Service = "us-west-2", "aps"
	require.NoError(t, cfg.Validate(), "the collector validates before it creates; sigv4auth resolves its credentials there")
	ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()

	hf, err := AuthHeaderFunc("wss://fleet.example:4320/v1/opamp", ext.(extensionauth.HTTPClient), func(err error) { t.Error(err) })
	require.NoError(t, err)
	h := hf(http.Header{"X-Tenant": []string{"team-a"}})
	require.True(t, strings.HasPrefix(h.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), h.Get("Authorization"))
	require.Contains(t, h.Get("Authorization"), "/us-west-2/aps/aws4_request")
	require.NotEmpty(t, h.Get("X-Amz-Date"))
	require.Equal(t, "team-a", h.Get("X-Tenant"), "the configured headers are kept")
	require.NotContains(t, h.Get("Authorization"), "dummy-secret")
}

// TestAgentOverTLS: wss:// with the configured TLS settings (here: trusting the server's CA).
func TestAgentOverTLS(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS() // only for its certificate
	cert := ts.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()

	connected := make(chan struct{}, 1)
	srv := server.New(nil)
	require.NoError(t, srv.Start(server.StartSettings{
		ListenEndpoint: "127.0.0.1:0",
		TLSConfig:      &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Settings: server.Settings{Callbacks: types.Callbacks{OnConnecting: func(r *http.Request) types.ConnectionResponse {
			if r.TLS != nil {
				select {
				case connected <- struct{}{}:
				default:
				}
			}
			return types.ConnectionResponse{Accept: true}
		}}},
	}))
	defer func() { require.NoError(t, srv.Stop(context.Background())) }()
	// httptest's certificate is for 127.0.0.1 and example.com.
	addr := srv.Addr().String()

	a, err := New(Settings{Endpoint: "wss://" + addr + "/v1/opamp", Interval: time.Hour, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	defer func() { require.NoError(t, a.Shutdown(context.Background())) }()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("no TLS connection")
	}
	require.Eventually(t, a.Connected, 10*time.Second, 10*time.Millisecond)
}
