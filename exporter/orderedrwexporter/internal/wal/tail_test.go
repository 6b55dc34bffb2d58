package wal

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// A log whose last segment was cut short (full disk, crash mid-write) opens: the partial entry is
// cut off, counted and logged once at warn; the whole entries before it are replayed, and new
// entries follow them.
func TestTruncatedSegmentOpensWithTheWholeEntries(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir)
	const entries = 10
	for i := range entries {
		_, err := first.Append(batchOf(i+1, int64(1000*(i+1)))) // entries of different sizes
		require.NoError(t, err)
	}
	require.NoError(t, first.Close())

	segment := filepath.Join(dir, "00000000000000000001")
	info, err := os.Stat(segment)
	require.NoError(t, err)
	data, err := os.ReadFile(segment)
	require.NoError(t, err)
	whole, n := wholeEntries(data)
	require.Equal(t, entries, n)
	require.Equal(t, len(data), whole)
	half := info.Size() / 2
	cut, intact := wholeEntries(data[:half])
	require.Less(t, int64(cut), half, "the cut falls inside an entry")
	require.NoError(t, os.Truncate(segment, half))

	core, logs := observer.New(zap.WarnLevel)
	tel := &counts{}
	second, err := Open(Settings{Directory: dir, TruncateInterval: time.Hour, LagInterval: time.Hour}, zap.New(core), tel)
	require.NoError(t, err, "a torn tail does not stop the log from opening")
	assert.Equal(t, 1, tel.readFailed, "the partial entry is counted")
	require.Equal(t, 1, logs.Len(), "logged once")
	assert.Equal(t, int64(intact), logs.All()[0].ContextMap()["whole_entries_in_segment"])
	assert.Positive(t, logs.All()[0].ContextMap()["bytes_cut"])
	assert.Equal(t, int64(intact), second.Entries())

	var pushed []int64
	second.Start(nil, func(series []sample.Series, _ uint64) error {
		pushed = append(pushed, series[0].Points[0].T)
		return nil
	})
	require.NoError(t, second.AwaitReplay(context.Background()))
	require.Len(t, pushed, intact)
	for i, ts := range pushed {
		assert.Equal(t, int64(1000*(i+1)), ts)
	}
	assert.Equal(t, intact*(intact+1)/2, tel.replayed, "entry i holds i series of one sample")
	index, err := second.Append(batchOf(3, 99_000))
	require.NoError(t, err)
	assert.Equal(t, uint64(intact+1), index, "new entries follow the whole ones")
	second.Done(index)
	second.Stop()
	require.NoError(t, second.Close())

	third := open(t, dir)
	assert.Equal(t, int64(intact+1), third.Entries(), "the repaired log opens cleanly")
	assert.Zero(t, third.tel.(*counts).readFailed)
	series, _, err := third.Read(uint64(intact + 1))
	require.NoError(t, err)
	assert.Equal(t, int64(99_000), series[0].Points[0].T)
	require.NoError(t, third.Close())
}

// wholeEntries stops at the first entry whose length or bytes are cut.
func TestWholeEntries(t *testing.T) {
	entry := []byte{3, 'a', 'b', 'c'}
	two := append(append([]byte{}, entry...), entry...)
	for _, tc := range []struct {
		data           []byte
		length, number int
	}{
		{nil, 0, 0},
		{two, 8, 2},
		{two[:7], 4, 1},
		{append(append([]byte{}, two...), 0x80), 8, 2}, // a length cut in its middle
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1}, 0, 0},
	} {
		length, number := wholeEntries(tc.data)
		assert.Equal(t, tc.length, length, "%x", tc.data)
		assert.Equal(t, tc.number, number, "%x", tc.data)
	}
}
