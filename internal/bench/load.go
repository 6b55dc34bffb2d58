package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/otelcol-fleet/otelcol-fleet/internal/loadgen"
)

// Load is a set of OTLP/HTTP protobuf request bodies built once, before anything is measured,
// so the generator is not what limits the run. Request j carries series
// [j*PointsPerRequest, (j+1)*PointsPerRequest) of internal/loadgen's deterministic series; the
// first n requests are the first n*PointsPerRequest series, so one Load serves every series
// count up to its own.
//
// Timestamps must follow the wall clock (ordered_rw holds each sample until its timestamp plus
// the hold-back window), so the bodies are built with a sentinel timestamp and the offset of
// every data point's fixed64 time_unix_nano is recorded: a sender overwrites them in place
// just before sending. Each request belongs to one sender, which sends it with strictly
// increasing timestamps, so every series is in order at the source.
type Load struct {
	Metric           string
	Series           int
	PointsPerRequest int
	Requests         []*Request
}

// Request is one pre-built OTLP request.
type Request struct {
	Body []byte
	// timestampOffsets are the positions of the 8-byte little-endian timestamps in Body.
	timestampOffsets []int32
	Points           int
}

// sentinelNanos is a timestamp whose 8 bytes do not otherwise occur in a body (2013-11-10).
const sentinelNanos int64 = 0x1337C0DE1337C0DE

// timeUnixNanoTag is NumberDataPoint.time_unix_nano: field 3, wire type fixed64.
const timeUnixNanoTag = 3<<3 | 1

// BenchMetric is the gauge every load sends.
const BenchMetric = "fleet_bench_samples"

// BuildLoad builds requests for series in batches of pointsPerRequest, on all cores.
func BuildLoad(series, pointsPerRequest int) (*Load, error) {
	return BuildLoadWithAttributes(series, pointsPerRequest, 0)
}

// ExtraAttributes are what BuildLoadWithAttributes adds to every data point, in this order:
// attributes of typical HTTP server instrumentation, the same on every point, so the series
// stay the ones `series` tells apart. Real data has about ten attributes per point; the
// translator's and series_guard's cost per sample both grow with them.
var ExtraAttributes = [...][2]string{
	{"http.request.method", "GET"}, {"http.route", "/api/v1/orders/{id}"},
	{"server.address", "checkout.shop.svc"}, {"server.port", "8080"}, {"url.scheme", "https"},
	{"network.protocol.version", "1.1"}, {"k8s.pod.name", "checkout-7d9f8b6c5d-x2x9q"},
	{"k8s.namespace.name", "shop"}, {"cloud.region", "eu-west-1"},
}

// BuildLoadWithAttributes is BuildLoad with the first `extra` of ExtraAttributes added to
// every data point besides `series`.
func BuildLoadWithAttributes(series, pointsPerRequest, extra int) (*Load, error) {
	if extra < 0 || extra > len(ExtraAttributes) {
		return nil, fmt.Errorf("extra attributes: want 0 to %d, got %d", len(ExtraAttributes), extra)
	}
	gen := loadgen.New(loadgen.Config{
		Metric:      BenchMetric,
		Series:      series,
		Start:       time.Unix(0, sentinelNanos),
		Interval:    time.Second,
		ServiceName: "fleet-bench",
	})
	n := (series + pointsPerRequest - 1) / pointsPerRequest
	l := &Load{Metric: BenchMetric, Series: series, PointsPerRequest: pointsPerRequest, Requests: make([]*Request, n)}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < n; j += workers {
				from, to := j*pointsPerRequest, min((j+1)*pointsPerRequest, series)
				req, err := buildRequest(gen, from, to, extra)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				l.Requests[j] = req
			}
		}()
	}
	wg.Wait()
	return l, firstErr
}

func buildRequest(gen *loadgen.Generator, from, to, extra int) (*Request, error) {
	md := gen.Batch(0, from, to)
	if extra > 0 {
		addAttributes(md, ExtraAttributes[:extra])
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return nil, err
	}
	var pattern [9]byte
	pattern[0] = timeUnixNanoTag
	binary.LittleEndian.PutUint64(pattern[1:], uint64(sentinelNanos))
	req := &Request{Body: body, Points: to - from, timestampOffsets: make([]int32, 0, to-from)}
	for off := 0; ; {
		i := bytes.Index(body[off:], pattern[:])
		if i < 0 {
			break
		}
		req.timestampOffsets = append(req.timestampOffsets, int32(off+i+1))
		off += i + len(pattern)
	}
	if len(req.timestampOffsets) != req.Points {
		return nil, fmt.Errorf("found %d timestamps in a request of %d points", len(req.timestampOffsets), req.Points)
	}
	return req, nil
}

func addAttributes(md pmetric.Metrics, attrs [][2]string) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				dps := ms.At(k).Gauge().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					a := dps.At(l).Attributes()
					for _, kv := range attrs {
						a.PutStr(kv[0], kv[1])
					}
				}
			}
		}
	}
}

// SetTimestamp writes t (nanoseconds since the epoch) as every data point's timestamp.
func (r *Request) SetTimestamp(unixNano int64) {
	for _, off := range r.timestampOffsets {
		binary.LittleEndian.PutUint64(r.Body[off:off+8], uint64(unixNano))
	}
}

// Clone copies the request bodies, so two drivers can send the same load at once.
func (l *Load) Clone() *Load {
	c := *l
	c.Requests = make([]*Request, len(l.Requests))
	for i, r := range l.Requests {
		cr := *r
		cr.Body = append([]byte(nil), r.Body...)
		c.Requests[i] = &cr
	}
	return &c
}

// Bytes is the total size of the first n requests' bodies.
func (l *Load) Bytes(n int) int {
	total := 0
	for _, r := range l.Requests[:n] {
		total += len(r.Body)
	}
	return total
}

// RequestsFor is how many requests carry the first `series` series.
func (l *Load) RequestsFor(series int) int {
	return min(len(l.Requests), (series+l.PointsPerRequest-1)/l.PointsPerRequest)
}
