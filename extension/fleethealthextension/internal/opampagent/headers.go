package opampagent

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"

	"go.opentelemetry.io/collector/extension/extensionauth"
)

// AuthHeaderFunc makes an auth extension's HTTP client side usable by opamp-go, which takes
// headers rather than an http.RoundTripper: for each connection or request it runs an empty
// request to the server's URL through the extension's round tripper and keeps the headers it
// added (bearertokenauth's Authorization, sigv4auth's signature of an empty GET, oauth2client's
// token). The request goes nowhere: the innermost round tripper only records it.
//
// This is what contrib's opampextension does (makeHeadersFunc, v0.1xx): an authenticator that
// signs the body cannot sign plain-HTTP OpAMP messages this way, but the WebSocket handshake is
// an empty GET and is signed correctly.
func AuthHeaderFunc(endpoint string, auth extensionauth.HTTPClient, onError func(error)) (func(http.Header) http.Header, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	capture := &headerCapture{}
	rt, err := auth.RoundTripper(capture)
	if err != nil {
		return nil, err
	}
	target := u.String()
	var mu sync.Mutex // one capture at a time
	return func(h http.Header) http.Header {
		mu.Lock()
		defer mu.Unlock()
		capture.last = nil
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, target, http.NoBody)
		if err != nil {
			onError(err)
			return h
		}
		req.Header = h.Clone()
		resp, err := rt.RoundTrip(req)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil && !errors.Is(err, errCaptured) {
			onError(err)
			return h
		}
		if capture.last != nil {
			return capture.last
		}
		return h
	}, nil
}

var errCaptured = errors.New("headers captured")

// headerCapture is the innermost round tripper: it keeps the request's final headers.
type headerCapture struct {
	last http.Header
}

func (c *headerCapture) RoundTrip(req *http.Request) (*http.Response, error) {
	c.last = req.Header.Clone()
	return nil, errCaptured
}
