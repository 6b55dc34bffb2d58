package bench

import (
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// cpuBucket is a part of the pipeline, recognised by the functions on a CPU sample's stack.
type cpuBucket struct {
	Name  string
	Regex string
}

// cpuBuckets are checked in order: a sample counts in the first bucket whose regex matches a
// frame of its stack, so a bucket's share excludes the buckets above it (remote-write encoding
// called by ordered_rw counts as encoding, not as ordered_rw). The peer's functions are in the
// rows of the same work (vmagent's OTLP decoder, its remote-write marshal and snappy, its HTTP
// client), plus a row of its own for what its remote-write path does beside them, so that its
// profile stands beside ours row by row. The scheduler's row is the Go runtime looking for work,
// parking and waking goroutines and threads: the cost of a hand-off, the same code in both.
var cpuBuckets = []cpuBucket{
	{"garbage collection (background)", `runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.bgscavenge`},
	{"Go scheduler: finding work, parking and waking (findRunnable, netpoll, futex, sysmon)", `runtime\.schedule$|runtime\.findRunnable|runtime\.park_m|runtime\.sysmon|runtime\.wakep|runtime\.startm|runtime\.stopm|runtime\.exitsyscall0|runtime\.goschedImpl|runtime\.ready$|runtime\.notewakeup|runtime\.notesleep`},
	{"self-telemetry", `go\.opentelemetry\.io/otel/sdk|prometheus/client_golang|proctelemetry|VictoriaMetrics/metrics\.`},
	{"OTLP receive and decode", `collector/receiver/otlpreceiver|pmetricotlp|VictoriaMetrics/lib/protoparser/opentelemetry/pb\.|VictoriaMetrics/easyproto|VictoriaMetrics/lib/chunkedbuffer`},
	{"series_guard", `seriesguardprocessor`},
	{"memory_limiter, resource, redaction", `memorylimiter|resourceprocessor|redactionprocessor`},
	{"OTLP → remote-write translation (contrib translator)", `translator/prometheusremotewrite`},
	{"remote-write marshal + snappy", `prompb\.|golang/snappy`},
	{"HTTP client (sending to the backend)", `net/http\.\(\*Transport\)|net/http\.\(\*persistConn\)|net/http\.\(\*Client\)|otelhttp\.\(\*Transport\)`},
	{"ordered_rw ordering (hold-back, shards, order check)", `orderedrwexporter`},
	{"prometheus_remote_write, rest", `prometheusremotewriteexporter`},
	{"batch processor, rest", `batchprocessor`},
	{"vmagent's remote-write path, rest (rows into blocks, its queue)", `VictoriaMetrics/app/vmagent/remotewrite|VictoriaMetrics/app/vmagent/opentelemetry\.insertRows|VictoriaMetrics/lib/persistentqueue`},
	{"HTTP server, network", `net/http|internal/poll|syscall|runtime\.netpoll`},
}

// Share is the fraction of a CPU profile's samples in a bucket.
type Share struct {
	Bucket   string
	Fraction float64
}

var accountingLine = regexp.MustCompile(`Showing nodes accounting for [^,]+, ([0-9.]+)% of`)

// CPUShares splits a CPU profile into cpuBuckets (and "other") with `go tool pprof -focus`
// and `-ignore`. It returns nil when go tool pprof is not available. The buckets are read
// concurrently, as many at a time as there are cores (each is one pprof run over the whole
// profile: a session reads a dozen profiles, sixteen runs each).
func CPUShares(profile string) []Share {
	fractions := make([]float64, len(cpuBuckets))
	failed := make([]bool, len(cpuBuckets))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	var above []string
	for i, b := range cpuBuckets {
		args := []string{"tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-focus=" + b.Regex}
		if len(above) > 0 {
			args = append(args, "-ignore="+strings.Join(above, "|"))
		}
		above = append(above, b.Regex)
		args = append(args, profile)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			raw, err := exec.Command("go", args...).CombinedOutput()
			if err != nil && !strings.Contains(string(raw), "matched no samples") {
				failed[i] = true
				return
			}
			if m := accountingLine.FindStringSubmatch(string(raw)); m != nil {
				f, _ := strconv.ParseFloat(m[1], 64)
				fractions[i] = f / 100
			}
		})
	}
	wg.Wait()
	out := make([]Share, 0, len(cpuBuckets)+1)
	total := 0.0
	for i, b := range cpuBuckets {
		if failed[i] {
			return nil
		}
		out = append(out, Share{Bucket: b.Name, Fraction: fractions[i]})
		total += fractions[i]
	}
	return append(out, Share{Bucket: "other", Fraction: max(0, 1-total)})
}
