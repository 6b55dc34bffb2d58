package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func standIns(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	var args []string
	for _, flag := range []string{"collector", "healthcheck", "config", "ca-certs"} {
		p := filepath.Join(dir, flag)
		require.NoError(t, os.WriteFile(p, []byte(flag), 0o600))
		args = append(args, "-"+flag, p)
	}
	return append(args, "-out", filepath.Join(dir, "out"))
}

func TestRunWritesBothOutputs(t *testing.T) {
	args := standIns(t)
	var stdout bytes.Buffer
	digest, err := run(args, &stdout)
	require.NoError(t, err)
	out := args[len(args)-1]
	assert.FileExists(t, filepath.Join(out, ociLayoutDir, "index.json"))
	assert.FileExists(t, filepath.Join(out, dockerArchive))
	assert.Contains(t, stdout.String(), "otelcol-fleet:dev "+digest.String())
}

func TestRunHonoursSourceDateEpoch(t *testing.T) {
	args := standIns(t)
	epoch, err := run(args, &bytes.Buffer{})
	require.NoError(t, err)
	t.Setenv("SOURCE_DATE_EPOCH", "1764028800")
	dated, err := run(args, &bytes.Buffer{})
	require.NoError(t, err)
	assert.NotEqual(t, epoch, dated)
	again, err := run(args, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, dated, again)

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	_, err = run(args, &bytes.Buffer{})
	assert.ErrorContains(t, err, `SOURCE_DATE_EPOCH must be Unix seconds, found "yesterday"`)
}

func TestRunReportsBadInputs(t *testing.T) {
	args := append(standIns(t), "-healthcheck", filepath.Join(t.TempDir(), "missing"))
	_, err := run(args, &bytes.Buffer{})
	assert.ErrorContains(t, err, "`healthcheck`")

	_, err = run(append(standIns(t), "-tag", "Not A Reference"), &bytes.Buffer{})
	assert.ErrorContains(t, err, `image reference "Not A Reference"`)

	_, err = run([]string{"-no-such-flag"}, &bytes.Buffer{})
	assert.Error(t, err)
}
