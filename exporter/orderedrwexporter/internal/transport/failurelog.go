package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// FailureLog logs failed remote-write attempts at warn, at most one line per interval, with the
// endpoint (without credentials), the status and an excerpt of the answer of the last failure, and
// how many attempts failed since the previous line: a backend that is down is visible in the log
// within an interval, and a flood of failures is one line, not one a request.
type FailureLog struct {
	logger   *zap.Logger
	endpoint string
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// NewFailureLog returns a log of failures posting to endpoint, one line per interval at most.
func NewFailureLog(logger *zap.Logger, endpoint string, interval time.Duration) *FailureLog {
	return &FailureLog{logger: logger, endpoint: RedactedEndpoint(endpoint), interval: interval}
}

// Note records one failed attempt, logging it unless a line was written less than an interval ago.
func (l *FailureLog) Note(err error) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.last = now
	failed := l.suppressed + 1
	l.suppressed = 0
	l.mu.Unlock()

	fields := []zap.Field{zap.String("endpoint", l.endpoint), zap.Int("failed_attempts", failed), zap.Duration("interval", l.interval)}
	msg := "Remote write request failed; it is retried with backoff."
	var status *StatusError
	if errors.As(err, &status) {
		fields = append(fields, zap.Int("status", status.Status), zap.String("body", excerpt(status.Body)))
		switch answer, reason := classify(status.Status, status.Body); answer {
		case answerSplit:
			msg = "Remote write request rejected for a sample it names; the request is split to deliver the rest."
			fields = append(fields, zap.String("reason", reason))
		case answerDrop:
			msg = "Remote write request refused; it is dropped whole, not resent."
			fields = append(fields, zap.String("reason", reason))
		default:
			if status.RetryAfter > 0 {
				fields = append(fields, zap.Duration("retry_after", status.RetryAfter))
			}
		}
	} else {
		fields = append(fields, zap.Error(err))
	}
	l.logger.Warn(msg, fields...)
}
