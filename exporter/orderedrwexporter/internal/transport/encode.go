package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// SetLabelsBlock gives ts the encoded form of its labels (sample.Series.LabelsPB), which Encode
// then appends in place of encoding ts.Labels again. It is carried in ts.XXX_unrecognized, a
// field a request built here has no other use for; such a series must be encoded by this
// package only: prompb's own Marshal and Size would count its labels twice, the block last.
func SetLabelsBlock(ts *prompb.TimeSeries, block []byte) { ts.XXX_unrecognized = block }

// labelsBlock is ts's encoded labels set by SetLabelsBlock, nil when there are none.
func labelsBlock(ts *prompb.TimeSeries) []byte { return ts.XXX_unrecognized }

// Encoder marshals and snappy-compresses remote-write requests into buffers it reuses. It is not
// safe for concurrent use.
type Encoder struct {
	protobuf []byte
	snappy   []byte
}

// Encode returns req marshalled and compressed, in a buffer valid until the next call. size is
// req's encoded size when known (the sum of SeriesSize over its series), 0 otherwise. The bytes
// are prompb's WriteRequest.Marshal of the same series; a series' label block (SetLabelsBlock)
// is appended as it is, which is what makes a request cheap to build. req carries series only
// (its metadata, a field ordered_rw never sends, is refused).
func (c *Encoder) Encode(req *prompb.WriteRequest, size int) ([]byte, error) {
	if len(req.Metadata) > 0 || req.XXX_unrecognized != nil {
		return nil, errors.New("transport: a request with metadata or unknown fields")
	}
	timeseries := req.Timeseries
	if size <= 0 {
		for i := range timeseries {
			size += SeriesSize(&timeseries[i])
		}
	}
	// Grown with room to spare: request sizes vary, and growing to each new largest exactly
	// reallocated the buffers again and again.
	if cap(c.protobuf) < size {
		c.protobuf = make([]byte, 0, size+size/4)
	}
	buf := c.protobuf[:0]
	for i := range timeseries {
		var err error
		if buf, err = appendSeries(buf, &timeseries[i]); err != nil {
			return nil, err
		}
	}
	c.protobuf = buf
	n := len(buf)
	if m := snappy.MaxEncodedLen(n); cap(c.snappy) < m {
		c.snappy = make([]byte, m+m/4)
	}
	return snappy.Encode(c.snappy[:cap(c.snappy)], buf), nil
}

// marshaler is a prompb message that marshals itself.
type marshaler interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

// appendSeries appends ts as field 1 of a WriteRequest, its fields in prompb's order: labels
// (the block, or each label encoded), samples, exemplars, histograms.
func appendSeries(buf []byte, ts *prompb.TimeSeries) ([]byte, error) {
	buf = append(buf, 0x0a)
	buf = appendUvarint(buf, uint64(seriesBodySize(ts)))
	var err error
	if block := labelsBlock(ts); block != nil {
		buf = append(buf, block...)
	} else {
		buf = sample.AppendLabelsPB(buf, ts.Labels)
	}
	for i := range ts.Samples {
		buf = appendSample(buf, &ts.Samples[i])
	}
	for i := range ts.Exemplars {
		if buf, err = appendField(buf, 0x1a, &ts.Exemplars[i]); err != nil {
			return nil, err
		}
	}
	for i := range ts.Histograms {
		if buf, err = appendField(buf, 0x22, &ts.Histograms[i]); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// appendField appends m as an embedded message of the field whose tag byte is tag.
func appendField(buf []byte, tag byte, m marshaler) ([]byte, error) {
	sz := m.Size()
	buf = append(buf, tag)
	buf = appendUvarint(buf, uint64(sz))
	start := len(buf)
	buf = append(buf, make([]byte, sz)...)
	if _, err := m.MarshalToSizedBuffer(buf[start:]); err != nil {
		return nil, err
	}
	return buf, nil
}

// sampleSize is prompb's Sample.Size: the value (a fixed64) unless 0, the timestamp (a varint)
// unless 0.
func sampleSize(s *prompb.Sample) int {
	n := 0
	if s.Value != 0 {
		n += 9
	}
	if s.Timestamp != 0 {
		n += 1 + varintSize(uint64(s.Timestamp))
	}
	return n
}

// appendSample appends s as field 2 of a TimeSeries, as prompb's Sample.Marshal writes it, the
// most frequent message of a request, without its generic Size and Marshal calls.
func appendSample(buf []byte, s *prompb.Sample) []byte {
	buf = append(buf, 0x12, byte(sampleSize(s)))
	if s.Value != 0 {
		buf = append(buf, 0x09)
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(s.Value))
	}
	if s.Timestamp != 0 {
		buf = append(buf, 0x10)
		buf = appendUvarint(buf, uint64(s.Timestamp))
	}
	return buf
}

// fieldSize is the size of an embedded message of sz bytes with its one-byte tag.
func fieldSize(sz int) int { return 1 + varintSize(uint64(sz)) + sz }

// seriesBodySize is the size of ts's own encoding.
func seriesBodySize(ts *prompb.TimeSeries) int {
	n := 0
	if block := labelsBlock(ts); block != nil {
		n = len(block)
	} else {
		n = sample.LabelsPBSize(ts.Labels)
	}
	for i := range ts.Samples {
		n += 2 + sampleSize(&ts.Samples[i]) // at most 20 bytes: a one-byte length
	}
	for i := range ts.Exemplars {
		n += fieldSize(ts.Exemplars[i].Size())
	}
	for i := range ts.Histograms {
		n += fieldSize(ts.Histograms[i].Size())
	}
	return n
}

// SeriesSize is the size one series adds to an encoded WriteRequest: its own size, its field tag
// and its length prefix. Summed over the series, it is the size of the request.
func SeriesSize(ts *prompb.TimeSeries) int { return fieldSize(seriesBodySize(ts)) }

func appendUvarint(buf []byte, x uint64) []byte {
	for x >= 0x80 {
		buf = append(buf, byte(x)|0x80)
		x >>= 7
	}
	return append(buf, byte(x))
}

func varintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }
