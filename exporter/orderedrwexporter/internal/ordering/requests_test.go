package ordering

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// Requests stay under max_batch_size_bytes; a series never straddles two requests out of order.
func TestRequestsBoundedBySize(t *testing.T) {
	backend := promtest.NewBackend(t)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, MaxBatchBytes: 300})
	var batch []sample.Series
	for i := range 50 {
		batch = append(batch, series(i, 1000, 2000))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	waitIdle(t, h.engine)
	requireStoredInOrder(t, backend, 50, 1000, 2000)
	assert.Greater(t, backend.Requests(), 5)
	h.shutdown(t)
}
