package fleethealthextension

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
)

// scenarioCase is testdata/scenarios/<case>/case.json: the memory limit and the time between
// the two pages (first.prom, second.prom: the collector's telemetry at two checks), and the
// verdict expected after the second.
type scenarioCase struct {
	Given struct {
		MemoryLimitBytes uint64 `json:"memory_limit_bytes"`
		Interval         string `json:"interval"`
	} `json:"given"`
	Want struct {
		Ready   bool   `json:"ready"`
		Verdict string `json:"verdict"`
		Reasons []struct {
			Signal    string `json:"signal"`
			Component string `json:"component"`
			Message   string `json:"message"`
		} `json:"reasons"`
	} `json:"want"`
}

func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
			require.NoError(t, err)
			var sc scenarioCase
			require.NoError(t, json.Unmarshal(raw, &sc))
			interval, err := time.ParseDuration(sc.Given.Interval)
			require.NoError(t, err)

			at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			e := health.NewEvaluator(createDefaultConfig().(*Config).Thresholds.health(), defaultRecoveryDuration, func() time.Time { return at })
			e.PipelinesReady()
			if sc.Given.MemoryLimitBytes > 0 {
				e.SetMemoryLimit(signals.MemoryLimit{Bytes: sc.Given.MemoryLimitBytes, Source: signals.LimitSourceMemoryLimiter})
			}
			for i, page := range []string{"first.prom", "second.prom"} {
				f, err := os.Open(filepath.Join(dir, page))
				require.NoError(t, err)
				snap, err := signals.Parse(f)
				require.NoError(t, f.Close())
				require.NoError(t, err, page)
				snap.Time = at.Add(time.Duration(i) * interval)
				e.Observe(snap)
			}
			r := e.Report()
			require.Equal(t, sc.Want.Ready, r.Ready)
			require.Equal(t, sc.Want.Verdict, r.Verdict)
			require.Len(t, r.Reasons, len(sc.Want.Reasons), "%+v", r.Reasons)
			for i, want := range sc.Want.Reasons {
				require.Equal(t, want.Signal, r.Reasons[i].Signal)
				require.Equal(t, want.Component, r.Reasons[i].Component)
				require.Equal(t, want.Message, r.Reasons[i].Message)
				require.NotEmpty(t, r.Reasons[i].Action)
			}
		})
	}
}
