package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v7"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/config/configretry"
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
	// Split: a request whose content was rejected is tried again in two halves.
	Split()
	// Rejected: the backend rejected one sample, of the series labels, for its content.
	Rejected(reason string, labels []prompb.Label, err error)
	// Failed: n samples, the first of the series labels, were neither accepted nor rejected for
	// their content: retries ran out, the shutdown cut them short, or the status refuses any request.
	Failed(n int, labels []prompb.Label, err error)
}

// Deliver sends the n samples of timeseries. When the backend rejects their content (400, 409,
// 413, 422) the request is split in halves, each delivered the same way, so that one rejected
// sample costs one sample. Resending is safe: a Prometheus-compatible store accepts an identical
// sample it already holds. encodedSize is the size of the encoded request when known, 0 otherwise.
func (s *Sender) Deliver(timeseries []prompb.TimeSeries, n, encodedSize int, results Results) {
	err := s.Send(timeseries, encodedSize)
	if err == nil {
		results.Sent(n)
		return
	}
	var status *StatusError
	if errors.As(err, &status) && status.rejectsContent() {
		if n == 1 {
			results.Rejected(rejectionReason(status.Status, status.Body), timeseries[0].Labels, err)
			return
		}
		results.Split()
		first, second := splitHalves(timeseries, n/2)
		s.Deliver(first, n/2, 0, results)
		s.Deliver(second, n-n/2, 0, results)
		return
	}
	results.Failed(n, timeseries[0].Labels, err)
}

// Send posts one request, retrying server errors, throttling and network errors with the
// retry_on_failure backoff. Nothing else of this sender is sent meanwhile.
func (s *Sender) Send(timeseries []prompb.TimeSeries, encodedSize int) error {
	body, err := s.enc.Encode(&prompb.WriteRequest{Timeseries: timeseries}, encodedSize)
	if err != nil {
		return err
	}
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
		err = s.poster.Post(s.ctx, body)
		if err == nil || !retryable(err) || !retry.Enabled || s.ctx.Err() != nil {
			return err
		}
		wait := bo.NextBackOff()
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
		return status.retryable()
	}
	return true // connection refused or reset, timeouts: the backend never answered
}

// splitHalves returns the first `want` samples of timeseries, in order, and the rest. A series is
// cut in the middle when needed; the translator never mixes float and histogram samples in one
// series, so cutting either list is enough.
func splitHalves(timeseries []prompb.TimeSeries, want int) (first, second []prompb.TimeSeries) {
	for i := range timeseries {
		ts := timeseries[i]
		c := len(ts.Samples) + len(ts.Histograms)
		if c <= want {
			first = append(first, ts)
			want -= c
			if want == 0 {
				return first, timeseries[i+1:]
			}
			continue
		}
		head, tail := ts, ts
		if len(ts.Samples) > 0 {
			head.Samples, tail.Samples = ts.Samples[:want], ts.Samples[want:]
		} else {
			head.Histograms, tail.Histograms = ts.Histograms[:want], ts.Histograms[want:]
		}
		first = append(first, head)
		second = append(make([]prompb.TimeSeries, 0, len(timeseries)-i), tail)
		return first, append(second, timeseries[i+1:]...)
	}
	return first, nil
}
