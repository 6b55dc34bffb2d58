package pending

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Work finishes out of key order; the oldest is the lowest key with any work left.
func TestOldestFollowsTheWorkLeft(t *testing.T) {
	var p Counts[uint64]
	_, ok := p.Oldest()
	assert.False(t, ok, "nothing in progress")
	p.Add(3)
	p.Add(5)
	p.Add(3)
	oldest, ok := p.Oldest()
	assert.True(t, ok)
	assert.Equal(t, uint64(3), oldest)
	p.Done(3)
	oldest, _ = p.Oldest()
	assert.Equal(t, uint64(3), oldest, "one piece of work at 3 is left")
	p.Done(3)
	oldest, _ = p.Oldest()
	assert.Equal(t, uint64(5), oldest)
	p.Done(5)
	_, ok = p.Oldest()
	assert.False(t, ok)
}
