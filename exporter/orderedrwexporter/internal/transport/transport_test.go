package transport

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func labels(i int) []prompb.Label {
	return []prompb.Label{{Name: "__name__", Value: "metric"}, {Name: "series", Value: fmt.Sprint(i)}}
}

func TestSplitHalves(t *testing.T) {
	h := func(ts int64) prompb.Histogram { return prompb.Histogram{Timestamp: ts} }
	timeseries := []prompb.TimeSeries{
		{Labels: []prompb.Label{{Name: "a"}}, Samples: []prompb.Sample{{Timestamp: 1}, {Timestamp: 2}, {Timestamp: 3}}},
		{Labels: []prompb.Label{{Name: "b"}}, Histograms: []prompb.Histogram{h(1), h(2), h(3)}},
	}
	first, second := splitHalves(timeseries, 2)
	require.Len(t, first, 1)
	assert.Equal(t, []prompb.Sample{{Timestamp: 1}, {Timestamp: 2}}, first[0].Samples)
	require.Len(t, second, 2)
	assert.Equal(t, []prompb.Sample{{Timestamp: 3}}, second[0].Samples)

	first, second = splitHalves(timeseries, 4)
	require.Len(t, first, 2)
	assert.Equal(t, []prompb.Histogram{h(1)}, first[1].Histograms)
	require.Len(t, second, 1)
	assert.Equal(t, []prompb.Histogram{h(2), h(3)}, second[0].Histograms)

	first, second = splitHalves(timeseries, 3)
	assert.Len(t, first, 1)
	assert.Len(t, second, 1)
}

// The request size summed from the series' sizes is the size the protobuf encoder computes.
func TestEncodedSizeFromSeriesSizes(t *testing.T) {
	var timeseries []prompb.TimeSeries
	size := 0
	for i := range 300 {
		ts := prompb.TimeSeries{Labels: labels(i), Samples: make([]prompb.Sample, i%7+1)}
		timeseries = append(timeseries, ts)
		size += SeriesSize(&ts)
	}
	assert.Equal(t, (&prompb.WriteRequest{Timeseries: timeseries}).Size(), size)
}

func TestRejectionReason(t *testing.T) {
	for body, want := range map[string]string{
		"out of order sample": telemetry.ReasonOutOfOrder,
		"err-mimir-sample-out-of-order: the sample has been rejected": telemetry.ReasonOutOfOrder,
		"duplicate sample for timestamp":                              telemetry.ReasonDuplicate,
		"err-mimir-sample-timestamp-too-old":                          telemetry.ReasonTooOld,
		"out of bounds":                                               telemetry.ReasonTooOld,
		"per-user series limit of 10000 exceeded":                     telemetry.ReasonLimits,
		"invalid label name":                                          telemetry.ReasonOther,
	} {
		assert.Equal(t, want, rejectionReason(400, body), body)
	}
	assert.Equal(t, telemetry.ReasonLimits, rejectionReason(413, "request too large"))
}

// results records what Deliver reports.
type results struct {
	sent, splits int
	rejected     map[string]int
	failed       int
}

func (r *results) Sent(n int) { r.sent += n }
func (r *results) Split()     { r.splits++ }
func (r *results) Rejected(reason string, _ []prompb.Label, _ error) {
	r.rejected[reason]++
}
func (r *results) Failed(n int, _ []prompb.Label, _ error) { r.failed += n }

func newSender(t *testing.T, backend *promtest.Backend, retry configretry.BackOffConfig) *Sender {
	t.Helper()
	poster := &HTTPPoster{Client: backend.Server.Client(), URL: backend.URL(), UserAgent: "test/0"}
	return NewSender(context.Background(), poster, retry, nil)
}

func fastRetry() configretry.BackOffConfig {
	r := configretry.NewDefaultBackOffConfig()
	r.InitialInterval, r.MaxInterval, r.MaxElapsedTime = time.Millisecond, 5*time.Millisecond, 5*time.Second
	return r
}

func request(numSeries int, ts int64) []prompb.TimeSeries {
	out := make([]prompb.TimeSeries, numSeries)
	for i := range out {
		out[i] = prompb.TimeSeries{Labels: labels(i), Samples: []prompb.Sample{{Timestamp: ts, Value: float64(ts)}}}
	}
	return out
}

// One sample the backend rejects costs that sample: the request is split until it stands alone,
// every other sample is sent, and the rejection is named.
func TestDeliverSplitsUntilOnlyTheRejectedSampleIsLeft(t *testing.T) {
	backend := promtest.NewBackend(t)
	sender := newSender(t, backend, fastRetry())
	sender.Deliver([]prompb.TimeSeries{request(1, 5000)[0]}, 1, 0, &results{rejected: map[string]int{}})

	r := &results{rejected: map[string]int{}}
	sender.Deliver(request(100, 4000), 100, 0, r)
	assert.Equal(t, 99, r.sent)
	assert.Equal(t, map[string]int{telemetry.ReasonOutOfOrder: 1}, r.rejected)
	assert.Positive(t, r.splits)
	assert.LessOrEqual(t, r.splits, 7, "at most log2(100) splits")
	assert.Zero(t, r.failed)
}

// Server errors are retried with backoff until they pass; without retries they fail at once.
func TestDeliverRetriesServerErrors(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.FailNext(3)
	r := &results{rejected: map[string]int{}}
	newSender(t, backend, fastRetry()).Deliver(request(2, 1000), 2, 0, r)
	assert.Equal(t, 2, r.sent)
	assert.Equal(t, 4, backend.Requests())

	backend.FailNext(1)
	noRetry := fastRetry()
	noRetry.Enabled = false
	r = &results{rejected: map[string]int{}}
	newSender(t, backend, noRetry).Deliver(request(2, 2000), 2, 0, r)
	assert.Zero(t, r.sent)
	assert.Equal(t, 2, r.failed)
}
