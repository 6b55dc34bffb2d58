package sample

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// randomLabels returns up to 12 labels whose names and values are empty, short, or long enough
// for two- and three-byte length prefixes, with any bytes (invalid UTF-8 included).
func randomLabels(r *rand.Rand) []prompb.Label {
	str := func() string {
		var n int
		switch r.IntN(5) {
		case 0:
			n = 0
		case 1:
			n = 100 + r.IntN(300) // a two-byte length
		case 2:
			if r.IntN(10) == 0 {
				n = 16384 + r.IntN(1000) // a three-byte length
			}
		default:
			n = 1 + r.IntN(20)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return string(b)
	}
	labels := make([]prompb.Label, r.IntN(13))
	for i := range labels {
		labels[i] = prompb.Label{Name: str(), Value: str()}
	}
	return labels
}

// requireSameAsPrompb checks that a TimeSeries with labels' block encoded before its samples
// marshals as prompb marshals the same TimeSeries with Labels: the block is the labels field.
func requireSameAsPrompb(t *testing.T, labels []prompb.Label, samples []prompb.Sample) {
	t.Helper()
	want, err := (&prompb.TimeSeries{Labels: labels, Samples: samples}).Marshal()
	require.NoError(t, err)
	got := AppendLabelsPB(nil, labels)
	rest, err := (&prompb.TimeSeries{Samples: samples}).Marshal()
	require.NoError(t, err)
	require.Equal(t, string(want), string(append(got, rest...)))
	require.Equal(t, len(got), LabelsPBSize(labels))
	// Decoded back, the same labels.
	var ts prompb.TimeSeries
	require.NoError(t, ts.Unmarshal(got))
	require.Len(t, ts.Labels, len(labels))
	for i := range labels {
		require.Equal(t, labels[i].Name, ts.Labels[i].Name)
		require.Equal(t, labels[i].Value, ts.Labels[i].Value)
	}
}

func TestAppendLabelsPBIsPrompbMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		labels := randomLabels(r)
		samples := make([]prompb.Sample, r.IntN(3))
		for i := range samples {
			samples[i] = prompb.Sample{Timestamp: r.Int64(), Value: r.NormFloat64()}
		}
		requireSameAsPrompb(t, labels, samples)
	}
	// Appends: what dst held is kept.
	require.Equal(t, append([]byte("x"), AppendLabelsPB(nil, []prompb.Label{{Name: "a", Value: "b"}})...),
		AppendLabelsPB([]byte("x"), []prompb.Label{{Name: "a", Value: "b"}}))
}

// FuzzAppendLabelsPB: any two labels (names and values any bytes) encode as prompb does.
func FuzzAppendLabelsPB(f *testing.F) {
	f.Add("__name__", "up", "job", "a")
	f.Add("", "", "", "")
	f.Add("", "v", "n", "")
	f.Add("le", "+Inf", "\xff\xfe", "\x00")
	f.Add(strings.Repeat("n", 127), strings.Repeat("v", 128), strings.Repeat("x", 16383), strings.Repeat("y", 16384))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		requireSameAsPrompb(t, []prompb.Label{{Name: n1, Value: v1}, {Name: n2, Value: v2}}, []prompb.Sample{{Timestamp: 1, Value: 2}})
	})
}
