package sample

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
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

// requireSameAsPrompb checks that labels' block is the labels field prompb's Marshal writes for
// a TimeSeries with those labels (then its samples), and that the block gives back the labels:
// every pair, its hash, one by name.
func requireSameAsPrompb(t *testing.T, labels []prompb.Label, samples []prompb.Sample) {
	t.Helper()
	want, err := (&prompb.TimeSeries{Labels: labels, Samples: samples}).Marshal()
	require.NoError(t, err)
	block := NewLabels(labels)
	rest, err := (&prompb.TimeSeries{Samples: samples}).Marshal()
	require.NoError(t, err)
	require.Equal(t, string(want), string(block)+string(rest))
	size := 0
	for _, l := range labels {
		size += LabelSize(l.Name, l.Value)
	}
	require.Len(t, block, size)

	// Decoded back, by prompb and by the block's own reader: the same labels.
	var ts prompb.TimeSeries
	require.NoError(t, ts.Unmarshal([]byte(block)))
	require.Len(t, ts.Labels, len(labels))
	got := block.Prompb()
	require.Len(t, got, len(labels))
	require.Equal(t, len(labels), block.Len())
	for i := range labels {
		require.Equal(t, labels[i].Name, ts.Labels[i].Name)
		require.Equal(t, labels[i].Value, ts.Labels[i].Value)
		require.Equal(t, labels[i].Name, got[i].Name)
		require.Equal(t, labels[i].Value, got[i].Value)
	}
	hash, _ := HashLabels(labels, nil)
	require.Equal(t, hash, block.Hash())
	for _, l := range labels {
		v, ok := block.Get(l.Name)
		require.True(t, ok)
		// The first label of that name.
		for _, first := range labels {
			if first.Name == l.Name {
				require.Equal(t, first.Value, v)
				break
			}
		}
	}
}

func TestLabelsAreAsPrompbMarshals(t *testing.T) {
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
	require.Equal(t, append([]byte("x"), NewLabels([]prompb.Label{{Name: "a", Value: "b"}})...),
		AppendLabels([]byte("x"), []prompb.Label{{Name: "a", Value: "b"}}))
	require.Equal(t, Labels(""), NewLabels(nil))
}

// FuzzLabels: any two labels (names and values any bytes) encode as prompb does, and decode back.
func FuzzLabels(f *testing.F) {
	f.Add("__name__", "up", "job", "a")
	f.Add("", "", "", "")
	f.Add("", "v", "n", "")
	f.Add("le", "+Inf", "\xff\xfe", "\x00")
	f.Add(strings.Repeat("n", 127), strings.Repeat("v", 128), strings.Repeat("x", 16383), strings.Repeat("y", 16384))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		requireSameAsPrompb(t, []prompb.Label{{Name: n1, Value: v1}, {Name: n2, Value: v2}}, []prompb.Sample{{Timestamp: 1, Value: 2}})
	})
}

// A block that is not one (never built here) is read up to where it stops making sense, without
// a panic.
func TestMalformedLabelsEndEarly(t *testing.T) {
	good := NewLabels([]prompb.Label{{Name: "a", Value: "b"}})
	for _, bad := range []Labels{
		"\x0a",                 // a tag without a length
		"\x0a\x05ab",           // a length beyond the end
		"\x0a\x80",             // a varint cut short
		"\x0a\x02\x1a\x00",     // a Label field that is neither name nor value
		"\x0a\x03\x0a\x05a",    // a name longer than its Label
		"\x12\x00",             // not a labels field
		"\x0a\x0a\xff\xff\xff", // a length that is no varint
	} {
		assert.Zero(t, bad.Len(), "%q", bad)
		assert.Equal(t, 1, (good + bad).Len(), "%q after a good label", bad)
		assert.Equal(t, `{a="b"}`, (good + bad).String())
	}
}

// Reading a block allocates nothing; a Series is 48 bytes.
func TestLabelsReadWithoutAllocating(t *testing.T) {
	labels := NewLabels([]prompb.Label{{Name: "__name__", Value: "up"}, {Name: "instance", Value: "h:1"}, {Name: "job", Value: "a"}})
	allocs := testing.AllocsPerRun(100, func() {
		n := 0
		for name, value := range labels.All() {
			n += len(name) + len(value)
		}
		if v, ok := labels.Get("job"); !ok || v != "a" || n != 25 {
			t.Fatal("wrong labels")
		}
		_ = labels.Hash()
	})
	assert.Zero(t, allocs)
	assert.Equal(t, uintptr(48), unsafe.Sizeof(Series{}))
}

func TestLabelsString(t *testing.T) {
	assert.Equal(t, `{__name__="up", job="a"}`, NewLabels([]prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}}).String())
	assert.Equal(t, `{}`, Labels("").String())
}

// A 19 MB label value (issue 18) must not make a 19 MB log line: every name and value is cut to
// 64 bytes, at a character boundary, with its size.
func TestLabelsStringTruncatesLongLabels(t *testing.T) {
	huge := strings.Repeat("x", 19<<20)
	got := NewLabels([]prompb.Label{{Name: "__name__", Value: "up"}, {Name: "big", Value: huge}}).String()
	assert.Equal(t, `{__name__="up", big="`+strings.Repeat("x", 64)+`…(19922944 bytes)"}`, got)

	// 'é' is two bytes: the cut falls inside the 33rd, which is left out whole.
	accents := strings.Repeat("é", 40)
	got = NewLabels([]prompb.Label{{Name: strings.Repeat("n", 65), Value: accents}}).String()
	assert.Equal(t, `{`+strings.Repeat("n", 64)+`…(65 bytes)="`+strings.Repeat("é", 32)+`…(80 bytes)"}`, got)
	assert.True(t, utf8.ValidString(got))

	exact := strings.Repeat("v", 64)
	assert.Equal(t, `{a="`+exact+`"}`, NewLabels([]prompb.Label{{Name: "a", Value: exact}}).String(), "64 bytes are not cut")
}

func TestSortLabelsIsStable(t *testing.T) {
	labels := []prompb.Label{{Name: "le", Value: "2"}, {Name: "a"}, {Name: "le", Value: "1"}}
	SortLabels(labels)
	assert.Equal(t, []prompb.Label{{Name: "a"}, {Name: "le", Value: "2"}, {Name: "le", Value: "1"}}, labels)
}
