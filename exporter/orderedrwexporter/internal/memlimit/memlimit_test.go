package memlimit

import (
	"math"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGet(t *testing.T) {
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:       24576000 kB\nMemFree: 1 kB\n")}
	cases := []struct {
		name  string
		files fstest.MapFS
		gomem int64
		want  Limit
	}{
		{"GOMEMLIMIT first", fstest.MapFS{cgroupV2Max: {Data: []byte("1073741824\n")}, procMeminfo: meminfo}, 512 << 20,
			Limit{Bytes: 512 << 20, Source: SourceGOMEMLIMIT}},
		{"cgroup v2", fstest.MapFS{cgroupV2Max: {Data: []byte("1073741824\n")}, procMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 1 << 30, Source: SourceCgroup}},
		{"cgroup v2 without limit", fstest.MapFS{cgroupV2Max: {Data: []byte("max\n")}, procMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 24576000 * 1024, Source: SourceHost}},
		{"cgroup v1", fstest.MapFS{cgroupV1Limit: {Data: []byte("536870912\n")}, procMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 512 << 20, Source: SourceCgroup}},
		{"cgroup v1 without limit", fstest.MapFS{cgroupV1Limit: {Data: []byte("9223372036854771712\n")}, procMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 24576000 * 1024, Source: SourceHost}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := get(c.files, c.gomem)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	_, err := get(fstest.MapFS{}, math.MaxInt64)
	assert.Error(t, err, "no limit and no /proc/meminfo")
}

// On this machine: some limit is found, whatever it is.
func TestGetHere(t *testing.T) {
	got, err := Get()
	require.NoError(t, err)
	assert.Positive(t, got.Bytes)
	assert.NotEmpty(t, got.Source)
}
