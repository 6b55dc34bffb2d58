package adotcompatconverter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/featuregate"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRewrites runs every testdata/<case>: input.yaml through the converter must give
// output.yaml and exactly the warnings in warnings.txt, in order.
func TestRewrites(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(dir.Name(), func(t *testing.T) {
			base := filepath.Join("testdata", dir.Name())
			conf, err := confmaptest.LoadConf(filepath.Join(base, "input.yaml"))
			require.NoError(t, err)
			want, err := confmaptest.LoadConf(filepath.Join(base, "output.yaml"))
			require.NoError(t, err)
			wantWarnings, err := os.ReadFile(filepath.Join(base, "warnings.txt"))
			require.NoError(t, err)

			var got []finding
			c := &converter{logger: zap.NewNop(), report: func(fs []finding) { got = append(got, fs...) }}
			require.NoError(t, c.Convert(context.Background(), conf))

			assert.Equal(t, want.ToStringMap(), conf.ToStringMap())
			var msgs []string
			for _, f := range got {
				msgs = append(msgs, f.Message())
			}
			assert.Equal(t, lines(string(wantWarnings)), msgs)
		})
	}
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestGateOffLeavesConfigAlone(t *testing.T) {
	require.NoError(t, featuregate.GlobalRegistry().Set(gateID, false))
	t.Cleanup(func() { require.NoError(t, featuregate.GlobalRegistry().Set(gateID, true)) })

	conf, err := confmaptest.LoadConf(filepath.Join("testdata", "ballast", "input.yaml"))
	require.NoError(t, err)
	before := conf.ToStringMap()
	called := false
	c := &converter{logger: zap.NewNop(), report: func([]finding) { called = true }}
	require.NoError(t, c.Convert(context.Background(), conf))
	assert.Equal(t, before, conf.ToStringMap())
	assert.False(t, called)
}

// TestLogsOneWarningPerRewrite checks the factory's converter logs through the collector's
// logger, one Warn entry per finding, with the keys as fields.
func TestLogsOneWarningPerRewrite(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	c := NewFactory().Create(confmap.ConverterSettings{Logger: zap.New(core)})
	conf, err := confmaptest.LoadConf(filepath.Join("testdata", "ballast", "input.yaml"))
	require.NoError(t, err)
	require.NoError(t, c.Convert(context.Background(), conf))
	entries := logs.FilterLevelExact(zap.WarnLevel).All()
	require.Len(t, entries, 2)
	assert.Contains(t, entries[0].Message, "ballast_size_mib")
	assert.Equal(t, "processors.memory_limiter.ballast_size_mib", entries[0].ContextMap()["old_key"])
	assert.Equal(t, true, entries[0].ContextMap()["rewritten"])
}

func TestWriteFindings(t *testing.T) {
	var buf bytes.Buffer
	writeFindings(&buf, []finding{{rewrote: true, oldKey: "a", newKey: "b", line: "b: 1"}})
	assert.Equal(t, "warning: ADOT compatibility: retired setting \"a\" rewritten to \"b\"; put this in the config instead: b: 1\n", buf.String())
}

func TestIsValidateCommand(t *testing.T) {
	assert.True(t, isValidateCommand([]string{"otelcol-fleet", "validate", "--config", "c.yaml"}))
	assert.False(t, isValidateCommand([]string{"otelcol-fleet", "--config", "c.yaml"}))
	assert.False(t, isValidateCommand(nil))
}

func TestNilLogger(t *testing.T) {
	c := NewFactory().Create(confmap.ConverterSettings{})
	require.NoError(t, c.Convert(context.Background(), confmap.New()))
}
