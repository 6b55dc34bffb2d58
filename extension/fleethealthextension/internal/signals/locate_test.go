package signals

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTelemetryURL(t *testing.T) {
	reader := func(host any, port any) map[string]any {
		return map[string]any{"pull": map[string]any{"exporter": map[string]any{"prometheus": map[string]any{"host": host, "port": port}}}}
	}
	conf := func(readers ...any) map[string]any {
		return map[string]any{"service": map[string]any{"telemetry": map[string]any{"metrics": map[string]any{"readers": readers}}}}
	}
	tests := []struct {
		name string
		conf map[string]any
		want string
	}{
		{"no service", map[string]any{}, ""},
		{"no readers", conf(), ""},
		{"named host", conf(reader("10.0.0.5", 9999)), "http://10.0.0.5:9999/metrics"},
		{"wildcard IPv4", conf(reader("0.0.0.0", 8888)), "http://localhost:8888/metrics"},
		{"wildcard IPv6", conf(reader("::", 8888)), "http://localhost:8888/metrics"},
		{"no host", conf(reader(nil, "8888")), "http://localhost:8888/metrics"},
		{"IPv6 host", conf(reader("::1", 8888)), "http://[::1]:8888/metrics"},
		{"no port is skipped", conf(reader("localhost", nil), reader("localhost", 7777)), "http://localhost:7777/metrics"},
		{"periodic readers are skipped", conf(map[string]any{"periodic": map[string]any{}}, reader("localhost", 8889)), "http://localhost:8889/metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := TelemetryURL(tt.conf)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.want != "", ok)
		})
	}
}
