package sample

import (
	"strings"
	"testing"
	"unicode/utf8"

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

func TestLabelsString(t *testing.T) {
	assert.Equal(t, `{__name__="up", job="a"}`, LabelsString([]prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}}))
}

// A 19 MB label value (issue 18) must not make a 19 MB log line: every name and value is cut to
// 64 bytes, at a character boundary, with its size.
func TestLabelsStringTruncatesLongLabels(t *testing.T) {
	huge := strings.Repeat("x", 19<<20)
	got := LabelsString([]prompb.Label{{Name: "__name__", Value: "up"}, {Name: "big", Value: huge}})
	assert.Equal(t, `{__name__="up", big="`+strings.Repeat("x", 64)+`…(19922944 bytes)"}`, got)

	// 'é' is two bytes: the cut falls inside the 33rd, which is left out whole.
	accents := strings.Repeat("é", 40)
	got = LabelsString([]prompb.Label{{Name: strings.Repeat("n", 65), Value: accents}})
	assert.Equal(t, `{`+strings.Repeat("n", 64)+`…(65 bytes)="`+strings.Repeat("é", 32)+`…(80 bytes)"}`, got)
	assert.True(t, utf8.ValidString(got))

	exact := strings.Repeat("v", 64)
	assert.Equal(t, `{a="`+exact+`"}`, LabelsString([]prompb.Label{{Name: "a", Value: exact}}), "64 bytes are not cut")
}

func TestBytes(t *testing.T) {
	labels := []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}} // 14 bytes of strings
	assert.Equal(t, int64(2*labelBytes+14), LabelsBytes(labels))
	series := []Series{
		{Labels: labels, Points: []Point{{T: 1}, {T: 2}}},
		{Labels: labels, Points: []Point{{T: 1, H: &prompb.Histogram{PositiveSpans: make([]prompb.BucketSpan, 1), PositiveDeltas: make([]int64, 3)}}}},
	}
	assert.Equal(t, int64(seriesBytes+2*labelBytes+14+2*pointBytes)+int64(seriesBytes+2*labelBytes+14+pointBytes+histogramBytes+4*8), Bytes(series))
	assert.Zero(t, Bytes(nil))
}
