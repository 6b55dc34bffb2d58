package scratch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReuseKeepsAnArrayWithRoomAndGrowsOneWithout(t *testing.T) {
	buf := make([]int, 3, 10)
	got := Reuse(buf, 10)
	assert.Empty(t, got)
	assert.Equal(t, 10, cap(got))
	assert.Same(t, &buf[:1][0], &got[:1][0], "the same array")

	grown := Reuse(buf, 11)
	assert.Empty(t, grown)
	assert.Equal(t, 13, cap(grown), "a quarter to spare")
}

// Arrays sized for the steady state are kept whatever their size; one left from an outsized use
// is let go within two periods of uses that needed less.
func TestPeakKeepsWhatTheSteadyStateUses(t *testing.T) {
	var p Peak
	assert.True(t, p.Keeps(100, 100), "up to the floor, always")
	assert.False(t, p.Keeps(101, 100), "nothing noted yet")

	p.Note(1000)
	assert.True(t, p.Keeps(1250, 100), "Reuse's quarter to spare")
	assert.True(t, p.Keeps(2000, 100))
	assert.False(t, p.Keeps(2001, 100), "more than twice the peak")

	p.Note(1_000_000) // one outsized use
	for range peakPeriod - 1 {
		p.Note(1000)
	}
	assert.True(t, p.Keeps(1_250_000, 100), "remembered for a period of uses after it at least")
	for range peakPeriod + 1 {
		p.Note(1000)
	}
	assert.False(t, p.Keeps(1_250_000, 100), "forgotten two periods later at most")
	assert.True(t, p.Keeps(1250, 100), "the steady state's arrays are still kept")
}

// Carve gives each shard an empty batch with exactly its room, in order in the one array:
// appending up to the room writes in place, and cannot spill into the next shard's batch.
func TestCarve(t *testing.T) {
	all := make([]int, 6)
	perShard := make([][]int, 3)
	Carve(all, perShard, []int{2, 0, 4})
	for i, want := range []int{2, 0, 4} {
		assert.Empty(t, perShard[i])
		assert.Equal(t, want, cap(perShard[i]), "shard %d", i)
	}
	perShard[0] = append(perShard[0], 1, 2)
	perShard[2] = append(perShard[2], 3, 4, 5, 6)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, all, "written in place")
	perShard[0] = append(perShard[0], 7)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, all, "past its room a batch moves, the next is untouched")
}
