package fleethealthextension

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The HTTP client's idle keep-alive connections end with the test binary, not the test.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}
