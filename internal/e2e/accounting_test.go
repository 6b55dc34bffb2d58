package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/loadgen"
)

// writeRequest is one remote-write request of value v at ts for series 0..n-1 of metric.
func writeRequest(t *testing.T, metric string, n int, ts int64, v float64) []byte {
	req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, n)}
	for i := range req.Timeseries {
		req.Timeseries[i] = prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: metric}, {Name: "series", Value: strconv.Itoa(i)}},
			Samples: []prompb.Sample{{Timestamp: ts, Value: v}},
		}
	}
	raw, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, raw)
}

// postWrite sends one remote-write request and returns the status Prometheus answered.
func postWrite(url string, body []byte) (int, error) {
	r, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Two senders write the same series at once, as two gateways behind a round-robin balancer do:
// one the older sample, one the newer. When the newer request commits between the older one's
// append and its commit, Prometheus drops the older samples at commit and still answers 204: the
// sender counts them as sent. TestStockGatewaysLoseData failed so once (654 samples of step 0
// missing, counted by no collector, 659 out of order in Prometheus). Every missing sample here is
// either in a request answered 400 (which a sender counts as failed) or one of those drops,
// which only Prometheus counts (PromCounts): the accounting must add up exactly.
func TestPrometheusDropsAtCommitAreCounted(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	const metric, numSeries, maxRounds = "fleet_e2e_commit_race", 1000, 200
	before := ReadPromCounts(t, prom)
	// In the past, so that every round's samples are older than the query time RawSamples uses.
	base := time.Now().Add(-2 * maxRounds * time.Second).Truncate(time.Second).UnixMilli()
	expected := map[string]map[int64]float64{}
	sentFailed, rounds := 0, 0
	var afterRounds PromCounts
	for round := range maxRounds {
		rounds = round + 1
		older, newer := base+int64(2*round)*1000, base+int64(2*round+1)*1000
		bodies := map[int64][]byte{
			older: writeRequest(t, metric, numSeries, older, float64(2*round)),
			newer: writeRequest(t, metric, numSeries, newer, float64(2*round+1)),
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for ts, body := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, err := postWrite(prom.RemoteWriteURL(), body)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("remote write: %v", err)
				case code/100 == 2:
				case code == http.StatusBadRequest:
					// As the stock exporter does: a 400 is permanent, the whole request failed.
					sentFailed += numSeries
				default:
					t.Errorf("remote write answered %d", code)
				}
			}()
			for i := range numSeries {
				s := strconv.Itoa(i)
				if expected[s] == nil {
					expected[s] = map[int64]float64{}
				}
				expected[s][ts] = float64(ts-base) / 1000
			}
		}
		wg.Wait()
		afterRounds = ReadPromCounts(t, prom).Since(before)
		if afterRounds.DroppedAtCommit() > 0 && afterRounds.WriteRejected > 0 {
			break // both kinds of rejection seen
		}
	}

	stored := map[string]map[int64]float64{}
	for _, ser := range prom.RawSamples(t, metric, 4*maxRounds*time.Second) {
		stored[ser.Labels["series"]] = ser.Samples
	}
	r := Result{Scenario: fmt.Sprintf("two writers, %d rounds", rounds), Sent: 2 * numSeries * rounds,
		Dropped: map[string]float64{"writers' failed requests (400)": float64(sentFailed)}}
	r.Missing, r.Wrong, r.Unexpected = loadgen.Diff(expected, stored)
	r.Stored = r.Sent - r.Missing
	r.OutOfOrder, r.DroppedAtCommit = afterRounds.OutOfOrder, afterRounds.DroppedAtCommit()
	Table(os.Stdout, r)

	require.Positive(t, r.DroppedAtCommit, "no request was dropped at commit in %d rounds: the race was not reproduced", rounds)
	assert.Greater(t, r.Missing, sentFailed, "samples answered 204 went missing: the senders' counts alone do not cover the loss")
	assert.Zero(t, r.Unaccounted(), "samples went missing that neither a sender nor Prometheus counted")
	// Exactly: only this test writes here, no sample is out of bounds or a duplicate.
	assert.Equal(t, float64(r.Missing), r.CountedDrops(), "every count is of a missing sample")
	assert.Zero(t, r.Wrong+r.Unexpected)
}
