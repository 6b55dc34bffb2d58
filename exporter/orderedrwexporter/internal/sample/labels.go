package sample

import (
	"iter"
	"math/bits"
	"slices"
	"strings"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/prompb"

	"github.com/otelcol-fleet/otelcol-fleet/internal/logsafe"
)

// Labels are a series' labels in the one form ordered_rw keeps them: encoded as the repeated
// field 1 (`labels`) of a remote-write TimeSeries, sorted by name, exactly the bytes prompb's
// Marshal writes for them. A request appends them as they are; a series costs one string header
// and its encoded bytes (2 to 4 bytes a label besides the name and value), where a
// []prompb.Label cost a 64-byte struct a label besides its strings.
//
// Labels are built once per series (NewLabels, AppendLabels) and never modified; the pairs are
// read without allocating (All, Get): every string they yield points into the block.
type Labels string

// Field tags of the protobuf encoding: TimeSeries.labels (1), Label.name (1) and Label.value (2),
// all length-delimited.
const (
	tagLabel = 0x0a
	tagName  = 0x0a
	tagValue = 0x12
)

// NewLabels encodes labels, in their order (sorted by name is the caller's to ensure, as the
// translator returns them and SortLabels makes them).
func NewLabels(labels []prompb.Label) Labels {
	size := 0
	for i := range labels {
		size += LabelSize(labels[i].Name, labels[i].Value)
	}
	if size == 0 {
		return ""
	}
	block := AppendLabels(make([]byte, 0, size), labels)
	// One allocation: block is never written again.
	return Labels(unsafe.String(unsafe.SliceData(block), len(block)))
}

// AppendLabels appends labels encoded as a TimeSeries' labels field to dst, as proto3 and
// prompb's Marshal do it (an empty name or value is left out of its Label).
func AppendLabels(dst []byte, labels []prompb.Label) []byte {
	for i := range labels {
		dst = AppendLabel(dst, labels[i].Name, labels[i].Value)
	}
	return dst
}

// AppendLabel appends one label, encoded as AppendLabels does, to dst.
func AppendLabel(dst []byte, name, value string) []byte {
	dst = append(dst, tagLabel)
	dst = AppendUvarint(dst, uint64(labelBodySize(name, value)))
	if len(name) > 0 {
		dst = append(dst, tagName)
		dst = AppendUvarint(dst, uint64(len(name)))
		dst = append(dst, name...)
	}
	if len(value) > 0 {
		dst = append(dst, tagValue)
		dst = AppendUvarint(dst, uint64(len(value)))
		dst = append(dst, value...)
	}
	return dst
}

// LabelSize is the size of one label encoded by AppendLabel.
func LabelSize(name, value string) int {
	n := labelBodySize(name, value)
	return 1 + UvarintSize(uint64(n)) + n
}

// labelBodySize is the size of a Label message: each string with its tag and length, unless
// empty.
func labelBodySize(name, value string) int {
	size := 0
	if len(name) > 0 {
		size += 1 + UvarintSize(uint64(len(name))) + len(name)
	}
	if len(value) > 0 {
		size += 1 + UvarintSize(uint64(len(value))) + len(value)
	}
	return size
}

// SortLabels sorts labels by name in place (stably: two labels of one name keep their order).
func SortLabels(labels []prompb.Label) {
	if !slices.IsSortedFunc(labels, compareLabels) {
		slices.SortStableFunc(labels, compareLabels)
	}
}

func compareLabels(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }

// All yields every label, name and value, in order. A malformed block (never one built here)
// ends early.
func (l Labels) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for rest := l; len(rest) > 0; {
			name, value, next, ok := rest.next()
			if !ok || !yield(name, value) {
				return
			}
			rest = next
		}
	}
}

// Get returns the value of the first label named name.
func (l Labels) Get(name string) (string, bool) {
	for n, v := range l.All() {
		if n == name {
			return v, true
		}
	}
	return "", false
}

// Len is the number of labels.
func (l Labels) Len() int {
	n := 0
	for range l.All() {
		n++
	}
	return n
}

// Prompb returns the labels as prompb's structs, whose strings point into l.
func (l Labels) Prompb() []prompb.Label {
	out := make([]prompb.Label, 0, l.Len())
	for name, value := range l.All() {
		out = append(out, prompb.Label{Name: name, Value: value})
	}
	return out
}

// Hash is the series' identity: HashLabels of the same labels (Prometheus' labels.StableHash).
func (l Labels) Hash() uint64 {
	var d xxhash.Digest
	d.Reset()
	sep := []byte{labelSep}
	for name, value := range l.All() {
		_, _ = d.WriteString(name)
		_, _ = d.Write(sep)
		_, _ = d.WriteString(value)
		_, _ = d.Write(sep)
	}
	return d.Sum64()
}

// String renders the labels for a log line, e.g. {__name__="up", job="a"}; a name or value
// longer than 64 bytes is cut, as `abc…(70000 bytes)` (internal/logsafe): a series with a 19 MB
// label value wrote a 19.9 MB log line every 10 s.
func (l Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for name, value := range l.All() {
		if !first {
			b.WriteString(", ")
		}
		first = false
		logsafe.Write(&b, name)
		b.WriteString(`="`)
		logsafe.Write(&b, value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// next decodes the label at the start of l: its name and value, and the labels after it. ok is
// false at the end of l or where it is not a Label message.
func (l Labels) next() (name, value string, rest Labels, ok bool) {
	if len(l) < 2 || l[0] != tagLabel {
		return "", "", "", false
	}
	size, n := uvarint(string(l[1:]))
	if n == 0 || size > uint64(len(l)-1-n) {
		return "", "", "", false
	}
	msg := string(l[1+n : 1+n+int(size)])
	rest = l[1+n+int(size):]
	for len(msg) > 0 {
		tag := msg[0]
		sz, n := uvarint(msg[1:])
		if n == 0 || sz > uint64(len(msg)-1-n) {
			return "", "", "", false
		}
		field := msg[1+n : 1+n+int(sz)]
		switch tag {
		case tagName:
			name = field
		case tagValue:
			value = field
		default:
			return "", "", "", false
		}
		msg = msg[1+n+int(sz):]
	}
	return name, value, rest, true
}

// uvarint decodes the varint at the start of s, and its length; 0 if there is none.
func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < 10; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<(7*i), i + 1
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, 0
}

// AppendUvarint appends x as a protobuf varint.
func AppendUvarint(dst []byte, x uint64) []byte {
	for x >= 0x80 {
		dst = append(dst, byte(x)|0x80)
		x >>= 7
	}
	return append(dst, byte(x))
}

// UvarintSize is the size of x as a protobuf varint.
func UvarintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }
