package signals

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric-name prefixes of the collector's own telemetry (v0.165, type suffixes dropped by default;
// a trailing _total is stripped too, so a reader configured with suffixes works the same).
const (
	exporterSentPrefix          = "otelcol_exporter_sent_"
	exporterSendFailedPrefix    = "otelcol_exporter_send_failed_"
	exporterEnqueueFailedPrefix = "otelcol_exporter_enqueue_failed_"
	exporterQueueSize           = "otelcol_exporter_queue_size"
	exporterQueueCapacity       = "otelcol_exporter_queue_capacity"
	receiverAcceptedPrefix      = "otelcol_receiver_accepted_"
	receiverRefusedPrefix       = "otelcol_receiver_refused_"
	memoryLimiterRefusedPrefix  = "otelcol_processor_memory_limiter_refused_"
	processMemoryRSS            = "otelcol_process_memory_rss"
	processHeapAlloc            = "otelcol_process_runtime_heap_alloc_bytes"
	seriesGuardPrefix           = "otelcol_processor_series_guard_"
	orderedRWPrefix             = "otelcol_exporter_ordered_rw_"
	// ordered_rw publishes how far behind it is, which its queue fill alone does not show (a few
	// batches retried for minutes). Its shard queues it reports as the standard
	// otelcol_exporter_queue_size / _capacity, read above with every other exporter's.
	orderedRWSendLag = "otelcol_exporter_ordered_rw_send_lag"

	// maxScrapeBytes bounds what one scrape may read; the collector's own page is a few KiB.
	maxScrapeBytes = 16 << 20
)

// PrometheusScraper reads the collector's own /metrics page.
type PrometheusScraper struct {
	URL    string
	Client *http.Client
	Now    func() time.Time
}

// Read implements Source.
func (s *PrometheusScraper) Read(ctx context.Context) (Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, http.NoBody)
	if err != nil {
		return Snapshot{}, err
	}
	// The text format: the collector's reader serves it to anyone who asks.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.Client.Do(req)
	if err != nil {
		return Snapshot{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Snapshot{}, fmt.Errorf("GET %s: status %d", s.URL, resp.StatusCode)
	}
	snap, err := Parse(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return Snapshot{}, fmt.Errorf("parse %s: %w", s.URL, err)
	}
	snap.Time = s.Now()
	return snap, nil
}

// Parse turns a Prometheus text exposition into a Snapshot (without Time).
func Parse(r io.Reader) (Snapshot, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{
		Exporters: map[string]ExporterFigures{},
		Receivers: map[string]ReceiverFigures{},
		Extra:     map[string]float64{},
	}
	queues := map[queueKey]queueFigures{}
	for rawName, fam := range families {
		name := strings.TrimSuffix(rawName, "_total")
		for _, m := range fam.GetMetric() {
			v, ok := value(m)
			if !ok {
				continue
			}
			labels := labelMap(m)
			if strings.HasPrefix(name, orderedRWPrefix) {
				// Shown as found in /status, whether or not they are judged below.
				snap.Extra[seriesKey(name, labels)] += v
			}
			switch {
			case name == exporterQueueSize, name == exporterQueueCapacity:
				// One queue per exporter and signal (data_type): an exporter in a metrics and a
				// logs pipeline has two, and the fuller one is what matters.
				key := queueKey{exporter: labels["exporter"], dataType: labels["data_type"]}
				q := queues[key]
				if name == exporterQueueSize {
					q.size += v
				} else {
					q.capacity += v
				}
				queues[key] = q
			case strings.HasPrefix(name, exporterSentPrefix):
				id := labels["exporter"]
				f := snap.Exporters[id]
				f.Sent += v
				snap.Exporters[id] = f
			case strings.HasPrefix(name, exporterSendFailedPrefix):
				id := labels["exporter"]
				f := snap.Exporters[id]
				f.SendFailed += v
				snap.Exporters[id] = f
			case strings.HasPrefix(name, exporterEnqueueFailedPrefix):
				id := labels["exporter"]
				f := snap.Exporters[id]
				f.EnqueueFailed += v
				snap.Exporters[id] = f
			case strings.HasPrefix(name, receiverAcceptedPrefix):
				id := labels["receiver"]
				f := snap.Receivers[id]
				f.Accepted += v
				snap.Receivers[id] = f
			case strings.HasPrefix(name, receiverRefusedPrefix):
				id := labels["receiver"]
				f := snap.Receivers[id]
				f.Refused += v
				snap.Receivers[id] = f
			case strings.HasPrefix(name, memoryLimiterRefusedPrefix):
				snap.MemoryLimiterRefused += v
			case name == processMemoryRSS, name == processMemoryRSS+"_bytes":
				snap.MemoryRSS = v
			case name == processHeapAlloc, name == "otelcol_process_runtime_heap_alloc":
				snap.HeapAlloc = v
			case name == orderedRWSendLag, name == orderedRWSendLag+"_seconds":
				id := labels["exporter"]
				f := snap.Exporters[id]
				f.HasSendLag, f.SendLag = true, max(f.SendLag, v)
				snap.Exporters[id] = f
			case strings.HasPrefix(name, seriesGuardPrefix):
				snap.Extra[seriesKey(name, labels)] += v
			}
		}
	}
	for key, q := range queues {
		f := snap.Exporters[key.exporter]
		if !f.HasQueue || fuller(q.size, q.capacity, f.QueueSize, f.QueueCapacity) {
			f.HasQueue, f.QueueSize, f.QueueCapacity = true, q.size, q.capacity
		}
		snap.Exporters[key.exporter] = f
	}
	delete(snap.Exporters, "")
	delete(snap.Receivers, "")
	return snap, nil
}

type queueKey struct{ exporter, dataType string }

type queueFigures struct{ size, capacity float64 }

// fuller reports whether queue a is fuller than queue b (a queue without capacity never is).
func fuller(sizeA, capA, sizeB, capB float64) bool {
	if capA <= 0 {
		return false
	}
	if capB <= 0 {
		return true
	}
	return sizeA/capA > sizeB/capB
}

func value(m *dto.Metric) (float64, bool) {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// identityLabels are added by the telemetry reader to every series; they say nothing about the
// figure and would only make the keys of Extra long.
var identityLabels = map[string]bool{
	"service_name": true, "service_instance_id": true, "service_version": true,
	"otel_scope_name": true, "otel_scope_version": true, "otel_scope_schema_url": true,
	"job": true, "instance": true,
}

func labelMap(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		if identityLabels[l.GetName()] {
			continue
		}
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func seriesKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}
