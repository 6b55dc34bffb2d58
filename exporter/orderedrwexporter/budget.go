package orderedrwexporter // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"

import (
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memlimit"
)

// defaultBufferedShare is the default `ordering.max_buffered_bytes` as a share of the memory the
// collector runs under: a quarter. The estimate counts the data, not the Go heap around it (the
// garbage collector lets the heap reach about twice the live data with GOGC=100), and the
// receivers and processors need their own share.
const defaultBufferedShare = 4

// maxBufferedBytes is `ordering.max_buffered_bytes`, or when 0 a quarter of the memory limit, with
// where it came from; 0 (no bound) when no limit can be read.
func maxBufferedBytes(configured int64, logger *zap.Logger) (int64, string) {
	if configured > 0 {
		return configured, "ordering.max_buffered_bytes"
	}
	limit, err := memlimit.Get()
	if err != nil {
		logger.Warn("No memory limit could be read: ordered_rw buffers without a memory budget; set `ordering.max_buffered_bytes`.", zap.Error(err))
		return 0, "none"
	}
	return int64(limit.Bytes / defaultBufferedShare), "a quarter of " + limit.Source
}
