// Command fleetbench is `make bench`: the built otelcol-fleet binary at saturation in four
// configurations (plus the stock gateway for reference) and vmagent, interleaved over several
// rounds; (c), its no-hold variant (s, stamp mode) and vmagent (v) at 100k, 200k and 1M active
// series; and the floor, the same work without a collector. It prints Markdown to stdout (and
// to -out) and progress to stderr.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/bench"
	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

func main() {
	var (
		opts      bench.Options
		scale     string
		scaleOnly string
		only      string
		out       string
		profiles  bool
		overhead  bool
		// collectorArgs are added to every collector's command line (-collector-args).
		collectorArgs []string
		argsVariants  bool
		idle          bool
		idleOpts      bench.IdleOptions
		idleKeys      string
	)
	root := fleettest.RepoRoot()
	flag.StringVar(&opts.Binary, "binary", filepath.Join(root, "distribution", "_build", "otelcol-fleet"), "collector binary")
	flag.StringVar(&opts.GatewayBinary, "gateway-binary", fleettest.GatewayBinaryPath(), "gateway-only binary (make build-gateway), run as pipeline (gw): (s) on it")
	flag.StringVar(&opts.VMAgent, "vmagent", filepath.Join(root, ".tools", "vmagent-"+bench.VMAgentVersion), "vmagent binary, run as pipeline (v) beside the collector (make bench builds it)")
	flag.IntVar(&opts.Rounds, "rounds", 3, "rounds of the throughput comparison")
	flag.DurationVar(&opts.Warmup, "warmup", 15*time.Second, "warm-up per run: ordered_rw accepts without releasing for the first 5s (its window), then drains that backlog; it reaches a steady state after about 12s here")
	flag.DurationVar(&opts.Measure, "measure", 10*time.Second, "measured interval per run")
	flag.IntVar(&opts.Series, "series", 100_000, "series in the throughput comparison")
	flag.StringVar(&scale, "scale", "100000,200000,1000000", "series counts of the scale runs; empty: none")
	flag.StringVar(&scaleOnly, "scale-only", "c,s,v", "comma-separated pipeline keys run at every scale point: (c), the no-hold (s), (s) on the gateway-only binary (gw) and the peer (v) beside it (make bench: c,s,gw,v)")
	flag.Float64Var(&opts.ScaleRate, "scale-rate", 100_000, "samples per second sent in the scale runs (0: at saturation); 100k/s is every series every 10s at 1M series, every 30s at 3M")
	flag.IntVar(&opts.Senders, "senders", 8, "concurrent OTLP senders")
	flag.IntVar(&opts.PointsPerRequest, "points", 1000, "data points per OTLP request")
	flag.Int64Var(&opts.MaxBacklog, "backlog", 200_000, "samples the collector may have accepted but not delivered (beyond ordered_rw's held samples)")
	flag.IntVar(&opts.MaxHeldSamples, "max-held", 5_000_000, "ordered_rw holdback.max_held_samples in (b) and (c)")
	flag.IntVar(&opts.MaxSeries, "max-series", 5_000_000, "series_guard series_limits.max_series in (c)")
	flag.DurationVar(&opts.Budget, "budget", 13*time.Minute, "time budget of the session; scale points that would not fit are skipped")
	flag.DurationVar(&opts.FloorDuration, "floor", 3*time.Second, "duration of each floor measurement")
	flag.DurationVar(&opts.ProfileLength, "profile-seconds", 8*time.Second, "CPU profile length")
	flag.BoolVar(&profiles, "profiles", true, "take CPU profiles of (a), (b), (c) at saturation, and CPU and heap profiles of the scale runs (a CPU profile of the peer (v) too, from its own /debug/pprof/)")
	flag.StringVar(&only, "only", "", "comma-separated pipeline keys to run in the throughput comparison (default: all)")
	flag.Func("collector-env", "K=V added to every collector's environment (repeatable), e.g. GOMEMLIMIT=1GiB", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want K=V, got %q", v)
		}
		opts.CollectorEnv = append(opts.CollectorEnv, v)
		return nil
	})
	flag.Func("collector-args", "argument added to every collector's command line (repeatable), e.g. --feature-gates=pdata.useProtoPooling", func(v string) error {
		collectorArgs = append(collectorArgs, v)
		return nil
	})
	flag.BoolVar(&argsVariants, "collector-args-variants", false, "run each collector pipeline both without and with -collector-args, the latter keyed <key>+ (e.g. -only b,b+,c,c+,v), interleaved in the same rounds")
	flag.BoolVar(&overhead, "overhead", false, "measure series_guard's CPU overhead instead (each pipeline without and with it, fed in turn at -overhead-rate; the other measurements are skipped)")
	flag.IntVar(&opts.OverheadRounds, "overhead-rounds", 6, "rounds of the overhead measurement")
	flag.DurationVar(&opts.OverheadBurst, "overhead-burst", 8*time.Second, "samples sent to each collector per overhead round, as a duration at -overhead-rate")
	flag.Float64Var(&opts.OverheadRate, "overhead-rate", 100_000, "samples per second sent in the overhead measurement")
	flag.BoolVar(&opts.OverheadTogether, "overhead-together", true, "feed both collectors of a pair at the same time in each round, so that load from other processes on the machine hits both alike (false: in turn, alternating the order)")
	flag.IntVar(&opts.ExtraAttributes, "extra-attributes", 0, fmt.Sprintf("attributes added to every data point besides series (0 to %d)", len(bench.ExtraAttributes)))
	flag.BoolVar(&idle, "idle", false, "measure idle and fixed costs instead (no load, per scrape of /metrics, at a trickle; the other measurements are skipped)")
	flag.StringVar(&idleKeys, "idle-only", "g,c,s,v", "comma-separated pipeline keys of -idle; g is distribution/config.yaml")
	flag.DurationVar(&idleOpts.Window, "idle-window", 30*time.Second, "length of each -idle phase")
	flag.DurationVar(&idleOpts.ScrapeEvery, "idle-scrape-every", 250*time.Millisecond, "scrape interval of -idle's scraped phase")
	flag.Float64Var(&idleOpts.TrickleRate, "idle-trickle", 1000, "samples per second of -idle's trickle phase")
	flag.StringVar(&out, "out", "", "also write the Markdown report to this file")
	flag.Parse()

	opts.RepoRoot = root
	if opts.Warmup < bench.MinSteadyWarmup {
		fmt.Fprintf(os.Stderr, "fleetbench: warning: -warmup %s is shorter than %s; ordered_rw figures will not be steady state\n", opts.Warmup, bench.MinSteadyWarmup)
	}
	opts.Log = os.Stderr
	for _, s := range strings.Split(scale, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			fail(fmt.Errorf("-scale: %w", err))
		}
		opts.ScaleSeries = append(opts.ScaleSeries, n)
	}
	if overhead || idle {
		opts.ScaleSeries = nil // the load is built for the largest series count: only -series
	}
	if profiles {
		opts.ProfileDir = filepath.Join(os.TempDir(), "fleetbench-profiles-"+time.Now().UTC().Format("20060102T150405"))
	}
	if _, err := os.Stat(opts.Binary); err != nil {
		fail(fmt.Errorf("collector binary: %w (run `make build`)", err))
	}
	// The collectors are started through fleettest, which runs the binary this names.
	if err := os.Setenv(fleettest.EnvBinary, opts.Binary); err != nil {
		fail(err)
	}

	// -only selects the pipelines of the throughput comparison; the scale runs take theirs from
	// -scale-only, so that (s) and (v) can stand beside (c) there without a throughput run.
	opts.ThroughputKeys = keys(only)
	opts.ScaleKeys = keys(scaleOnly)
	b, err := bench.New(opts)
	if err != nil {
		fail(err)
	}
	b.Pipelines = bench.WithCollectorArgs(b.Pipelines, collectorArgs, argsVariants)
	defer b.Close()
	res := &bench.Results{Opts: b.Opts, Pipelines: b.Pipelines}
	if overhead {
		b.Overhead(res)
		res.Duration = time.Since(b.Started)
		writeReport(out, b, opts, root, res.WriteOverhead)
		for _, r := range res.Overhead {
			if r.Err != nil {
				os.Exit(1)
			}
		}
		return
	}
	if idle {
		idleOpts.Keys = keys(idleKeys)
		res.Idle = b.Idle(idleOpts)
		res.Duration = time.Since(b.Started)
		writeReport(out, b, opts, root, func(w io.Writer) { res.WriteIdle(w, idleOpts) })
		return
	}
	if err := b.Floor(res); err != nil {
		fail(err)
	}
	b.Throughput(res)
	if profiles {
		b.Profiles(res, "a", "b", "c")
	}
	b.Scale(res, 10*time.Second)
	if profiles {
		b.ScaleProfiles(res)
	}
	res.Duration = time.Since(b.Started)
	writeReport(out, b, opts, root, res.Write)
	for _, r := range append(append([]bench.RunResult(nil), res.Throughput...), res.Scale...) {
		if r.Err != nil {
			os.Exit(1)
		}
	}
}

// writeReport writes the session's report, between its header (machine, source) and the
// profiles' folder, to stdout and to the -out file when there is one (left open until the
// program ends).
func writeReport(out string, b *bench.Bench, opts bench.Options, root string, body func(io.Writer)) {
	var w io.Writer = os.Stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			fail(err)
		}
		w = io.MultiWriter(os.Stdout, f)
	}
	fmt.Fprintf(w, "Machine: %s, %d cores (GOMAXPROCS %d), %s; %s/%s, %s. Binary %s.\n\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), memTotal(), runtime.GOOS, runtime.GOARCH, runtime.Version(), opts.Binary)
	fmt.Fprintf(w, "Source: %s. Run at %s UTC.\n\n", gitState(root), b.Started.UTC().Format("2006-01-02 15:04"))
	body(w)
	if opts.ProfileDir != "" {
		fmt.Fprintf(w, "\nProfiles: %s\n", opts.ProfileDir)
	}
}

// keys splits a comma-separated list of pipeline keys; "" is none.
func keys(list string) []string {
	var out []string
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fleetbench:", err)
	os.Exit(1)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown memory"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(v)
			if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
				return fmt.Sprintf("%.1f GiB RAM", kb/1024/1024)
			}
		}
	}
	return "unknown memory"
}

// gitState names the commit the binary was built from, and whether the tree had changes
// (the binary is built from the working tree).
func gitState(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown commit"
	}
	state := "commit " + strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		state += " with uncommitted changes in the work tree (" + strconv.Itoa(len(strings.Split(strings.TrimSpace(string(st)), "\n"))) + " files)"
	}
	return state
}
