package encode

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

const (
	// benchBatch is the data points of one push, as the exporter's benchmarks send.
	benchBatch = 8192
	// benchPerResource is the series of one resource (job, instance and host.name: target_info).
	benchPerResource = 1024
	// benchSeries is the active series of the steady state: every one once per pass of pushes.
	benchSeries = 100_000
)

// benchPush is push i of a load of numSeries series with attrs attributes each, every series
// once per pass; with churn, every push's series are new.
func benchPush(i, numSeries, attrs int, churn bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0).Add(time.Duration(i) * time.Second))
	var dps pmetric.NumberDataPointSlice
	for j := range benchBatch {
		g := (i*benchBatch + j) % numSeries
		if churn {
			g = i*benchBatch + j
		}
		if j == 0 || g%benchPerResource == 0 {
			rm := md.ResourceMetrics().AppendEmpty()
			r := g / benchPerResource
			rm.Resource().Attributes().PutStr("service.name", "bench")
			rm.Resource().Attributes().PutStr("service.instance.id", "i"+strconv.Itoa(r))
			rm.Resource().Attributes().PutStr("host.name", "node-"+strconv.Itoa(r))
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName("bench")
			m := sm.Metrics().AppendEmpty()
			m.SetName("bench.gauge")
			dps = m.SetEmptyGauge().DataPoints()
		}
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("series", strconv.Itoa(g))
		for a := 1; a < attrs; a++ {
			dp.Attributes().PutStr("attr"+strconv.Itoa(a), "value-"+strconv.Itoa(a)+"-"+strconv.Itoa(g%100))
		}
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(float64(i))
	}
	return md
}

// translatorAndCopy is what ordered_rw did before the encoder: the translator, then a sample.Series
// per series with its labels' hash, block and points.
func translatorAndCopy(md pmetric.Metrics, set prometheusremotewrite.Settings) []sample.Series {
	tss, _ := prometheusremotewrite.FromMetrics(md, set)
	series := make([]sample.Series, 0, len(tss))
	points := make([]sample.Point, 0, len(tss))
	var scratch []byte
	for _, ts := range tss {
		var hash uint64
		hash, scratch = sample.HashLabels(ts.Labels, scratch)
		first := len(points)
		points = sample.AppendPoints(points, ts)
		series = append(series, sample.Series{Hash: hash, Labels: sample.NewLabels(ts.Labels), Points: points[first:len(points):len(points)]})
	}
	return series
}

// BenchmarkEncode compares the encoder with the translator (plus the copy into series that
// ordered_rw made of its output) on pushes of 8,192 gauge points, at 1 and 5 attributes a point:
// steady state (100k series, each once per pass, after two unmeasured passes) and churn
// (every push's series new). One op is one push; ns/sample and allocs/sample are per point.
//
//	go test -run '^$' -bench BenchmarkEncode -benchtime 100x ./exporter/orderedrwexporter/internal/encode/
func BenchmarkEncode(b *testing.B) {
	set := Settings{IdleTimeout: 15 * time.Minute, MaxSeries: 1_000_000}
	for _, attrs := range []int{1, 5} {
		for _, churn := range []bool{false, true} {
			load := "steady"
			if churn {
				load = "churn"
			}
			name := "attrs=" + strconv.Itoa(attrs) + "/" + load
			b.Run(name+"/encoder", func(b *testing.B) {
				enc := New(set)
				runEncode(b, attrs, churn, func(md pmetric.Metrics, i int) int {
					series := enc.Encode(md, enc.start.Add(time.Duration(i)*time.Second)).Series
					enc.Recycle(series) // as the exporter does once the push is done
					return len(series)
				})
			})
			b.Run(name+"/translator", func(b *testing.B) {
				runEncode(b, attrs, churn, func(md pmetric.Metrics, _ int) int {
					return len(translatorAndCopy(md, set.Translator))
				})
			})
		}
	}
}

func runEncode(b *testing.B, attrs int, churn bool, encode func(pmetric.Metrics, int) int) {
	warmup := 0
	if !churn {
		// Two passes: every series known (cached from its second sighting), as a gateway's
		// series are.
		warmup = 2 * ((benchSeries + benchBatch - 1) / benchBatch)
		for i := range warmup {
			encode(benchPush(i, benchSeries, attrs, false), i)
		}
	}
	var mallocs uint64
	var before, after runtime.MemStats
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		md := benchPush(warmup+i, benchSeries, attrs, churn)
		runtime.ReadMemStats(&before)
		b.StartTimer()
		if encode(md, warmup+i) == 0 {
			b.Fatal("nothing encoded")
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
		b.StartTimer()
	}
	b.StopTimer()
	samples := float64(b.N * benchBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
	b.ReportMetric(float64(mallocs)/samples, "allocs/sample")
}

// BenchmarkCacheMemory is the live memory (memtest.Live: heap and mapped) the cache keeps per
// series (labels, their strings and
// both tables' slots and indexes), at 100k and 1M series of 1 and 5 attributes: after a GC,
// minus before, divided by the series.
//
//	go test -run '^$' -bench BenchmarkCacheMemory ./exporter/orderedrwexporter/internal/encode/
func BenchmarkCacheMemory(b *testing.B) {
	for _, attrs := range []int{1, 5} {
		for _, numSeries := range []int{100_000, 1_000_000} {
			b.Run("attrs="+strconv.Itoa(attrs)+"/series="+strconv.Itoa(numSeries), func(b *testing.B) {
				for range b.N {
					enc := New(Settings{IdleTimeout: 15 * time.Minute, MaxSeries: 2 * numSeries})
					before := memtest.Live()
					// Two passes: a series is cached when seen the second time.
					for i := range 2 * ((numSeries + benchBatch - 1) / benchBatch) {
						enc.Encode(benchPush(i, numSeries, attrs, false), enc.start)
					}
					after := memtest.Live()
					b.ReportMetric((float64(after)-float64(before))/float64(enc.CachedSeries()), "B/series")
					runtime.KeepAlive(enc)
				}
			})
		}
	}
}

// fleetbenchPush is push i of fleetbench's load (internal/bench, internal/loadgen) as ordered_rw
// stamp mode encodes it: one resource with service.name only (no target_info), the gauge
// fleet_bench_samples, one attribute series="s<n>", 2,000 points a push, every series once per
// pass; first is the first series of the load (a new load: new series).
func fleetbenchPush(i, numSeries, first int) pmetric.Metrics {
	return fleetbenchPushOrdered(i, numSeries, first, false)
}

// fleetbenchPushOrdered is fleetbenchPush, with the series in an order unrelated to the one in
// which the encoder first saw them if shuffled (series n*g mod numSeries at position g: every
// series once per pass, neighbours in a push far apart in the table).
func fleetbenchPushOrdered(i, numSeries, first int, shuffled bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "fleet-bench")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("fleet_bench_samples")
	dps := m.SetEmptyGauge().DataPoints()
	for j := range fleetbenchBatch {
		g := i*fleetbenchBatch + j
		dp := dps.AppendEmpty()
		n := g % numSeries
		if shuffled {
			// 999,983 is prime, so coprime with the series counts used (2^a·5^b): a permutation.
			n = int(uint64(n) * 999_983 % uint64(numSeries))
		}
		dp.Attributes().PutStr("series", "s"+strconv.Itoa(first+n))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000+int64(g/numSeries), 0)))
		dp.SetDoubleValue(float64(i))
	}
	return md
}

// fleetbenchBatch is the points of one of fleetbench's requests.
const fleetbenchBatch = 2000

// fleetbenchSettings are ordered_rw's stamp mode's, as fleetbench's (s) pipeline runs it.
var fleetbenchSettings = Settings{StampLabel: "collector_gateway", StampValue: "bench", IdleTimeout: 15 * time.Minute, MaxSeries: 1_000_000}

// BenchmarkCacheMemoryFleetbench is the encoder's live memory (memtest.Live: heap and mapped) per
// series at fleetbench's label shapes (see fleetbenchPush), at 200k series: cached (after two
// passes; label blocks included, then without them: B/series-state), and seen once (one pass of
// new series). After GCs, minus before, divided by the series; mapped-B/series is the part
// outside the Go heap.
//
//	go test -run '^$' -bench BenchmarkCacheMemoryFleetbench -benchtime 3x ./exporter/orderedrwexporter/internal/encode/
func BenchmarkCacheMemoryFleetbench(b *testing.B) {
	const numSeries = 200_000
	passes := func(enc *Encoder, n, first int) {
		for i := range n * numSeries / fleetbenchBatch {
			res := enc.Encode(fleetbenchPush(i, numSeries, first), enc.start)
			enc.Recycle(res.Series)
		}
	}
	b.Run("cached", func(b *testing.B) {
		for range b.N {
			enc := New(fleetbenchSettings)
			before, mappedBefore := memtest.Live(), offheap.Mapped()
			passes(enc, 2, 0)
			after, mapped := memtest.Live(), offheap.Mapped()-mappedBefore
			if enc.CachedSeries() != numSeries {
				b.Fatalf("%d series cached, want %d", enc.CachedSeries(), numSeries)
			}
			// The label blocks, as NewLabels allocates them (size-class rounding included).
			blocks := memtest.Live()
			kept := make([]sample.Labels, numSeries)
			for i := range numSeries {
				kept[i] = enc.builderLabels(i)
			}
			blocks = memtest.Live() - blocks - uint64(numSeries*16)
			runtime.KeepAlive(kept)
			perSeries := (float64(after) - float64(before)) / numSeries
			b.ReportMetric(perSeries, "B/series")
			b.ReportMetric(perSeries-float64(blocks)/numSeries, "B/series-state")
			b.ReportMetric(float64(mapped)/numSeries, "mapped-B/series")
			runtime.KeepAlive(enc)
		}
	})
	b.Run("seen-once", func(b *testing.B) {
		for range b.N {
			enc := New(fleetbenchSettings)
			before, mappedBefore := memtest.Live(), offheap.Mapped()
			passes(enc, 1, 0)
			after, mapped := memtest.Live(), offheap.Mapped()-mappedBefore
			if enc.CachedSeries() != 0 {
				b.Fatalf("%d series cached, want none", enc.CachedSeries())
			}
			b.ReportMetric((float64(after)-float64(before))/numSeries, "B/series")
			b.ReportMetric(float64(mapped)/numSeries, "mapped-B/series")
			runtime.KeepAlive(enc)
		}
	})
}

// builderLabels builds the labels of fleetbench's series i as the encoder caches them.
func (e *Encoder) builderLabels(i int) sample.Labels {
	resource, attrs := pcommon.NewMap(), pcommon.NewMap()
	resource.PutStr("service.name", "fleet-bench")
	attrs.PutStr("series", "s"+strconv.Itoa(i))
	if err := e.builder.base(resource, attrs, pcommon.NewInstrumentationScope(), false); err != nil {
		panic(err)
	}
	return e.builder.finish(len(e.builder.labels), nameLabel, "fleet_bench_samples").labels
}

// BenchmarkEncodeFleetbench is the encoder's CPU per sample in the steady state at fleetbench's
// label shapes, at 200k and 1M series (each once per pass, cached after two unmeasured passes):
// between two pushes of one series, the other series' pushes evict its state from the caches,
// so this is the cost of the cache misses per sample. shuffled: the measured pushes send the
// series in another order than the one they were cached in (a table lookup out of order).
//
//	go test -run '^$' -bench BenchmarkEncodeFleetbench -benchtime 200x ./exporter/orderedrwexporter/internal/encode/
func BenchmarkEncodeFleetbench(b *testing.B) {
	for _, run := range []struct {
		numSeries int
		shuffled  bool
	}{{200_000, false}, {1_000_000, false}, {200_000, true}, {1_000_000, true}} {
		numSeries := run.numSeries
		name := "series=" + strconv.Itoa(numSeries)
		if run.shuffled {
			name += "/shuffled"
		}
		b.Run(name, func(b *testing.B) {
			enc := New(fleetbenchSettings)
			pushes := numSeries / fleetbenchBatch
			for i := range 2 * pushes {
				enc.Recycle(enc.Encode(fleetbenchPush(i, numSeries, 0), enc.start).Series)
			}
			// The pushes of one pass, built once: a pass is replayed (the timestamps repeat, which
			// the encoder does not look at).
			load := make([]pmetric.Metrics, pushes)
			for i := range load {
				load[i] = fleetbenchPushOrdered(i, numSeries, 0, run.shuffled)
			}
			b.ResetTimer()
			for i := range b.N {
				enc.Recycle(enc.Encode(load[i%pushes], enc.start).Series)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*fleetbenchBatch), "ns/sample")
		})
	}
}
