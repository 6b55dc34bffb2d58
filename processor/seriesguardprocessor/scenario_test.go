package seriesguardprocessor

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"sigs.k8s.io/yaml"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite the out and telemetry sections of testdata/scenarios from what the processor does (review the diff!)")

// scenarioEpoch is the clock of every scenario at its first step.
var scenarioEpoch = time.Unix(1_700_000_000, 0)

// TestScenarios runs testdata/scenarios/<case>: config.yaml configures the processor, then each
// N.test file in order is one batch: "-- advance --" moves the clock (and runs the sweep),
// "-- in --" is the batch (OTLP JSON in YAML), "-- out --" what must come out and
// "-- telemetry --" the self-metrics after the step (cumulative), one "name{attrs} value" a line.
func TestScenarios(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join("testdata", "scenarios"))
	require.NoError(t, err)
	for _, dir := range dirs {
		t.Run(dir.Name(), func(t *testing.T) {
			runScenario(t, filepath.Join("testdata", "scenarios", dir.Name()))
		})
	}
}

func runScenario(t *testing.T, dir string) {
	cm, err := confmaptest.LoadConf(filepath.Join(dir, "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cm.Unmarshal(cfg))
	require.NoError(t, cfg.Validate())

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processor.Settings{ID: component.NewIDWithName(metadata.Type, "test"), TelemetrySettings: tel.NewTelemetrySettings()}
	set.Logger = set.TelemetrySettings.Logger
	now := scenarioEpoch
	p, err := newSeriesGuard(set, cfg, func() time.Time { return now })
	require.NoError(t, err)
	sink := &consumertest.MetricsSink{}
	proc, err := processorhelper.NewMetrics(context.Background(), set, cfg, sink, p.processMetrics,
		processorhelper.WithCapabilities(processorCapabilities), processorhelper.WithShutdown(p.shutdown))
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, proc.Shutdown(context.Background())) })

	steps, err := filepath.Glob(filepath.Join(dir, "*.test"))
	require.NoError(t, err)
	sort.Slice(steps, func(i, j int) bool { return stepNumber(steps[i]) < stepNumber(steps[j]) })
	require.NotEmpty(t, steps)
	for _, step := range steps {
		sections := readSections(t, step)
		if adv, ok := sections["advance"]; ok {
			d, err := time.ParseDuration(strings.TrimSpace(adv))
			require.NoError(t, err)
			now = now.Add(d)
			p.sweep()
		}
		sink.Reset()
		require.NoError(t, proc.ConsumeMetrics(context.Background(), parseMetrics(t, sections["in"])))
		var got pmetric.Metrics
		if all := sink.AllMetrics(); len(all) > 0 {
			require.Len(t, all, 1)
			got = all[0]
		} else {
			got = pmetric.NewMetrics()
		}
		gotYAML := metricsYAML(t, got)
		gotTelemetry := telemetryText(t, tel, set.ID)
		if *update {
			sections["out"] = gotYAML
			sections["telemetry"] = gotTelemetry
			writeSections(t, step, sections)
			continue
		}
		require.YAMLEq(t, metricsYAML(t, parseMetrics(t, sections["out"])), gotYAML, "%s: out", step)
		require.Equal(t, strings.TrimSpace(sections["telemetry"]), strings.TrimSpace(gotTelemetry), "%s: telemetry", step)
	}
}

func stepNumber(path string) int {
	var n int
	_, _ = fmt.Sscanf(filepath.Base(path), "%d.test", &n)
	return n
}

var sectionOrder = []string{"advance", "in", "out", "telemetry"}

// readSections reads a txtar-like file: "-- name --" lines start sections.
func readSections(t *testing.T, path string) map[string]string {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sections := map[string]string{}
	name := ""
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") {
			name = strings.TrimSuffix(strings.TrimPrefix(trimmed, "-- "), " --")
			sections[name] = ""
			continue
		}
		if name != "" {
			sections[name] += line
		}
	}
	require.Contains(t, sections, "in", path)
	return sections
}

func writeSections(t *testing.T, path string, sections map[string]string) {
	var b strings.Builder
	for _, name := range sectionOrder {
		if s, ok := sections[name]; ok {
			fmt.Fprintf(&b, "-- %s --\n%s\n", name, strings.TrimSpace(s))
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
}

func parseMetrics(t *testing.T, y string) pmetric.Metrics {
	if strings.TrimSpace(y) == "" {
		return pmetric.NewMetrics()
	}
	j, err := yaml.YAMLToJSON([]byte(y))
	require.NoError(t, err)
	md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(j)
	require.NoError(t, err)
	return md
}

func metricsYAML(t *testing.T, md pmetric.Metrics) string {
	if md.ResourceMetrics().Len() == 0 {
		return "{}\n"
	}
	j, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	y, err := yaml.JSONToYAML(j)
	require.NoError(t, err)
	return string(y)
}

// telemetryText renders every self-metric data point, without the processor attribute (checked
// to be the component ID).
func telemetryText(t *testing.T, tel *componenttest.Telemetry, id component.ID) string {
	names := []string{
		"otelcol_processor_series_guard_refused_data_points",
		"otelcol_processor_series_guard_refused_samples",
		"otelcol_processor_series_guard_refused_series",
		"otelcol_processor_series_guard_folded_data_points",
		"otelcol_processor_series_guard_folded_series",
		"otelcol_processor_series_guard_active_series",
		"otelcol_processor_series_guard_series_limit",
		"otelcol_processor_series_guard_tenant_active_series",
		"otelcol_processor_series_guard_tenant_series_limit",
		"otelcol_processor_series_guard_tracked_series",
		"otelcol_processor_series_guard_tracked_series_limit",
	}
	var lines []string
	for _, name := range names {
		m, err := tel.GetMetric(name)
		if err != nil {
			continue // not recorded
		}
		var points []metricdata.DataPoint[int64]
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			points = d.DataPoints
		case metricdata.Gauge[int64]:
			points = d.DataPoints
		default:
			t.Fatalf("%s: unexpected data %T", name, m.Data)
		}
		for _, dp := range points {
			proc, ok := dp.Attributes.Value("processor")
			require.True(t, ok, "%s has no processor attribute", name)
			require.Equal(t, id.String(), proc.AsString())
			var attrs []string
			for _, kv := range dp.Attributes.ToSlice() {
				if kv.Key != "processor" {
					attrs = append(attrs, fmt.Sprintf("%s=%q", kv.Key, kv.Value.AsString()))
				}
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %d", name, strings.Join(attrs, ","), dp.Value))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}
