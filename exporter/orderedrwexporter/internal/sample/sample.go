// Package sample is the form in which every stage of ordered_rw passes data along: a series,
// identified by the hash of its labels, and its points; with the helpers that build, identify
// and order them. It depends on nothing else of the exporter.
package sample // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"

import (
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/prompb"
)

// Point is one sample of a series: a float sample, or a native histogram when H is set.
type Point struct {
	T int64 // milliseconds since the epoch, as remote write carries it
	V float64
	H *prompb.Histogram
}

// Series is the points one push carries for one series, identified by the hash of its labels.
type Series struct {
	Hash   uint64
	Labels []prompb.Label
	Points []Point
}

const labelSep = '\xff'

// AppendPoints appends the samples of ts to points, float samples first, then histograms (the
// translator never mixes both in one series); a histogram point refers to ts's histogram.
func AppendPoints(points []Point, ts *prompb.TimeSeries) []Point {
	for _, sample := range ts.Samples {
		points = append(points, Point{T: sample.Timestamp, V: sample.Value})
	}
	for i := range ts.Histograms {
		points = append(points, Point{T: ts.Histograms[i].Timestamp, H: &ts.Histograms[i]})
	}
	return points
}

// HashLabels returns the hash of labels, the identity of the series: the algorithm of
// Prometheus' labels.StableHash. labels must be sorted by name, as the upstream translator
// returns them (it sorts them in place to compute its own signature) and SetLabel keeps them;
// checking it here cost a tenth of the exporter's CPU. buf is scratch space, returned for reuse.
func HashLabels(labels []prompb.Label, buf []byte) (uint64, []byte) {
	buf = buf[:0]
	for _, l := range labels {
		buf = append(buf, l.Name...)
		buf = append(buf, labelSep)
		buf = append(buf, l.Value...)
		buf = append(buf, labelSep)
	}
	return xxhash.Sum64(buf), buf
}

// SetLabel returns labels, sorted by name, with name set to value, replacing an existing label
// of that name and keeping the order.
func SetLabel(labels []prompb.Label, name, value string) []prompb.Label {
	i, found := slices.BinarySearchFunc(labels, name, func(l prompb.Label, n string) int { return strings.Compare(l.Name, n) })
	if found {
		labels[i].Value = value
		return labels
	}
	return slices.Insert(labels, i, prompb.Label{Name: name, Value: value})
}

// LabelsString renders labels for a log line, e.g. {__name__="up", job="a"}.
func LabelsString(labels []prompb.Label) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(l.Value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// SortPoints sorts points by timestamp, keeping the order of equal ones; points that are sorted
// already, the usual case, cost one pass.
func SortPoints(points []Point) {
	if !slices.IsSortedFunc(points, comparePoints) {
		slices.SortStableFunc(points, comparePoints)
	}
}

func comparePoints(a, b Point) int {
	switch {
	case a.T < b.T:
		return -1
	case a.T > b.T:
		return 1
	}
	return 0
}

// CountPoints is the number of points of every series.
func CountPoints(series []Series) int {
	n := 0
	for i := range series {
		n += len(series[i].Points)
	}
	return n
}
