// Command fleetdemo runs the operating guide's gateway architecture in front of a person: two
// tiers of two gateways behind nginx, one with the stock prometheus_remote_write exporter and
// one with ordered_rw, fed the same deterministic load at one sample a second, into one real
// Prometheus. It shows a live progress line, prints the accounting table, then leaves the stack
// up with the URLs to look at until Ctrl-C. `make demo` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/e2e"
	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/loadgen"
)

func main() {
	series := flag.Int("series", 1000, "series per tier")
	steps := flag.Int("steps", 60, "samples per series, one a second")
	flag.Parse()

	// The stack's processes run in their own process groups: Ctrl-C reaches this program,
	// which stops them in order. A failure in any goroutine does the same, then exits 1.
	d := &fleettest.Scope{Log: os.Stdout}
	d.OnFatal = func(msg string) {
		fmt.Fprintln(os.Stderr, "fleetdemo:", msg)
		d.Close()
		os.Exit(1)
	}
	defer d.Close()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		fmt.Println("\nstopping the stack...")
		d.Close()
		os.Exit(0)
	}()

	fmt.Println("starting Prometheus, two tiers of two gateways behind nginx, and their agents...")
	prom := fleettest.StartPrometheus(d)
	gateways := func(config string) []e2e.Gateway {
		return []e2e.Gateway{
			{Config: config, BatchTimeout: 200 * time.Millisecond},
			{Config: config, BatchTimeout: 2300 * time.Millisecond},
		}
	}
	tiers := []struct {
		name   string
		metric string
		stack  *e2e.Stack
	}{
		{name: "stock prometheus_remote_write", metric: "fleet_demo_stock", stack: e2e.Start(d, e2e.Options{Prom: prom, Gateways: gateways("gateway-stock.yaml"), Agents: 1})},
		{name: "ordered_rw (holdback)", metric: "fleet_demo_ordered", stack: e2e.Start(d, e2e.Options{Prom: prom, Gateways: gateways("gateway.yaml"), Agents: 1})},
	}

	start := time.Now().Add(time.Second).Truncate(time.Millisecond)
	gens := make([]*loadgen.Generator, len(tiers))
	// The tiers share one Prometheus: its counters (out of order, dropped at commit) are both
	// tiers' together, in each tier's column of the table.
	before := tiers[0].stack.PromCounts()
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := make([]int, len(tiers))
	for i, tier := range tiers {
		// Each tier its own job: target_info is one series per job and instance, and the two
		// tiers must not write each other's.
		gens[i] = loadgen.New(loadgen.Config{Metric: tier.metric, Series: *series, Start: start, Interval: time.Second,
			ServiceName: tier.metric, ExtraResourceAttributes: map[string]string{"host.name": "node-a"}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			tier.stack.Send(*steps, func(step int) {
				mu.Lock()
				sent[i] = (step + 1) * *series
				mu.Unlock()
			}, gens[i])
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
		}
		line := fmt.Sprintf("\r%3.0fs", time.Since(start).Seconds())
		for i, tier := range tiers {
			stored := prom.QueryScalar(d, fmt.Sprintf("sum(count_over_time(%s[1h]))", tier.metric))
			mu.Lock()
			line += fmt.Sprintf(" | %s: sent %d, stored %.0f", tier.name, sent[i], stored)
			mu.Unlock()
		}
		line += fmt.Sprintf(" | out-of-order rejected %.0f", tiers[0].stack.PromCounts().Since(before).OutOfOrder)
		fmt.Print(line + "   ")
	}
	tick.Stop()
	fmt.Println("\nall sent; waiting for the gateways to drain...")
	results := make([]e2e.Result, len(tiers))
	for i, tier := range tiers {
		tier.stack.Drain(3*time.Second, time.Minute)
		results[i] = tier.stack.Collect(tier.name, gens[i], *steps, before)
	}
	fmt.Println()
	e2e.Table(os.Stdout, results...)
	fmt.Println("\n(out-of-order counts are Prometheus' total for the run, shared by both tiers)")

	fmt.Printf(`
The stack stays up until Ctrl-C. Look at:
  Prometheus, samples stored per tier:
    %s/graph?g0.expr=sum+by+(__name__)(count_over_time(%%7B__name__%%3D~%%22fleet_demo_.%%2B%%22%%7D%%5B1h%%5D))&g0.tab=1
  Prometheus' own out-of-order count:
    %s/graph?g0.expr=prometheus_tsdb_out_of_order_samples_total&g0.tab=1
`, prom.URL(), prom.URL())
	for _, tier := range tiers {
		fmt.Printf("  %s:\n", tier.name)
		for _, g := range tier.stack.Gateways {
			fmt.Printf("    %s status:    http://%s/status\n", g.Name, g.HealthEndpoint)
		}
		fmt.Printf("    fleet page:        http://%s/fleet.html\n", tier.stack.FleetView)
	}
	select {}
}
