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

// BenchmarkCacheMemory is the live heap the cache keeps per series (labels, their strings and
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
					before := liveHeap()
					// Two passes: a series is cached when seen the second time.
					for i := range 2 * ((numSeries + benchBatch - 1) / benchBatch) {
						enc.Encode(benchPush(i, numSeries, attrs, false), enc.start)
					}
					after := liveHeap()
					b.ReportMetric((float64(after)-float64(before))/float64(enc.CachedSeries()), "B/series")
					runtime.KeepAlive(enc)
				}
			})
		}
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
