package sample

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSetLabelKeepsOrder(t *testing.T) {
	labels := []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "job", Value: "j"}}
	labels = SetLabel(labels, "collector_gateway", "gw")
	assert.Equal(t, []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "collector_gateway", Value: "gw"}, {Name: "job", Value: "j"}}, labels)
	labels = SetLabel(labels, "job", "k")
	assert.Equal(t, "k", labels[2].Value)
	h1, _ := HashLabels(labels, nil)
	h2, _ := HashLabels([]prompb.Label{{Name: "__name__", Value: "m"}, {Name: "collector_gateway", Value: "gw"}, {Name: "job", Value: "k"}}, nil)
	assert.Equal(t, h1, h2)
}

// Points are sorted by timestamp; equal timestamps keep their order (a float and its
// histogram twin must not swap).
func TestSortPointsIsStable(t *testing.T) {
	h := &prompb.Histogram{}
	points := []Point{{T: 3}, {T: 1, V: 1}, {T: 2}, {T: 1, H: h}}
	SortPoints(points)
	assert.Equal(t, []Point{{T: 1, V: 1}, {T: 1, H: h}, {T: 2}, {T: 3}}, points)
}

func TestBytes(t *testing.T) {
	labels := NewLabels([]prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}}) // 14 bytes of strings, 6 a label of encoding
	assert.Equal(t, int64(26), LabelsBytes(labels))
	series := []Series{
		{Labels: labels, Points: []Point{{T: 1}, {T: 2}}},
		{Labels: labels, Points: []Point{{T: 1, H: &prompb.Histogram{PositiveSpans: make([]prompb.BucketSpan, 1), PositiveDeltas: make([]int64, 3)}}}},
	}
	assert.Equal(t, int64(seriesBytes+26+2*pointBytes)+int64(seriesBytes+26+pointBytes+histogramBytes+4*8), Bytes(series))
	assert.Zero(t, Bytes(nil))
}
