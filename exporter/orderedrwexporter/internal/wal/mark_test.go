package wal

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// Entries done before a crash, but not truncated yet, are not replayed: the done mark, written
// every second, says where the watermark was.
func TestDoneEntriesAreNotReplayed(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir)
	first.Start(nil, func([]sample.Series, uint64) error { return nil })
	for i := range 5 {
		_, err := first.Append(batchOf(2, int64(1000*(i+1))))
		require.NoError(t, err)
	}
	for _, entry := range []uint64{1, 2, 3, 5} {
		first.Done(entry)
	}
	require.Eventually(t, func() bool {
		mark, err := readDoneMark(dir)
		return err == nil && mark == 4
	}, 5*time.Second, 10*time.Millisecond, "entry 4 is still tracked")
	// A crash: no truncation (the interval is an hour).
	first.Stop()
	require.NoError(t, first.Close())

	second := open(t, dir)
	assert.Equal(t, int64(2), second.Entries())
	assert.Equal(t, 3, second.tel.(*counts).truncated)
	var pushed []int64
	second.Start(nil, func(series []sample.Series, _ uint64) error {
		pushed = append(pushed, series[0].Points[0].T)
		return nil
	})
	require.NoError(t, second.AwaitReplay(context.Background()))
	assert.Equal(t, []int64{4000, 5000}, pushed, "entry 5 was done, but behind entry 4")
	second.Stop()
	require.NoError(t, second.Close())
}

// A mark that does not fit the log is ignored: everything is replayed.
func TestDoneMarkBeyondTheLogIsIgnored(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir)
	_, err := first.Append(batchOf(1, 1000))
	require.NoError(t, err)
	require.NoError(t, first.Close())
	require.NoError(t, writeDoneMark(dir, 99))
	second := open(t, dir)
	assert.Equal(t, int64(1), second.Entries())
	require.NoError(t, second.Close())

	require.NoError(t, os.WriteFile(filepath.Join(dir, doneMarkFile), []byte("garbage"), 0o600))
	third := open(t, dir)
	assert.Equal(t, int64(1), third.Entries())
	require.NoError(t, third.Close())
}
