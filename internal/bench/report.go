package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(v []float64, format string) string {
	if len(v) == 0 {
		return "n/a"
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 1 {
		return fmt.Sprintf(format, s[0])
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(s), s[0], s[len(s)-1])
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

// ratios returns, per round, metric(key)/metric(a) for the rounds where both ran.
func ratios(runs []RunResult, key string, metric func(RunResult) float64) []float64 {
	base := map[int]float64{}
	for _, r := range runs {
		if r.Pipeline == "a" && r.Err == nil {
			base[r.Round] = metric(r)
		}
	}
	var out []float64
	for _, r := range runs {
		if r.Pipeline == key && r.Err == nil && base[r.Round] > 0 {
			out = append(out, metric(r)/base[r.Round])
		}
	}
	return out
}

func collect(runs []RunResult, key string, metric func(RunResult) float64) []float64 {
	var out []float64
	for _, r := range runs {
		if r.Pipeline == key && r.Err == nil {
			out = append(out, metric(r))
		}
	}
	return out
}

// ran reports whether runs has any run of the pipeline key, failed or not.
func ran(runs []RunResult, key string) bool {
	for _, r := range runs {
		if r.Pipeline == key {
			return true
		}
	}
	return false
}

func telemetry(r RunResult, name string, labels map[string]string) float64 {
	return fleettest.Sum(r.Telemetry, name, labels)
}

// Write renders the results as Markdown.
func (res *Results) Write(w io.Writer) {
	o := res.Opts
	fmt.Fprintf(w, "### Pipeline throughput: %d series, %d rounds, interleaved\n\n", o.Series, o.Rounds)
	if o.Warmup < MinSteadyWarmup {
		fmt.Fprintf(w, "**Warm-up %s is shorter than %s: ordered_rw has not reached its steady state (it releases nothing for its first 5 s, then drains); its figures below are not valid.**\n\n", o.Warmup, MinSteadyWarmup)
	}
	if len(o.CollectorEnv) > 0 {
		fmt.Fprintf(w, "Collector environment added: `%s`.\n\n", strings.Join(o.CollectorEnv, " "))
	}
	fmt.Fprintf(w, "Each run: %s warm-up, %s measured; %d senders, %d points per OTLP request, backlog bound %d samples "+
		"(beyond ordered_rw's held samples, read from the process' /metrics every %s: every process, vmagent too, is scraped that often). "+
		"Median over rounds (min–max); ratios are per round against (a) of the same round, then the median.\n\n",
		o.Warmup, o.Measure, o.Senders, o.PointsPerRequest, o.MaxBacklog, MinHeldEvery)
	fmt.Fprintln(w, "| config | samples/s | ratio to (a) | collector CPU s / M samples | ratio to (a) | collector cores | peak RSS | RSS before load | driver+sink cores |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	rate := func(r RunResult) float64 { return r.Rate }
	cpu := func(r RunResult) float64 { return r.CPUPerMillion }
	for _, p := range res.Pipelines {
		if p.Unavailable != "" {
			fmt.Fprintf(w, "| (%s) %s | %s | | | | | | | |\n", p.Key, p.Name, p.Unavailable)
			continue
		}
		if !ran(res.Throughput, p.Key) {
			continue // measured only at the scale points, or not selected (-only)
		}
		rates := collect(res.Throughput, p.Key, rate)
		if len(rates) == 0 {
			fmt.Fprintf(w, "| (%s) %s | every run failed | | | | | | | |\n", p.Key, p.Name)
			continue
		}
		fmt.Fprintf(w, "| (%s) %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.Key, p.Name,
			spread(rates, "%.0f"),
			spread(ratios(res.Throughput, p.Key, rate), "%.2f"),
			spread(collect(res.Throughput, p.Key, cpu), "%.2f"),
			spread(ratios(res.Throughput, p.Key, cpu), "%.2f"),
			spread(collect(res.Throughput, p.Key, func(r RunResult) float64 { return r.Cores }), "%.2f"),
			spread(collect(res.Throughput, p.Key, func(r RunResult) float64 { return float64(r.Memory.PeakRSS) / 1e6 }), "%.0f MB"),
			spread(collect(res.Throughput, p.Key, func(r RunResult) float64 { return float64(r.Start.RSS) / 1e6 }), "%.0f MB"),
			spread(collect(res.Throughput, p.Key, func(r RunResult) float64 { return r.DriverCPUPerMillion * r.Rate / 1e6 }), "%.2f"))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every run, in the order run (order check = samples the sink saw older than / equal to the newest of their series):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| round | config | samples/s out | in / out | CPU s / M | cores | peak RSS | order check (older / equal) | senders waiting / answer | refused / stalls | held start → end (max) / early releases |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range res.Throughput {
		if r.Err != nil {
			fmt.Fprintf(w, "| %d | (%s) | failed: %s | | | | | | | | |\n", r.Round, r.Pipeline, oneLine(r.Err.Error()))
			continue
		}
		inOut := math.NaN()
		if r.Rate > 0 {
			inOut = r.InputRate / r.Rate
		}
		fmt.Fprintf(w, "| %d | (%s) | %.0f | %.2f | %.2f | %.2f | %s | %d / %d | %.0f%% / %.1f ms | %d / %d | %d → %d (%d) / %.0f |\n", r.Round, r.Pipeline, r.Rate,
			inOut, r.CPUPerMillion, r.Cores, mb(r.Memory.PeakRSS), r.Sink.OutOfOrder, r.Sink.Duplicates,
			100*r.Driver.WaitFraction, float64(r.Driver.PostLatency.Microseconds())/1000, r.Driver.Refused+r.Driver.Failed,
			r.Driver.Stalls, r.HeldStart, r.HeldEnd, r.Driver.HeldMax, telemetry(r, "otelcol_exporter_ordered_rw_released_samples", map[string]string{"reason": "early"}))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "### Scale: "+scaleTitle(res))
	fmt.Fprintln(w)
	rateText := "as fast as the collector takes them"
	if o.ScaleRate > 0 {
		rateText = fmt.Sprintf("at a fixed %.0f samples/s (so held samples and CPU per sample compare across series counts)", o.ScaleRate)
	}
	scrapeText := fmt.Sprintf("Each process' /metrics is scraped every %s (its held samples, for the backlog bound), as the throughput runs do.", MinHeldEvery)
	if o.ScaleRate > 0 {
		scrapeText = fmt.Sprintf("At a fixed rate the rate paces the senders and the backlog bound is a safeguard: each process' /metrics (ordered_rw's held samples) "+
			"is scraped every %s, a realistic Prometheus interval, and at once when the bound is reached (at most every %s); the last column says how often that was.", DefaultHeldEvery, MinHeldEvery)
	}
	fmt.Fprintf(w, "Samples sent %s. %s Warm-up until every series was sent twice (and at least %s), then whole passes more until the resident high-water mark grew by less than 2 %% over one "+
		"(the Go heap keeps growing into its GC headroom for a few passes at 1M series: fresh pages, faulted and zeroed by the kernel), then measured over at least one more whole pass: "+
		"ordered_rw's encoder caches a series' labels when it sees the series the second time, so the measured pass is the steady state, every series cached. "+
		"The second pass, when the labels are built and cached, is its own column (CPU per sample accepted in it: what a new series costs; "+
		"n/a with a hold-back, whose second pass is encoded a window later, overlapping the first and third). "+
		"RSS before load is read 1 s after the process is ready, before the first request, with its file-backed part (the binary's pages touched); "+
		"memory at rest is read after the load stopped, held samples drained and a GC ran (pprof heap?gc=1; vmagent's live heap is not read: it has no forced GC).\n", rateText, scrapeText, o.Warmup)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pipeline | active series | samples/s | CPU s / M | CPU s / M, second pass (labels cached) | RSS before load | peak RSS | peak RSS / series | live heap at rest | live heap / series | RSS at rest | guard active series | ordered_rw tracked series | held max | warm-up passes | /metrics scrapes / s | samples / remote-write request |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	ok := map[string][]RunResult{}
	for _, r := range res.Scale {
		if r.Err != nil {
			fmt.Fprintf(w, "| (%s) | %d | failed: %s | | | | | | | | | | | | | | |\n", r.Pipeline, r.Series, oneLine(r.Err.Error()))
			continue
		}
		ok[r.Pipeline] = append(ok[r.Pipeline], r)
		heap, heapPer := "n/a", "n/a"
		if r.LiveHeap > 0 {
			heap, heapPer = mb(r.LiveHeap), fmt.Sprintf("%.0f B", float64(r.LiveHeap)/float64(r.Series))
		}
		fmt.Fprintf(w, "| (%s) | %d | %.0f | %.2f | %s | %s | %s | %.0f B | %s | %s | %s | %.0f | %.0f | %d | %d | %.2f | %.0f |\n", r.Pipeline, r.Series, r.Rate, r.CPUPerMillion,
			fillText(r), rssText(r.Start), mb(r.Memory.PeakRSS), float64(r.Memory.PeakRSS)/float64(r.Series), heap, heapPer,
			mb(r.IdleRSS), telemetry(r, "otelcol_processor_series_guard_active_series", nil),
			telemetry(r, "otelcol_exporter_ordered_rw_tracked_series", nil), r.Driver.HeldMax, r.WarmupPasses, r.ScrapesPerSecond,
			float64(r.Sink.Samples)/float64(max(1, r.Sink.Requests)))
	}
	for _, s := range res.ScaleSkipped {
		fmt.Fprintf(w, "| skipped | %s | | | | | | | | | | | | | | | |\n", s)
	}
	res.writeMemoryBreakdown(w)
	var marginal [][]RunResult
	for _, key := range res.scaleKeys() {
		if len(ok[key]) >= 2 {
			marginal = append(marginal, ok[key])
		}
	}
	if len(marginal) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Marginal memory per active series (difference between two points, so the fixed cost cancels):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| pipeline | from → to | live heap at rest / series | RSS at rest / series | peak RSS / series |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, runs := range marginal {
			for i := 1; i < len(runs); i++ {
				lo, hi := runs[0], runs[i]
				n := float64(hi.Series - lo.Series)
				heap := "n/a"
				if lo.LiveHeap > 0 && hi.LiveHeap > 0 {
					heap = fmt.Sprintf("%.0f B", float64(hi.LiveHeap-lo.LiveHeap)/n)
				}
				fmt.Fprintf(w, "| (%s) | %d → %d | %s | %.0f B | %.0f B |\n", hi.Pipeline, lo.Series, hi.Series,
					heap, float64(hi.IdleRSS-lo.IdleRSS)/n, float64(hi.Memory.PeakRSS-lo.Memory.PeakRSS)/n)
			}
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "### The floor: no collector")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The same OTLP request bodies, one goroutine in the bench process, %s each.\n\n", o.FloorDuration)
	fmt.Fprintln(w, "| work | CPU s / M samples | samples/s per core | remote-write bytes / sample (snappy) |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, f := range res.Floor {
		fmt.Fprintf(w, "| %s | %.2f | %.0f | %.1f |\n", f.Name, f.CPUPerMillion, f.PerCore, f.BytesPerSample)
	}
	if a := collect(res.Throughput, "a", cpu); len(a) > 0 && len(res.Floor) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "(a)'s collector CPU per sample is %.1fx the translator floor and %.1fx the minimal floor.\n",
			median(a)/res.Floor[len(res.Floor)-1].CPUPerMillion, median(a)/res.Floor[0].CPUPerMillion)
	}
	fmt.Fprintln(w)
	res.writeShares(w)
	for _, p := range res.Profiles {
		fmt.Fprintf(w, "#### %s\n\n`%s`\n\n```\n%s```\n\n", p.Title, p.Path, trimPprof(p.Top))
	}
	fmt.Fprintf(w, "Session took %s.\n", res.Duration.Round(1e9))
}

// writeMemoryBreakdown renders, for the collector's scale runs, what its resident memory was
// made of at the end of the measured pass: the file-backed pages (the binary), and of the
// anonymous part what the Go runtime says it holds.
func (res *Results) writeMemoryBreakdown(w io.Writer) {
	var rows []RunResult
	for _, r := range res.Scale {
		if r.Err == nil && r.MemStats != nil {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The collector's resident memory at the end of the measured pass, by what holds it (Go's runtime.MemStats read from pprof at the same moment): "+
		"the heap's next GC is where the GC lets the heap grow to (GOGC 100: twice what the last GC left live); free kept is heap the runtime holds for reuse and has not returned to the OS; "+
		"the kernel's share of the CPU and the minor page faults (pages touched fresh, each zeroed by the kernel) are over the measured interval.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pipeline | active series | peak RSS | RSS then | of it file-backed (binary) | anonymous | Go heap in use | heap free kept | heap returned to OS | next GC at | stacks | runtime metadata | GCs | kernel share of CPU | minor page faults / 1k samples |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		m := r.MemStats
		kernel, faults := "n/a", "n/a"
		if r.CPUSeconds > 0 && r.Samples > 0 {
			kernel = fmt.Sprintf("%.0f%%", 100*r.SystemSeconds/r.CPUSeconds)
			faults = fmt.Sprintf("%.1f", float64(r.MinorFaults)/(float64(r.Samples)/1000))
		}
		fmt.Fprintf(w, "| (%s) | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", r.Pipeline, r.Series,
			mb(r.Memory.PeakRSS), mb(r.Memory.RSS), mb(r.Memory.RSSFile), mb(r.Memory.RSSAnon),
			mb(m["HeapInuse"]), mb(m["HeapIdle"]-m["HeapReleased"]), mb(m["HeapReleased"]), mb(m["NextGC"]),
			mb(m["StackSys"]), mb(runtimeSys(m)), m["NumGC"], kernel, faults)
	}
}

// rssText renders resident memory with its file-backed part (pages of the binary touched).
func rssText(m ProcMemory) string {
	return fmt.Sprintf("%s (%s file)", mb(m.RSS), mb(m.RSSFile))
}

// fillText renders the second pass' CPU per sample, with how long that pass took: n/a when
// the pipeline held samples back (the pass is then encoded a window later) or no pass was seen.
func fillText(r RunResult) string {
	switch {
	case r.Driver.HeldMax > 0:
		return "n/a (held)"
	case r.FillPass.Accepted == 0:
		return "n/a"
	}
	return fmt.Sprintf("%.2f (%.1f s)", r.FillPass.CPUPerMillion, r.FillPass.Seconds)
}

// trimPprof drops pprof's preamble lines about the binary and build id.
func trimPprof(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// writeShares renders the CPU profiles split by part of the pipeline, as CPU seconds per
// million samples (the run's figure times the part's share of the profile's samples).
func (res *Results) writeShares(w io.Writer) {
	var cols []Profile
	for _, p := range res.Profiles {
		if len(p.Shares) > 0 {
			cols = append(cols, p)
		}
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprintln(w, "### Where the CPU goes")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU seconds per million samples by part of the pipeline (share of the profile's samples), from the CPU profiles below. "+
		"A sample counts in the first row whose functions are on its stack, so allocation and GC assist count where they happen.")
	fmt.Fprintln(w)
	fmt.Fprint(w, "| part |")
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", c.Column)
	}
	fmt.Fprint(w, "\n|---|")
	for range cols {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for i, s := range cols[0].Shares {
		fmt.Fprintf(w, "| %s |", s.Bucket)
		for _, c := range cols {
			f := c.Shares[i].Fraction
			fmt.Fprintf(w, " %.2f (%.0f%%) |", f*c.CPUPerMillion, 100*f)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| **total** |")
	for _, c := range cols {
		fmt.Fprintf(w, " **%.2f** |", c.CPUPerMillion)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
}

// scaleKeys are the pipelines of the scale runs, in the order they ran.
func (res *Results) scaleKeys() []string {
	var keys []string
	for _, r := range res.Scale {
		if !slices.Contains(keys, r.Pipeline) {
			keys = append(keys, r.Pipeline)
		}
	}
	return keys
}

// scaleTitle names the pipelines of the scale runs: "(c) series_guard + ordered_rw, (v) ...".
func scaleTitle(res *Results) string {
	var names []string
	for _, key := range res.scaleKeys() {
		for _, p := range res.Pipelines {
			if p.Key == key {
				names = append(names, fmt.Sprintf("(%s) %s", p.Key, p.Name))
			}
		}
	}
	if len(names) == 0 {
		return "no run"
	}
	return strings.Join(names, "; ")
}
