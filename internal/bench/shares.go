package bench

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// cpuBucket is a part of the pipeline, recognised by the functions on a CPU sample's stack.
type cpuBucket struct {
	Name  string
	Regex string
}

// cpuBuckets are checked in order: a sample counts in the first bucket whose regex matches a
// frame of its stack, so a bucket's share excludes the buckets above it (remote-write encoding
// called by ordered_rw counts as encoding, not as ordered_rw).
var cpuBuckets = []cpuBucket{
	{"garbage collection (background)", `runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.bgscavenge`},
	{"self-telemetry", `go\.opentelemetry\.io/otel/sdk|prometheus/client_golang|proctelemetry`},
	{"OTLP receive and decode", `collector/receiver/otlpreceiver|pmetricotlp`},
	{"series_guard", `seriesguardprocessor`},
	{"memory_limiter, resource, redaction", `memorylimiter|resourceprocessor|redactionprocessor`},
	{"OTLP → remote-write translation (contrib translator)", `translator/prometheusremotewrite`},
	{"remote-write marshal + snappy", `prompb\.|golang/snappy`},
	{"HTTP client (sending to the backend)", `net/http\.\(\*Transport\)|net/http\.\(\*persistConn\)|net/http\.\(\*Client\)|confighttp`},
	{"ordered_rw ordering (hold-back, shards, order check)", `orderedrwexporter`},
	{"prometheus_remote_write, rest", `prometheusremotewriteexporter`},
	{"batch processor, rest", `batchprocessor`},
	{"HTTP server, network, scheduler", `net/http|internal/poll|syscall|runtime\.netpoll`},
}

// Share is the fraction of a CPU profile's samples in a bucket.
type Share struct {
	Bucket   string
	Fraction float64
}

var accountingLine = regexp.MustCompile(`Showing nodes accounting for [^,]+, ([0-9.]+)% of`)

// CPUShares splits a CPU profile into cpuBuckets (and "other") with `go tool pprof -focus`
// and `-ignore`. It returns nil when go tool pprof is not available.
func CPUShares(profile string) []Share {
	var out []Share
	var above []string
	total := 0.0
	for _, b := range cpuBuckets {
		args := []string{"tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-focus=" + b.Regex}
		if len(above) > 0 {
			args = append(args, "-ignore="+strings.Join(above, "|"))
		}
		args = append(args, profile)
		raw, err := exec.Command("go", args...).CombinedOutput()
		if err != nil && !strings.Contains(string(raw), "matched no samples") {
			return nil
		}
		f := 0.0
		if m := accountingLine.FindStringSubmatch(string(raw)); m != nil {
			f, _ = strconv.ParseFloat(m[1], 64)
			f /= 100
		}
		out = append(out, Share{Bucket: b.Name, Fraction: f})
		total += f
		above = append(above, b.Regex)
	}
	return append(out, Share{Bucket: "other", Fraction: max(0, 1-total)})
}
