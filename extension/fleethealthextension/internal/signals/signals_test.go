package signals

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memlimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A page as the v0.165 collector serves it (type suffixes dropped, identity labels added).
const collectorPage = `# HELP otelcol_exporter_queue_size Current size of the retry queue (in batches).
# TYPE otelcol_exporter_queue_size gauge
otelcol_exporter_queue_size{data_type="metrics",exporter="otlp_http/backend",service_instance_id="x",service_name="otelcol-fleet",otel_scope_name="go.opentelemetry.io/collector/exporter/exporterhelper"} 8
otelcol_exporter_queue_size{data_type="logs",exporter="otlp_http/backend",service_instance_id="x"} 90
otelcol_exporter_queue_size{data_type="metrics",exporter="debug"} 0
otelcol_exporter_queue_size{data_type="metrics",exporter="ordered_rw"} 30
# TYPE otelcol_exporter_queue_capacity gauge
otelcol_exporter_queue_capacity{data_type="metrics",exporter="otlp_http/backend",service_instance_id="x"} 10
otelcol_exporter_queue_capacity{data_type="logs",exporter="otlp_http/backend",service_instance_id="x"} 1000
otelcol_exporter_queue_capacity{data_type="metrics",exporter="debug"} 1000
otelcol_exporter_queue_capacity{data_type="metrics",exporter="ordered_rw"} 10000
# TYPE otelcol_exporter_sent_metric_points counter
otelcol_exporter_sent_metric_points{exporter="otlp_http/backend"} 900
otelcol_exporter_sent_metric_points{exporter="debug"} 50
otelcol_exporter_sent_metric_points{exporter="ordered_rw"} 4000
# TYPE otelcol_exporter_sent_spans counter
otelcol_exporter_sent_spans{exporter="debug"} 5
# TYPE otelcol_exporter_send_failed_metric_points counter
otelcol_exporter_send_failed_metric_points{error_permanent="false",exporter="otlp_http/backend"} 70
otelcol_exporter_send_failed_metric_points{error_permanent="true",exporter="otlp_http/backend"} 30
# TYPE otelcol_exporter_enqueue_failed_metric_points_total counter
otelcol_exporter_enqueue_failed_metric_points_total{exporter="otlp_http/backend"} 12
# TYPE otelcol_receiver_accepted_metric_points counter
otelcol_receiver_accepted_metric_points{receiver="otlp",transport="http"} 1000
# TYPE otelcol_receiver_refused_metric_points counter
otelcol_receiver_refused_metric_points{receiver="otlp",transport="http"} 4
# TYPE otelcol_processor_memory_limiter_refused_metric_points counter
otelcol_processor_memory_limiter_refused_metric_points{processor="memory_limiter"} 3
# TYPE otelcol_process_memory_rss gauge
otelcol_process_memory_rss 1.048576e+08
# TYPE otelcol_process_runtime_heap_alloc_bytes gauge
otelcol_process_runtime_heap_alloc_bytes 5e+07
# TYPE otelcol_processor_series_guard_series gauge
otelcol_processor_series_guard_series{processor="series_guard",service_name="x"} 1234
# TYPE otelcol_exporter_ordered_rw_held_samples gauge
otelcol_exporter_ordered_rw_held_samples{exporter="ordered_rw"} 17
# TYPE otelcol_exporter_ordered_rw_send_lag gauge
otelcol_exporter_ordered_rw_send_lag{exporter="ordered_rw",service_name="x"} 22.5
# TYPE otelcol_exporter_ordered_rw_queue_size gauge
otelcol_exporter_ordered_rw_queue_size{exporter="ordered_rw"} 30
# TYPE otelcol_exporter_ordered_rw_queue_capacity gauge
otelcol_exporter_ordered_rw_queue_capacity{exporter="ordered_rw"} 10000
# TYPE otelcol_something_else gauge
otelcol_something_else 1
`

func TestParseCollectorPage(t *testing.T) {
	snap, err := Parse(strings.NewReader(collectorPage))
	require.NoError(t, err)
	require.Equal(t, map[string]ExporterFigures{
		"otlp_http/backend": {HasQueue: true, QueueSize: 8, QueueCapacity: 10, Sent: 900, SendFailed: 100, EnqueueFailed: 12},
		"debug":             {HasQueue: true, QueueCapacity: 1000, Sent: 55},
		"ordered_rw":        {HasQueue: true, QueueSize: 30, QueueCapacity: 10000, Sent: 4000, HasSendLag: true, SendLag: 22.5},
	}, snap.Exporters)
	require.Equal(t, map[string]ReceiverFigures{"otlp": {Accepted: 1000, Refused: 4}}, snap.Receivers)
	require.InDelta(t, 3, snap.MemoryLimiterRefused, 0)
	require.InDelta(t, 104857600, snap.MemoryRSS, 0)
	require.InDelta(t, 5e7, snap.HeapAlloc, 0)
	require.Equal(t, map[string]float64{
		"otelcol_processor_series_guard_series{processor=series_guard}":   1234,
		"otelcol_exporter_ordered_rw_held_samples{exporter=ordered_rw}":   17,
		"otelcol_exporter_ordered_rw_send_lag{exporter=ordered_rw}":       22.5,
		"otelcol_exporter_ordered_rw_queue_size{exporter=ordered_rw}":     30,
		"otelcol_exporter_ordered_rw_queue_capacity{exporter=ordered_rw}": 10000,
	}, snap.Extra)
}

func TestParseRejectsGarbage(t *testing.T) {
	_, err := Parse(strings.NewReader("this is { not prometheus\n"))
	require.Error(t, err)
}

func TestPrometheusScraper(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		require.Contains(t, r.Header.Get("Accept"), "text/plain")
		_, _ = w.Write([]byte(collectorPage))
	}))
	defer srv.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &PrometheusScraper{URL: srv.URL + "/metrics", Client: srv.Client(), Now: func() time.Time { return at }}
	snap, err := s.Read(context.Background())
	require.NoError(t, err)
	require.Equal(t, at, snap.Time)
	require.InDelta(t, 8, snap.Exporters["otlp_http/backend"].QueueSize, 0)

	s.URL = srv.URL + "/nope"
	_, err = s.Read(context.Background())
	require.ErrorContains(t, err, "status 404")
}

func TestResolveMemoryLimit(t *testing.T) {
	cgroup := fstest.MapFS{
		memlimit.CgroupV2Max: {Data: []byte("1073741824\n")},
		memlimit.ProcMeminfo: {Data: []byte("MemTotal:       16000000 kB\n")},
	}
	noCgroup := fstest.MapFS{
		memlimit.CgroupV2Max: {Data: []byte("max\n")},
		memlimit.ProcMeminfo: {Data: []byte("MemTotal:       16000000 kB\n")},
	}
	tests := []struct {
		name       string
		processors map[string]any
		root       fstest.MapFS
		want       MemoryLimit
	}{
		{
			name: "smallest memory_limiter limit_mib wins over the cgroup",
			processors: map[string]any{
				"memory_limiter":      map[string]any{"limit_mib": 512, "check_interval": "1s"},
				"memory_limiter/tiny": map[string]any{"limit_mib": "256"},
				"batch":               map[string]any{"limit_mib": 1},
			},
			root: cgroup,
			want: MemoryLimit{Bytes: 256 * mib, Source: LimitSourceMemoryLimiter, Detail: "memory_limiter/tiny limit_mib=256"},
		},
		{
			name:       "limit_percentage is a share of the cgroup limit",
			processors: map[string]any{"memory_limiter": map[string]any{"limit_percentage": 50}},
			root:       cgroup,
			want:       MemoryLimit{Bytes: 536870912, Source: LimitSourceMemoryLimiter, Detail: "memory_limiter limit_percentage=50 of 1073741824 bytes"},
		},
		{
			name:       "limit_percentage without cgroup is a share of the host memory",
			processors: map[string]any{"memory_limiter": map[string]any{"limit_percentage": 25.0}},
			root:       noCgroup,
			want:       MemoryLimit{Bytes: 4096000000, Source: LimitSourceMemoryLimiter, Detail: "memory_limiter limit_percentage=25 of 16384000000 bytes"},
		},
		{
			name: "no memory_limiter: the cgroup",
			root: cgroup,
			want: MemoryLimit{Bytes: 1 << 30, Source: LimitSourceCgroup, Detail: "cgroup memory limit"},
		},
		{
			name: "cgroup v1 unlimited is none",
			root: fstest.MapFS{memlimit.CgroupV1Limit: {Data: []byte("9223372036854771712\n")}},
			want: MemoryLimit{Source: LimitSourceNone},
		},
		{
			name: "cgroup v1 limit",
			root: fstest.MapFS{memlimit.CgroupV1Limit: {Data: []byte("2147483648\n")}},
			want: MemoryLimit{Bytes: 2 << 30, Source: LimitSourceCgroup, Detail: "cgroup memory limit"},
		},
		{
			name: "nothing",
			root: noCgroup,
			want: MemoryLimit{Source: LimitSourceNone},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ResolveMemoryLimit(tt.processors, tt.root))
		})
	}
}
