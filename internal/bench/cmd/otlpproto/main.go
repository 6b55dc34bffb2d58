// Command otlpproto runs fleetbench's (s) pipeline (OTLP in, batch, series_guard, ordered_rw
// stamp) on a built binary and feeds it the same load at a fixed rate over OTLP/HTTP or over
// OTLP/gRPC, alternating, one collector process per run, so that the receiver's two transports
// are compared on what they cost the collector: CPU, bytes allocated and garbage collections per
// sample, and peak RSS.
//
// Why it exists: at a fixed rate most of the gateway's garbage is the OTLP receiver's (lane
// gcwork, BENCHMARKS.md 2026-12-05), and the two transports differ in it: OTLP/HTTP reads every
// request body into a fresh slice (io.ReadAll, about twice the body in allocations), while the
// gRPC server reads frames into pooled buffers and pdata's gRPC codec returns them to its pool
// after unmarshalling. fleetbench's driver speaks OTLP/HTTP only. Loopback only.
//
//	go run ./internal/bench/cmd/otlpproto -binary distribution/_build/gateway/otelcol-fleet-gateway -rounds 3
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-fleet/otelcol-fleet/internal/bench"
	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// grpcReceiver is what stampPipeline adds to fleetbench's (s): the receiver's gRPC listener.
const grpcReceiver = `      grpc:
        endpoint: ${env:BENCH_OTLP_GRPC_ENDPOINT}
`

// stampPipeline is fleetbench's (s) (bench.StampPipeline) with the receiver listening on both
// transports.
func stampPipeline(maxSeries int) bench.Pipeline {
	p := bench.StampPipeline(maxSeries)
	http := "        endpoint: ${env:BENCH_OTLP_ENDPOINT}\n"
	if !strings.Contains(p.YAML, http) {
		fail(errors.New("(s) has no OTLP/HTTP endpoint to add gRPC beside"))
	}
	p.YAML = strings.Replace(p.YAML, http, http+grpcReceiver, 1)
	return p
}

type options struct {
	binary           string
	protocols        []string
	rounds           int
	series           int
	pointsPerRequest int
	senders          int
	rate             float64
	warmup, measure  time.Duration
	env              []string
}

// result is one run's figures over the measured interval.
type result struct {
	protocol      string
	samplesPerSec float64
	cpuPerSample  time.Duration
	gcs           int64
	allocPerSamp  float64
	nextGC        int64
	peakRSS       int64
}

func main() {
	var o options
	protocols := "http,grpc"
	flag.StringVar(&o.binary, "binary", fleettest.GatewayBinaryPath(), "collector binary")
	flag.StringVar(&protocols, "protocols", protocols, "transports run in each round, in this order: http, grpc")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every transport once, in a collector of its own")
	flag.IntVar(&o.series, "series", 200_000, "series, each sent once a pass")
	flag.IntVar(&o.pointsPerRequest, "points", 1000, "data points per OTLP request (fleetbench's default)")
	flag.IntVar(&o.senders, "senders", 8, "concurrent senders, each on its own connection")
	flag.Float64Var(&o.rate, "rate", 100_000, "samples per second (fleetbench's -scale-rate)")
	flag.DurationVar(&o.warmup, "warmup", 15*time.Second, "warm-up per run: ordered_rw caches a series' labels at its second sighting")
	flag.DurationVar(&o.measure, "measure", 20*time.Second, "measured interval per run")
	flag.Func("collector-env", "K=V added to the collector's environment (repeatable)", func(v string) error {
		o.env = append(o.env, v)
		return nil
	})
	flag.Parse()
	o.protocols = strings.Split(protocols, ",")
	for _, p := range o.protocols {
		if p != "http" && p != "grpc" {
			fail(fmt.Errorf("-protocols: want http or grpc, got %q", p))
		}
	}
	load, err := bench.BuildLoad(o.series, o.pointsPerRequest)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s, %d series, %.0f samples/s, %d senders, %d points a request, warm-up %s, measured %s\n\n",
		o.binary, o.series, o.rate, o.senders, o.pointsPerRequest, o.warmup, o.measure)
	fmt.Println("| round | transport | samples/s | CPU µs / sample | GCs | bytes allocated / sample | next GC | peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for round := 1; round <= o.rounds; round++ {
		for _, p := range o.protocols {
			var r result
			err := fleettest.RunScoped(os.Stderr, func(s *fleettest.Scope) { r = run(s, o, load, p) })
			if err != nil {
				fail(fmt.Errorf("round %d, %s: %w", round, p, err))
			}
			fmt.Printf("| %d | %s | %.0f | %.3f | %d | %.0f | %d MB | %.1f MB |\n", round, r.protocol, r.samplesPerSec,
				float64(r.cpuPerSample)/float64(time.Microsecond), r.gcs, r.allocPerSamp, r.nextGC>>20, float64(r.peakRSS)/(1<<20))
		}
	}
}

func run(s *fleettest.Scope, o options, load *bench.Load, protocol string) result {
	sink, err := bench.StartSink()
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { _ = sink.Close() })
	httpEndpoint := fmt.Sprintf("127.0.0.1:%d", fleettest.FreePort(s))
	grpcEndpoint := fmt.Sprintf("127.0.0.1:%d", fleettest.FreePort(s))
	pprofEndpoint := fmt.Sprintf("127.0.0.1:%d", fleettest.FreePort(s))
	healthEndpoint := fmt.Sprintf("127.0.0.1:%d", fleettest.FreePort(s))
	p := stampPipeline(5 * o.series)
	env := append(append(p.Env(httpEndpoint, sink.URL(), pprofEndpoint, healthEndpoint),
		"BENCH_OTLP_GRPC_ENDPOINT="+grpcEndpoint), o.env...)
	col := fleettest.StartBinaryWithArgs(s, o.binary, p.YAML, nil, env...)
	pid := col.Pid()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	// Each sender owns requests k, k+senders, ... and paces itself to its share of the rate.
	every := time.Duration(float64(o.pointsPerRequest*o.senders) / o.rate * float64(time.Second))
	for k := range o.senders {
		send, err := newSender(protocol, httpEndpoint, grpcEndpoint)
		if err != nil {
			s.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer send.close()
			var lastMillis int64
			next := time.Now()
			for ctx.Err() == nil {
				for j := k; j < len(load.Requests) && ctx.Err() == nil; j += o.senders {
					time.Sleep(time.Until(next))
					next = next.Add(every)
					req := load.Requests[j]
					// Strictly newer timestamps per sender, so every series stays in order.
					lastMillis = max(time.Now().UnixMilli(), lastMillis+1)
					req.SetTimestamp(lastMillis * int64(time.Millisecond))
					if err := send.post(ctx, req.Body); err != nil && ctx.Err() == nil {
						s.Errorf("%s: %v", protocol, err)
						return
					}
				}
			}
		}()
	}
	time.Sleep(o.warmup)
	cpu0, samples0, ms0 := cpuSeconds(s, pid), sink.Samples(), memStats(s, pprofEndpoint)
	time.Sleep(o.measure)
	cpu1, samples1, ms1 := cpuSeconds(s, pid), sink.Samples(), memStats(s, pprofEndpoint)
	mem, err := bench.ReadProcMemory(pid)
	if err != nil {
		s.Fatal(err)
	}
	samples := float64(samples1 - samples0)
	if samples <= 0 {
		s.Fatalf("%s: no samples reached the sink in the measured interval", protocol)
	}
	return result{
		protocol:      protocol,
		samplesPerSec: samples / o.measure.Seconds(),
		cpuPerSample:  time.Duration((cpu1 - cpu0) / samples * float64(time.Second)),
		gcs:           ms1["NumGC"] - ms0["NumGC"],
		allocPerSamp:  float64(ms1["TotalAlloc"]-ms0["TotalAlloc"]) / samples,
		nextGC:        ms1["NextGC"],
		peakRSS:       mem.PeakRSS,
	}
}

// sender posts one OTLP request body over one transport, on a connection of its own.
type sender struct {
	post  func(ctx context.Context, body []byte) error
	close func()
}

func newSender(protocol, httpEndpoint, grpcEndpoint string) (sender, error) {
	if protocol == "grpc" {
		conn, err := grpc.NewClient(grpcEndpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return sender{}, err
		}
		client := pmetricotlp.NewGRPCClient(conn)
		return sender{
			post: func(ctx context.Context, body []byte) error {
				// Decoded here, in the sender's process: what the collector does with it is measured.
				req := pmetricotlp.NewExportRequest()
				if err := req.UnmarshalProto(body); err != nil {
					return err
				}
				_, err := client.Export(ctx, req)
				return err
			},
			close: func() { _ = conn.Close() },
		}, nil
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	url := "http://" + httpEndpoint + "/v1/metrics"
	return sender{
		post: func(ctx context.Context, body []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-protobuf")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("HTTP status %d", resp.StatusCode)
			}
			return nil
		},
		close: client.CloseIdleConnections,
	}, nil
}

func cpuSeconds(s *fleettest.Scope, pid int) float64 {
	cpu, err := bench.ProcCPUSeconds(pid)
	if err != nil {
		s.Fatal(err)
	}
	return cpu
}

// memStats reads the runtime.MemStats fields the run needs from the pprof extension
// (bench.FetchMemStats, as fleetbench reads them).
func memStats(s *fleettest.Scope, pprofEndpoint string) map[string]int64 {
	out, err := bench.FetchMemStats("http://" + pprofEndpoint + "/debug/pprof/heap?debug=1")
	if err != nil {
		s.Fatal(err)
	}
	for _, name := range []string{"NumGC", "TotalAlloc", "NextGC"} {
		if _, ok := out[name]; !ok {
			s.Fatal(errors.New("no " + name + " in /debug/pprof/heap?debug=1"))
		}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "otlpproto:", err)
	os.Exit(1)
}
