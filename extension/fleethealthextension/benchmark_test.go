package fleethealthextension

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// telemetryPage is a collector page with n exporters and n receivers and 200 unrelated series.
func telemetryPage(n int) string {
	var b strings.Builder
	for _, name := range []string{"otelcol_exporter_queue_size", "otelcol_exporter_queue_capacity", "otelcol_exporter_sent_metric_points", "otelcol_exporter_send_failed_metric_points", "otelcol_exporter_enqueue_failed_metric_points"} {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		for i := range n {
			fmt.Fprintf(&b, "%s{exporter=\"prw/%d\",service_instance_id=\"abc\",service_name=\"otelcol-fleet\"} %d\n", name, i, 1000+i)
		}
	}
	for _, name := range []string{"otelcol_receiver_accepted_metric_points", "otelcol_receiver_refused_metric_points"} {
		fmt.Fprintf(&b, "# TYPE %s counter\n", name)
		for i := range n {
			fmt.Fprintf(&b, "%s{receiver=\"otlp/%d\",transport=\"http\"} %d\n", name, i, 5000+i)
		}
	}
	b.WriteString("# TYPE otelcol_other gauge\n")
	for i := range 200 {
		fmt.Fprintf(&b, "otelcol_other{k=\"%d\"} 1\n", i)
	}
	b.WriteString("# TYPE otelcol_process_memory_rss gauge\notelcol_process_memory_rss 1e8\n")
	return b.String()
}

// BenchmarkCheck is one check's work: parse the collector's page and evaluate it.
func BenchmarkCheck(b *testing.B) {
	page := telemetryPage(10)
	e := health.NewEvaluator(health.Thresholds{QueueUtilization: 0.8, MemoryUtilization: 0.9, RefusedRatio: 0.01, SendFailureRatio: 0.05}, 30*time.Second, time.Now)
	e.PipelinesReady()
	e.SetMemoryLimit(signals.MemoryLimit{Bytes: 1 << 30, Source: signals.LimitSourceMemoryLimiter})
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		snap, err := signals.Parse(strings.NewReader(page))
		if err != nil {
			b.Fatal(err)
		}
		snap.Time = time.Now()
		e.Observe(snap)
		_ = e.Report()
	}
}

// BenchmarkReadyz is what a probe costs the collector.
func BenchmarkReadyz(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	fh, err := newFleetHealth(cfg, extensiontest.NewNopSettings(metadata.Type), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	fh.evaluator.PipelinesReady()
	h := fh.server.Handler()
	req := httptest.NewRequest(http.MethodGet, "/readyz", http.NoBody)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkFleetView is GET /fleet with 1000 members.
func BenchmarkFleetView(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	fh, err := newFleetHealth(cfg, extensiontest.NewNopSettings(metadata.Type), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		rep := fleet.Report{ID: fmt.Sprintf("agent-%04d", i), Role: "agent", Ready: i%10 != 0, Verdict: "ready", Signals: map[string]float64{"queue": 0.1, "memory": 0.3}}
		if _, err := fh.registry.Apply(rep.ID, "owner", func(r *fleet.Report) { *r = rep }); err != nil {
			b.Fatal(err)
		}
	}
	h := fh.server.Handler()
	req := httptest.NewRequest(http.MethodGet, "/fleet", http.NoBody)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
