package ordering

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
)

// BenchmarkHoldback holds and releases one sample of each of 100,000 series per op (the engine
// alone, no translation), sending to a backend that discards.
//
//	go test -run '^$' -bench BenchmarkHoldback ./exporter/orderedrwexporter/internal/ordering/
func BenchmarkHoldback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	clock := newFakeClock(1_000_000)
	e, err := NewEngine(Settings{Shards: 5, QueueSize: 100, MaxBatchBytes: 3_000_000, Holdback: true, Window: 5 * time.Second, MaxHeldSamples: 1_000_000, Clock: clock, Retry: fastRetry()},
		componenttest.NewNopTelemetrySettings(), "ordered_rw", &HTTPPoster{Client: srv.Client(), URL: srv.URL})
	require.NoError(b, err)
	e.Start()
	const numSeries = 100_000
	inputs := make([][]Series, b.N)
	for i := range inputs {
		inputs[i] = make([]Series, numSeries)
		for s := range numSeries {
			inputs[i][s] = series(s, 1_000_000+int64(i)*1000)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		clock.Set(1_000_000 + int64(i)*1000)
		require.NoError(b, e.Push(context.Background(), inputs[i]))
		e.ReleaseDue()
	}
	clock.Set(1_000_000 + int64(b.N)*1000 + 60_000) // everything is due: the shutdown need not wait
	require.NoError(b, e.Shutdown(context.Background()))
	b.ReportMetric(float64(b.N*numSeries)/b.Elapsed().Seconds(), "samples/s")
}
