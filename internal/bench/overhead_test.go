package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

func TestDriverStopsAtItsLimit(t *testing.T) {
	sink, l, recv, endpoint := fakeCollector(t, 3000, true)

	// 7,000 samples: more than two passes over the 3,000 series, split over 3 senders.
	d := &Driver{Endpoint: endpoint, Load: l, Requests: len(l.Requests),
		Senders: 3, MaxBacklog: 1_000_000, Sink: sink, Limit: 7000}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Run(ctx) // returns by itself once the limit is sent
	require.NoError(t, ctx.Err())
	assert.Equal(t, int64(7000), d.Counts().Accepted)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	assert.Equal(t, int64(7000), recv.points)
	assert.Zero(t, recv.outOfOrder)
}

func TestLoadWithAttributes(t *testing.T) {
	l, err := BuildLoadWithAttributes(1500, 1000, 9)
	require.NoError(t, err)
	require.Len(t, l.Requests, 2)
	for _, r := range l.Requests {
		r.SetTimestamp(time.Now().UnixNano())
		req := pmetricotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(r.Body))
		dps := req.Metrics().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
		require.Equal(t, r.Points, dps.Len())
		for i := range dps.Len() {
			attrs := dps.At(i).Attributes()
			require.Equal(t, 10, attrs.Len())
			_, ok := attrs.Get("series")
			require.True(t, ok)
			for _, kv := range ExtraAttributes {
				v, ok := attrs.Get(kv[0])
				require.True(t, ok, kv[0])
				require.Equal(t, kv[1], v.Str())
			}
		}
	}
	_, err = BuildLoadWithAttributes(10, 10, len(ExtraAttributes)+1)
	require.Error(t, err)
}

// TestOverheadMeasuresBothSides runs the stock pair briefly against the built binary, fed
// together and in turn: its series_guard config validates, both collectors get the same
// samples, each burst's CPU is read, and the with-pipeline's profile has a series_guard share.
func TestOverheadMeasuresBothSides(t *testing.T) {
	for _, together := range []bool{true, false} {
		t.Run(fmt.Sprintf("together=%v", together), func(t *testing.T) { testOverhead(t, together) })
	}
}

func testOverhead(t *testing.T, together bool) {
	bin := fleettest.CollectorBinary(t)
	b, err := New(Options{
		Binary: bin, RepoRoot: fleettest.RepoRoot(), Series: 2000, Senders: 2, PointsPerRequest: 500,
		MaxHeldSamples: 100_000, MaxSeries: 10_000, OverheadRounds: 2, OverheadBurst: time.Second,
		OverheadRate: 20_000, OverheadTogether: together, ProfileDir: t.TempDir(), ProfileLength: time.Second, Log: testLog{t},
	})
	require.NoError(t, err)
	defer b.Close()
	b.Pipelines = []Pipeline{b.Pipelines[0]} // (a): the stock pair only
	pairs := b.OverheadPairs()
	require.Len(t, pairs, 1)
	require.Empty(t, pairs[0].With.Unavailable)
	require.Contains(t, pairs[0].With.YAML, "processors: [batch, series_guard]")

	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(pairs[0].With.YAML), 0o600))
	cmd := exec.Command(bin, "validate", "--config", path)
	cmd.Env = append(os.Environ(), pairs[0].With.Env("127.0.0.1:4318", "http://127.0.0.1:9/api/v1/write", "127.0.0.1:1777", "127.0.0.1:13133")...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	res := &Results{Opts: b.Opts}
	b.Overhead(res)
	require.Len(t, res.Overhead, 1)
	r := res.Overhead[0]
	require.NoError(t, r.Err)
	require.Len(t, r.Rounds, 2)
	assert.Equal(t, together, r.Rounds[0].Together)
	if !together {
		assert.True(t, r.Rounds[0].WithoutFirst)
		assert.False(t, r.Rounds[1].WithoutFirst, "the order alternates")
	}
	for _, x := range r.Rounds {
		assert.Equal(t, int64(20_000), x.Without.Samples)
		assert.Equal(t, x.Without.Samples, x.With.Samples)
		assert.Positive(t, x.Without.CPUSeconds)
		assert.Positive(t, x.With.CPUSeconds)
	}
	require.FileExists(t, r.Profile)
	var buckets []string
	for _, sh := range r.Shares {
		buckets = append(buckets, sh.Bucket)
	}
	assert.Contains(t, buckets, "series_guard")

	var report strings.Builder
	res.WriteOverhead(&report)
	assert.Contains(t, report.String(), "| stock prometheus_remote_write: (a) vs (a+g) |")
}

func TestRatioInterval(t *testing.T) {
	_, _, _, ok := RatioInterval([]float64{1.1})
	assert.False(t, ok, "one round says nothing about the scatter")
	m, lo, hi, ok := RatioInterval([]float64{1.02, 1.02, 1.02})
	require.True(t, ok)
	assert.InDelta(t, 1.02, m, 1e-9)
	assert.InDelta(t, 1.02, lo, 1e-9, "no scatter, no width")
	assert.InDelta(t, 1.02, hi, 1e-9)
	// Two rounds, ratios e^-0.1 and e^0.1: mean log 0, sd 0.1414, t(1 df) 12.706, half-width
	// 12.706 * 0.1414 / sqrt(2) = 1.2706.
	m, lo, hi, ok = RatioInterval([]float64{math.Exp(-0.1), math.Exp(0.1)})
	require.True(t, ok)
	assert.InDelta(t, 1, m, 1e-9)
	assert.InDelta(t, math.Exp(-1.2706), lo, 1e-4)
	assert.InDelta(t, math.Exp(1.2706), hi, 1e-4)
}
