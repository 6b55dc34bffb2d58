package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
)

// Sink is a remote-write receiver that only decodes, counts and checks order: it must never be
// what limits the pipeline it measures. It answers 204 to every well-formed request, also to one
// carrying out-of-order samples (it counts them instead of rejecting them, so the figures are
// throughput, not retry behaviour). Bodies are walked on the protobuf wire format directly, with
// pooled buffers, instead of being unmarshalled into prompb structs.
type Sink struct {
	server   *http.Server
	listener net.Listener
	seed     maphash.Seed

	requests   atomic.Int64
	samples    atomic.Int64
	outOfOrder atomic.Int64
	duplicates atomic.Int64
	malformed  atomic.Int64

	shards [sinkShards]seriesShard
	bufs   sync.Pool
}

const sinkShards = 256

// seriesShard holds the newest timestamp seen per series, keyed by a hash of its labels.
type seriesShard struct {
	mu     sync.Mutex
	newest map[uint64]int64
}

// SinkCounts is a snapshot of what the sink received.
type SinkCounts struct {
	Requests int64
	Samples  int64
	// OutOfOrder counts samples older than the newest one already received for their series,
	// Duplicates samples with the same timestamp: a Prometheus receiver would reject the first
	// (and the whole request with it) and silently accept an identical duplicate.
	OutOfOrder int64
	Duplicates int64
	Malformed  int64
	Series     int
}

// StartSink listens on a loopback port and serves remote write on /api/v1/write.
func StartSink() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{listener: ln, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].newest = make(map[uint64]int64)
	}
	s.bufs.New = func() any { return &sinkBuffers{} }
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/write", s.handle)
	s.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

// URL is the remote-write endpoint.
func (s *Sink) URL() string { return "http://" + s.listener.Addr().String() + "/api/v1/write" }

// Close stops the server.
func (s *Sink) Close() error { return s.server.Close() }

// Samples is the number of samples received so far (cheap: one atomic load).
func (s *Sink) Samples() int64 { return s.samples.Load() }

// Counts returns a snapshot of the counters and the number of distinct series seen.
func (s *Sink) Counts() SinkCounts {
	c := SinkCounts{
		Requests:   s.requests.Load(),
		Samples:    s.samples.Load(),
		OutOfOrder: s.outOfOrder.Load(),
		Duplicates: s.duplicates.Load(),
		Malformed:  s.malformed.Load(),
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		c.Series += len(sh.newest)
		sh.mu.Unlock()
	}
	return c
}

// Reset forgets every series and zeroes the counters (between runs).
func (s *Sink) Reset() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.newest = make(map[uint64]int64)
		sh.mu.Unlock()
	}
	s.requests.Store(0)
	s.samples.Store(0)
	s.outOfOrder.Store(0)
	s.duplicates.Store(0)
	s.malformed.Store(0)
}

type sinkBuffers struct {
	compressed bytes.Buffer
	decoded    []byte
	hash       maphash.Hash
}

func (s *Sink) handle(w http.ResponseWriter, r *http.Request) {
	bufs := s.bufs.Get().(*sinkBuffers)
	defer s.bufs.Put(bufs)
	bufs.compressed.Reset()
	if _, err := io.Copy(&bufs.compressed, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := snappy.DecodedLen(bufs.compressed.Bytes())
	if err == nil {
		if cap(bufs.decoded) < n {
			bufs.decoded = make([]byte, n)
		}
		bufs.decoded, err = snappy.Decode(bufs.decoded[:cap(bufs.decoded)], bufs.compressed.Bytes())
	}
	if err == nil {
		bufs.hash.SetSeed(s.seed)
		err = s.walkWriteRequest(bufs.decoded, &bufs.hash)
	}
	if err != nil {
		s.malformed.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.requests.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

var errMalformed = errors.New("malformed remote-write request")

// walkWriteRequest reads prometheus.WriteRequest: field 1 = repeated TimeSeries.
func (s *Sink) walkWriteRequest(b []byte, h *maphash.Hash) error {
	for len(b) > 0 {
		field, wire, body, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if field == 1 && wire == wireBytes {
			if err := s.walkTimeSeries(body, h); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkTimeSeries reads prometheus.TimeSeries: 1 = repeated Label, 2 = repeated Sample. The
// series is the hash of its label messages in order (the translator sorts labels).
func (s *Sink) walkTimeSeries(b []byte, h *maphash.Hash) error {
	h.Reset()
	var timestamps [64]int64
	stamps := timestamps[:0]
	for len(b) > 0 {
		field, wire, body, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		switch {
		case field == 1 && wire == wireBytes:
			_, _ = h.Write(body)
			_ = h.WriteByte(0xff)
		case field == 2 && wire == wireBytes:
			ts, err := sampleTimestamp(body)
			if err != nil {
				return err
			}
			stamps = append(stamps, ts)
		}
	}
	if len(stamps) == 0 {
		return nil
	}
	key := h.Sum64()
	sh := &s.shards[key%sinkShards]
	var outOfOrder, duplicates int64
	sh.mu.Lock()
	newest, seen := sh.newest[key]
	for _, ts := range stamps {
		switch {
		case !seen || ts > newest:
			newest, seen = ts, true
		case ts == newest:
			duplicates++
		default:
			outOfOrder++
		}
	}
	sh.newest[key] = newest
	sh.mu.Unlock()
	s.samples.Add(int64(len(stamps)))
	if outOfOrder > 0 {
		s.outOfOrder.Add(outOfOrder)
	}
	if duplicates > 0 {
		s.duplicates.Add(duplicates)
	}
	return nil
}

// sampleTimestamp reads prometheus.Sample: 1 = double value, 2 = int64 timestamp (ms).
func sampleTimestamp(b []byte) (int64, error) {
	var ts int64
	for len(b) > 0 {
		field, wire, _, rest, err := nextField(b)
		if err != nil {
			return 0, err
		}
		if field == 2 && wire == wireVarint {
			v, n := binary.Uvarint(b[fieldTagLen(b):])
			if n <= 0 {
				return 0, errMalformed
			}
			ts = int64(v)
		}
		b = rest
	}
	return ts, nil
}

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func fieldTagLen(b []byte) int {
	_, n := binary.Uvarint(b)
	return n
}

// nextField splits off one field: its number, wire type, its payload (for length-delimited
// fields) and what follows.
func nextField(b []byte) (field int, wire int, body, rest []byte, err error) {
	tag, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, nil, nil, errMalformed
	}
	b = b[n:]
	field, wire = int(tag>>3), int(tag&7)
	switch wire {
	case wireVarint:
		_, m := binary.Uvarint(b)
		if m <= 0 {
			return 0, 0, nil, nil, errMalformed
		}
		return field, wire, nil, b[m:], nil
	case wireFixed64:
		if len(b) < 8 {
			return 0, 0, nil, nil, errMalformed
		}
		return field, wire, b[:8], b[8:], nil
	case wireFixed32:
		if len(b) < 4 {
			return 0, 0, nil, nil, errMalformed
		}
		return field, wire, b[:4], b[4:], nil
	case wireBytes:
		l, m := binary.Uvarint(b)
		if m <= 0 || l > uint64(len(b)-m) || l > math.MaxInt32 {
			return 0, 0, nil, nil, errMalformed
		}
		end := m + int(l)
		return field, wire, b[m:end], b[end:], nil
	default:
		return 0, 0, nil, nil, fmt.Errorf("%w: wire type %d", errMalformed, wire)
	}
}
