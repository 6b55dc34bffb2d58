package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v7"
	"go.opentelemetry.io/collector/config/configretry"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// Sender sends one request at a time for its owner (a shard), retrying each before anything newer
// is sent, like Prometheus' own queue manager. It is not safe for concurrent use.
type Sender struct {
	poster Poster
	retry  configretry.BackOffConfig
	// ctx is the exporter's send context, canceled when the shutdown deadline passes: a long-lived
	// context held here because every request of the sender's life is bounded by it.
	ctx context.Context
	// stop is closed by a shutdown without deadline: each request is then tried once more only.
	stop <-chan struct{}
	enc  Encoder
}

// NewSender returns a sender that posts with poster and retries with retry until ctx ends or
// stop is closed.
func NewSender(ctx context.Context, poster Poster, retry configretry.BackOffConfig, stop <-chan struct{}) *Sender {
	return &Sender{poster: poster, retry: retry, ctx: ctx, stop: stop}
}

// Results hears what became of each part of a delivery.
type Results interface {
	// Sent: the backend accepted n samples.
	Sent(n int)
	// Split: a request the backend rejected for a sample it names is tried again in two halves.
	Split()
	// Rejected: the backend refused n samples, the first of the series labels, for reason: one
	// sample it named (n is then 1 unless the split budget ran out), or a whole request refused
	// with a 4xx other than 429, which is never resent.
	Rejected(reason string, n int, labels sample.Labels, err error)
	// Failed: n samples, the first of the series labels, were neither accepted nor refused:
	// retries ran out, the shutdown cut them short, or the backend could not be reached.
	Failed(n int, labels sample.Labels, err error)
}

// MaxSplits bounds the splits of one request: one request the backend rejects causes at most
// 1 + 2×MaxSplits = 63 requests, itself included (retries of 429 and 5xx answers aside). One
// rejected sample among n costs 2×⌈log2 n⌉ of them (22 for 2,000 samples); when the budget is
// spent, a part still rejected is dropped whole with the reason of its answer. A backend that
// rejects every half (a quota it words as a sample rejection) thus costs 63 requests, not 2n-1.
const MaxSplits = 31

// DeliverEncoded sends the n samples of body, a request Encoder.Encode made (its first series'
// labels are first, for the logs). When the backend names a sample it rejected (out of order,
// duplicate, too old or out of bounds, invalid labels) the request is decoded and split in
// halves, each delivered the same way, so that one rejected sample costs one sample; resending
// the accepted part is safe, as a Prometheus-compatible store accepts an identical sample it
// already holds. Any other 4xx but 429 drops the request whole: remote write 1.0 says it MUST
// NOT be retried. body is not kept past the call. The halves are encoded in the sender's own
// buffers, let go of once the request is delivered: the owner encodes its requests itself, and
// splits are rare.
func (s *Sender) DeliverEncoded(body []byte, n int, first sample.Labels, results Results) {
	splits := MaxSplits
	s.deliver(body, n, first, results, &splits)
	s.enc.Release()
}

func (s *Sender) deliverRequest(req Request, n, encodedSize int, results Results, splits *int) {
	body, err := s.enc.Encode(req, encodedSize)
	if err != nil {
		results.Failed(n, req.FirstLabels(), err)
		return
	}
	s.deliver(body, n, req.FirstLabels(), results, splits)
}

func (s *Sender) deliver(body []byte, n int, first sample.Labels, results Results, splits *int) {
	err := s.Post(body)
	if err == nil {
		results.Sent(n)
		return
	}
	var status *StatusError
	if !errors.As(err, &status) {
		results.Failed(n, first, err)
		return
	}
	answer, reason := classify(status.Status, status.Body)
	switch {
	case answer == answerRetry:
		results.Failed(n, first, err)
	case answer == answerDrop, n == 1, *splits == 0:
		results.Rejected(reason, n, first, err)
	default:
		// Decoded before the halves are encoded: body may be the buffer they are encoded in.
		all, decodeErr := Decode(body)
		if decodeErr != nil {
			// Not a request this package encoded; it cannot be split.
			results.Rejected(reason, n, first, errors.Join(err, decodeErr))
			return
		}
		*splits--
		results.Split()
		firstHalf, secondHalf := splitHalves(all, n/2)
		s.deliverRequest(Request{Series: firstHalf}, n/2, 0, results, splits)
		s.deliverRequest(Request{Series: secondHalf}, n-n/2, 0, results, splits)
	}
}

// Post posts one encoded request, retrying 429 and 5xx answers and network errors with the
// retry_on_failure backoff, waiting at least what a Retry-After header asks. Nothing else of this
// sender is sent meanwhile.
func (s *Sender) Post(body []byte) error {
	retry := s.retry
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     retry.InitialInterval,
		RandomizationFactor: retry.RandomizationFactor,
		Multiplier:          retry.Multiplier,
		MaxInterval:         retry.MaxInterval,
	}
	bo.Reset()
	start := time.Now()
	for {
		err := s.poster.Post(s.ctx, body)
		if err == nil || !retryable(err) || !retry.Enabled || s.ctx.Err() != nil {
			return err
		}
		wait := bo.NextBackOff()
		var status *StatusError
		if errors.As(err, &status) {
			// The longer of the two, as exporterhelper v0.165.0 does with a throttle error
			// (internal/retry_sender.go: max(backoffDelay, throttleErr.delay)).
			wait = max(wait, status.RetryAfter)
		}
		if retry.MaxElapsedTime > 0 && time.Since(start)+wait > retry.MaxElapsedTime {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-s.stop:
			timer.Stop()
			return err
		case <-s.ctx.Done():
			timer.Stop()
			return err
		}
	}
}

func retryable(err error) bool {
	var status *StatusError
	if errors.As(err, &status) {
		answer, _ := classify(status.Status, status.Body)
		return answer == answerRetry
	}
	return true // connection refused or reset, timeouts: the backend never answered
}

// splitHalves returns the first `want` points of series, in order, and the rest. A series is cut
// in the middle when needed; the halves share its labels' block.
func splitHalves(series []sample.Series, want int) (first, second []sample.Series) {
	for i := range series {
		ser := series[i]
		c := len(ser.Points)
		if c <= want {
			first = append(first, ser)
			want -= c
			if want == 0 {
				return first, series[i+1:]
			}
			continue
		}
		head, tail := ser, ser
		head.Points, tail.Points = ser.Points[:want:want], ser.Points[want:]
		first = append(first, head)
		second = append(make([]sample.Series, 0, len(series)-i), tail)
		return first, append(second, series[i+1:]...)
	}
	return first, nil
}
