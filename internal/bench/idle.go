package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// IdleResult is what a process costs when it has little or nothing to do: with no load, per
// scrape of its own /metrics, and at a trickle of samples.
type IdleResult struct {
	Pipeline, Name string
	// Start is the resident memory once ready.
	Start ProcMemory
	// IdleCPUPerMinute is CPU seconds per minute with no load and nobody scraping it.
	IdleCPUPerMinute float64
	// ScrapeCPU is the CPU seconds one scrape of /metrics costs (above idle), ScrapeBytes the
	// body it answered (uncompressed), Scrapes how many were made.
	ScrapeCPU   float64
	ScrapeBytes int
	Scrapes     int
	// TrickleRate is the samples per second sent in the trickle phase (nobody scraping),
	// TrickleCPUPerMinute the CPU seconds per minute then, TricklePerSample the CPU above idle
	// per sample delivered (µs).
	TrickleRate         float64
	TrickleCPUPerMinute float64
	TricklePerSample    float64
	Err                 error
}

// IdleOptions shape Idle.
type IdleOptions struct {
	// Keys are the pipelines measured; "g" is the shipped distribution/config.yaml.
	Keys []string
	// Window is the length of each phase; ScrapeEvery the scrape interval of the scraped phase;
	// TrickleRate the samples per second of the trickle phase.
	Window, ScrapeEvery time.Duration
	TrickleRate         float64
}

// trickleWarmup is how long the trickle runs before it is measured: a few passes over its
// series.
const trickleWarmup = 4 * time.Second

// distributionKey is the shipped default configuration in the idle measurement.
const distributionKey = "g"

// distributionPipeline is distribution/config.yaml with its fixed localhost ports replaced by
// the ones given (other processes on the machine may hold the defaults).
func (b *Bench) distributionPipeline(otlpHTTP, otlpGRPC, health string, telemetryPort int) (Pipeline, error) {
	raw, err := os.ReadFile(filepath.Join(b.Opts.RepoRoot, "distribution", "config.yaml"))
	if err != nil {
		return Pipeline{}, err
	}
	yaml := strings.NewReplacer(
		"localhost:4318", otlpHTTP,
		"localhost:4317", otlpGRPC,
		"localhost:13133", health,
		"localhost:8888", "127.0.0.1:"+strconv.Itoa(telemetryPort),
		"port: 8888", "port: "+strconv.Itoa(telemetryPort),
	).Replace(string(raw))
	return Pipeline{Key: distributionKey, Name: "distribution/config.yaml", YAML: yaml}, nil
}

// Idle measures each pipeline of o.Keys in three phases of o.Window each: no load and no
// scrapes; o.TrickleRate samples per second with no scrapes; then no load again, its /metrics
// scraped every o.ScrapeEvery (the CPU above idle, per scrape).
func (b *Bench) Idle(o IdleOptions) []IdleResult {
	var out []IdleResult
	for _, key := range o.Keys {
		r := IdleResult{Pipeline: key}
		r.Err = fleettest.RunScoped(b.Opts.Log, func(s *fleettest.Scope) { b.idle(s, key, o, &r) })
		if r.Err != nil {
			b.logf("(%s) idle: FAILED: %v", key, r.Err)
		} else {
			b.logf("(%s) idle %.3f CPU s/min; %.2f ms a scrape (%d bytes); at %.0f samples/s %.3f CPU s/min, %.2f µs a sample above idle",
				key, r.IdleCPUPerMinute, 1000*r.ScrapeCPU, r.ScrapeBytes, r.TrickleRate, r.TrickleCPUPerMinute, r.TricklePerSample)
		}
		out = append(out, r)
	}
	return out
}

func (b *Bench) idle(s *fleettest.Scope, key string, o IdleOptions, r *IdleResult) {
	b.Sink.Reset()
	otlp := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s))
	var c agent
	var path string
	switch key {
	case distributionKey:
		telemetryPort := fleettest.FreePort(s)
		p, err := b.distributionPipeline(otlp, "127.0.0.1:"+strconv.Itoa(fleettest.FreePort(s)),
			"127.0.0.1:"+strconv.Itoa(fleettest.FreePort(s)), telemetryPort)
		if err != nil {
			s.Fatal(err)
		}
		r.Name = p.Name
		c = fleettest.StartCollectorOnPort(s, p.YAML, telemetryPort, append([]string{"FLEET_REMOTE_WRITE_ENDPOINT=" + b.Sink.URL()}, b.Opts.CollectorEnv...)...)
	default:
		p, ok := b.Pipeline(key)
		if !ok || p.Unavailable != "" {
			s.Fatalf("pipeline (%s) is not available: %s", key, p.Unavailable)
		}
		r.Name, path = p.Name, p.OTLPPath
		if p.Agent != "" {
			c = startVMAgent(s, p.Agent, otlp, b.Sink.URL())
		} else {
			pprof := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s))
			health := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s))
			c = p.start(s, append(p.Env(otlp, b.Sink.URL(), pprof, health), b.Opts.CollectorEnv...))
		}
	}
	pid := c.Pid()
	// Let start-up finish (the first GCs, lazily started goroutines) before measuring.
	time.Sleep(5 * time.Second)
	if m, err := ReadProcMemory(pid); err == nil {
		r.Start = m
	}
	cpuNow := func() float64 {
		if v, err := threadsCPUSeconds(pid); err == nil {
			return v
		}
		return mustCPU(s, pid)
	}
	window := func(during func(ctx context.Context)) float64 {
		ctx, cancel := context.WithTimeout(context.Background(), o.Window)
		defer cancel()
		cpu0, t0 := cpuNow(), time.Now()
		during(ctx)
		<-ctx.Done()
		cpu := cpuNow() - cpu0
		if c.Exited() {
			s.Fatalf("exited while measured:\n%s", tailString(c.Logs(), 3000))
		}
		return cpu / time.Since(t0).Minutes()
	}

	r.IdleCPUPerMinute = window(func(context.Context) {})

	// The trickle: rate×1 s series, so each series is sent once a second, after a warm-up of
	// a few passes (a series' first two sightings cost more: series_guard and the encoder
	// cache it). It runs before the scraped phase so that /metrics then has what a loaded
	// collector's has (the per-request instruments, their histograms).
	r.TrickleRate = o.TrickleRate
	series := max(1, min(int(o.TrickleRate), b.Opts.Series))
	trickleCtx, stopTrickle := context.WithCancel(context.Background())
	defer stopTrickle()
	d := &Driver{Endpoint: otlp, Path: path, Load: b.Load, Requests: b.Load.RequestsFor(series),
		Senders: 1, MaxBacklog: math.MaxInt64, Sink: b.Sink, Rate: o.TrickleRate}
	trickleDone := make(chan struct{})
	go func() { defer close(trickleDone); d.Run(trickleCtx) }()
	time.Sleep(trickleWarmup)
	sink0 := b.Sink.Samples()
	r.TrickleCPUPerMinute = window(func(context.Context) {})
	if delivered := b.Sink.Samples() - sink0; delivered > 0 {
		r.TricklePerSample = (r.TrickleCPUPerMinute - r.IdleCPUPerMinute) * o.Window.Minutes() / float64(delivered) * 1e6
	}
	stopTrickle()
	<-trickleDone
	time.Sleep(2 * time.Second) // what the trickle left in flight

	client := &http.Client{Timeout: 5 * time.Second}
	scrapedPerMinute := window(func(ctx context.Context) {
		tick := time.NewTicker(o.ScrapeEvery)
		defer tick.Stop()
		for {
			if n, err := scrapeOnce(ctx, client, c.MetricsURL()); err == nil {
				r.Scrapes++
				r.ScrapeBytes = n
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	if r.Scrapes > 0 {
		r.ScrapeCPU = (scrapedPerMinute - r.IdleCPUPerMinute) * o.Window.Minutes() / float64(r.Scrapes)
	}
	c.Stop(s)
}

// threadsCPUSeconds is the CPU time a process' threads used so far, in nanoseconds from each
// thread's /proc/<pid>/task/<tid>/schedstat: /proc/<pid>/stat counts in 10 ms ticks, too coarse
// for a process that uses a few ms a second. Threads that exited are not counted (the Go
// runtime seldom ends one).
func threadsCPUSeconds(pid int) (float64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads of %d: %v", pid, err)
	}
	var ns int64
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited
		}
		first, _, _ := strings.Cut(string(b), " ")
		v, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q", path, b)
		}
		ns += v
	}
	return float64(ns) / 1e9, nil
}

// scrapeOnce GETs url as a Prometheus server would (gzip accepted) and returns the body's
// uncompressed length.
func scrapeOnce(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return int(n), err
}

// WriteIdle renders the idle measurement.
func (res *Results) WriteIdle(w io.Writer, o IdleOptions) {
	fmt.Fprintf(w, "### Idle and fixed costs\n\nEach process started, left 5 s, then measured over three phases of %s each (CPU summed over its threads' schedstat, in ns): no load and nobody scraping it; "+
		"%.0f samples/s in %d-point requests from one sender (each of %.0f series once a second, after %s of warm-up), nobody scraping; "+
		"then no load, its /metrics scraped every %s (gzip accepted, as Prometheus does; the CPU above idle, per scrape).\n\n",
		o.Window, o.TrickleRate, res.Opts.PointsPerRequest, max(1, min(o.TrickleRate, float64(res.Opts.Series))), trickleWarmup, o.ScrapeEvery)
	fmt.Fprintln(w, "| pipeline | RSS once ready | idle CPU s / min | CPU per scrape | /metrics bytes | at the trickle, CPU s / min | above idle, µs / sample |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range res.Idle {
		if r.Err != nil {
			fmt.Fprintf(w, "| (%s) | failed: %s | | | | | |\n", r.Pipeline, oneLine(r.Err.Error()))
			continue
		}
		fmt.Fprintf(w, "| (%s) %s | %s | %.3f | %.2f ms | %d | %.3f | %.1f |\n", r.Pipeline, r.Name, rssText(r.Start),
			r.IdleCPUPerMinute, 1000*r.ScrapeCPU, r.ScrapeBytes, r.TrickleCPUPerMinute, r.TricklePerSample)
	}
}
