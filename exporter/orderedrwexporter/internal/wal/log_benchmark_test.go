package wal

import (
	"fmt"
	"testing"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/pending"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// BenchmarkWALAppend is what the WAL adds to each push: encoding the push's series as one
// snappy-compressed entry, and the fsynced write of it. Each push carries one point of each of
// `series` series, as a gateway's batch does.
func BenchmarkWALAppend(b *testing.B) {
	for _, n := range []int{100, 1000, 8192} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			log, err := openLocked(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = log.close() }()
			var tracker pending.Counts[uint64]
			batches := make([][]sample.Series, 16)
			for i := range batches {
				batches[i] = batchOf(n, int64(1_000_000+i*1000))
			}
			b.ReportAllocs()
			b.ResetTimer()
			var bytes int
			for i := range b.N {
				index, size, err := log.append(batches[i%len(batches)], &tracker)
				if err != nil {
					b.Fatal(err)
				}
				tracker.Done(index)
				bytes += size
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "entry_bytes")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
