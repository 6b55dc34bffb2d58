package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

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
	// written is the bytes of the protobuf compressed so far, by the Encode under way.
	written int
}

// snappyBlockSize is the size of the independent blocks snappy.Encode cuts its input into
// (maxBlockSize in github.com/golang/snappy v1.0.0, encode.go): compressing a protobuf block by
// block gives the bytes Encode gives for it whole.
const snappyBlockSize = 1 << 16

// Request is the series of one remote-write request: Series of any shape, then Ones, series of
// one float point each, sent as they waited on their shard rather than turned back into Series
// (which cost the shard 72 bytes written a sample, and the encoder as many read).
type Request struct {
	Series []sample.Series
	Ones   []sample.One
}

// Len is the number of series in the request.
func (r Request) Len() int { return len(r.Series) + len(r.Ones) }

// Slice returns the series from i to j, counting r's Series first, then its Ones.
func (r Request) Slice(i, j int) Request {
	n := len(r.Series)
	return Request{Series: r.Series[min(i, n):min(j, n)], Ones: r.Ones[max(i-n, 0):max(j-n, 0)]}
}

// Size is the size series i (counted as in Slice) adds to the encoded request (SeriesSize).
func (r Request) Size(i int) int {
	if i < len(r.Series) {
		return SeriesSize(&r.Series[i])
	}
	return OneSize(&r.Ones[i-len(r.Series)])
}

// Samples is the number of samples of series i (counted as in Slice).
func (r Request) Samples(i int) int {
	if i < len(r.Series) {
		return len(r.Series[i].Points)
	}
	return 1
}

// FirstLabels are the labels of the request's first series, to name the request in a log.
func (r Request) FirstLabels() sample.Labels {
	if len(r.Series) > 0 {
		return r.Series[0].Labels
	}
	return r.Ones[0].Labels
}

// Encode returns req marshalled and compressed, in a buffer valid until the next call or
// Release: each series' float points as its samples, then its histogram points as its native
// histograms (remote write carries them in two lists; the translator never mixes them in one
// series); then each One as a series of one sample. size is the request's encoded size when known
// (the sum of Size over its series), 0 otherwise.
func (c *Encoder) Encode(req Request, size int) ([]byte, error) {
	if size <= 0 {
		for i := range req.Len() {
			size += req.Size(i)
		}
	}
	// The snappy block format: the length of the uncompressed input, then its blocks.
	compressed := binary.AppendUvarint(c.compressed[:0], uint64(size))
	c.block, c.written = c.block[:0], 0
	var err error
	for i := range req.Series {
		if c.block, err = appendSeries(c.block, &req.Series[i]); err != nil {
			c.block, c.compressed = c.block[:0], compressed[:0]
			return nil, err
		}
		if compressed, err = c.flush(compressed, size, req.Len()); err != nil {
			return nil, err
		}
	}
	for i := range req.Ones {
		c.block = appendOne(c.block, &req.Ones[i])
		if compressed, err = c.flush(compressed, size, req.Len()); err != nil {
			return nil, err
		}
	}
	if len(c.block) > 0 {
		compressed = appendSnappyBlock(compressed, c.block)
		c.written += len(c.block)
	}
	c.block, c.compressed = c.block[:0], compressed
	if c.written != size {
		return nil, errSizeMismatch(req.Len(), c.written, size)
	}
	return compressed, nil
}

// flush compresses the whole snappy blocks written so far, after a series was appended to
// c.block; an error (the buffers reset) when what was written is already more than size, for a
// request of that many series.
func (c *Encoder) flush(compressed []byte, size, series int) ([]byte, error) {
	if c.written+len(c.block) > size {
		err := errSizeMismatch(series, c.written+len(c.block), size)
		c.block, c.compressed = c.block[:0], compressed[:0]
		return nil, err
	}
	if len(c.block) >= snappyBlockSize {
		whole := len(c.block) - len(c.block)%snappyBlockSize
		for at := 0; at < whole; at += snappyBlockSize {
			compressed = appendSnappyBlock(compressed, c.block[at:at+snappyBlockSize])
		}
		c.written += whole
		c.block = c.block[:copy(c.block, c.block[whole:])]
	}
	return compressed, nil
}

// errSizeMismatch: the series encoded to another size than the one given (or computed), which
// the request's length, written first, says; a request no backend could decode.
func errSizeMismatch(series, written, size int) error {
	return fmt.Errorf("ordered_rw: a request of %d series encoded to at least %d bytes, %d were computed", series, written, size)
}

// Decode returns the series of a request Encode made, in its order (a One as a Series of its
// point), in arrays of their own: what a request the backend rejected is split as, once its
// series are no longer at hand (they were encoded ahead of the send). Rare; the accepted path
// never decodes. The series' hashes are not set: a split request needs only labels and points.
func Decode(body []byte) ([]sample.Series, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("ordered_rw: decoding a request: %w", err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("ordered_rw: decoding a request: %w", err)
	}
	series := make([]sample.Series, len(req.Timeseries))
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		series[i] = sample.Series{Labels: sample.NewLabels(ts.Labels), Points: sample.AppendPoints(nil, ts)}
	}
	return series, nil
}

// KeptBytes is the capacity of the buffers the encoder keeps between requests. Exported for the
// tests of its owner (shard), which check that an idle shard lets go of them: the buffers are
// the encoder's, and a _test.go file of this package is not built into another package's tests.
func (c *Encoder) KeptBytes() int { return cap(c.block) + cap(c.compressed) }

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

// oneBodySize is the size of the TimeSeries message of a One: its labels and one sample.
func oneBodySize(one *sample.One) int { return len(one.Labels) + 2 + sampleSize(one.T, one.V) }

// OneSize is SeriesSize for a One.
func OneSize(one *sample.One) int { return fieldSize(oneBodySize(one)) }

// appendOne appends one as appendSeries does a series of its one point.
func appendOne(buf []byte, one *sample.One) []byte {
	buf = append(buf, tagTimeSeries)
	buf = sample.AppendUvarint(buf, uint64(oneBodySize(one)))
	buf = append(buf, one.Labels...)
	return appendSample(buf, one.T, one.V)
}
