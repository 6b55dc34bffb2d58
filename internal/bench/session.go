package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results of a whole session.
type Results struct {
	Opts Options
	// Pipelines as run, in order (unavailable ones included, with their reason).
	Pipelines  []Pipeline
	Throughput []RunResult
	Scale      []RunResult
	// ScaleSkipped says which scale points were not run and why.
	ScaleSkipped []string
	Floor        []FloorResult
	Profiles     []Profile
	Overhead     []OverheadResult
	Idle         []IdleResult
	Duration     time.Duration
}

// Profile is a profile saved during the session, with its `go tool pprof -top` summary.
type Profile struct {
	Title, Path, Top string
	// Column heads the CPU-by-part table for CPU profiles; Shares and CPUPerMillion fill it.
	Column        string
	Shares        []Share
	CPUPerMillion float64
}

// Throughput runs every available pipeline of Opts.ThroughputKeys (all when empty) once per
// round, rotating the order each round so that no pipeline always runs first or last on a
// machine whose load drifts.
func (b *Bench) Throughput(res *Results) {
	var avail []Pipeline
	for _, p := range b.Pipelines {
		if len(b.Opts.ThroughputKeys) > 0 && !slices.Contains(b.Opts.ThroughputKeys, p.Key) {
			continue
		}
		if p.Unavailable == "" {
			avail = append(avail, p)
		} else {
			b.logf("(%s) %s: %s", p.Key, p.Name, p.Unavailable)
		}
	}
	for round := 1; round <= b.Opts.Rounds; round++ {
		for i := range avail {
			p := avail[(i+round-1)%len(avail)]
			res.Throughput = append(res.Throughput, b.Run(p, b.Opts.Series, round, runKind{}))
		}
	}
}

// ScaleKeys are the pipelines of the scale runs: Opts.ScaleKeys, (c) when empty.
func (b *Bench) ScaleKeys() []string {
	if len(b.Opts.ScaleKeys) == 0 {
		return []string{"c"}
	}
	return b.Opts.ScaleKeys
}

// Scale runs each pipeline of ScaleKeys at each series count, whole passes over the series,
// smallest count first, the pipelines one after the other at each count. A run whose estimated
// duration does not fit the remaining budget is skipped and reported.
func (b *Bench) Scale(res *Results, reserve time.Duration) {
	var ps []Pipeline
	for _, key := range b.ScaleKeys() {
		p, ok := b.Pipeline(key)
		switch {
		case !ok:
			res.ScaleSkipped = append(res.ScaleSkipped, fmt.Sprintf("(%s) no such pipeline", key))
		case p.Unavailable != "":
			res.ScaleSkipped = append(res.ScaleSkipped, fmt.Sprintf("(%s) %s", key, p.Unavailable))
		default:
			ps = append(ps, p)
		}
	}
	lastRate := map[string]float64{}
	for _, series := range b.Opts.ScaleSeries {
		for _, p := range ps {
			if rate := lastRate[p.Key]; rate > 0 {
				// Five passes at the last rate (two of warm-up, usually two more until the
				// resident memory stops growing, one measured), plus start-up, warm-up floor and
				// drain.
				est := time.Duration(5*float64(series)/rate*float64(time.Second)) + b.Opts.Warmup + 25*time.Second
				left := b.Opts.Budget - time.Since(b.Started) - reserve
				if est > left {
					res.ScaleSkipped = append(res.ScaleSkipped, fmt.Sprintf(
						"(%s) %d series: five passes at the %.0f samples/s measured at the previous point need about %s; %s of the %s budget was left",
						p.Key, series, rate, est.Round(time.Second), left.Round(time.Second), b.Opts.Budget))
					continue
				}
			}
			kind := runKind{scale: true, rate: b.Opts.ScaleRate}
			if b.Opts.ProfileDir != "" && p.CPUProfiles() {
				kind.cpuProfile = fmt.Sprintf("cpu-%s-%d.pprof", p.Key, series)
			}
			r := b.Run(p, series, 1, kind)
			res.Scale = append(res.Scale, r)
			if r.Err == nil {
				lastRate[p.Key] = r.Rate
			}
		}
	}
}

// Floor measures the pipeline-less cost of the same samples.
func (b *Bench) Floor(res *Results) error {
	n := b.Load.RequestsFor(b.Opts.Series)
	b.logf("floor: %d requests, %s each", n, b.Opts.FloorDuration)
	f, err := MeasureFloor(b.Load, n, b.Opts.FloorDuration)
	res.Floor = f
	return err
}

// Profiles takes a CPU profile of (a), (b) and (c) at saturation, one run each (not part of
// the measured figures: profiling costs a few percent), of those among Opts.ThroughputKeys when
// they are given (-only none: no such run).
func (b *Bench) Profiles(res *Results, keys ...string) {
	if b.Opts.ProfileDir == "" {
		return
	}
	if err := os.MkdirAll(b.Opts.ProfileDir, 0o755); err != nil {
		b.logf("profiles: %v", err)
		return
	}
	for _, key := range keys {
		p, ok := b.Pipeline(key)
		if !ok || p.Unavailable != "" || !p.Pprof {
			continue
		}
		if len(b.Opts.ThroughputKeys) > 0 && !slices.Contains(b.Opts.ThroughputKeys, key) {
			continue
		}
		name := "cpu-" + key + ".pprof"
		r := b.Run(p, b.Opts.Series, 0, runKind{cpuProfile: name})
		if r.Err != nil {
			continue
		}
		path := filepath.Join(b.Opts.ProfileDir, name)
		res.Profiles = append(res.Profiles, Profile{
			Title:         fmt.Sprintf("CPU (%s) %s at saturation (%.0f samples/s while profiled)", key, p.Name, r.Rate),
			Path:          path,
			Top:           PprofTop(path, 25),
			Column:        fmt.Sprintf("(%s) saturation, %s series", key, count(r.Series)),
			Shares:        CPUShares(path),
			CPUPerMillion: r.CPUPerMillion,
		})
	}
}

// ScaleProfiles summarises the profiles the scale runs saved: CPU over the measured interval,
// the heap under load and the heap at rest after a GC.
func (b *Bench) ScaleProfiles(res *Results) {
	for _, r := range res.Scale {
		if r.Err != nil {
			continue
		}
		for _, prof := range []struct{ file, title string }{
			{"cpu-%s-%d.pprof", "CPU (%s) at %d series, over the measured interval"},
			{"heap-load-%s-%d.pprof", "heap in use (%s) at %d series under load (as of the last GC)"},
			{"heap-rest-%s-%d.pprof", "heap in use (%s) at %d series at rest, after a GC"},
		} {
			path := filepath.Join(b.Opts.ProfileDir, fmt.Sprintf(prof.file, r.Pipeline, r.Series))
			if _, err := os.Stat(path); err != nil {
				continue
			}
			p := Profile{Title: fmt.Sprintf(prof.title, r.Pipeline, r.Series), Path: path}
			if strings.HasPrefix(prof.file, "heap") {
				p.Top = PprofTop(path, 20, "-sample_index=inuse_space")
			} else {
				p.Top = PprofTop(path, 20)
				p.Column = fmt.Sprintf("(%s) %s series at %s/s", r.Pipeline, count(r.Series), count(int(r.Rate+0.5)))
				p.Shares = CPUShares(path)
				p.CPUPerMillion = r.CPUPerMillion
			}
			res.Profiles = append(res.Profiles, p)
		}
	}
}

// count renders 100000 as 100k, 1000000 as 1M and 99871 as 100k.
func count(n int) string {
	switch {
	case n >= 999_500:
		return strconv.FormatFloat(math.Round(float64(n)/1e5)/10, 'f', -1, 64) + "M"
	case n >= 1000:
		return strconv.FormatFloat(math.Round(float64(n)/1e3), 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}
