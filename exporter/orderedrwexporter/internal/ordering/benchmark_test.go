package ordering

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
)

// BenchmarkHoldback holds and releases one sample of each of 10k, 100k and 1M series per op
// (the engine alone, no translation), sending to a backend that discards, so the cost curve as
// the tracked and held state grows is visible. Each op's input is built outside the timer.
//
//	go test -run '^$' -bench BenchmarkHoldback ./exporter/orderedrwexporter/internal/ordering/
func BenchmarkHoldback(b *testing.B) {
	for _, numSeries := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("series=%d", numSeries), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			defer srv.Close()
			clock := newFakeClock(1_000_000)
			// The bound is above a window's worth (5 ops) of samples: early release is not measured here.
			e, err := NewEngine(Settings{MinShards: 5, MaxShards: 5, QueueSize: 500, MaxBatchBytes: 3_000_000, Holdback: true, Window: 5 * time.Second,
				MaxHeldSamples: 10 * numSeries, Clock: clock, Retry: fastRetry()},
				componenttest.NewNopTelemetrySettings(), "ordered_rw", &transport.HTTPPoster{Client: srv.Client(), URL: srv.URL})
			require.NoError(b, err)
			e.Start()
			input := make([]sample.Series, numSeries)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				for s := range numSeries {
					input[s] = series(s, 1_000_000+int64(i)*1000)
				}
				clock.Set(1_000_000 + int64(i)*1000)
				b.StartTimer()
				require.NoError(b, e.Push(context.Background(), input))
				e.ReleaseDue()
				i++
			}
			clock.Set(1_000_000 + int64(i)*1000 + 60_000) // everything is due: the shutdown need not wait
			require.NoError(b, e.Shutdown(context.Background()))
			b.ReportMetric(float64(i*numSeries)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
