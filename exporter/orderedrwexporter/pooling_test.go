package orderedrwexporter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/xpdata/pref"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/pooltest"
)

// With the pdata.useProtoPooling feature gate, the pipeline (service/internal/refconsumer)
// returns a batch's objects to pdata's pools as soon as pushMetrics returns, and the next
// unmarshal takes them again. ordered_rw holds samples for its window and caches label blocks
// across pushes, so anything it kept of a batch (an attribute value's memory, a data point, a
// bucket slice) would be sent later with another request's data. These tests push batches with
// the gate on, overwrite each batch after the push, release it to the pools and reuse its
// objects with a decoy batch, and require what the backend stores to be what it stores when the
// batches are left alone.

// poolingBatch is batch i at ts: two resources with attributes beyond service name and instance
// (so target_info), a gauge, a counter, a histogram, a summary and an exponential histogram (the
// translator's fallback path) per series, with string, int and bool attributes.
func poolingBatch(i int, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 2 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		rm.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("inst-%d", r))
		rm.Resource().Attributes().PutStr("host.name", fmt.Sprintf("node-%d", r))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("scope")
		ms := sm.Metrics()
		t := pcommon.NewTimestampFromTime(ts)
		start := pcommon.NewTimestampFromTime(ts.Add(-time.Hour))
		for s := range 3 {
			attrs := func(a pcommon.Map) {
				a.PutStr("series", fmt.Sprintf("s%d-%s", s, strings.Repeat("x", 20)))
				a.PutInt("shard", int64(s))
				a.PutBool("even", s%2 == 0)
			}
			pooltest.AppendSeries(ms, attrs, start, t, i, s)
		}
	}
	return md
}

func TestPooledBatchesAreNotRetained(t *testing.T) {
	pooltest.Enable(t)
	base := time.UnixMilli(1_700_000_000_000)
	const batches = 6
	for _, mode := range []struct {
		name string
		set  func(cfg *Config, dir string)
		// holds: samples are held until the clock moves; restart: delivered by a restarted
		// exporter from the write-ahead log.
		holds, restart bool
	}{
		{"holdback", func(*Config, string) {}, true, false},
		{"holdback with wal, restarted", func(cfg *Config, dir string) { *cfg = *walConfig(cfg.HTTP.Endpoint, dir) }, true, true},
		{"stamp", func(cfg *Config, _ string) { cfg.Ordering.Mode = ModeStamp }, false, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			// run pushes the batches as the pipeline does (unmarshalled from the pools,
			// pipeline-owned); with recycle, each is poisoned and released to the pools when
			// pushMetrics returns and its objects reused by a poisoned decoy.
			run := func(recycle bool) map[string][]promtest.Sample {
				var marshaler pmetric.ProtoMarshaler
				backend := promtest.NewBackend(t)
				clock := &fakeClock{now: base.Add(batches * time.Second)}
				cfg := testConfig(backend.URL())
				mode.set(cfg, t.TempDir())
				// One ID for both exporters of a restart: the log's folder is named by it.
				set := exportertest.NewNopSettings(metadata.Type)
				set.ID = component.NewIDWithName(metadata.Type, "pooling")
				start := func() *ordExporter {
					exp, err := newExporter(cfg, set)
					require.NoError(t, err)
					exp.clock = clock
					require.NoError(t, exp.start(context.Background(), componenttest.NewNopHost()))
					t.Cleanup(func() { require.NoError(t, exp.shutdown(context.Background())) })
					return exp
				}
				exp := start()
				decoy, err := marshaler.MarshalMetrics(poolingBatch(99, base.Add(-time.Minute)))
				require.NoError(t, err)
				for i := range batches {
					md := pooltest.Unmarshal(t, poolingBatch(i, base.Add(time.Duration(i)*time.Second)))
					require.NoError(t, exp.pushMetrics(context.Background(), md))
					if recycle {
						pooltest.Recycle(t, md, decoy)
					}
				}
				if mode.holds {
					held := exp.engine.HeldSamples()
					require.NotZero(t, held, "samples must be held while their batches are recycled")
					if mode.restart {
						// What the log kept is what a restarted exporter sends.
						require.NoError(t, exp.shutdown(context.Background()))
						exp = start()
						require.Eventually(t, func() bool { return exp.engine.HeldSamples() == held }, 5*time.Second, time.Millisecond)
					}
					clock.set(base.Add(time.Hour))
					exp.engine.ReleaseDue()
				}
				waitIdle(t, exp)
				assert.Zero(t, backend.Rejected())
				return backend.Stored()
			}
			want := run(false)
			// 2 resources × 3 series × (gauge 1, counter 1, histogram 2+3, summary 2+1,
			// exponential histogram 1) + target_info per resource.
			require.Len(t, want, 2*3*11+2)
			got := run(true)
			assert.Equal(t, want, got)
			for key := range got {
				assert.NotContains(t, key, "poison")
			}
		})
	}
}

// BenchmarkPooledUnmarshalEncode is the part of the gateway's hot path the gate changes: unmarshal
// an OTLP request as the otlp receiver does, encode it (ordered_rw's encoder, 100k series in
// steady state), release it as the pipeline does; without and with the gate.
func BenchmarkPooledUnmarshalEncode(b *testing.B) {
	const numSeries = 100_000
	var marshaler pmetric.ProtoMarshaler
	var raws [][]byte
	for i := range numSeries/benchBatch + 1 {
		raw, err := marshaler.MarshalMetrics(benchBatchAt(i, numSeries))
		require.NoError(b, err)
		raws = append(raws, raw)
	}
	for _, pooling := range []bool{false, true} {
		b.Run("pooling="+strconv.FormatBool(pooling), func(b *testing.B) {
			pooltest.SetGate(b, pooling)
			exp, err := newExporter(testConfig("http://127.0.0.1:1/api/v1/write"), exportertest.NewNopSettings(metadata.Type))
			require.NoError(b, err)
			var unmarshaler pmetric.ProtoUnmarshaler
			step := func(i int) {
				md, err := unmarshaler.UnmarshalMetrics(raws[i%len(raws)])
				if err != nil {
					b.Fatal(err)
				}
				pref.MarkPipelineOwnedMetrics(md)
				exp.translate(md)
				pref.UnrefMetrics(md)
			}
			for i := range 2 * len(raws) { // every series cached: the steady state
				step(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU(b)
			for i := 0; i < b.N; i++ {
				step(i)
			}
			// CPU time (GC workers included) is what a loaded machine does not distort.
			b.ReportMetric(float64((processCPU(b)-cpu).Nanoseconds())/float64(b.N)/benchBatch, "cpu-ns/sample")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchBatch, "ns/sample")
		})
	}
}
