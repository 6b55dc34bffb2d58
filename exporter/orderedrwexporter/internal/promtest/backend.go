// Package promtest is a remote-write backend for tests that behaves as a Prometheus 2.x TSDB
// does towards order: a request holding one sample not newer than its series' newest stored
// sample is rejected whole with 400, and nothing of it is stored; an identical resend of a stored
// sample is accepted. Faults (5xx bursts, slow answers, connection resets) can be injected, and
// answers scripted (any status, body and Retry-After), to play any backend's refusals.
package promtest // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// Sample is one stored sample; a native histogram is stored as its count.
type Sample struct {
	T int64
	V float64
}

// Backend is the test server.
type Backend struct {
	Server *httptest.Server

	mu          sync.Mutex
	stored      map[string][]Sample // series (labels string) -> samples in append order
	requests    int
	rejected    int // requests answered 400
	fail        int // the next `fail` requests are answered 503
	resets      int // the next `resets` requests have their connection closed without answer
	delay       time.Duration
	headers     http.Header
	inFlight    int
	maxInFlight int
	script      []Answer    // answers given to the next requests, in order
	always      *Answer     // answer given to every request once the script is spent
	times       []time.Time // arrival of each request
}

// Answer is a scripted answer: Status with Body and, when set, a Retry-After header.
type Answer struct {
	Status     int
	Body       string
	RetryAfter string
}

// Script answers the next requests with answers, in order, without storing anything of them (a
// 2xx answer accepts a request without storing it).
func (b *Backend) Script(answers ...Answer) {
	b.mu.Lock()
	b.script = append(b.script, answers...)
	b.mu.Unlock()
}

// AnswerAlways answers every request with a (after any script) until it is called with nil.
func (b *Backend) AnswerAlways(a *Answer) { b.mu.Lock(); b.always = a; b.mu.Unlock() }

// RequestTimes are the arrival times of the requests, in order.
func (b *Backend) RequestTimes() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.times...)
}

// NewBackend starts a backend closed at the end of the test.
func NewBackend(t testing.TB) *Backend {
	b := &Backend{stored: map[string][]Sample{}}
	b.Server = httptest.NewServer(http.HandlerFunc(b.handle))
	t.Cleanup(b.Server.Close)
	return b
}

// URL is the remote-write endpoint.
func (b *Backend) URL() string { return b.Server.URL + "/api/v1/write" }

// FailNext answers the next n requests with 503.
func (b *Backend) FailNext(n int) { b.mu.Lock(); b.fail = n; b.mu.Unlock() }

// ResetNext closes the connection of the next n requests without an answer.
func (b *Backend) ResetNext(n int) { b.mu.Lock(); b.resets = n; b.mu.Unlock() }

// SetDelay delays every answer.
func (b *Backend) SetDelay(d time.Duration) { b.mu.Lock(); b.delay = d; b.mu.Unlock() }

func (b *Backend) handle(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.requests++
	b.times = append(b.times, time.Now())
	b.headers = r.Header.Clone()
	var scripted *Answer
	if len(b.script) > 0 {
		scripted = &b.script[0]
		b.script = b.script[1:]
	} else if b.always != nil {
		scripted = b.always
	}
	b.inFlight++
	b.maxInFlight = max(b.maxInFlight, b.inFlight)
	delay, fail, reset := b.delay, b.fail > 0, b.resets > 0
	if fail {
		b.fail--
	}
	if reset {
		b.resets--
	}
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.inFlight--; b.mu.Unlock() }()

	if delay > 0 {
		time.Sleep(delay)
	}
	if reset {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	if fail {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if scripted != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		if scripted.RetryAfter != "" {
			w.Header().Set("Retry-After", scripted.RetryAfter)
		}
		if scripted.Status < 300 {
			w.WriteHeader(scripted.Status) // accepted, not stored
			return
		}
		if scripted.Status == http.StatusBadRequest {
			b.mu.Lock()
			b.rejected++
			b.mu.Unlock()
		}
		http.Error(w, scripted.Body, scripted.Status)
		return
	}
	compressed, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, compressed)
	if err != nil {
		http.Error(w, "snappy: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, "protobuf: "+err.Error(), http.StatusBadRequest)
		return
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	// Check the whole request first, as the TSDB appender commits all or nothing.
	newest := map[string]Sample{}
	type pending struct {
		key    string
		sample Sample
	}
	var appends []pending
	for _, ts := range req.Timeseries {
		key := LabelsKey(ts.Labels)
		last, ok := newest[key]
		if !ok {
			if s := b.stored[key]; len(s) > 0 {
				last, ok = s[len(s)-1], true
			}
		}
		samples := ts.Samples
		for _, h := range ts.Histograms {
			// A native histogram is stored as its count: enough to check order and identity.
			samples = append(samples, prompb.Sample{Timestamp: h.Timestamp, Value: float64(h.GetCountInt())})
		}
		for _, s := range samples {
			if ok && s.Timestamp < last.T {
				b.rejected++
				http.Error(w, "out of order sample", http.StatusBadRequest)
				return
			}
			if ok && s.Timestamp == last.T {
				if s.Value != last.V {
					b.rejected++
					http.Error(w, "duplicate sample for timestamp", http.StatusBadRequest)
					return
				}
				continue // identical resend: accepted, stored once
			}
			last, ok = Sample{T: s.Timestamp, V: s.Value}, true
			newest[key] = last
			appends = append(appends, pending{key: key, sample: last})
		}
	}
	for _, a := range appends {
		b.stored[a.key] = append(b.stored[a.key], a.sample)
	}
	w.WriteHeader(http.StatusNoContent)
}

// LabelsKey renders labels sorted, as the backend keys series.
func LabelsKey(labels []prompb.Label) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.Name+"="+l.Value)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// Stored returns a copy of the stored samples by series.
func (b *Backend) Stored() map[string][]Sample {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string][]Sample, len(b.stored))
	for k, v := range b.stored {
		out[k] = append([]Sample(nil), v...)
	}
	return out
}

// StoredCount is the number of stored samples.
func (b *Backend) StoredCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, v := range b.stored {
		n += len(v)
	}
	return n
}

// Requests, Rejected and MaxInFlight count requests, 400 answers and the most concurrent requests.
func (b *Backend) Requests() int    { b.mu.Lock(); defer b.mu.Unlock(); return b.requests }
func (b *Backend) Rejected() int    { b.mu.Lock(); defer b.mu.Unlock(); return b.rejected }
func (b *Backend) MaxInFlight() int { b.mu.Lock(); defer b.mu.Unlock(); return b.maxInFlight }

// LastHeaders are the headers of the last request.
func (b *Backend) LastHeaders() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.headers.Clone()
}
