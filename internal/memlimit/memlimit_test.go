package memlimit

import (
	"math"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var meminfo = &fstest.MapFile{Data: []byte("MemTotal:       24576000 kB\nMemFree: 1 kB\n")}

func TestGet(t *testing.T) {
	cases := []struct {
		name  string
		files fstest.MapFS
		gomem int64
		want  Limit
	}{
		{"GOMEMLIMIT first", fstest.MapFS{CgroupV2Max: {Data: []byte("1073741824\n")}, ProcMeminfo: meminfo}, 512 << 20,
			Limit{Bytes: 512 << 20, Source: SourceGOMEMLIMIT}},
		{"cgroup v2", fstest.MapFS{CgroupV2Max: {Data: []byte("1073741824\n")}, ProcMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 1 << 30, Source: SourceCgroup}},
		{"cgroup v2 without limit", fstest.MapFS{CgroupV2Max: {Data: []byte("max\n")}, ProcMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 24576000 * 1024, Source: SourceHost}},
		{"cgroup v1", fstest.MapFS{CgroupV1Limit: {Data: []byte("536870912\n")}, ProcMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 512 << 20, Source: SourceCgroup}},
		{"cgroup v1 without limit", fstest.MapFS{CgroupV1Limit: {Data: []byte("9223372036854771712\n")}, ProcMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 24576000 * 1024, Source: SourceHost}},
		{"cgroup v1 without limit, 64 KiB pages", fstest.MapFS{CgroupV1Limit: {Data: []byte("9223372036854710272\n")}, ProcMeminfo: meminfo}, math.MaxInt64,
			Limit{Bytes: 24576000 * 1024, Source: SourceHost}},
		{"GOMEMLIMIT unset is 0 or MaxInt64", fstest.MapFS{ProcMeminfo: meminfo}, 0,
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
	_, err = get(fstest.MapFS{ProcMeminfo: {Data: []byte("MemFree: 1 kB\n")}}, math.MaxInt64)
	assert.EqualError(t, err, "no MemTotal in /proc/meminfo")
}

func TestCgroupLimit(t *testing.T) {
	cases := []struct {
		name   string
		files  fstest.MapFS
		want   uint64
		wantOK bool
	}{
		{"v2", fstest.MapFS{CgroupV2Max: {Data: []byte("1073741824\n")}}, 1 << 30, true},
		{"v2 max", fstest.MapFS{CgroupV2Max: {Data: []byte("max\n")}}, 0, false},
		{"v2 wins over v1", fstest.MapFS{CgroupV2Max: {Data: []byte("max\n")}, CgroupV1Limit: {Data: []byte("536870912\n")}}, 0, false},
		{"v2 garbage", fstest.MapFS{CgroupV2Max: {Data: []byte("lots\n")}}, 0, false},
		{"v1", fstest.MapFS{CgroupV1Limit: {Data: []byte("536870912\n")}}, 512 << 20, true},
		{"v1 unlimited", fstest.MapFS{CgroupV1Limit: {Data: []byte("9223372036854771712\n")}}, 0, false},
		{"v1 zero", fstest.MapFS{CgroupV1Limit: {Data: []byte("0\n")}}, 0, false},
		{"none", fstest.MapFS{ProcMeminfo: meminfo}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := CgroupLimit(c.files)
			assert.Equal(t, c.wantOK, ok)
			if ok {
				assert.Equal(t, c.want, got)
			}
		})
	}
}

func TestTotalMemory(t *testing.T) {
	got, err := TotalMemory(fstest.MapFS{CgroupV2Max: {Data: []byte("1073741824\n")}, ProcMeminfo: meminfo})
	require.NoError(t, err)
	assert.Equal(t, uint64(1<<30), got, "the cgroup limit when there is one")

	got, err = TotalMemory(fstest.MapFS{CgroupV2Max: {Data: []byte("max\n")}, ProcMeminfo: meminfo})
	require.NoError(t, err)
	assert.Equal(t, uint64(24576000*1024), got, "else the host's memory")

	_, err = TotalMemory(fstest.MapFS{})
	assert.Error(t, err)
}

// On this machine: some limit is found, whatever it is.
func TestGetHere(t *testing.T) {
	got, err := Get()
	require.NoError(t, err)
	assert.Positive(t, got.Bytes)
	assert.NotEmpty(t, got.Source)
}
