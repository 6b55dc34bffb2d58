// Package transport sends remote-write requests: it encodes them, posts them with the headers
// remote write 1.0 requires, retries what may succeed later (429 and 5xx, honouring Retry-After),
// splits a request only when the backend names a sample it rejected, and drops whole a request
// refused with any other 4xx, naming why. It knows nothing of series state, hold-back or the
// write-ahead log.
package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Poster sends one encoded (snappy-compressed protobuf) remote-write request.
type Poster interface {
	Post(ctx context.Context, body []byte) error
}

// StatusError is an answer of the backend other than 2xx.
type StatusError struct {
	Status int
	Body   string
	// RetryAfter is the delay the backend asked for with Retry-After; 0 when it asked none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("remote write returned HTTP status %d: %s", e.Status, excerpt(e.Body))
}

// maxBodyExcerpt bounds the part of an error answer kept, logged and put in errors.
const maxBodyExcerpt = 256

// HTTPPoster posts remote-write 1.0 requests with the headers the protocol requires.
type HTTPPoster struct {
	Client    *http.Client
	URL       string
	UserAgent string
	// Timeout bounds each attempt; 0 leaves only the HTTP client's own timeout.
	Timeout time.Duration
	// Failures, when set, logs failed attempts (rate-limited).
	Failures *FailureLog
}

// Post sends body once; an answer other than 2xx is a *StatusError.
func (p *HTTPPoster) Post(ctx context.Context, body []byte) error {
	err := p.post(ctx, body)
	if err != nil && p.Failures != nil && ctx.Err() == nil {
		p.Failures.Note(err)
	}
	return err
}

func (p *HTTPPoster) post(ctx context.Context, body []byte) error {
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", p.UserAgent)
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := p.Client.Do(req)
	if err != nil {
		return err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	// Read beyond the excerpt: the substring that names a rejection may come after a prefix.
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &StatusError{
		Status:     resp.StatusCode,
		Body:       string(bytes.TrimSpace(msg)),
		RetryAfter: retryAfter(resp.Header.Values("Retry-After"), time.Now()),
	}
}

// retryAfter parses Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). It mirrors the
// parsing of the unexported handling in go.opentelemetry.io/collector/exporter/otlphttpexporter
// v0.165.0 (otlp.go, handleErrorResponse: strconv.Atoi first, then time.RFC1123), which is the
// only place in the collector that parses the header; exporterhelper only takes the parsed delay
// (NewThrottleRetry). http.ParseTime is used for the date, accepting RFC1123 and the two obsolete
// forms the RFC still requires a recipient to read.
func retryAfter(values []string, now time.Time) time.Duration {
	if len(values) == 0 {
		return 0
	}
	if seconds, err := strconv.Atoi(values[0]); err == nil {
		return max(time.Duration(seconds)*time.Second, 0)
	}
	if date, err := http.ParseTime(values[0]); err == nil {
		return max(date.Sub(now), 0)
	}
	return 0
}

// RedactedEndpoint is endpoint without user information, query or fragment, fit for a log.
func RedactedEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(unparsable endpoint)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// excerpt truncates body to maxBodyExcerpt bytes, marking the cut.
func excerpt(body string) string {
	if len(body) <= maxBodyExcerpt {
		return body
	}
	return body[:maxBodyExcerpt] + "…"
}
