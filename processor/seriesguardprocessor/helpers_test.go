package seriesguardprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// newTestGuard builds the processor core with a fixed clock, without starting housekeeping.
func newTestGuard(t testing.TB, cfg *Config) *seriesGuard {
	require.NoError(t, cfg.Validate())
	set := processortest.NewNopSettings(processortest.NopType)
	now := time.Unix(1_700_000_000, 0)
	p, err := newSeriesGuard(set, cfg, func() time.Time { return now })
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	return p
}

// newObservedLogger replaces the logger of set with one that records entries.
func newObservedLogger(set *processor.Settings) *observer.ObservedLogs {
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	return logs
}
