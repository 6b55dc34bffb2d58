// Package sample is the form in which every stage of ordered_rw passes data along: a series,
// identified by the hash of its labels, its labels encoded once as remote write carries them
// (Labels), and its points; with the helpers that build, identify and order them. It depends on
// nothing else of the exporter.
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

// Series is the points one push carries for one series, identified by the hash of its labels
// (Labels.Hash, HashLabels). 48 bytes: it is copied per series and push by every stage.
type Series struct {
	Hash   uint64
	Labels Labels
	Points []Point
}

// One is a series with one float point: the form in which a push's batches wait on the shards
// for the series that carry one, which is nearly every series of a push (a series is sent once a
// batch). 40 bytes, against the 72 of a Series and its Point: at saturation the batches queued
// on the shards were a third of the gateway's peak resident memory, most of it in that form.
type One struct {
	Hash   uint64
	Labels Labels
	T      int64
	V      float64
}

// IsOne reports whether s has one point, a float sample: whether it can wait as a One.
func (s *Series) IsOne() bool { return len(s.Points) == 1 && s.Points[0].H == nil }

// AppendAsSeries appends ones to dst as Series of their one point each, the points in one new
// array: for the rare path that needs every series in one form (a push re-split after a
// reshard).
func AppendAsSeries(dst []Series, ones []One) []Series {
	points := make([]Point, len(ones))
	for i := range ones {
		one := &ones[i]
		points[i] = Point{T: one.T, V: one.V}
		dst = append(dst, Series{Hash: one.Hash, Labels: one.Labels, Points: points[i : i+1 : i+1]})
	}
	return dst
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
// Prometheus' labels.StableHash, and Labels.Hash of the same labels. labels must be sorted by
// name, as the upstream translator returns them (it sorts them in place to compute its own
// signature) and SetLabel keeps them; checking it here cost a tenth of the exporter's CPU. buf
// is scratch space, returned for reuse.
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

// Estimated bytes of the data a series costs while queued or held: what ordered_rw's memory budget
// (`ordering.max_buffered_bytes`) counts. Sizes of the structures, not measured per value: a
// Series (hash, labels' string header, points' slice header) and its twin in a request, a Point,
// and a native histogram's fixed part; the bytes of the labels' block and of histogram buckets
// are added as they are.
const (
	seriesBytes    = 96
	pointBytes     = 24
	histogramBytes = 192
	// oneBytes is a One and, when a One of its batch is removed before sending, its copy in the
	// shard's scratch (the request is sent from the batch's Ones otherwise).
	oneBytes = 40 + 40
)

// LabelsBytes is the estimated size of labels beyond their string header: their encoded block.
func LabelsBytes(labels Labels) int64 { return int64(len(labels)) }

// Bytes is the estimated size of series, their labels and points: a pass over the series and
// their points, no reflection and no encoding.
func Bytes(series []Series) int64 {
	var n int64
	for i := range series {
		s := &series[i]
		n += seriesBytes + LabelsBytes(s.Labels) + int64(len(s.Points))*pointBytes
		for j := range s.Points {
			if h := s.Points[j].H; h != nil {
				n += HistogramBytes(h)
			}
		}
	}
	return n
}

// OnesBytes is the estimated size of ones and their labels, as Bytes is of series.
func OnesBytes(ones []One) int64 {
	n := int64(len(ones)) * oneBytes
	for i := range ones {
		n += LabelsBytes(ones[i].Labels)
	}
	return n
}

// HistogramBytes is the estimated size of a native histogram beyond the Point that refers to it.
func HistogramBytes(h *prompb.Histogram) int64 {
	return histogramBytes + 8*int64(len(h.PositiveSpans)+len(h.NegativeSpans)+len(h.PositiveDeltas)+
		len(h.NegativeDeltas)+len(h.PositiveCounts)+len(h.NegativeCounts)+len(h.CustomValues))
}
