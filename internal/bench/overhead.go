package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// OverheadPair is one pipeline measured without and with series_guard.
type OverheadPair struct {
	Name          string
	Without, With Pipeline
}

// withSeriesGuard adds series_guard after the batch processor of a minimal pipeline, with the
// same settings as (c): a series cap above the series sent, so every series is tracked.
func withSeriesGuard(p Pipeline, key, name string, maxSeries int) Pipeline {
	q := p
	q.Key, q.Name = key, name
	q.YAML = strings.Replace(p.YAML, "processors:\n", fmt.Sprintf(`processors:
  series_guard:
    series_limits:
      max_series: %d
`, maxSeries), 1)
	q.YAML = strings.Replace(q.YAML, "processors: [batch]", "processors: [batch, series_guard]", 1)
	q.Needs = append([]string{"series_guard"}, p.Needs...)
	return q
}

// OverheadPairs are the two pipelines of issue #3's overhead requirement: the stock exporter,
// (a) against (a) with series_guard, and ordered_rw, (b) against (c).
func (b *Bench) OverheadPairs() []OverheadPair {
	var pairs []OverheadPair
	if a, ok := b.Pipeline("a"); ok {
		g := withSeriesGuard(a, "a+g", "series_guard + stock prometheus_remote_write", b.Opts.MaxSeries)
		if a.Unavailable == "" {
			if have, err := BinaryComponents(b.Opts.Binary); err != nil || !have["series_guard"] {
				g.Unavailable = "not built yet: the binary has no series_guard"
			}
		}
		pairs = append(pairs, OverheadPair{Name: "stock prometheus_remote_write", Without: a, With: g})
	}
	bp, okb := b.Pipeline("b")
	cp, okc := b.Pipeline("c")
	if okb && okc {
		pairs = append(pairs, OverheadPair{Name: "ordered_rw", Without: bp, With: cp})
	}
	return pairs
}

// Burst is one collector's share of an overhead round: a fixed number of samples sent at a
// fixed rate, measured from the first request until the sink has received every sample.
type Burst struct {
	Samples int64
	// Seconds from the first request to the last sample delivered (ordered_rw holds each
	// sample for its window, so its bursts last that much longer).
	Seconds float64
	// CPUSeconds the collector used meanwhile (utime+stime, all threads).
	CPUSeconds float64
}

// CPUPerMillion is the collector's CPU seconds per million samples delivered.
func (x Burst) CPUPerMillion() float64 {
	if x.Samples == 0 {
		return math.NaN()
	}
	return x.CPUSeconds / (float64(x.Samples) / 1e6)
}

// OverheadRound is one round: each collector of the pair gets the same burst, one after the
// other, the order alternating from round to round.
type OverheadRound struct {
	Round int
	// Together: both collectors were fed at the same time (else in turn, WithoutFirst saying
	// which first).
	Together      bool
	WithoutFirst  bool
	Without, With Burst
}

// Ratio is the with-pipeline's CPU per sample over the without-pipeline's.
func (r OverheadRound) Ratio() float64 { return r.With.CPUPerMillion() / r.Without.CPUPerMillion() }

// OverheadResult is the measurement of one pair.
type OverheadResult struct {
	Pair   OverheadPair
	Rounds []OverheadRound
	// Profile is a CPU profile of the with-pipeline over a steady part of one more burst;
	// Shares splits it into parts of the pipeline.
	Profile    string
	Shares     []Share
	ProfileCPU float64 // CPU s per million samples of that burst
	Err        error
}

// overheadSide is one running collector of a pair, with its own sink.
type overheadSide struct {
	pipeline Pipeline
	c        *fleettest.Collector
	sink     *Sink
	// load is this side's copy of the request bodies: senders patch timestamps in place, and
	// in together mode both sides send at once.
	load  *Load
	otlp  string
	pprof string
}

// Overhead measures what series_guard adds to the CPU per sample of each pair. Both collectors
// of a pair run side by side for the whole measurement and are fed in turn, never together:
// each round sends the same number of samples, at the same fixed rate, from the same request
// bodies, first to one then to the other (the order alternating), and reads each collector's
// CPU from /proc over its own burst. A machine whose load drifts moves both halves of a round
// alike; the per-round ratios and their median are the figures to read.
func (b *Bench) Overhead(res *Results) {
	for _, pair := range b.OverheadPairs() {
		r := OverheadResult{Pair: pair}
		if why := pair.Without.Unavailable + pair.With.Unavailable; why != "" {
			r.Err = fmt.Errorf("%s", why)
			b.logf("overhead %s: %s", pair.Name, why)
		} else {
			r.Err = fleettest.RunScoped(b.Opts.Log, func(s *fleettest.Scope) { b.overhead(s, &r) })
			if r.Err != nil {
				b.logf("overhead %s: FAILED: %v", pair.Name, r.Err)
			}
		}
		res.Overhead = append(res.Overhead, r)
	}
}

// burstSamples is the samples of one burst: OverheadBurst at OverheadRate, in whole requests.
func (b *Bench) burstSamples(d time.Duration) int64 {
	per := int64(b.Opts.PointsPerRequest)
	n := int64(b.Opts.OverheadRate*d.Seconds()) / per * per
	return max(n, per)
}

func (b *Bench) overhead(s *fleettest.Scope, r *OverheadResult) {
	var sides [2]*overheadSide
	for i, p := range []Pipeline{r.Pair.Without, r.Pair.With} {
		sink, err := StartSink()
		if err != nil {
			s.Fatal(err)
		}
		s.Cleanup(func() { _ = sink.Close() })
		load := b.Load
		if i == 1 {
			load = b.Load.Clone()
		}
		side := &overheadSide{
			pipeline: p,
			sink:     sink,
			load:     load,
			otlp:     "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s)),
			pprof:    "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s)),
		}
		health := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(s))
		side.c = fleettest.StartCollector(s, p.YAML, append(p.Env(side.otlp, sink.URL(), side.pprof, health), b.Opts.CollectorEnv...)...)
		sides[i] = side
	}
	samples := b.burstSamples(b.Opts.OverheadBurst)
	// Warm-up: one unmeasured burst each, so that every series is admitted and tracked, and
	// each heap has grown to its working size, before anything is measured.
	for _, side := range sides {
		x := b.burst(s, side, samples, nil)
		b.logf("overhead %s: (%s) warm-up, %d samples, %.2f CPU s/M", r.Pair.Name, side.pipeline.Key, x.Samples, x.CPUPerMillion())
	}
	for round := 1; round <= b.Opts.OverheadRounds; round++ {
		o := OverheadRound{Round: round, WithoutFirst: round%2 == 1, Together: b.Opts.OverheadTogether}
		if o.Together {
			x := b.together(s, sides, samples)
			o.Without, o.With = x[0], x[1]
		} else if o.WithoutFirst {
			o.Without = b.burst(s, sides[0], samples, nil)
			o.With = b.burst(s, sides[1], samples, nil)
		} else {
			o.With = b.burst(s, sides[1], samples, nil)
			o.Without = b.burst(s, sides[0], samples, nil)
		}
		r.Rounds = append(r.Rounds, o)
		b.logf("overhead %s: round %d: (%s) %.3f, (%s) %.3f CPU s/M samples: ratio %.3f", r.Pair.Name, round,
			r.Pair.Without.Key, o.Without.CPUPerMillion(), r.Pair.With.Key, o.With.CPUPerMillion(), o.Ratio())
	}
	if b.Opts.ProfileDir != "" && r.Pair.With.Pprof {
		b.overheadProfile(s, sides[1], r)
	}
	for _, side := range sides {
		side.c.Stop(s)
	}
}

// overheadProfile profiles the with-pipeline over a steady stretch of one more burst: it
// starts once ordered_rw has begun to release (past its hold-back window), so the exporter's
// work is in the profile in its steady proportion.
func (b *Bench) overheadProfile(s *fleettest.Scope, side *overheadSide, r *OverheadResult) {
	if err := os.MkdirAll(b.Opts.ProfileDir, 0o755); err != nil {
		s.Errorf("profile: %v", err)
		return
	}
	window, _ := time.ParseDuration(HoldbackWindow)
	delay := window + time.Second
	path := filepath.Join(b.Opts.ProfileDir, "cpu-overhead-"+side.pipeline.Key+".pprof")
	done := make(chan error, 1)
	x := b.burst(s, side, b.burstSamples(delay+b.Opts.ProfileLength+time.Second), func() {
		go func() {
			time.Sleep(delay)
			done <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", side.pprof, int(b.Opts.ProfileLength.Seconds())), path)
		}()
	})
	if err := <-done; err != nil {
		s.Errorf("profile: %v", err)
		return
	}
	r.Profile, r.Shares, r.ProfileCPU = path, CPUShares(path), x.CPUPerMillion()
}

// burst is runBurst for the goroutine that owns the scope: an error ends the measurement.
func (b *Bench) burst(s *fleettest.Scope, side *overheadSide, samples int64, started func()) Burst {
	if err := forceGC(side); err != nil {
		s.Fatal(err)
	}
	x, err := b.runBurst(side, samples, started)
	if err != nil {
		s.Fatal(err)
	}
	return x
}

// forceGC has a collector run a garbage collection (the pprof extension's heap?gc=1).
//
// Every measured burst starts right after one: otherwise how many collections fall into a
// burst depends on where the previous burst left the heap, and that scatters the CPU of equal
// bursts by several percent, more than what is measured.
func forceGC(side *overheadSide) error {
	if !side.pipeline.Pprof {
		return nil
	}
	if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", side.pprof), ""); err != nil {
		return fmt.Errorf("(%s) forced GC: %w", side.pipeline.Key, err)
	}
	return nil
}

// runBurst sends samples to one collector at OverheadRate and waits until its sink has them
// all. started, when not nil, is called as the first request goes out. It may run in its own
// goroutine (it does not touch the scope).
func (b *Bench) runBurst(side *overheadSide, samples int64, started func()) (Burst, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d := &Driver{
		Endpoint: side.otlp,
		Load:     side.load,
		Requests: side.load.RequestsFor(b.Opts.Series),
		Senders:  b.Opts.Senders,
		// The rate is fixed, so no backlog bound: ordered_rw holds a whole window of samples.
		MaxBacklog: math.MaxInt64,
		Sink:       side.sink,
		Rate:       b.Opts.OverheadRate,
		Limit:      samples,
	}
	pid := side.c.Pid()
	sink0 := side.sink.Samples()
	cpu0, err := ProcCPUSeconds(pid)
	if err != nil {
		return Burst{}, err
	}
	t0 := time.Now()
	if started != nil {
		started()
	}
	d.Run(ctx)
	accepted := d.accepted.Load()
	for side.sink.Samples()-sink0 < accepted {
		if side.c.Exited() {
			return Burst{}, fmt.Errorf("(%s) collector exited during a burst:\n%s", side.pipeline.Key, tailString(side.c.Logs(), 3000))
		}
		if time.Since(t0) > time.Minute+b.Opts.OverheadBurst {
			return Burst{}, fmt.Errorf("(%s) %d of %d samples of a burst reached the sink", side.pipeline.Key, side.sink.Samples()-sink0, accepted)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cpu1, err := ProcCPUSeconds(pid)
	if err != nil {
		return Burst{}, err
	}
	x := Burst{Seconds: time.Since(t0).Seconds(), CPUSeconds: cpu1 - cpu0, Samples: side.sink.Samples() - sink0}
	if x.Samples != samples {
		return x, fmt.Errorf("(%s) burst delivered %d samples, %d were to be sent (%d accepted)", side.pipeline.Key, x.Samples, samples, accepted)
	}
	return x, nil
}

// together runs a burst on both collectors at the same time, each from its own copy of the
// request bodies, both starting right after a forced GC.
func (b *Bench) together(s *fleettest.Scope, sides [2]*overheadSide, samples int64) [2]Burst {
	for _, side := range sides {
		if err := forceGC(side); err != nil {
			s.Fatal(err)
		}
	}
	var (
		wg   sync.WaitGroup
		out  [2]Burst
		errs [2]error
	)
	for i := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = b.runBurst(sides[i], samples, nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[0], errs[1]); err != nil {
		s.Fatal(err)
	}
	return out
}

// tQuantile975 is Student's t 97.5% quantile by degrees of freedom (1-30); beyond, the normal
// quantile is close enough.
var tQuantile975 = [...]float64{0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// RatioInterval is the geometric mean of per-round ratios and its 95% confidence interval
// (Student's t over the rounds' log ratios): the range of overheads these rounds are
// consistent with, given how much they scatter. ok is false with fewer than two rounds.
func RatioInterval(ratios []float64) (mean, low, high float64, ok bool) {
	n := len(ratios)
	if n < 2 {
		return 0, 0, 0, false
	}
	var sum, sumSq float64
	for _, r := range ratios {
		l := math.Log(r)
		sum += l
		sumSq += l * l
	}
	m := sum / float64(n)
	sd := math.Sqrt(max(0, (sumSq-float64(n)*m*m)/float64(n-1)))
	t := 1.96
	if n-1 < len(tQuantile975) {
		t = tQuantile975[n-1]
	}
	half := t * sd / math.Sqrt(float64(n))
	return math.Exp(m), math.Exp(m - half), math.Exp(m + half), true
}

// WriteOverhead renders the overhead measurement as Markdown.
func (res *Results) WriteOverhead(w io.Writer) {
	o := res.Opts
	attrs := "one attribute (`series`)"
	if o.ExtraAttributes > 0 {
		attrs = fmt.Sprintf("%d attributes (`series` and %d more, the same on every point)", o.ExtraAttributes+1, o.ExtraAttributes)
	}
	samples := int64(0)
	for _, r := range res.Overhead {
		if len(r.Rounds) > 0 {
			samples = r.Rounds[0].Without.Samples
		}
	}
	fmt.Fprintf(w, "### series_guard overhead: %d series, %d rounds (%s in all)\n\n", o.Series, o.OverheadRounds, res.Duration.Round(time.Second))
	how := "one after the other (the order alternates)"
	if o.OverheadTogether {
		how = "both at the same time (so that load from other processes on the machine hits both alike)"
	}
	fmt.Fprintf(w, "Each round sends the same %d samples (gauges with %s, %d points per OTLP request, %d senders) at %.0f samples/s "+
		"to the pipeline without series_guard and to the same pipeline with it, %s, "+
		"each collector with its own sink; CPU is the collector's utime+stime over its burst, from the first request to the last "+
		"sample received, each burst starting right after a forced garbage collection. One unmeasured burst each first. "+
		"Median over rounds (min–max); the ratio is taken per round, then the median; the interval is the 95%% confidence "+
		"interval of the mean ratio (Student's t over the rounds' log ratios).\n\n",
		samples, attrs, o.PointsPerRequest, o.Senders, o.OverheadRate, how)
	fmt.Fprintln(w, "| pipeline | without series_guard: CPU s / M samples | with series_guard | with / without, per round | overhead (median) | all rounds pooled | mean, 95% confidence interval | series_guard in the with-pipeline's CPU profile |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range res.Overhead {
		if r.Err != nil && len(r.Rounds) == 0 {
			fmt.Fprintf(w, "| %s | failed: %s | | | | | | |\n", r.Pair.Name, oneLine(r.Err.Error()))
			continue
		}
		var without, with, ratio []float64
		var cpuWithout, cpuWith float64
		for _, x := range r.Rounds {
			without = append(without, x.Without.CPUPerMillion())
			with = append(with, x.With.CPUPerMillion())
			ratio = append(ratio, x.Ratio())
			cpuWithout += x.Without.CPUSeconds
			cpuWith += x.With.CPUSeconds
		}
		share := "not profiled"
		for _, sh := range r.Shares {
			if sh.Bucket == "series_guard" {
				share = fmt.Sprintf("%.1f%% (%.3f CPU s/M of %.2f)", 100*sh.Fraction, sh.Fraction*r.ProfileCPU, r.ProfileCPU)
			}
		}
		interval := "n/a"
		if m, lo, hi, ok := RatioInterval(ratio); ok {
			interval = fmt.Sprintf("%+.1f%% (%+.1f%% … %+.1f%%)", 100*(m-1), 100*(lo-1), 100*(hi-1))
		}
		fmt.Fprintf(w, "| %s: (%s) vs (%s) | %s | %s | %s | **%+.1f%%** | %+.1f%% | %s | %s |\n", r.Pair.Name, r.Pair.Without.Key, r.Pair.With.Key,
			spread(without, "%.3f"), spread(with, "%.3f"), spread(ratio, "%.3f"), 100*(median(ratio)-1), 100*(cpuWith/cpuWithout-1), interval, share)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every burst, in the order run:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pipeline | round | first | without: CPU s | s | CPU s / M | with: CPU s | s | CPU s / M | ratio |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range res.Overhead {
		for _, x := range r.Rounds {
			first := "(" + r.Pair.With.Key + ")"
			if x.Together {
				first = "together"
			} else if x.WithoutFirst {
				first = "(" + r.Pair.Without.Key + ")"
			}
			fmt.Fprintf(w, "| %s | %d | %s | %.2f | %.1f | %.3f | %.2f | %.1f | %.3f | %.3f |\n", r.Pair.Name, x.Round, first,
				x.Without.CPUSeconds, x.Without.Seconds, x.Without.CPUPerMillion(), x.With.CPUSeconds, x.With.Seconds, x.With.CPUPerMillion(), x.Ratio())
		}
	}
	for _, r := range res.Overhead {
		if r.Profile == "" {
			continue
		}
		fmt.Fprintf(w, "\nCPU profile of (%s), %s (`%s`), by part of the pipeline:\n\n", r.Pair.With.Key, r.Pair.With.Name, r.Profile)
		fmt.Fprintln(w, "| part | CPU s / M samples | share |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, sh := range r.Shares {
			if sh.Fraction >= 0.0005 {
				fmt.Fprintf(w, "| %s | %.3f | %.1f%% |\n", sh.Bucket, sh.Fraction*r.ProfileCPU, 100*sh.Fraction)
			}
		}
	}
}
