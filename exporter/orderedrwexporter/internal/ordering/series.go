// Package ordering keeps remote-write samples in strictly increasing timestamp order per series:
// an optional event-time hold-back, series-sharded senders that filter stale samples, and a
// delivery that splits rejected requests until only the rejected samples are left out.
package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

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

var labelSep = []byte{0xff}

// HashLabels sorts labels by name and returns their hash, the identity of the series. The same
// algorithm as Prometheus' labels.StableHash, so identical label sets hash alike everywhere.
func HashLabels(labels []prompb.Label) uint64 {
	if !slices.IsSortedFunc(labels, compareLabels) {
		slices.SortFunc(labels, compareLabels)
	}
	h := xxhash.New()
	for _, l := range labels {
		_, _ = h.WriteString(l.Name)
		_, _ = h.Write(labelSep)
		_, _ = h.WriteString(l.Value)
		_, _ = h.Write(labelSep)
	}
	return h.Sum64()
}

func compareLabels(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }

// SetLabel returns labels with name set to value, replacing an existing label of that name.
func SetLabel(labels []prompb.Label, name, value string) []prompb.Label {
	for i := range labels {
		if labels[i].Name == name {
			labels[i].Value = value
			return labels
		}
	}
	return append(labels, prompb.Label{Name: name, Value: value})
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

func sortPoints(points []Point) {
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
