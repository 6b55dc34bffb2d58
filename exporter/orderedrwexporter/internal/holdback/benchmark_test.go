package holdback

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
)

// BenchmarkHeldMemory measures the hold-back's own live memory (memtest.Live: heap and mapped),
// its input (labels, points) allocated
// before: each of n series pushed 5 times, 1 s apart, into a 5 s window of 250 ms buckets, as
// exporter/orderedrwexporter's BenchmarkMemory does. It reports the bytes per held sample in all
// (entries, the chunks' slack, the series' refs and table over the 5 samples each holds), and that
// total split: per held sample beyond the first of its series (the entry and the chunks' slack),
// and per series (its ref, its table slot and index, its first entry).
//
//	go test -run '^$' -bench BenchmarkHeldMemory -benchtime 1x ./exporter/orderedrwexporter/internal/holdback/
func BenchmarkHeldMemory(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			const pushes = 5
			batches := make([][]sample.Series, pushes)
			for p := range batches {
				batches[p] = make([]sample.Series, n)
				for i := range n {
					batches[p][i] = series(i, int64(p)*1000)
				}
			}
			for range b.N {
				hold := New(Settings{WindowMillis: 5000, BucketMillis: 250, IdleMillis: 15 * 60_000}, nil, noLatency)
				before := memtest.Live()
				var first uint64
				for p, batch := range batches {
					hold.Add(batch, int64(p)*1000, 0)
					if p == 0 {
						first = memtest.Live()
					}
				}
				after := memtest.Live()
				held := float64(hold.Held())
				perSample := (float64(after) - float64(first)) / (held - float64(n))
				b.ReportMetric((float64(after)-float64(before))/held, "B/held_sample")
				b.ReportMetric(perSample, "B/more_sample")
				b.ReportMetric((float64(first)-float64(before))/float64(n), "B/series")
				runtime.KeepAlive(hold)
			}
			runtime.KeepAlive(batches)
		})
	}
}
