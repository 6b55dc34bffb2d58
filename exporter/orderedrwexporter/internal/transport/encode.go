package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"encoding/binary"
	"math"

	"github.com/golang/snappy"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// Encoder writes and snappy-compresses remote-write requests into buffers it reuses. It is not
// safe for concurrent use.
//
// A request is written here, not by prompb: each series' labels are appended as the block they
// are kept in (sample.Labels), then its samples, so that a request costs copying bytes, not
// encoding every label of every series again. The bytes are those of prompb's
// WriteRequest.Marshal of the same series (encode_test.go checks it on random requests).
type Encoder struct {
	protobuf []byte
	snappy   []byte
}

// Encode returns the request of series marshalled and compressed, in a buffer valid until the
// next call: each series' float points as its samples, then its histogram points as its native
// histograms (remote write carries them in two lists; the translator never mixes them in one
// series). size is the request's encoded size when known (the sum of SeriesSize over series),
// 0 otherwise.
func (c *Encoder) Encode(series []sample.Series, size int) ([]byte, error) {
	if size <= 0 {
		for i := range series {
			size += SeriesSize(&series[i])
		}
	}
	// Grown with room to spare: request sizes vary, and growing to each new largest exactly
	// reallocated the buffers again and again.
	if cap(c.protobuf) < size {
		c.protobuf = make([]byte, 0, size+size/4)
	}
	buf := c.protobuf[:0]
	for i := range series {
		var err error
		if buf, err = appendSeries(buf, &series[i]); err != nil {
			return nil, err
		}
	}
	c.protobuf = buf
	if m := snappy.MaxEncodedLen(len(buf)); cap(c.snappy) < m {
		c.snappy = make([]byte, m+m/4)
	}
	return snappy.Encode(c.snappy[:cap(c.snappy)], buf), nil
}

// Field tags: WriteRequest.timeseries (1); TimeSeries.samples (2) and histograms (4), all
// length-delimited; Sample.value (1, fixed64) and timestamp (2, varint).
const (
	tagTimeSeries = 0x0a
	tagSample     = 0x12
	tagHistogram  = 0x22
	tagValue      = 0x09
	tagTimestamp  = 0x10
)

// appendSeries appends ser as field 1 of a WriteRequest, its fields in prompb's order: labels,
// samples, histograms (a request carries no exemplars).
func appendSeries(buf []byte, ser *sample.Series) ([]byte, error) {
	buf = append(buf, tagTimeSeries)
	buf = sample.AppendUvarint(buf, uint64(seriesBodySize(ser)))
	buf = append(buf, ser.Labels...)
	for i := range ser.Points {
		if p := &ser.Points[i]; p.H == nil {
			buf = appendSample(buf, p.T, p.V)
		}
	}
	for i := range ser.Points {
		h := ser.Points[i].H
		if h == nil {
			continue
		}
		sz := h.Size()
		buf = append(buf, tagHistogram)
		buf = sample.AppendUvarint(buf, uint64(sz))
		start := len(buf)
		buf = append(buf, make([]byte, sz)...)
		if _, err := h.MarshalToSizedBuffer(buf[start:]); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// sampleSize is prompb's Sample.Size: the value (a fixed64) unless 0, the timestamp (a varint)
// unless 0.
func sampleSize(t int64, v float64) int {
	n := 0
	if v != 0 {
		n += 9
	}
	if t != 0 {
		n += 1 + sample.UvarintSize(uint64(t))
	}
	return n
}

// appendSample appends a float sample as field 2 of a TimeSeries, as prompb's Sample.Marshal
// writes it: the most frequent message of a request, without its generic Size and Marshal.
func appendSample(buf []byte, t int64, v float64) []byte {
	buf = append(buf, tagSample, byte(sampleSize(t, v))) // at most 20 bytes: a one-byte length
	if v != 0 {
		buf = append(buf, tagValue)
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
	}
	if t != 0 {
		buf = append(buf, tagTimestamp)
		buf = sample.AppendUvarint(buf, uint64(t))
	}
	return buf
}

// fieldSize is the size of an embedded message of sz bytes with its one-byte tag.
func fieldSize(sz int) int { return 1 + sample.UvarintSize(uint64(sz)) + sz }

// seriesBodySize is the size of ser's TimeSeries message.
func seriesBodySize(ser *sample.Series) int {
	n := len(ser.Labels)
	for i := range ser.Points {
		p := &ser.Points[i]
		if p.H == nil {
			n += 2 + sampleSize(p.T, p.V)
		} else {
			n += fieldSize(p.H.Size())
		}
	}
	return n
}

// SeriesSize is the size one series adds to an encoded WriteRequest: its own size, its field tag
// and its length prefix. Summed over the series, it is the size of the request.
func SeriesSize(ser *sample.Series) int { return fieldSize(seriesBodySize(ser)) }
