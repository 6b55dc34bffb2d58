package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// BudgetError is the retryable error of a push refused because the samples queued and held
// already take the memory budget: the receiver answers its client with a retryable status (OTLP:
// 503 / UNAVAILABLE), as exporterhelper's queue does when it is full. It is never permanent.
type BudgetError struct {
	// Buffered is the estimated size of what was queued and held, Budget the bound.
	Buffered, Budget int64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("ordered_rw: push refused, retry later: %d bytes are queued and held, `ordering.max_buffered_bytes` is %d; "+
		"the backend is not keeping up", e.Buffered, e.Budget)
}

// BufferedBytes is the estimated size of the samples queued on the shards (waiting for room or
// sent) and held back: what MaxBufferedBytes bounds.
func (e *Engine) BufferedBytes() int64 {
	n := e.acct.queuedBytes.Load()
	if e.hold != nil {
		n += e.hold.HeldBytes()
	}
	return n
}

// admit refuses series once what is queued and held has reached MaxBufferedBytes. The push's own
// size is not computed here (it is when its batches are queued or held, and a third pass over the
// labels of every push cost more than the check is worth): the budget may be passed by the last
// push admitted below it, one per concurrent pusher; their bytes count from when they are queued
// or held. So a push larger than the whole budget is taken when little is buffered, rather than
// refused forever.
func (e *Engine) admit(series []sample.Series) error {
	if e.set.MaxBufferedBytes <= 0 {
		return nil
	}
	buffered := e.BufferedBytes()
	if buffered < e.set.MaxBufferedBytes {
		return nil
	}
	n := sample.CountPoints(series)
	e.tel.RefusedFor(n, telemetry.RefusedMemoryBudget)
	e.budgetLog.note(n, buffered, e.set.MaxBufferedBytes)
	return &BudgetError{Buffered: buffered, Budget: e.set.MaxBufferedBytes}
}

// budgetLog logs refused pushes at most once per interval, with the samples refused since the
// previous line: a backend that stops answering refuses every push, and must make one line, not
// one a push.
type budgetLog struct {
	logger   *zap.Logger
	interval time.Duration

	mu      sync.Mutex
	last    time.Time
	refused int
}

func (l *budgetLog) note(samples int, buffered, budget int64) {
	l.mu.Lock()
	l.refused += samples
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.mu.Unlock()
		return
	}
	l.last = now
	refused := l.refused
	l.refused = 0
	l.mu.Unlock()
	l.logger.Warn("Pushes are refused with a retryable error: the samples queued and held take the memory budget "+
		"(`ordering.max_buffered_bytes`); the backend is not keeping up.",
		zap.Int("refused_samples", refused), zap.Int64("buffered_bytes", buffered), zap.Int64("max_buffered_bytes", budget),
		zap.Duration("interval", l.interval))
}
