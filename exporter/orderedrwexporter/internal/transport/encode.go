package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"math/bits"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// Encoder marshals and snappy-compresses remote-write requests into buffers it reuses. It is not
// safe for concurrent use.
type Encoder struct {
	protobuf []byte
	snappy   []byte
}

// Encode returns req marshalled and compressed, in a buffer valid until the next call. size is
// req's encoded size when known, 0 otherwise.
func (c *Encoder) Encode(req *prompb.WriteRequest, size int) ([]byte, error) {
	if size <= 0 {
		size = req.Size()
	}
	// Grown with room to spare: request sizes vary, and growing to each new largest exactly
	// reallocated the buffers again and again.
	if cap(c.protobuf) < size {
		c.protobuf = make([]byte, size, size+size/4)
	}
	c.protobuf = c.protobuf[:size]
	n, err := req.MarshalToSizedBuffer(c.protobuf)
	if err != nil {
		return nil, err
	}
	c.protobuf = c.protobuf[:n]
	if m := snappy.MaxEncodedLen(n); cap(c.snappy) < m {
		c.snappy = make([]byte, m+m/4)
	}
	return snappy.Encode(c.snappy[:cap(c.snappy)], c.protobuf), nil
}

// SeriesSize is the size one series adds to an encoded WriteRequest: its own size, its field tag
// and its length prefix. Summed over the series, it is the size of the request.
func SeriesSize(ts *prompb.TimeSeries) int {
	sz := ts.Size()
	return sz + 1 + varintSize(uint64(sz))
}

func varintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }
