package transport

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func labels(i int) []prompb.Label {
	return []prompb.Label{{Name: "__name__", Value: "metric"}, {Name: "series", Value: fmt.Sprint(i)}}
}

func TestSplitHalves(t *testing.T) {
	h := func(ts int64) sample.Point { return sample.Point{T: ts, H: &prompb.Histogram{Timestamp: ts}} }
	a, b := sample.NewLabels([]prompb.Label{{Name: "a"}}), sample.NewLabels([]prompb.Label{{Name: "b"}})
	series := []sample.Series{
		{Hash: 1, Labels: a, Points: []sample.Point{{T: 1}, {T: 2}, {T: 3}}},
		{Hash: 2, Labels: b, Points: []sample.Point{h(1), h(2), h(3)}},
	}
	first, second := splitHalves(series, 2)
	require.Len(t, first, 1)
	assert.Equal(t, sample.Series{Hash: 1, Labels: a, Points: []sample.Point{{T: 1}, {T: 2}}}, first[0])
	require.Len(t, second, 2)
	assert.Equal(t, sample.Series{Hash: 1, Labels: a, Points: []sample.Point{{T: 3}}}, second[0])
	assert.Equal(t, series[1], second[1])

	first, second = splitHalves(series, 4)
	require.Len(t, first, 2)
	assert.Equal(t, []sample.Point{h(1)}, first[1].Points)
	require.Len(t, second, 1)
	assert.Equal(t, sample.Series{Hash: 2, Labels: b, Points: []sample.Point{h(2), h(3)}}, second[0])

	first, second = splitHalves(series, 3)
	assert.Len(t, first, 1)
	assert.Len(t, second, 1)
	// Appending to the first half does not overwrite the second.
	first, second = splitHalves(series, 1)
	_ = append(first[0].Points, sample.Point{T: 99})
	assert.Equal(t, []sample.Point{{T: 2}, {T: 3}}, second[0].Points)
}

// Each backend's wording of a rejection is classified as the README's table says.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		answer answer
		reason string
	}{
		// Prometheus (storage/interface.go, storage/remote/write_handler.go).
		{400, "out of order sample", answerSplit, telemetry.ReasonOutOfOrder},
		{400, "duplicate sample for timestamp", answerSplit, telemetry.ReasonDuplicate},
		{400, "too old sample", answerSplit, telemetry.ReasonTooOld},
		{400, "out of bounds", answerSplit, telemetry.ReasonTooOld},
		{400, "out of bounds: timestamp is too far in the future for series {a=\"b\"}", answerSplit, telemetry.ReasonTooOld},
		{400, `invalid metric name or labels, got {""="x"}`, answerSplit, telemetry.ReasonInvalid},
		// Mimir (pkg/util/globalerror IDs in its messages).
		{400, "the sample has been rejected because another sample with a more recent timestamp has already been ingested " +
			"and out-of-order samples are not allowed (err-mimir-sample-out-of-order). The affected sample has timestamp " +
			"1970-01-19T05:30:43.969Z and is from series test", answerSplit, telemetry.ReasonOutOfOrder},
		{400, "the sample has been rejected because its timestamp is too old (err-mimir-sample-timestamp-too-old)", answerSplit, telemetry.ReasonTooOld},
		{400, "(err-mimir-sample-duplicate-timestamp)", answerSplit, telemetry.ReasonDuplicate},
		{400, "received a series with an invalid label: 'a b' (err-mimir-label-invalid)", answerSplit, telemetry.ReasonInvalid},
		{400, "received a series whose number of labels exceeds the limit (actual: 31, limit: 30) (err-mimir-max-label-names-per-series)",
			answerSplit, telemetry.ReasonInvalid},
		// Thanos receive answers 409 with the TSDB's words.
		{409, "add 3 samples: out of order sample", answerSplit, telemetry.ReasonOutOfOrder},
		{409, "forwarding request to endpoint receive-1: conflict", answerSplit, telemetry.ReasonConflict},
		{413, "too many samples", answerDrop, telemetry.ReasonLimits},
		{429, "tenant is above active series limit", answerRetry, ""},
		{400, "received a sample whose timestamp is too far in the past (err-mimir-too-far-in-past)", answerSplit, telemetry.ReasonTooOld},
		{400, "(err-mimir-native-histogram-count-mismatch)", answerSplit, telemetry.ReasonInvalid},
		{400, "the write request has been rejected because the tenant exceeded the active series limit (err-mimir-max-active-series)",
			answerDrop, telemetry.ReasonLimits},
		// Quotas: named no sample; dropped whole, never split.
		{400, "user=123456789012_ws-x: per-user series limit of 1000 exceeded, please contact administrator to raise it. " +
			"(local limit: 1000 global limit: 1000 actual local limit: 1000)", answerDrop, telemetry.ReasonLimits},
		{400, "per-user series limit of 150000 exceeded (err-mimir-max-series-per-user)", answerDrop, telemetry.ReasonLimits},
		{400, "per-metric series limit of 100 exceeded", answerDrop, telemetry.ReasonLimits},
		{413, "request body too large", answerDrop, telemetry.ReasonLimits},
		// Cortex's per-series validation (pkg/util/validation/errors.go), as AMP answers it: a
		// named series, split. "limit" without "exceeded" is not a quota.
		{400, `series has too many labels (actual: 3, limit: 2) series: 'testmetric{foo2="bar2", foo="bar"}'`, answerSplit, telemetry.ReasonInvalid},
		{400, `label name too long: "aaaa" metric "testmetric{aaaa=\"b\"}"`, answerSplit, telemetry.ReasonInvalid},
		{400, `label value too long: "bbbb" metric "testmetric{a=\"bbbb\"}"`, answerSplit, telemetry.ReasonInvalid},
		{400, `sample invalid label: "a b" metric "testmetric{a b=\"c\"}"`, answerSplit, telemetry.ReasonInvalid},
		{400, `duplicate label name: "a" metric "testmetric{a=\"b\", a=\"c\"}"`, answerSplit, telemetry.ReasonInvalid},
		{400, `labels not sorted: "a" metric "testmetric{b=\"1\", a=\"2\"}"`, answerSplit, telemetry.ReasonInvalid},
		{400, "sample missing metric name", answerSplit, telemetry.ReasonInvalid},
		{400, `sample invalid metric name: "1abc"`, answerSplit, telemetry.ReasonInvalid},
		{400, `timestamp too old: 1000 metric: "testmetric"`, answerSplit, telemetry.ReasonTooOld},
		{400, `timestamp too new: 99999999999999 metric: "testmetric"`, answerSplit, telemetry.ReasonTooOld},
		// AMP's user guide (AMP-troubleshooting): its timestamp errors, its active-series quota
		// as a 400 (quoted whole), and its 429s.
		{400, "out-of-order samples", answerSplit, telemetry.ReasonOutOfOrder},
		{400, "samples with different value but same timestamp", answerSplit, telemetry.ReasonDuplicate},
		{400, "maxFailure (quorum) on a given error family, rpc error: code = Code(400) desc = addr=10.1.41.23:9095 state=ACTIVE " +
			"zone=us-east-1a, rpc error: code = Code(400) desc = user=123456789012_ws-x: per-user series limit of 10000000 exceeded, " +
			"Capacity from 2,000,000 to 10,000,000 is automatically adjusted based on the last 30 min of usage. If throttled above " +
			"10,000,000 or in case of incoming surges, please contact administrator to raise it. (local limit: 0 global limit: 10000000 " +
			"actual local limit: 92879)", answerDrop, telemetry.ReasonLimits},
		{400, "per-metric series limit of 100 exceeded, please contact administrator to raise it", answerDrop, telemetry.ReasonLimits},
		{429, "user=123456789012_ws-x: per-user series limit (local limit: 0 global limit: 3000000 actual local limit: 500000) exceeded", answerRetry, ""},
		{429, `{"message":"Rate exceeded"}`, answerRetry, ""},
		{429, "ingestion rate limit (6666.666666666667) exceeded while adding 499 samples and 0 metadata", answerRetry, ""},
		// A generic refusal, and other 4xx.
		{400, "bad request", answerDrop, telemetry.ReasonRejected},
		{400, "", answerDrop, telemetry.ReasonRejected},
		{401, "unauthorized", answerDrop, telemetry.ReasonRejected},
		{403, "forbidden: out of order sample", answerDrop, telemetry.ReasonRejected},
		{404, "not found", answerDrop, telemetry.ReasonRejected},
		// Retried.
		{429, "ingestion rate limit exceeded", answerRetry, ""},
		{500, "out of order sample", answerRetry, ""},
		{503, "unavailable", answerRetry, ""},
	} {
		answer, reason := classify(tc.status, tc.body)
		assert.Equal(t, tc.answer, answer, "%d %s", tc.status, tc.body)
		assert.Equal(t, tc.reason, reason, "%d %s", tc.status, tc.body)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 3*time.Second, retryAfter([]string{"3"}, now))
	assert.Equal(t, 90*time.Second, retryAfter([]string{now.Add(90 * time.Second).Format(http.TimeFormat)}, now))
	assert.Equal(t, 90*time.Second, retryAfter([]string{now.Add(90 * time.Second).Format(time.RFC850)}, now), "an obsolete date form")
	assert.Zero(t, retryAfter([]string{now.Add(-time.Minute).Format(http.TimeFormat)}, now), "a date passed")
	assert.Zero(t, retryAfter([]string{"-5"}, now))
	assert.Zero(t, retryAfter([]string{"soon"}, now))
	assert.Zero(t, retryAfter(nil, now))
}

// results records what DeliverEncoded reports.
type results struct {
	sent, splits int
	rejected     map[string]int
	failed       int
}

func (r *results) Sent(n int) { r.sent += n }
func (r *results) Split()     { r.splits++ }
func (r *results) Rejected(reason string, n int, _ sample.Labels, _ error) {
	r.rejected[reason] += n
}
func (r *results) Failed(n int, _ sample.Labels, _ error) { r.failed += n }

func newSender(t *testing.T, backend *promtest.Backend, retry configretry.BackOffConfig) *Sender {
	t.Helper()
	poster := &HTTPPoster{Client: backend.Server.Client(), URL: backend.URL(), UserAgent: "test/0"}
	return NewSender(context.Background(), poster, retry, nil)
}

// deliver is what a shard does with a request: encode it in buffers of its own, then
// DeliverEncoded.
func deliver(t *testing.T, s *Sender, req Request, n int, r Results) {
	t.Helper()
	var enc Encoder
	body, err := enc.Encode(req, 0)
	require.NoError(t, err)
	s.DeliverEncoded(body, n, req.FirstLabels(), r)
}

func fastRetry() configretry.BackOffConfig {
	r := configretry.NewDefaultBackOffConfig()
	r.InitialInterval, r.MaxInterval, r.MaxElapsedTime = time.Millisecond, 5*time.Millisecond, 5*time.Second
	return r
}

// request is numSeries series of one sample at ts, the last ones of them as Ones.
func request(numSeries int, ts int64, ones int) Request {
	var req Request
	for i := range numSeries {
		ser := sample.Series{Labels: sample.NewLabels(labels(i)), Points: []sample.Point{{T: ts, V: float64(ts)}}}
		ser.Hash = ser.Labels.Hash()
		if i < numSeries-ones {
			req.Series = append(req.Series, ser)
		} else {
			req.Ones = append(req.Ones, sample.One{Hash: ser.Hash, Labels: ser.Labels, T: ts, V: float64(ts)})
		}
	}
	return req
}

// The sender encodes only the halves of a request it splits, in buffers of its own, and keeps
// none of them once the request is delivered: the owner encodes its requests itself, and splits
// are rare.
func TestSenderLetsGoOfTheBuffersOfItsSplits(t *testing.T) {
	backend := promtest.NewBackend(t)
	s := newSender(t, backend, fastRetry())
	// Series 0, already at 5000: its sample at 4000 below is rejected, and the request split.
	deliver(t, s, request(1, 5000, 0), 1, &results{rejected: map[string]int{}})
	res := &results{rejected: map[string]int{}}
	deliver(t, s, request(1000, 4000, 0), 1000, res)
	require.Positive(t, res.splits, "split: the halves were encoded by the sender")
	require.Equal(t, 999, res.sent)
	require.Nil(t, s.enc.compressed)
	require.Nil(t, s.enc.block)
}

// One sample the backend rejects costs that sample: the request is split until it stands alone,
// every other sample is sent, under its own labels, and the rejection is named.
// Series and Ones alike: a request of Ones is split as one of Series would be.
func TestDeliverSplitsUntilOnlyTheRejectedSampleIsLeft(t *testing.T) {
	for _, ones := range []int{0, 50, 100} {
		t.Run(fmt.Sprintf("ones=%d", ones), func(t *testing.T) {
			backend := promtest.NewBackend(t)
			sender := newSender(t, backend, fastRetry())
			// Series 0, already at 5000: its sample at 4000 below is the one out of order.
			deliver(t, sender, request(1, 5000, 0), 1, &results{rejected: map[string]int{}})

			r := &results{rejected: map[string]int{}}
			deliver(t, sender, request(100, 4000, ones), 100, r)
			assert.Equal(t, 99, r.sent)
			assert.Equal(t, map[string]int{telemetry.ReasonOutOfOrder: 1}, r.rejected)
			assert.Positive(t, r.splits)
			assert.LessOrEqual(t, r.splits, 7, "at most log2(100) splits")
			assert.Zero(t, r.failed)
			assert.Equal(t, 100, backend.StoredCount())
			stored := backend.Stored()
			for i := range 100 {
				assert.NotEmpty(t, stored[promtest.LabelsKey(labels(i))], "series %d", i)
			}
		})
	}
}

// Server errors are retried with backoff until they pass; without retries they fail at once.
func TestDeliverRetriesServerErrors(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.FailNext(3)
	r := &results{rejected: map[string]int{}}
	deliver(t, newSender(t, backend, fastRetry()), request(2, 1000, 0), 2, r)
	assert.Equal(t, 2, r.sent)
	assert.Equal(t, 4, backend.Requests())

	backend.FailNext(1)
	noRetry := fastRetry()
	noRetry.Enabled = false
	r = &results{rejected: map[string]int{}}
	deliver(t, newSender(t, backend, noRetry), request(2, 2000, 0), 2, r)
	assert.Zero(t, r.sent)
	assert.Equal(t, 2, r.failed)
}

// A 400 naming no sample drops the request whole: one request, nothing resent, nothing split.
func TestDeliverDropsAGenericBadRequestWhole(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.Script(promtest.Answer{Status: http.StatusBadRequest, Body: "bad request"})
	r := &results{rejected: map[string]int{}}
	deliver(t, newSender(t, backend, fastRetry()), request(100, 1000, 100), 100, r)
	assert.Equal(t, 1, backend.Requests())
	assert.Zero(t, r.sent)
	assert.Zero(t, r.splits)
	assert.Equal(t, map[string]int{telemetry.ReasonRejected: 100}, r.rejected)
	assert.Zero(t, backend.StoredCount())
}

// The amplification bound: AMP's quota answer to every request costs one request; a backend that
// names a rejected sample in its answer to every request, however many halves are sent, costs at
// most 1 + 2×MaxSplits requests, and every sample is counted dropped.
func TestDeliverAmplificationIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason string
		maxRequests        int
	}{
		{"quota", "user=ws-1: per-user series limit of 1000 exceeded, please contact administrator to raise it.", telemetry.ReasonLimits, 1},
		{"every_half_rejected", "out of order sample", telemetry.ReasonOutOfOrder, 1 + 2*MaxSplits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := promtest.NewBackend(t)
			backend.AnswerAlways(&promtest.Answer{Status: http.StatusBadRequest, Body: tc.body})
			r := &results{rejected: map[string]int{}}
			deliver(t, newSender(t, backend, fastRetry()), request(2000, 1000, 0), 2000, r)
			t.Logf("2,000 samples, every request refused %q: %d requests", tc.body, backend.Requests())
			assert.LessOrEqual(t, backend.Requests(), tc.maxRequests)
			assert.Equal(t, map[string]int{tc.reason: 2000}, r.rejected)
			assert.Zero(t, r.sent)
		})
	}
}

// 429 with Retry-After: 3 is retried, not before 3 s, though the backoff asks for milliseconds.
func TestDeliverHonoursRetryAfter(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.Script(promtest.Answer{Status: http.StatusTooManyRequests, Body: "slow down", RetryAfter: "3"})
	r := &results{rejected: map[string]int{}}
	deliver(t, newSender(t, backend, fastRetry()), request(2, 1000, 0), 2, r)
	assert.Equal(t, 2, r.sent)
	times := backend.RequestTimes()
	require.Len(t, times, 2)
	assert.GreaterOrEqual(t, times[1].Sub(times[0]), 3*time.Second)
}

// Failed attempts are logged at warn, one line per interval with the count, the endpoint without
// its credentials, the status and an excerpt of the answer.
func TestFailureLog(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	log := NewFailureLog(zap.New(core), "https://user:secret@aps.example/api/v1/remote_write?token=x", time.Hour)
	long := strings.Repeat("x", 1000)
	log.Note(&StatusError{Status: 503, Body: long})
	log.Note(&StatusError{Status: 503, Body: "again"})
	log.Note(&StatusError{Status: 400, Body: "bad request"})
	require.Equal(t, 1, logs.Len(), "rate-limited: one line per interval")
	entry := logs.All()[0]
	assert.Equal(t, zap.WarnLevel, entry.Level)
	fields := entry.ContextMap()
	assert.Equal(t, "https://aps.example/api/v1/remote_write", fields["endpoint"])
	assert.NotContains(t, fmt.Sprint(fields), "secret")
	assert.Equal(t, int64(503), fields["status"])
	assert.LessOrEqual(t, len(fields["body"].(string)), maxBodyExcerpt+len("…"))

	log.interval = 0
	log.Note(&StatusError{Status: 400, Body: "bad request"})
	require.Equal(t, 2, logs.Len())
	assert.Equal(t, int64(3), logs.All()[1].ContextMap()["failed_attempts"], "the two suppressed attempts and this one")
	assert.Contains(t, logs.All()[1].Message, "dropped whole, not resent")
}
