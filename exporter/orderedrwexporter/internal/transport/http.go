// Package transport sends remote-write requests: it encodes them, posts them with the headers
// remote write 1.0 requires, retries what may succeed later, and splits a request whose content
// the backend rejects until only the rejected samples are left out, naming why each was rejected.
// It knows nothing of series state, hold-back or the write-ahead log.
package transport // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
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
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("remote write returned HTTP status %d: %s", e.Status, e.Body)
}

// retryable reports whether the same request may succeed later: server errors and throttling.
func (e *StatusError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// rejectsContent reports whether the backend rejected what the request carries, so that a request
// without the offending samples succeeds. 413 is included: a smaller request fits.
func (e *StatusError) rejectsContent() bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// HTTPPoster posts remote-write 1.0 requests with the headers the protocol requires.
type HTTPPoster struct {
	Client    *http.Client
	URL       string
	UserAgent string
	// Timeout bounds each attempt; 0 leaves only the HTTP client's own timeout.
	Timeout time.Duration
}

// Post sends body once; an answer other than 2xx is a *StatusError.
func (p *HTTPPoster) Post(ctx context.Context, body []byte) error {
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
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return &StatusError{Status: resp.StatusCode, Body: string(bytes.TrimSpace(msg))}
}
