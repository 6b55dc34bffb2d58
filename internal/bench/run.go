// Package bench is the end-to-end pipeline benchmark behind `make bench`: the built
// otelcol-fleet binary between a load driver (pre-built OTLP/HTTP protobuf requests, closed
// loop on the collector's backlog) and a fast remote-write sink in this process, with the
// collector's CPU and memory read from /proc. See BENCHMARKS.md for what it measures and why.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// MinSteadyWarmup is the shortest warm-up after which ordered_rw is in a steady state here: it
// releases nothing for its first 5 s (the hold-back window), then drains what it accepted
// meanwhile, which took about 7 s more on this machine.
const MinSteadyWarmup = 12 * time.Second

// Options of a benchmark session.
type Options struct {
	Binary string
	// GatewayBinary is the gateway-only build (make build-gateway), run as pipeline (gw); "": (gw)
	// is unavailable.
	GatewayBinary string
	// VMAgent is the peer's binary, run as pipeline (v); "": (v) is unavailable.
	VMAgent  string
	RepoRoot string
	// Rounds of the throughput comparison; each round runs every pipeline once, in a rotated order.
	Rounds int
	// Warmup before measuring (longer than the hold-back window, so ordered_rw releases at its
	// steady rate), and the measured interval.
	Warmup, Measure time.Duration
	// Series sent in the throughput comparison.
	Series int
	// ThroughputKeys are the pipelines of the throughput comparison; empty: all.
	ThroughputKeys []string
	// ScaleSeries are the series counts of the scale runs, sent at ScaleRate samples per second
	// (0: at saturation), each run by every pipeline of ScaleKeys (empty: (c) alone), so that the
	// peer (v) and the no-hold pipeline (s) stand beside (c) at every point.
	ScaleSeries      []int
	ScaleKeys        []string
	ScaleRate        float64
	Senders          int
	PointsPerRequest int
	MaxBacklog       int64
	// MaxHeldSamples is ordered_rw's holdback.max_held_samples in (b) and (c).
	MaxHeldSamples int
	// MaxSeries is series_guard's series_limits.max_series in (c).
	MaxSeries int
	// Budget bounds the whole session; the scale runs that would not fit are skipped, with the
	// reason reported.
	Budget time.Duration
	// ProfileDir receives CPU and heap profiles; empty: no profiles.
	ProfileDir    string
	ProfileLength time.Duration
	FloorDuration time.Duration
	// CollectorEnv is added to every collector's environment ("K=V").
	CollectorEnv []string
	// ExtraAttributes adds that many of ExtraAttributes to every data point of the load.
	ExtraAttributes int
	// OverheadRounds, OverheadBurst and OverheadRate shape the series_guard overhead
	// measurement (Overhead): rounds, the duration of each burst at the rate, the rate.
	OverheadRounds int
	OverheadBurst  time.Duration
	OverheadRate   float64
	// OverheadTogether feeds both collectors of a pair at the same time in each round (else
	// in turn).
	OverheadTogether bool
	Log              io.Writer
}

// RunResult is one run of one pipeline.
type RunResult struct {
	Pipeline string
	Round    int
	Series   int
	// Seconds is the measured interval; Samples what the sink received in it.
	Seconds float64
	Samples int64
	Rate    float64
	// InputRate is what the collector accepted per second in the same interval; HeldStart and
	// HeldEnd are ordered_rw's held samples at its ends. In a steady state InputRate ≈ Rate and
	// the held samples do not drift.
	InputRate          float64
	HeldStart, HeldEnd int64
	// CPUSeconds the collector used in the interval (utime+stime); CPUPerMillion per million
	// samples received; Cores = CPUSeconds / Seconds.
	CPUSeconds    float64
	CPUPerMillion float64
	Cores         float64
	// SystemSeconds is the kernel's part of CPUSeconds; MinorFaults the pages the collector
	// touched fresh in the interval (each one zeroed by the kernel, in SystemSeconds).
	SystemSeconds float64
	MinorFaults   int64
	// ScrapesPerSecond is how often the driver scraped the process' /metrics for the held
	// samples in the measured interval (see Driver.HeldEvery).
	ScrapesPerSecond float64
	// DriverCPUPerMillion is this process' CPU (load driver and sink) per million samples.
	DriverCPUPerMillion float64
	Memory              ProcMemory
	// After the load stopped and held samples drained (scale runs only): live heap after a
	// forced GC, and resident memory then.
	LiveHeap int64
	IdleRSS  int64
	// Start is the process' resident memory once started and ready, before any load (the
	// same moment for the collector and vmagent).
	Start ProcMemory
	// FillPass is the second pass over the series (scale runs only): every series is then
	// seen for the second time, which is when ordered_rw's encoder caches its labels, so this
	// is what a new series costs. Zero when no second pass was seen.
	FillPass PassCost
	// WarmupPasses is how many whole passes the scale run warmed up: two, then until the
	// resident high-water mark grew by less than 2 % over a pass (warmMemory).
	WarmupPasses int
	// MemStats is the collector's runtime.MemStats at the end of the measured interval, from
	// pprof's heap?debug=1 ("# NextGC = 1234" becomes "NextGC"); nil for vmagent.
	MemStats  map[string]int64
	Sink      SinkCounts
	Driver    DriverCounts
	Telemetry map[string]float64
	Err       error
}

// PassCost is the collector's CPU over one pass of the load, per sample the collector
// accepted in it (not delivered: with a hold-back, samples are delivered a window later).
type PassCost struct {
	Seconds       float64
	Accepted      int64
	CPUSeconds    float64
	CPUPerMillion float64
}

// passMark is the state at the moment a pass over the series ended.
type passMark struct {
	at       time.Time
	cpu      float64
	accepted int64
}

// watchPasses records the moment the load's first and second passes over the series end (all
// senders), with the collector's CPU then, until ctx is done; marks[i] is set once, for pass
// i+1, and ready[i] closed when it is.
func watchPasses(ctx context.Context, d *Driver, pid int, marks *[2]passMark, ready *[2]chan struct{}) {
	next := 0
	for next < len(marks) && ctx.Err() == nil {
		passes := d.Counts().Passes
		for next < len(marks) && passes >= int64(next+1) {
			cpu, _ := ProcCPUSeconds(pid)
			marks[next] = passMark{at: time.Now(), cpu: cpu, accepted: d.accepted.Load()}
			close(ready[next])
			next++
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Bench holds what the runs share: the sink, the pre-built load, the pipelines.
type Bench struct {
	Opts      Options
	Sink      *Sink
	Load      *Load
	Pipelines []Pipeline
	Started   time.Time
}

// New starts the sink, checks the binary and builds the load for the largest series count.
func New(opts Options) (*Bench, error) {
	b := &Bench{Opts: opts, Started: time.Now()}
	if opts.Log == nil {
		b.Opts.Log = io.Discard
	}
	var err error
	b.Pipelines, err = Pipelines(opts.Binary, opts.GatewayBinary, opts.VMAgent, opts.RepoRoot, opts.MaxHeldSamples, opts.MaxSeries)
	if err != nil {
		return nil, err
	}
	series := opts.Series
	for _, s := range opts.ScaleSeries {
		series = max(series, s)
	}
	start := time.Now()
	b.Load, err = BuildLoadWithAttributes(series, opts.PointsPerRequest, opts.ExtraAttributes)
	if err != nil {
		return nil, err
	}
	b.logf("built %d OTLP requests (%d series, %.0f MB) in %.1fs", len(b.Load.Requests), series,
		float64(b.Load.Bytes(len(b.Load.Requests)))/1e6, time.Since(start).Seconds())
	b.Sink, err = StartSink()
	return b, err
}

// Close stops the sink.
func (b *Bench) Close() { _ = b.Sink.Close() }

func (b *Bench) logf(format string, args ...any) {
	fmt.Fprintf(b.Opts.Log, "[%5.0fs] "+format+"\n", append([]any{time.Since(b.Started).Seconds()}, args...)...)
}

// Pipeline returns the pipeline with key.
func (b *Bench) Pipeline(key string) (Pipeline, bool) {
	for _, p := range b.Pipelines {
		if p.Key == key {
			return p, true
		}
	}
	return Pipeline{}, false
}

// runKind says what a run does beyond measuring throughput.
type runKind struct {
	// scale: warm up and measure over whole passes of the series, then measure memory at rest.
	scale bool
	// rate caps the samples per second sent (0: as fast as the collector takes them).
	rate float64
	// cpuProfile: fetch a CPU profile over the measured interval, saved under this name.
	cpuProfile string
}

// Run runs pipeline p once with `series` series.
func (b *Bench) Run(p Pipeline, series, round int, kind runKind) RunResult {
	res := RunResult{Pipeline: p.Key, Round: round, Series: series}
	res.Err = fleettest.RunScoped(b.Opts.Log, func(s *fleettest.Scope) { b.run(s, p, series, kind, &res) })
	if res.Err != nil {
		b.logf("(%s) round %d, %d series: FAILED: %v", p.Key, round, series, res.Err)
	} else {
		b.logf("(%s) round %d, %d series: %.0f samples/s, %.2f CPU s/M samples, %.2f cores, peak RSS %.0f MB, senders waiting %.0f%%, answer %.1fms, backlog stalls %d, refused %d, /metrics scraped %.2f times a second",
			p.Key, round, series, res.Rate, res.CPUPerMillion, res.Cores, float64(res.Memory.PeakRSS)/1e6, 100*res.Driver.WaitFraction, float64(res.Driver.PostLatency.Microseconds())/1000, res.Driver.Stalls, res.Driver.Refused, res.ScrapesPerSecond)
		if m := res.MemStats; m != nil {
			b.logf("(%s) at the end of the measured interval: RSS %.0f MB (anon %.0f, file %.0f); Go heap in use %.0f MB, free kept %.0f MB, returned %.0f MB, next GC at %.0f MB; stacks %.0f MB, runtime %.0f MB; %d GCs",
				p.Key, float64(res.Memory.RSS)/1e6, float64(res.Memory.RSSAnon)/1e6, float64(res.Memory.RSSFile)/1e6,
				float64(m["HeapInuse"])/1e6, float64(m["HeapIdle"]-m["HeapReleased"])/1e6, float64(m["HeapReleased"])/1e6, float64(m["NextGC"])/1e6,
				float64(m["StackSys"])/1e6, float64(runtimeSys(m))/1e6, m["NumGC"])
		}
		if res.Samples > 0 {
			b.logf("(%s) measured interval: %.0f%% of the CPU in the kernel, %.1f minor page faults per 1,000 samples",
				p.Key, 100*res.SystemSeconds/res.CPUSeconds, float64(res.MinorFaults)/(float64(res.Samples)/1000))
		}
	}
	return res
}

func (b *Bench) run(s *fleettest.Scope, p Pipeline, series int, kind runKind, res *RunResult) {
	b.Sink.Reset()
	otlp := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s))
	pprof := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s))
	health := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s))
	var c agent
	if p.Agent != "" {
		c = startVMAgent(s, p.Agent, otlp, b.Sink.URL())
		if p.AgentPprof {
			// The peer serves /debug/pprof/ beside OTLP, on its one listen address.
			pprof = otlp
		}
	} else {
		c = p.start(s, append(p.Env(otlp, b.Sink.URL(), pprof, health), b.Opts.CollectorEnv...))
	}
	pid := c.Pid()
	// Resident memory at rest before any load: the binary's fixed cost (its start-up, the
	// pages of the binary it touched), the baseline every figure below adds to.
	time.Sleep(time.Second)
	if m, err := ReadProcMemory(pid); err == nil {
		res.Start = m
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &Driver{
		Endpoint:   otlp,
		Path:       p.OTLPPath,
		Load:       b.Load,
		Requests:   b.Load.RequestsFor(series),
		Senders:    b.Opts.Senders,
		MaxBacklog: b.Opts.MaxBacklog,
		Sink:       b.Sink,
		Rate:       kind.rate,
		// At saturation the backlog sits at its bound, which needs the held count fresh: every
		// process is scraped every MinHeldEvery, the peer too. At a fixed rate the rate paces
		// the senders and the bound is only a safeguard: a scrape every DefaultHeldEvery (a
		// realistic Prometheus interval), and one at once whenever the bound is reached.
		HeldEvery: heldEvery(kind.rate),
	}
	go d.WatchHeld(ctx, c.MetricsURL())
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	// FLEETBENCH_DEBUG=1 prints the driver's view twice a second (accepted, delivered, held):
	// how the steady-state warm-up was found.
	if os.Getenv("FLEETBENCH_DEBUG") != "" {
		go func() {
			for ctx.Err() == nil {
				time.Sleep(500 * time.Millisecond)
				b.logf("debug: accepted %d, sink %d, held %d, passes %d", d.accepted.Load(), b.Sink.Samples(), d.held.Load(), d.Counts().Passes)
			}
		}()
	}
	driverDone := make(chan struct{})
	go func() {
		defer close(driverDone)
		d.Run(sendCtx)
	}()
	var marks [2]passMark
	ready := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	if kind.scale {
		go watchPasses(ctx, d, pid, &marks, &ready)
	}

	// Warm up: past the hold-back window; for scale runs, until every series was sent twice.
	// ordered_rw's encoder caches a series' labels when it sees the series the second time:
	// measuring from the end of the first pass would measure that cache being filled (at 1M
	// series and 100k samples/s a pass is 10 s, so the measured pass was exactly the filling
	// one). That pass is reported on its own (FillPass).
	maxWait := b.Opts.Warmup + 3*time.Minute
	waitUntil(s, c, b.Opts.Warmup, maxWait, func() bool { return !kind.scale || d.Counts().Passes >= 2 }, "two warm-up passes")
	if kind.scale {
		<-ready[1]
		m1, m2 := marks[0], marks[1]
		res.FillPass = PassCost{Seconds: m2.at.Sub(m1.at).Seconds(), Accepted: m2.accepted - m1.accepted, CPUSeconds: m2.cpu - m1.cpu}
		if res.FillPass.Accepted > 0 {
			res.FillPass.CPUPerMillion = res.FillPass.CPUSeconds / (float64(res.FillPass.Accepted) / 1e6)
		}
		res.WarmupPasses = 2 + b.warmMemory(s, c, d, pid, series, maxWait)
	}
	d.RefreshHeld(ctx, c.MetricsURL())
	accepted0, held0, scrapes0 := d.accepted.Load(), d.held.Load(), d.scrapes.Load()
	sink0 := b.Sink.Samples()
	cpu0 := mustCPU(s, pid)
	times0, _ := ReadProcTimes(pid)
	self0 := mustCPU(s, os.Getpid())
	t0 := time.Now()

	var profileDone chan error
	if kind.cpuProfile != "" && p.CPUProfiles() {
		profileDone = make(chan error, 1)
		go func() {
			profileDone <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprof, int(b.Opts.ProfileLength.Seconds())),
				filepath.Join(b.Opts.ProfileDir, kind.cpuProfile))
		}()
	}
	measure := b.Opts.Measure
	if profileDone != nil {
		measure = max(measure, b.Opts.ProfileLength+time.Second)
	}
	// Scale runs measure at least one whole pass: as many samples accepted as there are series
	// (the senders cycle through the series, so any such stretch sends each about once).
	waitUntil(s, c, measure, maxWait, func() bool { return !kind.scale || d.accepted.Load()-accepted0 >= int64(series) }, "measured pass")
	sink1 := b.Sink.Samples()
	accepted1, scrapes1 := d.accepted.Load(), d.scrapes.Load()
	cpu1 := mustCPU(s, pid)
	times1, _ := ReadProcTimes(pid)
	self1 := mustCPU(s, os.Getpid())
	res.Seconds = time.Since(t0).Seconds()
	res.ScrapesPerSecond = float64(scrapes1-scrapes0) / res.Seconds
	d.RefreshHeld(ctx, c.MetricsURL())
	held1 := d.held.Load()
	mem, err := ReadProcMemory(pid)
	if err != nil {
		s.Fatal(err)
	}
	res.Memory = mem
	if p.Pprof {
		// The Go runtime's own account of that memory, at the same moment.
		if ms, err := FetchMemStats(fmt.Sprintf("http://%s/debug/pprof/heap?debug=1", pprof)); err == nil {
			res.MemStats = ms
		} else {
			b.logf("(%s) memstats: %v", p.Key, err)
		}
	}
	if profileDone != nil {
		if err := <-profileDone; err != nil {
			s.Errorf("cpu profile: %v", err)
		}
	}
	res.Telemetry, _ = fleettest.TryScrapeMetrics(c.MetricsURL())
	if kind.scale && p.Pprof && b.Opts.ProfileDir != "" {
		// The heap under load, as of the last GC: per-series state plus held samples and
		// requests in flight.
		path := filepath.Join(b.Opts.ProfileDir, fmt.Sprintf("heap-load-%s-%d.pprof", p.Key, series))
		if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap", pprof), path); err != nil {
			s.Errorf("heap profile: %v", err)
		}
	}

	res.Samples = sink1 - sink0
	res.Rate = float64(res.Samples) / res.Seconds
	res.InputRate = float64(accepted1-accepted0) / res.Seconds
	res.HeldStart, res.HeldEnd = held0, held1
	res.CPUSeconds = cpu1 - cpu0
	res.SystemSeconds = times1.System - times0.System
	res.MinorFaults = times1.MinorFaults - times0.MinorFaults
	res.Cores = res.CPUSeconds / res.Seconds
	if res.Samples > 0 {
		res.CPUPerMillion = res.CPUSeconds / (float64(res.Samples) / 1e6)
		res.DriverCPUPerMillion = (self1 - self0) / (float64(res.Samples) / 1e6)
	}

	stopSending()
	<-driverDone
	if kind.scale {
		// Memory at rest: no load, nothing held, every accepted sample delivered. What is left
		// on the heap after a GC is the per-series state (and the collector's fixed cost).
		drained := func() bool {
			d.WantHeld()
			return d.held.Load() == 0 && b.Sink.Samples() >= d.accepted.Load()
		}
		waitUntil(s, c, 0, 30*time.Second, drained, "held samples to drain")
		heap := ""
		if b.Opts.ProfileDir != "" && p.Pprof {
			heap = filepath.Join(b.Opts.ProfileDir, fmt.Sprintf("heap-rest-%s-%d.pprof", p.Key, series))
		}
		if p.Pprof {
			// ?gc=1 runs a garbage collection before the profile is written.
			if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", pprof), heap); err != nil {
				s.Errorf("heap profile: %v", err)
			}
		}
		// The collector reads runtime.MemStats at most once a second: wait past that so the
		// value is from after the GC.
		time.Sleep(1100 * time.Millisecond)
		if p.Agent == "" {
			m := fleettest.ScrapeMetrics(s, c.MetricsURL())
			res.LiveHeap = int64(fleettest.Sum(m, "otelcol_process_runtime_heap_alloc_bytes", nil))
		}
		if idle, err := ReadProcMemory(pid); err == nil {
			res.IdleRSS = idle.RSS
		}
	}
	res.Sink = b.Sink.Counts()
	res.Driver = d.Counts()
	cancel()
	c.Stop(s)
}

// heldEvery is how often a run scrapes the held samples when the backlog bound does not ask
// sooner: MinHeldEvery at saturation (rate 0), DefaultHeldEvery at a fixed rate.
func heldEvery(rate float64) time.Duration {
	if rate > 0 {
		return DefaultHeldEvery
	}
	return MinHeldEvery
}

// maxMemoryWarmupPasses bounds the passes warmMemory adds.
const maxMemoryWarmupPasses = 6

// warmMemory warms up whole passes more until the process' resident high-water mark grew by
// less than 2 % over one, and returns how many it added. Every series is cached after two
// passes, but the Go heap keeps growing into its GOGC headroom for a few more at a large heap:
// at 1M series (a 1 GB heap) the third pass still had a third of the collector's CPU in the
// kernel, 63 page faults per 1,000 samples (fresh pages zeroed), against 0.3 once grown.
func (b *Bench) warmMemory(s *fleettest.Scope, c agent, d *Driver, pid, series int, maxWait time.Duration) int {
	hwm := func() int64 {
		m, err := ReadProcMemory(pid)
		if err != nil {
			s.Fatal(err)
		}
		return m.PeakRSS
	}
	for extra := 0; extra < maxMemoryWarmupPasses; extra++ {
		before, accepted := hwm(), d.accepted.Load()
		waitUntil(s, c, 0, maxWait, func() bool { return d.accepted.Load()-accepted >= int64(series) }, "a warm-up pass for memory")
		if after := hwm(); after-before <= before/50 {
			return extra + 1
		}
	}
	b.logf("resident memory still growing after %d warm-up passes; measuring anyway", 2+maxMemoryWarmupPasses)
	return maxMemoryWarmupPasses
}

// waitUntil waits at least min and until cond holds, failing the run after max or when the
// collector exits.
func waitUntil(s *fleettest.Scope, c agent, minWait, maxWait time.Duration, cond func() bool, what string) {
	start := time.Now()
	for {
		if c.Exited() {
			s.Fatalf("collector exited while waiting for %s:\n%s", what, tailString(c.Logs(), 3000))
		}
		elapsed := time.Since(start)
		if elapsed >= minWait && cond() {
			return
		}
		if elapsed > maxWait {
			s.Fatalf("timed out after %s waiting for %s", maxWait, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustCPU(s *fleettest.Scope, pid int) float64 {
	v, err := ProcCPUSeconds(pid)
	if err != nil {
		s.Fatal(err)
	}
	return v
}

// fetch GETs url and writes the body to path (or discards it when path is empty).
func fetch(url, path string) error {
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	var w io.Writer = io.Discard
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// FetchMemStats reads the runtime.MemStats that pprof's heap?debug=1 ends with, as lines
// "# Name = value" (the slices among them, such as PauseNs, are skipped).
func FetchMemStats(url string) (map[string]int64, error) {
	resp, err := (&http.Client{Timeout: time.Minute}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return parseMemStats(resp.Body)
}

// runtimeSys is what the Go runtime holds for itself: span, cache and GC metadata, profiling
// buckets, the rest.
func runtimeSys(m map[string]int64) int64 {
	return m["MSpanSys"] + m["MCacheSys"] + m["BuckHashSys"] + m["GCSys"] + m["OtherSys"]
}

func parseMemStats(r io.Reader) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok || strings.ContainsAny(name, " #") {
			continue
		}
		if v, err := strconv.ParseInt(value, 10, 64); err == nil {
			out[name] = v
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no runtime.MemStats in the heap profile: %v", sc.Err())
	}
	return out, sc.Err()
}

// PprofTop renders `go tool pprof -top` of a profile (empty string when go is not available).
func PprofTop(profile string, nodes int, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=" + strconv.Itoa(nodes)}, extra...)
	args = append(args, profile)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof failed: %v)\n%s", err, out)
	}
	return string(out)
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
