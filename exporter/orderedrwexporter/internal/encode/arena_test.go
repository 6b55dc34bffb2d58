package encode

import (
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

// smallChunks makes the arena's chunks one page for the test, so that a few series fill several.
func smallChunks(t *testing.T) {
	old := chunkBytes
	chunkBytes = offheap.MinBytes
	t.Cleanup(func() { chunkBytes = old })
}

// encodeAt encodes series first..first+n-1 at second at, checks every series' labels against its
// value, and returns the output (not recycled).
func encodeAt(t *testing.T, enc *Encoder, at, first, n int) []sample.Series {
	t.Helper()
	md, dps := jobOnlyGauge()
	for i := range n {
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("series", fmt.Sprintf("series-%06d", first+i))
		dp.SetDoubleValue(float64(first + i))
		dp.SetTimestamp(testStart)
	}
	res := enc.Encode(md, enc.start.Add(time.Duration(at)*time.Second))
	require.Len(t, res.Series, n)
	for _, s := range res.Series {
		requireLabelsOf(t, s)
	}
	return res.Series
}

// requireLabelsOf requires the labels of s to be those of the series its value numbers.
func requireLabelsOf(t *testing.T, s sample.Series) {
	t.Helper()
	got, ok := s.Labels.Get("series")
	require.True(t, ok, "labels %s", s.Labels)
	require.Equal(t, fmt.Sprintf("series-%06d", int(s.Points[0].V)), got)
	require.Equal(t, s.Hash, s.Labels.Hash())
}

// mapped is the arena's chunks that are mapped: in use, and retired but not unmapped yet.
func mapped(enc *Encoder) int {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	live, retired := enc.labels.bytes()
	return live + retired
}

func TestCachedLabelsAreOutsideTheHeap(t *testing.T) {
	if !offheap.PointerFree[entry]() {
		t.Fatal("an entry holds a Go pointer: the identities table stays on the heap")
	}
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	enc.Recycle(encodeAt(t, enc, 0, 0, 200)) // seen once: heap blocks
	assert.Zero(t, mapped(enc))
	out := encodeAt(t, enc, 0, 0, 200) // seen twice: cached, in the arena
	assert.Greater(t, mapped(enc), 2*offheap.MinBytes)
	live, _ := enc.labels.bytes()
	assert.Equal(t, live, mapped(enc))
	enc.Recycle(out)
}

// TestRetiredChunkIsPinnedUntilDone: the labels of series swept from the cache stay mapped while
// an output, a pin (a batch) or a hold-back series refers to them, and are unmapped once nothing
// does. Were a chunk unmapped an epoch early, reading the kept labels would fault.
func TestRetiredChunkIsPinnedUntilDone(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	enc.Recycle(encodeAt(t, enc, 0, 0, 200))
	enc.Recycle(encodeAt(t, enc, 0, 0, 200))
	old := encodeAt(t, enc, 0, 0, 200) // in flight: the push is not over
	aMapped := mapped(enc)
	require.Positive(t, aMapped)
	batch := enc.Epochs().Hold() // a batch made of it, queued before the push ends
	var held sample.Labels       // a hold-back series' labels
	enc.Epochs().SetScan(func(visit func(sample.Labels)) {
		if held != "" {
			visit(held)
		}
	})
	held = old[150].Labels
	kept := append([]sample.Series(nil), old...) // the batch's copy: Recycle empties old
	for i := range kept {
		kept[i].Points = append([]sample.Point(nil), kept[i].Points...)
	}
	enc.Recycle(old)

	// Other series from now on: the first 200 are swept (idle for more than a second).
	second := 1
	next := func() {
		second++
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
	}
	for range 5 {
		next()
	}
	assert.Zero(t, enc.identities.Len()-200, "the old series are swept")
	require.NotEmpty(t, enc.labels.retired, "their chunks are retired")
	for _, s := range kept {
		requireLabelsOf(t, s) // still mapped: the batch pins them
	}
	retired := len(enc.labels.retired)

	batch.Release()
	for range 3 {
		next()
	}
	require.Len(t, enc.labels.retired, 1, "only the chunk the hold-back refers to is left")
	requireLabelsOf(t, kept[150])
	assert.Less(t, len(enc.labels.retired), retired)

	held = "" // the hold-back released the series
	for range 3 {
		next()
	}
	assert.Empty(t, enc.labels.retired, "unmapped once nothing refers to it")
}

// TestOpenOutputPinsItsChunks: a push not over yet (its output not recycled) keeps the chunks of
// its blocks mapped, whatever later pushes sweep; concurrent pushes are of this kind.
func TestOpenOutputPinsItsChunks(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	enc.Recycle(encodeAt(t, enc, 0, 0, 100))
	inFlight := encodeAt(t, enc, 0, 0, 100)
	for second := 2; second < 10; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000+100*second, 100))
	}
	require.NotEmpty(t, enc.labels.retired)
	for _, s := range inFlight {
		requireLabelsOf(t, s)
	}
	enc.Recycle(inFlight)
	for second := 10; second < 13; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000+100*second, 100))
	}
	assert.Empty(t, enc.labels.retired)
}

// TestOutputBeyondMaxLentKeepsItsEpoch: an output with maxLent or more lent after it loses its
// arrays (they are not reused) but not its epoch: its chunks stay mapped until it is recycled,
// and are unmapped then.
func TestOutputBeyondMaxLentKeepsItsEpoch(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	enc.Recycle(encodeAt(t, enc, 0, 0, 100))
	oldest := encodeAt(t, enc, 0, 0, 100)
	var later [][]sample.Series
	for i := range maxLent {
		later = append(later, encodeAt(t, enc, 0, 500+i, 1))
	}
	for _, out := range later { // done with before the oldest: only its epoch is left open
		enc.Recycle(out)
	}
	for second := 2; second < 10; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000+100*second, 100))
	}
	require.NotEmpty(t, enc.labels.retired, "the oldest output's epoch is still open")
	for _, s := range oldest {
		requireLabelsOf(t, s)
	}
	enc.Recycle(oldest)
	assert.False(t, slices.ContainsFunc(enc.outputs.free, func(out output) bool {
		return unsafe.SliceData(out.series) == unsafe.SliceData(oldest)
	}), "its arrays were forgotten")
	assert.Empty(t, enc.outputs.lent)
	for second := 10; second < 13; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000+100*second, 100))
	}
	assert.Empty(t, enc.labels.retired)
}

// TestChurnStaysBounded: series that come and go, and one in 20 of them that stays, spread over
// every chunk: the chunks those few keep alive are emptied into the current one (sparse), so that
// what is mapped follows the series cached, not every series ever seen.
func TestChurnStaysBounded(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	const perPush = 200
	peak, peakCached := 0, 0
	var stay []int
	for second := range 60 {
		first := 10_000 * (second/2 + 1) // each set of series pushed twice (cached), then gone
		enc.Recycle(encodeAt(t, enc, second, first, perPush))
		if second%2 == 1 {
			for i := 0; i < perPush; i += 20 {
				stay = append(stay, first+i)
			}
		}
		for _, n := range stay {
			enc.Recycle(encodeAt(t, enc, second, n, 1))
		}
		if second >= 10 {
			if m := mapped(enc); m > peak {
				peak, peakCached = m, enc.CachedSeries()
			}
		}
	}
	perBlock := len(encodeAt(t, enc, 60, 0, 1)[0].Labels)
	// A chunk other than the current one is a quarter live or emptied at its series' next push;
	// retired ones wait a second or two (about 7 chunks of churn).
	limit := 4*peakCached*perBlock + 10*chunkBytes
	t.Logf("peak %d bytes mapped for %d series cached (%d bytes a block), limit %d", peak, peakCached, perBlock, limit)
	assert.Less(t, peak, limit)
}

// TestBigBlockHasItsOwnChunk: a block of a quarter chunk or more is mapped alone, and unmapped with
// its series.
func TestBigBlockHasItsOwnChunk(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	md, dps := jobOnlyGauge()
	dp := dps.AppendEmpty()
	big := string(make([]byte, 3*chunkBytes))
	dp.Attributes().PutStr("big", big)
	dp.SetTimestamp(testStart)
	enc.Recycle(enc.Encode(md, enc.start).Series)
	out := enc.Encode(md, enc.start).Series
	got, _ := out[0].Labels.Get("big")
	require.Equal(t, big, got)
	assert.GreaterOrEqual(t, mapped(enc), 3*chunkBytes)
	enc.Recycle(out)
	for second := 2; second < 6; second++ {
		enc.Recycle(encodeAt(t, enc, second, 0, 1))
	}
	assert.Less(t, mapped(enc), 2*chunkBytes)
}

// TestScanWaitsForThePushesOfARetiredChunk: the hold-back is scanned for a retired chunk only once
// every push that could carry its blocks is over: a push still on its way to the hold-back when the
// chunk retired may hold one of its series afterwards.
func TestScanWaitsForThePushesOfARetiredChunk(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	var held sample.Labels
	enc.Epochs().SetScan(func(visit func(sample.Labels)) {
		if held != "" {
			visit(held)
		}
	})
	enc.Recycle(encodeAt(t, enc, 0, 0, 200))
	enc.Recycle(encodeAt(t, enc, 0, 0, 200))
	open := encodeAt(t, enc, 0, 0, 200) // blocked in the engine, before the hold-back
	for second := 2; second < 8; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
	}
	require.NotEmpty(t, enc.labels.retired)
	// The push reaches the hold-back, which keeps a series, and ends.
	kept := sample.Series{Hash: open[150].Hash, Labels: open[150].Labels, Points: []sample.Point{open[150].Points[0]}}
	held = kept.Labels
	enc.Recycle(open)
	for second := 8; second < 14; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
		requireLabelsOf(t, kept)
	}
	held = ""
	for second := 14; second < 18; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
	}
	assert.Empty(t, enc.labels.retired)
}

// TestReleaseInProgressPinsAScannedChunk: a release reads a hold-back series' labels without the
// hold-back's lock, then the series lets go of them; a scan after that does not find them, but the
// release, pinned before it read them, keeps the chunk mapped until it is done. The release here
// begins at the latest moment: within the Encode that scans, just before the scan takes the
// hold-back's lock, so that it is pinned at the very epoch the chunk is marked scanned at.
func TestReleaseInProgressPinsAScannedChunk(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	var (
		held, batch sample.Labels
		release     sample.Pin
		releasing   bool
	)
	enc.Epochs().SetScan(func(visit func(sample.Labels)) {
		if releasing && held != "" {
			release = enc.Epochs().Hold() // a release begins, reads the series' labels...
			batch = held
			held = "" // ...and the series, all its points released, lets go of them
		}
		if held != "" {
			visit(held)
		}
	})
	enc.Recycle(encodeAt(t, enc, 0, 0, 200))
	out := encodeAt(t, enc, 0, 0, 200)
	kept := sample.Series{Hash: out[150].Hash, Labels: out[150].Labels, Points: []sample.Point{out[150].Points[0]}}
	held = kept.Labels // held by the hold-back
	enc.Recycle(out)
	for second := 2; second < 8; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
	}
	require.Len(t, enc.labels.retired, 1, "the chunk the hold-back refers to")
	releasing = true
	for second := 8; second < 14; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
		require.NotEmpty(t, batch)
		requireLabelsOf(t, sample.Series{Hash: kept.Hash, Labels: batch, Points: kept.Points}) // the release's batch, retried
	}
	require.Len(t, enc.labels.retired, 1)
	release.Release()
	for second := 14; second < 17; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
	}
	assert.Empty(t, enc.labels.retired)
}

// TestPinTakenDuringAPushCoversItsBlocks: a batch made of a push's output pins the oldest epoch
// still open, not the current one: chunks of the push's blocks may have retired since it encoded
// (its series swept, while it waited for the engine).
func TestPinTakenDuringAPushCoversItsBlocks(t *testing.T) {
	smallChunks(t)
	enc := New(Settings{IdleTimeout: time.Second, MaxSeries: 1 << 20})
	enc.Recycle(encodeAt(t, enc, 0, 0, 200))
	enc.Recycle(encodeAt(t, enc, 0, 0, 200))
	open := encodeAt(t, enc, 0, 0, 200)
	for second := 2; second < 6; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200)) // the push's series are swept
	}
	require.NotEmpty(t, enc.labels.retired)
	batch := enc.Epochs().Hold() // the push queues its batch now
	kept := make([]sample.Series, len(open))
	for i, s := range open {
		kept[i] = sample.Series{Hash: s.Hash, Labels: s.Labels, Points: []sample.Point{s.Points[0]}}
	}
	enc.Recycle(open)
	for second := 6; second < 12; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
		for _, s := range kept {
			requireLabelsOf(t, s) // the batch, retried
		}
	}
	batch.Release()
	for second := 12; second < 15; second++ {
		enc.Recycle(encodeAt(t, enc, second, 1000, 200))
	}
	assert.Empty(t, enc.labels.retired)
}
