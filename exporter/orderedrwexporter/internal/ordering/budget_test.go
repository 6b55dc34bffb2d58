package ordering

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

const (
	refusedSamples = "otelcol_exporter_ordered_rw_refused_samples"
	bufferedBytes  = "otelcol_exporter_ordered_rw_buffered_bytes"
)

func budgetBatch(step int) []sample.Series {
	var batch []sample.Series
	for i := range 10 {
		batch = append(batch, series(i, int64(step+1)*1000))
	}
	return batch
}

// Without hold-back: a queued batch counts against the budget at its estimate until its shard
// encoded it, then at the size of its requests (compressed: far less), until the shard is done
// with it, the request on the wire included. Once the budget is reached, pushes are refused with
// a retryable error and counted; once the backend catches up, they are taken again.
func TestBudgetRefusesPushesBeyondIt(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.SetDelay(500 * time.Millisecond) // the first request is on the wire while the others wait
	push := queuedBytes(budgetBatch(0))
	require.Less(t, push, sample.Bytes(budgetBatch(0)), "queued as Ones, smaller than as Series")
	// Reached by what the first push leaves buffered, encoded or not.
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, MaxBufferedBytes: 1})

	require.NoError(t, h.engine.Push(context.Background(), budgetBatch(0)), "nothing buffered: taken, larger than the budget")
	var encoded int64
	require.Eventually(t, func() bool {
		encoded = h.engine.BufferedBytes()
		return encoded > 0 && encoded < push
	}, 5*time.Second, time.Millisecond, "encoded, the batch counts its request's bytes")
	assert.Equal(t, encoded, h.gauge(t, bufferedBytes))
	err := h.engine.Push(context.Background(), budgetBatch(1))
	var budgetErr *BudgetError
	require.ErrorAs(t, err, &budgetErr)
	assert.Equal(t, BudgetError{Buffered: encoded, Budget: 1}, *budgetErr, "refused once the budget is reached")
	assert.False(t, consumererror.IsPermanent(err), "the sender must retry it")
	assert.Contains(t, err.Error(), "`ordering.max_buffered_bytes`")
	assert.Equal(t, int64(10), h.counter(t, refusedSamples, reason(telemetry.RefusedMemoryBudget)))

	backend.SetDelay(0)
	waitIdle(t, h.engine)
	assert.Zero(t, h.engine.BufferedBytes(), "every byte queued left with its batch")
	require.NoError(t, h.engine.Push(context.Background(), budgetBatch(1)), "taken again once delivered")
	waitIdle(t, h.engine)
	assert.Equal(t, int64(20), h.counter(t, sentSamples))
	h.shutdown(t)
}

// With hold-back: held samples count (their entries and their series' labels) until released and
// sent. A push larger than the whole budget is taken when less than the budget is buffered.
func TestBudgetCountsHeldSamples(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(1_000)
	// A budget that the labels of the held series alone reach, far below the push's size.
	var labels int64
	for _, ser := range budgetBatch(0) {
		labels += sample.LabelsBytes(ser.Labels)
	}
	require.Less(t, labels, sample.Bytes(budgetBatch(0)))
	h := newHarness(t, backend, Settings{MinShards: 2, MaxShards: 2, Holdback: true, Window: 5 * time.Second, Clock: clock,
		MaxHeldSamples: 1000, MaxBufferedBytes: labels})

	require.NoError(t, h.engine.Push(context.Background(), budgetBatch(0)), "below the budget: taken, larger than the budget")
	require.Positive(t, h.engine.BufferedBytes())
	assert.Equal(t, h.engine.hold.HeldBytes(), h.engine.BufferedBytes())
	err := h.engine.Push(context.Background(), budgetBatch(1))
	require.True(t, errors.As(err, new(*BudgetError)))
	assert.Equal(t, int64(10), h.counter(t, refusedSamples, reason(telemetry.RefusedMemoryBudget)))

	clock.Set(1_000 + 5_000 + 1_000)
	h.engine.ReleaseDue()
	waitIdle(t, h.engine)
	assert.Zero(t, h.engine.BufferedBytes())
	require.NoError(t, h.engine.Push(context.Background(), budgetBatch(1)))
	h.shutdown(t)
}
