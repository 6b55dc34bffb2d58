package telemetry // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// DropLog logs dropped samples at most once per interval, with the counts by reason since the
// previous line and one example series, so that a flood of rejections is one line, not many.
type DropLog struct {
	logger   *zap.Logger
	interval time.Duration

	mu      sync.Mutex
	last    time.Time
	counts  map[string]int
	example string
	err     error
}

// NewDropLog returns a log that writes at most one line per interval.
func NewDropLog(logger *zap.Logger, interval time.Duration) *DropLog {
	return &DropLog{logger: logger, interval: interval, counts: map[string]int{}}
}

// Note counts n samples of the series labels dropped for reason, err being why.
func (r *DropLog) Note(reason string, n int, labels sample.Labels, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[reason] += n
	if r.example == "" {
		r.example, r.err = labels.String(), err
	}
	if now := time.Now(); now.Sub(r.last) >= r.interval {
		r.last = now
		r.logLocked()
	}
}

// Flush logs what was counted since the last line.
func (r *DropLog) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logLocked()
}

func (r *DropLog) logLocked() {
	if len(r.counts) == 0 {
		return
	}
	fields := []zap.Field{zap.String("example_series", r.example), zap.Error(r.err)}
	for reason, n := range r.counts {
		fields = append(fields, zap.Int(reason, n))
	}
	r.logger.Warn(dropMessage(r.counts), fields...)
	r.counts = map[string]int{}
	r.example, r.err = "", nil
}

// dropMessage says what became of the rest of the requests only when it is known: a sample the
// backend named was dropped alone, the rest of its request delivered; for any other reason the
// whole request was lost.
func dropMessage(counts map[string]int) string {
	for reason := range counts {
		if !SampleRejection(reason) {
			return "Samples were dropped."
		}
	}
	return "Samples were dropped; the backend rejected each of them, and every other sample of their requests was delivered."
}
