package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Driver sends a Load's requests to a collector's OTLP/HTTP receiver as fast as the collector
// takes them. Sender k owns requests k, k+Senders, k+2*Senders... and sends them in a loop,
// each time with a timestamp newer than the last it used, so each series stays in order at the
// source.
//
// Pacing is closed-loop on the collector's backlog: samples the collector accepted (2xx) minus
// samples the sink received, minus the samples ordered_rw holds back on purpose (its
// held_samples gauge, scraped from the collector's /metrics by WatchHeld). Senders wait while
// the backlog exceeds MaxBacklog. Without that bound the stock exporter's queue (10,000
// requests, not blocking) would absorb far more than it sends, and memory and CPU per sample
// would describe a queue filling up, not a pipeline at saturation.
//
// A scrape of /metrics is not free (the collector gathers and encodes every self-metric, about
// as much CPU as a few OTLP requests), so how often it is scraped is part of the load: see
// HeldEvery.
type Driver struct {
	// Endpoint is the receiver's host:port; Path its OTLP/HTTP metrics path ("": /v1/metrics).
	Endpoint string
	Path     string
	Load     *Load
	// Requests is how many of Load's requests to send (a prefix: the first series).
	Requests   int
	Senders    int
	MaxBacklog int64
	Sink       *Sink
	// Rate, when positive, caps the samples per second sent (the scale runs use a fixed rate,
	// so that what is held back and the CPU per sample compare across series counts).
	Rate float64
	// Limit, when positive, is how many samples to send in all: Run returns once the senders
	// have sent that many (the overhead bursts give each collector the same samples).
	Limit int64
	// HeldEvery is how often WatchHeld scrapes the held samples when nothing asks for them
	// sooner (0: DefaultHeldEvery). Whatever it is, a sender that finds the backlog above
	// MaxBacklog asks for a fresh value at once (at most every MinHeldEvery), so the bound
	// never acts on a stale count: at saturation, where the backlog sits at the bound, that is
	// a scrape every MinHeldEvery, for the collector and the peer alike; at a fixed rate below
	// saturation, one every HeldEvery.
	HeldEvery time.Duration

	// heldWanted asks WatchHeld for a fresh held count (buffered 1: asks coalesce).
	heldWanted     chan struct{}
	heldWantedOnce sync.Once
	scrapes        atomic.Int64
	paceMu         sync.Mutex
	paceNext       time.Time
	claimed        atomic.Int64 // samples the senders took on, against Limit

	held     atomic.Int64
	heldMax  atomic.Int64
	accepted atomic.Int64
	refused  atomic.Int64
	failed   atomic.Int64
	stalls   atomic.Int64
	// waitNanos and postNanos add up the senders' time waiting for room and in requests.
	waitNanos atomic.Int64
	postNanos atomic.Int64
	posts     atomic.Int64
	// passes counts, per sender, how many times it sent all its requests (set by Run, read
	// concurrently by Counts).
	passes atomic.Pointer[[]atomic.Int64]
	client *http.Client
}

// DriverCounts is a snapshot of what the driver did.
type DriverCounts struct {
	// Accepted are samples the collector answered 2xx for.
	Accepted int64
	// Refused are requests the collector answered with a non-2xx status (retried).
	Refused int64
	// Failed are requests that did not get an answer (retried).
	Failed int64
	// Stalls counts waits for the backlog to drain that gave up after 2 s.
	Stalls int64
	// HeldMax is the largest ordered_rw held_samples value seen.
	HeldMax int64
	// Passes is how many times every request was sent (the slowest sender's count).
	Passes int64
	// WaitFraction is the share of the senders' time spent waiting for the backlog to drain
	// (the rest is spent in requests): near 0, the collector's receiver is what paces the load.
	WaitFraction float64
	// PostLatency is the mean time the collector took to answer a request: long answers mean
	// the collector pushes back (a blocking exporter), short ones with no waiting would mean
	// the driver is the limit.
	PostLatency time.Duration
	// Scrapes is how many times WatchHeld scraped the collector's /metrics.
	Scrapes int64
}

// Run sends until ctx is done.
func (d *Driver) Run(ctx context.Context) {
	passes := make([]atomic.Int64, d.Senders)
	d.passes.Store(&passes)
	d.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: d.Senders,
			DisableCompression:  true,
		},
	}
	var wg sync.WaitGroup
	for k := range d.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.sender(ctx, k)
		}()
	}
	wg.Wait()
	d.client.CloseIdleConnections()
}

func (d *Driver) sender(ctx context.Context, k int) {
	var lastMillis int64
	url := "http://" + d.Endpoint + cmp.Or(d.Path, "/v1/metrics")
	for {
		for j := k; j < d.Requests; j += d.Senders {
			req := d.Load.Requests[j]
			if d.Limit > 0 && d.claimed.Add(int64(req.Points)) > d.Limit {
				return
			}
			for {
				waitStart := time.Now()
				if !d.pace(ctx, req.Points) || !d.waitForRoom(ctx) {
					return
				}
				postStart := time.Now()
				d.waitNanos.Add(int64(postStart.Sub(waitStart)))
				lastMillis = max(postStart.UnixMilli(), lastMillis+1)
				req.SetTimestamp(lastMillis * int64(time.Millisecond))
				ok, err := d.post(ctx, url, req.Body)
				d.postNanos.Add(int64(time.Since(postStart)))
				d.posts.Add(1)
				if ctx.Err() != nil {
					return
				}
				if ok {
					d.accepted.Add(int64(req.Points))
					break
				}
				// Refused or failed: the collector is full; back off briefly and resend.
				if err != nil {
					d.failed.Add(1)
				} else {
					d.refused.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		(*d.passes.Load())[k].Add(1)
	}
}

// pace blocks until sending points more keeps the rate at or below Rate.
func (d *Driver) pace(ctx context.Context, points int) bool {
	if d.Rate <= 0 {
		return true
	}
	d.paceMu.Lock()
	now := time.Now()
	at := d.paceNext
	if at.Before(now) {
		at = now
	}
	d.paceNext = at.Add(time.Duration(float64(points) / d.Rate * float64(time.Second)))
	d.paceMu.Unlock()
	if wait := time.Until(at); wait > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
	return true
}

// waitForRoom blocks while the collector's backlog is above MaxBacklog.
func (d *Driver) waitForRoom(ctx context.Context) bool {
	deadline := time.Time{}
	for d.accepted.Load()-d.Sink.Samples()-d.held.Load() > d.MaxBacklog {
		if ctx.Err() != nil {
			return false
		}
		// The held count may be a scrape old: ask for a fresh one before waiting on it.
		d.WantHeld()
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(2 * time.Second)
		} else if now.After(deadline) {
			d.stalls.Add(1)
			return true
		}
		time.Sleep(250 * time.Microsecond)
	}
	return ctx.Err() == nil
}

func (d *Driver) post(ctx context.Context, url string, body []byte) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := d.client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode/100 == 2, nil
}

// Counts returns a snapshot.
func (d *Driver) Counts() DriverCounts {
	c := DriverCounts{
		Accepted: d.accepted.Load(),
		Refused:  d.refused.Load(),
		Failed:   d.failed.Load(),
		Stalls:   d.stalls.Load(),
		HeldMax:  d.heldMax.Load(),
		Passes:   -1,
		Scrapes:  d.scrapes.Load(),
	}
	if wait, post := d.waitNanos.Load(), d.postNanos.Load(); wait+post > 0 {
		c.WaitFraction = float64(wait) / float64(wait+post)
	}
	if n := d.posts.Load(); n > 0 {
		c.PostLatency = time.Duration(d.postNanos.Load() / n)
	}
	if passes := d.passes.Load(); passes != nil {
		for i := range *passes {
			if p := (*passes)[i].Load(); c.Passes < 0 || p < c.Passes {
				c.Passes = p
			}
		}
	}
	return c
}

// heldSamplesMetric is ordered_rw's gauge of samples held back on purpose.
const heldSamplesMetric = "otelcol_exporter_ordered_rw_held_samples"

// DefaultHeldEvery is WatchHeld's interval when nothing asks sooner: a realistic Prometheus
// scrape interval. MinHeldEvery bounds how often a sender's ask makes it scrape.
const (
	DefaultHeldEvery = 15 * time.Second
	MinHeldEvery     = 250 * time.Millisecond
)

// WantHeld asks WatchHeld for a fresh held count (it coalesces asks and scrapes at most every
// MinHeldEvery). It does not wait for it.
func (d *Driver) WantHeld() {
	select {
	case d.wanted() <- struct{}{}:
	default:
	}
}

// Held is the last held count scraped.
func (d *Driver) Held() int64 { return d.held.Load() }

func (d *Driver) wanted() chan struct{} {
	d.heldWantedOnce.Do(func() { d.heldWanted = make(chan struct{}, 1) })
	return d.heldWanted
}

// WatchHeld scrapes the collector's self-telemetry for the held-samples gauge until ctx is
// done: at once, then every HeldEvery, and when asked (WantHeld) at most every MinHeldEvery.
// It reads only the lines it needs.
func (d *Driver) WatchHeld(ctx context.Context, metricsURL string) {
	client := &http.Client{Timeout: 5 * time.Second}
	every := cmp.Or(d.HeldEvery, DefaultHeldEvery)
	wanted := d.wanted()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		d.scrapeHeld(ctx, client, metricsURL)
		last := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wanted:
			if wait := MinHeldEvery - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		// An ask that came while scraping is answered by the next scrape anyway.
		select {
		case <-wanted:
		default:
		}
	}
}

// RefreshHeld scrapes the held samples now, unless ctx is done, and waits for the answer (the
// measured interval's ends read them this way, whatever WatchHeld's interval).
func (d *Driver) RefreshHeld(ctx context.Context, metricsURL string) {
	d.scrapeHeld(ctx, &http.Client{Timeout: 5 * time.Second}, metricsURL)
}

// scrapeHeld scrapes the held samples, unless ctx is done: WatchHeld's select may pick an ask
// or its timer over ctx when both are ready. A scrape begun runs to its end (the client's timeout
// bounds it) instead of being cut short by ctx on its way: so every scrape counted reached the
// collector, which is what Scrapes (the cost of watching to the collector) means.
func (d *Driver) scrapeHeld(ctx context.Context, client *http.Client, metricsURL string) {
	if ctx.Err() != nil {
		return
	}
	d.scrapes.Add(1)
	v, err := scrapeSum(context.WithoutCancel(ctx), client, metricsURL, heldSamplesMetric)
	if err != nil {
		return
	}
	d.held.Store(int64(v))
	if int64(v) > d.heldMax.Load() {
		d.heldMax.Store(int64(v))
	}
}

// scrapeSum adds up every sample of one metric in a Prometheus text exposition.
func scrapeSum(ctx context.Context, client *http.Client, url, metric string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		rest := line[len(metric):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // another metric with this prefix
		}
		if i := strings.LastIndexByte(rest, ' '); i >= 0 {
			if v, err := strconv.ParseFloat(rest[i+1:], 64); err == nil {
				total += v
			}
		}
	}
	return total, sc.Err()
}
