package ordering

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/reshard"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

const (
	shardsGauge   = "otelcol_exporter_ordered_rw_shards"
	desiredGauge  = "otelcol_exporter_ordered_rw_shards_desired"
	reshardWindow = 100 * time.Millisecond
)

// The engine starts at min_shards: a push of 10 series is one request, where spreading it over
// every shard made it five.
func TestSmallPushIsOneRequest(t *testing.T) {
	backend := promtest.NewBackend(t)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 5})
	var batch []sample.Series
	for i := range 10 {
		batch = append(batch, series(i, 1000))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	waitIdle(t, h.engine)
	assert.Equal(t, 1, backend.Requests())
	assert.Equal(t, 10, backend.StoredCount())
	assert.Equal(t, int64(1), h.gauge(t, shardsGauge))
	assert.Equal(t, 1.0, h.floatGauge(t, desiredGauge), "min_shards until the load says otherwise")
	h.shutdown(t)
}

// pusher pushes one point to each of numSeries series per push, at timestamps (from+1) s,
// (from+2) s, ..., pausing between pushes, until halted.
type pusher struct {
	numSeries int
	from      int64
	pushes    atomic.Int64
	stop      chan struct{}
	done      sync.WaitGroup
}

func startPusher(t *testing.T, e *Engine, numSeries int, pause time.Duration, from int64) *pusher {
	p := &pusher{numSeries: numSeries, from: from, stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			ts := (p.from + p.pushes.Load() + 1) * 1000
			batch := make([]sample.Series, p.numSeries)
			for i := range batch {
				batch[i] = series(i, ts)
			}
			if !assert.NoError(t, e.Push(context.Background(), batch)) {
				return
			}
			p.pushes.Add(1)
			time.Sleep(pause)
		}
	}()
	return p
}

// halt stops the pusher and returns the number of its last push: the next pusher's from.
func (p *pusher) halt() int64 {
	close(p.stop)
	p.done.Wait()
	return p.from + p.pushes.Load()
}

// Under a load one shard cannot carry (every request takes 20 ms, pushes come as fast as they
// are taken), the engine reshards up to max_shards and sends that many requests in parallel;
// when the load falls it goes back down to min_shards. Across every reshard each series keeps
// its order and loses nothing: the samples queued on the old shards are sent before the series
// move, and the last sent timestamps move with them.
func TestReshardsWithTheLoadKeepingOrder(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.SetDelay(20 * time.Millisecond)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 4, QueueSize: 8, ReshardInterval: reshardWindow})
	const numSeries = 64
	p := startPusher(t, h.engine, numSeries, 0, 0)
	require.Eventually(t, func() bool { return h.engine.NumShards() == 4 }, 20*time.Second, 10*time.Millisecond, "scaled up to max_shards")
	require.Eventually(t, func() bool { return backend.MaxInFlight() == 4 }, 5*time.Second, time.Millisecond, "four requests in parallel")
	assert.Equal(t, int64(4), h.gauge(t, shardsGauge))
	assert.Greater(t, h.floatGauge(t, desiredGauge), 1.0, "the load asked for more than one shard")
	last := p.halt()

	// A trickle: one push every 50 ms keeps requests delivered (no reshard without one) while the
	// rates fall.
	backend.SetDelay(0)
	p = startPusher(t, h.engine, numSeries, 50*time.Millisecond, last)
	require.Eventually(t, func() bool { return h.engine.NumShards() == 1 }, 20*time.Second, 10*time.Millisecond, "back to min_shards")
	last = p.halt()
	waitIdle(t, h.engine)

	// Every point of both phases, each series in order, none lost or dropped.
	want := make([]int64, last)
	for i := range want {
		want[i] = int64(i+1) * 1000
	}
	requireStoredInOrder(t, backend, numSeries, want...)
	assert.Zero(t, backend.Rejected())
	assert.Zero(t, h.counter(t, droppedSamples))
	assert.Equal(t, int64(numSeries)*last, h.counter(t, sentSamples))
	h.shutdown(t)
}

// The demand the shards are sized for is counted as pushes come, held back or not: with
// hold-back, releases that wait for the shards do not slow pushes down, so the samples pushed are
// the true demand (what Prometheus counts as appended), where the samples queued on the shards
// would be only what the shards already send.
func TestDemandIsCountedAsPushed(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(1_000_000)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 4, Holdback: true, Window: 200 * time.Millisecond,
		ReleaseInterval: 10 * time.Millisecond, MaxHeldSamples: 1000, Clock: clock})
	var batch []sample.Series
	for i := range 10 {
		batch = append(batch, series(i, 1_000_000, 1_000_100))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	assert.Equal(t, int64(20), h.engine.HeldSamples(), "held, nothing queued yet")
	assert.Equal(t, reshard.Counts{In: 20}, h.engine.shards.meter.Counts())
	h.shutdown(t)
}

// costlyPoster accepts every request after a time proportional to its samples: each shard then
// sends at most 1/perSample samples a second, whatever the size of its requests.
type costlyPoster struct {
	perSample time.Duration
	sent      atomic.Int64
}

func (p *costlyPoster) Post(ctx context.Context, body []byte) error {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return err
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return err
	}
	n := 0
	for _, ts := range req.Timeseries {
		n += len(ts.Samples)
	}
	select {
	case <-time.After(time.Duration(n) * p.perSample):
	case <-ctx.Done():
		return ctx.Err()
	}
	p.sent.Add(int64(n))
	return nil
}

// With hold-back, a load several shards' worth goes from one shard to about the count it needs
// at the first reshard: pushes go on into the hold-back while the releases wait for the one
// shard, so the rate pushed is the demand. Counted as queued on the shards instead, the demand
// looked like what the one shard sent, and the count grew by one per interval (1 -> 2 -> 3...).
//
// The rule holds for samples held back; a late sample is queued at once and its push waits for
// room on the shards. So the test keeps every sample on time whatever the machine's load: the
// load is light to push (5,000 samples a second against 1,000 a shard sends), each push is
// stamped as it is made, and the window (1 s) is far above a scheduling stall. It offered 50,000
// samples a second in pushes of up to 5,000 series stamped with the tick's time, with a 50 ms
// window: under a parallel `go test ./...` with -race, building a push outlasted the window,
// whole pushes arrived late and waited for the one shard, the demand pushed fell to what it sent,
// and the first reshard went to 2 or 3.
func TestHoldbackReshardsToTheDemandAtOnce(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tset := tel.NewTelemetrySettings()
	tset.Logger = zap.NewNop()
	// One shard sends 1,000 samples a second; the pusher offers 5,000: five shards' worth.
	const offered = 5_000
	poster := &costlyPoster{perSample: time.Millisecond}
	e, err := NewEngine(Settings{MinShards: 1, MaxShards: 8, ReshardInterval: 300 * time.Millisecond, QueueSize: 8, MaxBatchBytes: 3_000_000,
		Holdback: true, Window: time.Second, ReleaseInterval: 10 * time.Millisecond, MaxHeldSamples: 10_000_000,
		Retry: fastRetry()}, tset, "ordered_rw", poster)
	require.NoError(t, err)
	h := &harness{engine: e, tel: tel}
	// The offered load follows the clock from the engine's start, when its reshard intervals
	// begin, not the ticks: on a loaded machine ticks are late or missed, and the pusher catches
	// up with more series in one push.
	start := time.Now()
	e.Start()

	stop := make(chan struct{})
	var pushing sync.WaitGroup
	pushing.Add(1)
	go func() {
		defer pushing.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		pushed, ts := 0, int64(0)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				n := int(time.Since(start).Seconds()*offered) - pushed
				if n <= 0 {
					continue
				}
				batch := make([]sample.Series, n)
				// Stamped as it is pushed, one millisecond apart at least: a series has one sample
				// per timestamp.
				ts = max(time.Now().UnixMilli(), ts+1)
				for i := range batch {
					batch[i] = series(i, ts)
				}
				assert.NoError(t, e.Push(context.Background(), batch))
				pushed += n
			}
		}
	}()
	var first int
	require.Eventually(t, func() bool {
		first = e.NumShards()
		return first != 1
	}, 10*time.Second, time.Millisecond, "resharded")
	close(stop)
	pushing.Wait()
	t.Logf("first reshard: 1 -> %d (desired %.1f)", first, e.shards.calc.Desired())
	require.Zero(t, h.counter(t, releasedSamples, reason(telemetry.ReleaseLate)), "every sample was held back, as the rule assumes")
	assert.GreaterOrEqual(t, first, 4, "the first reshard goes most of the way (counted as queued, it went to 3 here)")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Shutdown(ctx))
}
