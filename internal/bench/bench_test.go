package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/loadgen"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func series(name string, stamps ...int64) prompb.TimeSeries {
	ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "series", Value: name}}}
	for _, s := range stamps {
		ts.Samples = append(ts.Samples, prompb.Sample{Value: float64(s), Timestamp: s})
	}
	return ts
}

func postWrite(t *testing.T, url string, wr *prompb.WriteRequest) int {
	t.Helper()
	data, err := wr.Marshal()
	require.NoError(t, err)
	resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(snappy.Encode(nil, data)))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func TestSinkCountsSamplesAndChecksOrder(t *testing.T) {
	s, err := StartSink()
	require.NoError(t, err)
	defer s.Close()

	require.Equal(t, http.StatusNoContent, postWrite(t, s.URL(), &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series("a", 1000, 2000, 3000), series("b", 5000),
	}}))
	// a: one older than its newest (2000 < 3000), one equal (3000); b: in order.
	require.Equal(t, http.StatusNoContent, postWrite(t, s.URL(), &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series("a", 2000), series("a", 3000), series("b", 6000), series("c", 1),
	}}))
	assert.Equal(t, SinkCounts{Requests: 2, Samples: 8, OutOfOrder: 1, Duplicates: 1, Series: 3}, s.Counts())

	resp, err := http.Post(s.URL(), "application/x-protobuf", strings.NewReader("not snappy"))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.EqualValues(t, 1, s.Counts().Malformed)

	s.Reset()
	assert.Equal(t, SinkCounts{}, s.Counts())
}

func TestLoadTimestampsArePatchedInPlace(t *testing.T) {
	l, err := BuildLoad(2500, 1000)
	require.NoError(t, err)
	require.Len(t, l.Requests, 3)
	assert.Equal(t, 3, l.RequestsFor(2001))
	assert.Equal(t, 1, l.RequestsFor(1000))

	now := time.Now().Truncate(time.Millisecond)
	seen := map[string]bool{}
	for j, r := range l.Requests {
		r.SetTimestamp(now.UnixNano())
		req := pmetricotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(r.Body))
		md := req.Metrics()
		require.Equal(t, r.Points, md.DataPointCount())
		dps := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
		for i := range dps.Len() {
			dp := dps.At(i)
			assert.Equal(t, now.UnixNano(), int64(dp.Timestamp()), "request %d point %d", j, i)
			label, ok := dp.Attributes().Get("series")
			require.True(t, ok)
			n, err := strconv.Atoi(strings.TrimPrefix(label.Str(), "s"))
			require.NoError(t, err)
			assert.Equal(t, loadgen.Value(n, 0), dp.DoubleValue())
			seen[label.Str()] = true
		}
	}
	assert.Len(t, seen, 2500)
}

// fakeReceiver decodes OTLP requests like a collector and records every series' timestamps;
// when deliver is set, it counts them as received by the sink at once.
type fakeReceiver struct {
	sink    *Sink
	deliver bool

	mu         sync.Mutex
	newest     map[string]int64
	outOfOrder int
	points     int64
	oldest     time.Duration
}

func (f *fakeReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	dps := req.Metrics().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	f.mu.Lock()
	for i := range dps.Len() {
		label, _ := dps.At(i).Attributes().Get("series")
		ts := int64(dps.At(i).Timestamp())
		if ts <= f.newest[label.Str()] {
			f.outOfOrder++
		}
		f.newest[label.Str()] = ts
		f.oldest = max(f.oldest, time.Since(dps.At(i).Timestamp().AsTime()))
	}
	f.points += int64(dps.Len())
	f.mu.Unlock()
	if f.deliver {
		f.sink.samples.Add(int64(dps.Len()))
	}
	w.WriteHeader(http.StatusOK)
}

// fakeCollector starts a sink, a load of numSeries series and a fake collector in front of the
// sink (delivering what it accepts when deliver), all closed when the test ends.
func fakeCollector(t *testing.T, numSeries int, deliver bool) (*Sink, *Load, *fakeReceiver, string) {
	t.Helper()
	sink, err := StartSink()
	require.NoError(t, err)
	t.Cleanup(func() { _ = sink.Close() })
	l, err := BuildLoad(numSeries, 100)
	require.NoError(t, err)
	recv := &fakeReceiver{sink: sink, deliver: deliver, newest: map[string]int64{}}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	return sink, l, recv, strings.TrimPrefix(srv.URL, "http://")
}

func TestDriverKeepsEachSeriesInOrderNearNow(t *testing.T) {
	sink, l, recv, endpoint := fakeCollector(t, 3000, true)

	d := &Driver{Endpoint: endpoint, Load: l, Requests: l.RequestsFor(2000),
		Senders: 3, MaxBacklog: 10_000, Sink: sink}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	require.Eventually(t, func() bool { return d.Counts().Passes >= 3 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	<-done

	recv.mu.Lock()
	defer recv.mu.Unlock()
	assert.Zero(t, recv.outOfOrder, "samples not newer than their series' previous one")
	assert.Len(t, recv.newest, 2000, "only the first 2000 series are sent")
	assert.Less(t, recv.oldest, 2*time.Second, "timestamps follow the wall clock")
	c := d.Counts()
	// Requests answered after the cancellation are not counted accepted: at most one per sender.
	assert.LessOrEqual(t, c.Accepted, recv.points)
	assert.GreaterOrEqual(t, c.Accepted, recv.points-3*100)
	assert.Zero(t, c.Refused+c.Failed)
}

func TestDriverStopsAtTheBacklogBound(t *testing.T) {
	sink, l, _, endpoint := fakeCollector(t, 5000, false) // never delivers

	d := &Driver{Endpoint: endpoint, Load: l, Requests: len(l.Requests),
		Senders: 2, MaxBacklog: 1000, Sink: sink}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	require.Eventually(t, func() bool { return d.Counts().Accepted > 1000 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // give it the chance to overshoot; it must not
	assert.LessOrEqual(t, d.Counts().Accepted, int64(1000+2*100), "at most one request per sender beyond the bound")
	// What ordered_rw holds on purpose does not count against the bound.
	d.held.Store(2000)
	require.Eventually(t, func() bool { return d.Counts().Accepted > 2000 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done
}

func TestProcReadsThisProcess(t *testing.T) {
	before, err := ProcCPUSeconds(os.Getpid())
	require.NoError(t, err)
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := ProcCPUSeconds(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, after, before, "burned %d iterations", x)

	times, err := ReadProcTimes(os.Getpid())
	require.NoError(t, err)
	assert.InDelta(t, after, times.User+times.System, 0.5)
	assert.Positive(t, times.MinorFaults, "a Go process touches fresh pages as it starts")

	m, err := ReadProcMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, m.RSS)
	assert.GreaterOrEqual(t, m.PeakRSS, m.RSS)
	assert.Positive(t, m.RSSAnon)
	assert.Positive(t, m.RSSFile, "the test binary's own pages")
	assert.LessOrEqual(t, m.RSSAnon+m.RSSFile, m.RSS)
}

func TestFloorsDoTheSameWork(t *testing.T) {
	l, err := BuildLoad(2000, 1000)
	require.NoError(t, err)
	res, err := MeasureFloor(l, 2, 50*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, res, 2)
	for _, r := range res {
		assert.Positive(t, r.Samples, r.Name)
		assert.Positive(t, r.BytesPerSample, r.Name)
	}
	// Both produce one sample per data point and the same label sets.
	minimal, translator := minimalFloor(), translatorFloor()
	for _, r := range l.Requests {
		_, n1, err := minimal(r.Body)
		require.NoError(t, err)
		_, n2, err := translator(r.Body)
		require.NoError(t, err)
		assert.Equal(t, r.Points, n1)
		assert.Equal(t, r.Points, n2)
	}
}

// TestConfigsValidate runs `validate` on every pipeline with the environment the benchmark gives
// it, on the binary the pipeline runs (the gateway-only one for (gw)).
func TestConfigsValidate(t *testing.T) {
	bin := fleettest.CollectorBinary(t)
	ps, err := Pipelines(bin, fleettest.GatewayBinary(t), "", fleettest.RepoRoot(), 5_000_000, 5_000_000)
	require.NoError(t, err)
	require.Len(t, ps, 8)
	for _, p := range ps {
		t.Run(p.Key, func(t *testing.T) {
			if p.Unavailable != "" {
				t.Skip(p.Unavailable)
			}
			require.Empty(t, p.Agent, "a peer without its binary is unavailable")
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte(p.YAML), 0o600))
			cmd := exec.Command(cmp.Or(p.Binary, bin), "validate", "--config", path)
			cmd.Env = append(os.Environ(), p.Env("127.0.0.1:4318", "http://127.0.0.1:9/api/v1/write", "127.0.0.1:1777", "127.0.0.1:13133")...)
			cmd.Env = append(cmd.Env, "FLEET_TELEMETRY_PORT=8888", "AWS_EC2_METADATA_DISABLED=true")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}

// TestRunMeasuresTheStockPipeline runs (a) briefly against the built binary: samples reach the
// sink in order and the collector's CPU and memory are read.
func TestRunMeasuresTheStockPipeline(t *testing.T) {
	bin := fleettest.CollectorBinary(t)
	b, err := New(Options{
		Binary: bin, RepoRoot: fleettest.RepoRoot(), Rounds: 1, Warmup: time.Second, Measure: 2 * time.Second,
		Series: 2000, Senders: 2, PointsPerRequest: 500, MaxBacklog: 20_000, MaxHeldSamples: 100_000, MaxSeries: 10_000,
		Log: testLog{t},
	})
	require.NoError(t, err)
	defer b.Close()
	p, ok := b.Pipeline("a")
	require.True(t, ok)
	r := b.Run(p, 2000, 1, runKind{})
	require.NoError(t, r.Err)
	assert.Positive(t, r.Rate)
	assert.Positive(t, r.CPUSeconds)
	assert.Positive(t, r.Memory.PeakRSS)
	assert.Positive(t, r.Start.RSS, "resident memory before load")
	assert.Zero(t, r.Sink.OutOfOrder+r.Sink.Malformed)
	assert.Equal(t, 2000, r.Sink.Series)
}

// TestRunMeasuresVMAgent runs the peer (v) briefly, as (a) above, when make bench has built it
// (FLEET_VMAGENT names another binary).
func TestRunMeasuresVMAgent(t *testing.T) {
	vmagent := cmp.Or(os.Getenv("FLEET_VMAGENT"), filepath.Join(fleettest.RepoRoot(), ".tools", "vmagent-"+VMAgentVersion))
	if _, err := os.Stat(vmagent); err != nil {
		t.Skipf("no vmagent binary (make bench builds it): %v", err)
	}
	b, err := New(Options{
		Binary: fleettest.CollectorBinary(t), GatewayBinary: fleettest.GatewayBinary(t), VMAgent: vmagent, RepoRoot: fleettest.RepoRoot(), Rounds: 1, Warmup: time.Second, Measure: 2 * time.Second,
		Series: 2000, Senders: 2, PointsPerRequest: 500, MaxBacklog: 20_000, MaxHeldSamples: 100_000, MaxSeries: 10_000,
		Log: testLog{t},
	})
	require.NoError(t, err)
	defer b.Close()
	p, ok := b.Pipeline("v")
	require.True(t, ok)
	require.Empty(t, p.Unavailable)
	r := b.Run(p, 2000, 1, runKind{})
	require.NoError(t, r.Err)
	assert.Positive(t, r.Rate)
	assert.Positive(t, r.CPUSeconds)
	assert.Positive(t, r.Memory.PeakRSS)
	assert.Positive(t, r.Start.RSS, "resident memory before load")
	assert.Zero(t, r.Sink.OutOfOrder+r.Sink.Malformed)
	assert.Equal(t, 2000, r.Sink.Series)
}

// TestScaleRunsEveryPipelineAtEveryPoint runs the scale runs at two small series counts with
// (c), the no-hold (s), (s) on the gateway-only binary (gw) and, when make bench has built it, the
// peer (v): each pipeline runs at each point, in order, nothing is held in (s) and (gw), and the
// report has a row and a marginal line for each.
func TestScaleRunsEveryPipelineAtEveryPoint(t *testing.T) {
	keys := []string{"c", "s", GatewayStampKey}
	vmagent := cmp.Or(os.Getenv("FLEET_VMAGENT"), filepath.Join(fleettest.RepoRoot(), ".tools", "vmagent-"+VMAgentVersion))
	if _, err := os.Stat(vmagent); err == nil {
		keys = append(keys, "v")
	} else {
		t.Logf("no vmagent binary (make bench builds it): (v) not run: %v", err)
		vmagent = ""
	}
	profiles := t.TempDir()
	b, err := New(Options{
		Binary: fleettest.CollectorBinary(t), GatewayBinary: fleettest.GatewayBinary(t), VMAgent: vmagent, RepoRoot: fleettest.RepoRoot(), Warmup: time.Second, Measure: time.Second,
		ScaleSeries: []int{1000, 2000}, ScaleKeys: keys, ScaleRate: 20_000, Budget: 5 * time.Minute,
		ProfileDir: profiles, ProfileLength: time.Second,
		Senders: 2, PointsPerRequest: 500, MaxBacklog: 20_000, MaxHeldSamples: 100_000, MaxSeries: 10_000,
		Log: testLog{t},
	})
	require.NoError(t, err)
	defer b.Close()
	res := &Results{Opts: b.Opts, Pipelines: b.Pipelines}
	b.Scale(res, 0)
	require.Empty(t, res.ScaleSkipped)
	require.Len(t, res.Scale, 2*len(keys))
	for i, r := range res.Scale {
		require.NoError(t, r.Err, "(%s) at %d series", r.Pipeline, r.Series)
		assert.Equal(t, keys[i%len(keys)], r.Pipeline)
		assert.Equal(t, []int{1000, 2000}[i/len(keys)], r.Series)
		assert.Zero(t, r.Sink.OutOfOrder+r.Sink.Malformed, "(%s)", r.Pipeline)
		assert.Positive(t, r.Memory.PeakRSS, "(%s)", r.Pipeline)
		assert.Positive(t, r.IdleRSS, "(%s)", r.Pipeline)
		assert.Positive(t, r.Start.RSS, "(%s)", r.Pipeline)
		// Warmed up over two whole passes, the second one's cost kept apart; then at least one
		// more whole pass measured.
		assert.GreaterOrEqual(t, r.Driver.Passes, int64(2), "(%s)", r.Pipeline)
		assert.GreaterOrEqual(t, r.WarmupPasses, 3, "(%s): two passes, then at least one more for memory", r.Pipeline)
		assert.LessOrEqual(t, r.WarmupPasses, 2+maxMemoryWarmupPasses, "(%s)", r.Pipeline)
		assert.Positive(t, r.FillPass.Seconds, "(%s)", r.Pipeline)
		assert.InDelta(t, r.Series, r.FillPass.Accepted, float64(r.Series), "(%s): the second pass sent about every series once", r.Pipeline)
		assert.GreaterOrEqual(t, r.InputRate*r.Seconds, 0.99*float64(r.Series), "(%s): a whole pass measured", r.Pipeline)
		if r.Pipeline == "s" || r.Pipeline == GatewayStampKey {
			assert.Zero(t, r.Driver.HeldMax, "stamp mode holds nothing")
			assert.NotEqual(t, "n/a", fillText(r)[:3])
		}
		if r.Pipeline == "c" {
			assert.Positive(t, r.Driver.HeldMax, "hold-back holds samples")
			assert.Equal(t, "n/a (held)", fillText(r))
		}
	}
	// Every pipeline's CPU is profiled over its measured interval, the peer's from its own
	// /debug/pprof/, beside ours, and each profile is named in the report.
	b.ScaleProfiles(res)
	for _, r := range res.Scale {
		path := filepath.Join(profiles, fmt.Sprintf("cpu-%s-%d.pprof", r.Pipeline, r.Series))
		assert.FileExists(t, path)
		assert.True(t, slices.ContainsFunc(res.Profiles, func(p Profile) bool { return p.Path == path }), "(%s) at %d series: CPU profile in the report", r.Pipeline, r.Series)
	}
	var out bytes.Buffer
	res.Write(&out)
	for _, key := range keys {
		assert.Contains(t, out.String(), "| ("+key+") | 1000 | ")
		assert.Contains(t, out.String(), "| ("+key+") | 1000 → 2000 | ")
	}
	assert.Contains(t, out.String(), "sent twice")
	assert.Contains(t, out.String(), "is scraped every 15s, a realistic Prometheus interval", "the scale runs' scrape interval is stated")
	for _, r := range res.Scale {
		assert.Less(t, r.ScrapesPerSecond, 1/MinHeldEvery.Seconds(), "(%s): at a fixed rate, fewer scrapes than at saturation", r.Pipeline)
		assert.Positive(t, r.Sink.Requests, "(%s)", r.Pipeline)
	}
	assert.Equal(t, 2, strings.Count(out.String(), "| (s) | 2000 | "), "a row in the scale table and one in the memory breakdown")
	for _, r := range res.Scale {
		if r.Pipeline != "v" {
			assert.Positive(t, r.MemStats["NextGC"], "(%s)", r.Pipeline)
		}
	}
}

// TestProfilesKeepToTheThroughputKeys: -only none takes no saturation profile (the reduced
// fixed-rate runs), and a key outside -only is not run for its profile either.
func TestProfilesKeepToTheThroughputKeys(t *testing.T) {
	for _, only := range [][]string{{"none"}, {"b"}} {
		// No sink and no load: a run would fail, and say so in the log.
		var log bytes.Buffer
		b := &Bench{Opts: Options{ProfileDir: t.TempDir(), ThroughputKeys: only, Log: &log}, Pipelines: []Pipeline{{Key: "a", Pprof: true}}, Started: time.Now()}
		res := &Results{}
		b.Profiles(res, "a")
		assert.Empty(t, res.Profiles, "-only %v", only)
		assert.Empty(t, log.String(), "-only %v: no run", only)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestDriverKeepsToItsRate(t *testing.T) {
	sink, l, _, endpoint := fakeCollector(t, 5000, true)

	d := &Driver{Endpoint: endpoint, Load: l, Requests: len(l.Requests),
		Senders: 4, MaxBacklog: 1_000_000, Sink: sink, Rate: 20_000}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); d.Run(ctx) }()
	time.Sleep(time.Second)
	cancel()
	<-done
	rate := float64(d.Counts().Accepted) / time.Since(start).Seconds()
	assert.LessOrEqual(t, rate, 24_000.0, "never above its rate")
	// Below it only when the fake collector could not keep up (a loaded machine, -race): then
	// the senders spent their time in requests, not waiting for their turn.
	c := d.Counts()
	t.Logf("%.0f samples/s, senders waiting %.0f%% of the time", rate, 100*c.WaitFraction)
	if c.WaitFraction > 0.8 {
		assert.GreaterOrEqual(t, rate, 16_000.0, "the senders mostly waited for their turn (%.0f%%), so the rate is what paced them", 100*c.WaitFraction)
	}
}

func TestParseMemStats(t *testing.T) {
	// The end of pprof's heap?debug=1, as Go 1.26 writes it.
	text := `heap profile: 1: 2 [3: 4] @ heap/1048576
1: 2 [3: 4] @ 0x1 0x2
#	0x1	main.f+0x1	/x.go:1

# runtime.MemStats
# Alloc = 114000000
# Sys = 250000000
# HeapIdle = 90000000
# HeapReleased = 30000000
# NextGC = 228000000
# PauseNs = [1 2 3]
# NumGC = 42
# DebugGC = false
`
	m, err := parseMemStats(strings.NewReader(text))
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"Alloc": 114e6, "Sys": 250e6, "HeapIdle": 90e6, "HeapReleased": 30e6, "NextGC": 228e6, "NumGC": 42}, m)
	_, err = parseMemStats(strings.NewReader("heap profile: 0: 0 [0: 0] @ heap/1048576\n"))
	assert.Error(t, err)
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{999: "999", 99871: "100k", 100_000: "100k", 1_000_000: "1M", 2_999_000: "3M", 1_500_000: "1.5M"} {
		assert.Equal(t, want, count(n), "%d", n)
	}
}

// heldServer serves a /metrics with ordered_rw's held-samples gauge at held(n), n the scrapes
// so far (from 1), and counts the scrapes.
func heldServer(t *testing.T, held func(n int64) int64) (url string, scrapes *atomic.Int64) {
	scrapes = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := scrapes.Add(1)
		_, _ = io.WriteString(w, "# TYPE otelcol_exporter_ordered_rw_held_samples gauge\n"+
			"otelcol_exporter_ordered_rw_held_samples_other 7\n"+
			"otelcol_exporter_ordered_rw_held_samples{exporter=\"ordered_rw\"} "+strconv.FormatInt(held(n), 10)+"\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics", scrapes
}

// TestWatchHeldScrapesWhenDueOrAsked: WatchHeld scrapes at once, then not again before
// HeldEvery unless asked, and asks make it scrape at most every MinHeldEvery.
func TestWatchHeldScrapesWhenDueOrAsked(t *testing.T) {
	url, scrapes := heldServer(t, func(int64) int64 { return 42 })
	d := &Driver{HeldEvery: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.WatchHeld(ctx, url) }()
	require.Eventually(t, func() bool { return d.Held() == 42 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(2 * MinHeldEvery)
	assert.Equal(t, int64(1), scrapes.Load(), "nothing asked and not due: no scrape after the first")

	start := time.Now()
	for time.Since(start) < 4*MinHeldEvery {
		d.WantHeld()
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	// Asked continuously over four intervals: one scrape per interval (the first ask is
	// answered at once, the first scrape being long past), not one per ask.
	assert.GreaterOrEqual(t, scrapes.Load(), int64(1+3))
	assert.LessOrEqual(t, scrapes.Load(), int64(1+5))
	assert.Equal(t, scrapes.Load(), d.Counts().Scrapes)
}

// TestDriverAsksForHeldAtTheBound: with a long scrape interval, senders that reach the bound
// ask for a fresh held count instead of waiting on a stale one; what ordered_rw holds then
// does not count against the bound.
func TestDriverAsksForHeldAtTheBound(t *testing.T) {
	sink, l, _, endpoint := fakeCollector(t, 5000, false) // never delivers: everything is held
	url, _ := heldServer(t, func(n int64) int64 {
		if n == 1 {
			return 0 // the first scrape, before the load
		}
		return 2000
	})
	d := &Driver{Endpoint: endpoint, Load: l, Requests: len(l.Requests),
		Senders: 2, MaxBacklog: 1000, Sink: sink, HeldEvery: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.WatchHeld(ctx, url) }()
	require.Eventually(t, func() bool { return d.Counts().Scrapes == 1 }, 5*time.Second, time.Millisecond)
	wg.Add(1)
	go func() { defer wg.Done(); d.Run(ctx) }()
	// Past 1000 only with the second scrape's 2000 held; well within the 2 s a sender waits
	// before it gives up on the bound (a stall).
	require.Eventually(t, func() bool { return d.Counts().Accepted > 2000 }, 1500*time.Millisecond, 5*time.Millisecond)
	cancel()
	wg.Wait()
	assert.Zero(t, d.Counts().Stalls)
	assert.LessOrEqual(t, d.Counts().Accepted, int64(3000+2*100), "held 2000 plus the bound, one request per sender beyond")
	assert.GreaterOrEqual(t, d.Counts().Scrapes, int64(2))
}

func TestHeldEveryIsRealisticAtAFixedRate(t *testing.T) {
	assert.Equal(t, MinHeldEvery, heldEvery(0), "saturation keeps the bound fresh")
	assert.Equal(t, DefaultHeldEvery, heldEvery(100_000))
}

// TestIdleMeasuresEachPhase runs the idle measurement briefly on the shipped config and (s).
func TestIdleMeasuresEachPhase(t *testing.T) {
	bin := fleettest.CollectorBinary(t)
	b, err := New(Options{
		Binary: bin, RepoRoot: fleettest.RepoRoot(), Series: 2000, PointsPerRequest: 100,
		MaxHeldSamples: 100_000, MaxSeries: 10_000, Log: testLog{t},
	})
	require.NoError(t, err)
	defer b.Close()
	o := IdleOptions{Keys: []string{distributionKey, "s"}, Window: 2 * time.Second, ScrapeEvery: 100 * time.Millisecond, TrickleRate: 1000}
	res := &Results{Opts: b.Opts, Idle: b.Idle(o)}
	require.Len(t, res.Idle, 2)
	for _, r := range res.Idle {
		require.NoError(t, r.Err, "(%s)", r.Pipeline)
		assert.Positive(t, r.Start.RSS, "(%s)", r.Pipeline)
		assert.GreaterOrEqual(t, r.Scrapes, 15, "(%s)", r.Pipeline)
		assert.Positive(t, r.ScrapeBytes, "(%s)", r.Pipeline)
		assert.Positive(t, r.TrickleCPUPerMinute, "(%s): 1000 samples/s cost something", r.Pipeline)
	}
	var out bytes.Buffer
	res.WriteIdle(&out, o)
	assert.Contains(t, out.String(), "| (g) distribution/config.yaml | ")
	assert.Contains(t, out.String(), "| (s) series_guard + ordered_rw stamp")
}

func TestThreadsCPUSecondsAgreesWithProcStat(t *testing.T) {
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	precise, err := threadsCPUSeconds(os.Getpid())
	require.NoError(t, err)
	ticks, err := ProcCPUSeconds(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, precise, 0.2, "at least the busy loop")
	// /proc/<pid>/stat also counts exited threads and rounds to 10 ms ticks.
	assert.InDelta(t, ticks, precise, 0.1+0.2*ticks)
}
