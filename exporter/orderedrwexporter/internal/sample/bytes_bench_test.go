package sample

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/prompb"
)

// BenchmarkBytes is the memory budget's estimate of a push of 1,000 series of 10 labels, one
// point each: it runs up to three times per push (admission, queued, done).
func BenchmarkBytes(b *testing.B) {
	series := make([]Series, 1000)
	for i := range series {
		labels := make([]prompb.Label, 10)
		for j := range labels {
			labels[j] = prompb.Label{Name: fmt.Sprintf("label_%d", j), Value: fmt.Sprintf("value_%d_%d", i, j)}
		}
		series[i] = Series{Labels: NewLabels(labels), Points: []Point{{T: 1, V: 1}}}
	}
	b.ResetTimer()
	for b.Loop() {
		_ = Bytes(series)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(series)), "ns/series")
}
