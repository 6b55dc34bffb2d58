package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

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
//
// The protobuf is never whole in memory: it is compressed as it is written, one snappy block
// (64 KiB) at a time, so that an encoder keeps a block and the compressed request, not the
// request twice over (the protobuf, then a snappy buffer sized for incompressible input: 2.7
// times the largest request, kept per shard). The compressed bytes are those snappy.Encode
// writes for the whole protobuf, which compresses its input in independent blocks of that size.
type Encoder struct {
	// block is the protobuf not yet compressed: less than a snappy block, plus the end of the
	// series that crossed it.
	block []byte
	// compressed is the request compressed, returned by Encode.
	compressed []byte
}

// snappyBlockSize is the size of the independent blocks snappy.Encode cuts its input into
// (maxBlockSize in github.com/golang/snappy v1.0.0, encode.go): compressing a protobuf block by
// block gives the bytes Encode gives for it whole.
const snappyBlockSize = 1 << 16

// Encode returns the request of series marshalled and compressed, in a buffer valid until the
// next call or Release: each series' float points as its samples, then its histogram points as
// its native histograms (remote write carries them in two lists; the translator never mixes them
// in one series). size is the request's encoded size when known (the sum of SeriesSize over
// series), 0 otherwise.
func (c *Encoder) Encode(series []sample.Series, size int) ([]byte, error) {
	if size <= 0 {
		for i := range series {
			size += SeriesSize(&series[i])
		}
	}
	// The snappy block format: the length of the uncompressed input, then its blocks.
	compressed := binary.AppendUvarint(c.compressed[:0], uint64(size))
	block, written := c.block[:0], 0
	for i := range series {
		var err error
		if block, err = appendSeries(block, &series[i]); err != nil || written+len(block) > size {
			c.block, c.compressed = block[:0], compressed[:0]
			if err == nil {
				err = errSizeMismatch(len(series), written+len(block), size)
			}
			return nil, err
		}
		if len(block) >= snappyBlockSize {
			whole := len(block) - len(block)%snappyBlockSize
			for at := 0; at < whole; at += snappyBlockSize {
				compressed = appendSnappyBlock(compressed, block[at:at+snappyBlockSize])
			}
			written += whole
			block = block[:copy(block, block[whole:])]
		}
	}
	if len(block) > 0 {
		compressed = appendSnappyBlock(compressed, block)
		written += len(block)
	}
	c.block, c.compressed = block[:0], compressed
	if written != size {
		return nil, errSizeMismatch(len(series), written, size)
	}
	return compressed, nil
}

// errSizeMismatch: the series encoded to another size than the one given (or computed), which
// the request's length, written first, says; a request no backend could decode.
func errSizeMismatch(series, written, size int) error {
	return fmt.Errorf("ordered_rw: a request of %d series encoded to at least %d bytes, %d were computed", series, written, size)
}

// Release lets go of the encoder's buffers, for an owner that goes idle: what the last Encode
// returned is no longer valid, and the next Encode makes new ones.
func (c *Encoder) Release() { c.block, c.compressed = nil, nil }

// appendSnappyBlock appends block (at most snappyBlockSize bytes) compressed to compressed, as
// snappy.Encode compresses that block of a larger input. compressed holds at least the length
// snappy.Encode writes before block's own compressed bytes (the request's length is longer or
// as long), so Encode writes it over compressed's last bytes, which are put back after.
func appendSnappyBlock(compressed, block []byte) []byte {
	header := sample.UvarintSize(uint64(len(block)))
	at := len(compressed) - header
	var covered [binary.MaxVarintLen64]byte
	copy(covered[:], compressed[at:])
	compressed = slices.Grow(compressed, snappy.MaxEncodedLen(len(block))-header)
	n := len(snappy.Encode(compressed[at:cap(compressed)], block))
	copy(compressed[at:], covered[:header])
	return compressed[:at+n]
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
