package adotcompatconverter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/featuregate"
	"go.uber.org/zap"
)

// withRenames runs the test with a rename table of its own, so the mechanism is tested apart
// from the components' real tables (each component tests its own entries end to end).
func withRenames(t *testing.T, rs ...renamedKey) {
	saved := renamedKeys
	renamedKeys = rs
	t.Cleanup(func() { renamedKeys = saved })
}

var testRenames = []renamedKey{
	{section: "processors", typ: "series_guard", oldPath: "series_limits.window", newPath: "series_limits.idle_timeout"},
	{section: "processors", typ: "series_guard", oldPath: "series_limits.action", newPath: "series_limits.action",
		values: map[string]string{"drop": "drop_series"}},
}

func convert(t *testing.T, in map[string]any) (*confmap.Conf, []finding, error) {
	conf := confmap.NewFromStringMap(in)
	var got []finding
	c := &converter{logger: zap.NewNop(), report: func(fs []finding) { got = append(got, fs...) }}
	err := c.Convert(context.Background(), conf)
	return conf, got, err
}

func TestRenamedKeyRewritten(t *testing.T) {
	withRenames(t, testRenames...)
	conf, got, err := convert(t, map[string]any{"processors": map[string]any{
		"series_guard/a": map[string]any{"series_limits": map[string]any{"window": "2h", "action": "drop", "max_series": 10}},
		"series_guard":   map[string]any{"series_limits": map[string]any{"action": "overflow"}},
		"batch":          map[string]any{"window": "1s"},
	}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"processors": map[string]any{
		"series_guard/a": map[string]any{"series_limits": map[string]any{"idle_timeout": "2h", "action": "drop_series", "max_series": 10}},
		"series_guard":   map[string]any{"series_limits": map[string]any{"action": "overflow"}},
		"batch":          map[string]any{"window": "1s"},
	}}, conf.ToStringMap())
	require.Len(t, got, 2, "one warning per retired key or value")
	assert.Equal(t, `retired setting "processors.series_guard/a.series_limits.window" rewritten to "processors.series_guard/a.series_limits.idle_timeout"; put this in the config instead: series_limits.idle_timeout: 2h`, got[0].Message())
	assert.Equal(t, `retired setting "processors.series_guard/a.series_limits.action: drop" rewritten to "processors.series_guard/a.series_limits.action: drop_series"; put this in the config instead: series_limits.action: drop_series`, got[1].Message())
	assert.Equal(t, originDeprecated, got[0].prefix())
}

func TestRenamedKeyBothSet(t *testing.T) {
	withRenames(t, testRenames...)
	_, _, err := convert(t, map[string]any{"processors": map[string]any{
		"series_guard": map[string]any{"series_limits": map[string]any{"window": "2h", "idle_timeout": "1h"}},
	}})
	require.EqualError(t, err, "config: `processors.series_guard.series_limits.idle_timeout` and its deprecated alias `processors.series_guard.series_limits.window` are both set; remove `processors.series_guard.series_limits.window`")
}

func TestRenamedKeysIgnoreTheADOTGate(t *testing.T) {
	withRenames(t, testRenames...)
	require.NoError(t, featuregate.GlobalRegistry().Set(gateID, false))
	t.Cleanup(func() { require.NoError(t, featuregate.GlobalRegistry().Set(gateID, true)) })
	conf, got, err := convert(t, map[string]any{"processors": map[string]any{
		"series_guard": map[string]any{"series_limits": map[string]any{"window": "2h"}},
	}})
	require.NoError(t, err)
	assert.Equal(t, "2h", conf.Get("processors::series_guard::series_limits::idle_timeout"))
	assert.Len(t, got, 1)
}
