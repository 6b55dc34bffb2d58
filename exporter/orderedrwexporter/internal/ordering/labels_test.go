package ordering

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
)

// checkingPoster checks that every series sent has the labels of the series its samples' value
// numbers, slowly, failing some requests so that they are retried: batches stay outstanding for
// a while, as in an outage.
type checkingPoster struct {
	series, wrong atomic.Int64
	mu            sync.Mutex
	firstWrong    string
	rnd           atomic.Uint64
}

func (p *checkingPoster) Post(_ context.Context, body []byte) error {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return err
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		p.fail("undecodable request: " + err.Error())
		return nil
	}
	for _, ts := range req.Timeseries {
		p.series.Add(1)
		var got string
		for _, l := range ts.Labels {
			if l.Name == "series" {
				got = l.Value
			}
		}
		for _, s := range ts.Samples {
			if want := seriesName(int(s.Value)); got != want {
				p.fail(fmt.Sprintf("labels %v sent with the value of %s", ts.Labels, want))
			}
		}
	}
	n := p.rnd.Add(1)
	time.Sleep(time.Duration(n%4) * time.Millisecond)
	if n%7 == 0 {
		return &transport.StatusError{Status: 503, Body: "slow down"}
	}
	return nil
}

func (p *checkingPoster) fail(msg string) {
	p.wrong.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstWrong == "" {
		p.firstWrong = msg
	}
}

// seriesName is the value of the label "series" of series n: long, so that a chunk of the
// encoder's arena holds a few hundred blocks.
func seriesName(n int) string { return fmt.Sprintf("%08d-%s", n, strings.Repeat("x", 300)) }

// TestEncoderLabelsStayMappedWhileUsed pushes, from several goroutines at once, series that come
// and go (the encoder's idle timeout passes every few pushes, so its cache is swept and its label
// chunks retired and unmapped all along), with hold-back, late samples, and a backend that is slow
// and fails requests, so that batches are retried while chunks retire. A chunk unmapped while a
// batch, a push or a held series could still read it would fault or, mapped again at the same
// address, send another series' labels: every series sent is checked against its value.
func TestEncoderLabelsStayMappedWhileUsed(t *testing.T) {
	enc := encode.New(encode.Settings{IdleTimeout: 3 * time.Second, MaxSeries: 1 << 20})
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tset := tel.NewTelemetrySettings()
	tset.Logger = zap.NewNop()
	poster := &checkingPoster{}
	e, err := NewEngine(Settings{
		MinShards: 2, MaxShards: 2, QueueSize: 8, MaxBatchBytes: 200_000, Retry: fastRetry(),
		Holdback: true, Window: 30 * time.Millisecond, ReleaseInterval: 5 * time.Millisecond,
		MaxHeldSamples: 50_000, SeriesIdleTimeout: time.Second, Epochs: enc.Epochs(),
	}, tset, "ordered_rw", poster)
	require.NoError(t, err)
	e.Start()

	var pushes atomic.Int64
	start := time.Now()
	deadline := start.Add(3 * time.Second)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n := int(pushes.Add(1))
				// The encoder's clock runs a second a push: each push sweeps the series not
				// pushed for more than three, and looks for chunks to unmap (at most once a
				// second).
				encNow := start.Add(time.Duration(n) * time.Second)
				md := stressPush(n, g)
				res := enc.Encode(md, encNow)
				assert.NoError(t, res.Err)
				// A push waits for the engine at times (its lock, full queues) while others
				// encode, sweep and move series out of sparse chunks.
				if rand.IntN(4) == 0 {
					time.Sleep(time.Duration(10+rand.IntN(20)) * time.Millisecond)
				}
				_ = e.Push(context.Background(), res.Series)
				enc.Recycle(res.Series)
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { e.ReleaseDue(); return e.HeldSamples() == 0 && e.Idle() }, 20*time.Second, time.Millisecond)
	require.NoError(t, e.Shutdown(context.Background()))

	mem := enc.LabelMemory()
	t.Logf("%d pushes, %d series sent; label chunks unmapped %d, still mapped %d bytes", pushes.Load(), poster.series.Load(), mem.Unmapped, mem.Mapped)
	assert.Zero(t, poster.wrong.Load(), poster.firstWrong)
	assert.Positive(t, poster.series.Load())
	assert.Greater(t, mem.Unmapped, 10, "chunks were unmapped while batches were in flight")
}

// stressPush is push n's series: 50 that stay, and 400 of a set that changes every two pushes,
// each with its number as its value; one point in ten is late (hold-back sends it at once).
func stressPush(n, g int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	dps := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	dps.SetName("g")
	points := dps.SetEmptyGauge().DataPoints()
	now := time.Now()
	add := func(series int) {
		dp := points.AppendEmpty()
		dp.Attributes().PutStr("series", seriesName(series))
		dp.SetDoubleValue(float64(series))
		ts := now.Add(time.Duration(n%1000) * time.Microsecond)
		if rand.IntN(10) == 0 {
			ts = ts.Add(-time.Second) // late: past the window
		}
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	}
	for i := range 50 {
		add(i)
	}
	set := 1000 * (n/2 + 1)
	for i := range 400 {
		add(set + i + g%2)
	}
	return md
}
