package fleettest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNginxRoundRobin proves the balancer the end-to-end tests use spreads requests over every
// upstream, not sticky.
func TestNginxRoundRobin(t *testing.T) {
	var hits [2]atomic.Int64
	var upstreams []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits[i].Add(1) }))
		t.Cleanup(srv.Close)
		upstreams = append(upstreams, srv.Listener.Addr().String())
	}
	n := StartNginx(t, upstreams)
	before := [2]int64{hits[0].Load(), hits[1].Load()}
	for range 10 {
		resp, err := http.Post(n.URL()+"/v1/metrics", "application/x-protobuf", nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, int64(5), hits[0].Load()-before[0])
	assert.Equal(t, int64(5), hits[1].Load()-before[1])
}
