package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/loadgen"
)

// Send feeds steps [0, steps) of each generator through the agents: step k leaves at its own
// timestamp in wall-clock time (the generators' Start should be now), to agent k mod
// len(agents), one request per generator and step, as a scraping agent would. progress, if
// set, is called after each step.
func (s *Stack) Send(steps int, progress func(step int), gens ...*loadgen.Generator) {
	s.t.Helper()
	for k := range steps {
		if d := time.Until(gens[0].Timestamp(k)); d > 0 {
			time.Sleep(d)
		}
		agent := s.Agents[k%len(s.Agents)]
		for _, gen := range gens {
			if err := fleettest.TrySendOTLP(agent.OTLPEndpoint, gen.Batch(k, 0, gen.Config().Series)); err != nil {
				s.t.Fatalf("step %d to %s: %v", k, agent.Name, err)
			}
		}
		if progress != nil {
			progress(k)
		}
	}
}

// pipelineCounters are the self-metrics whose sum stops moving once the stack has drained.
var pipelineCounters = regexp.MustCompile(`^otelcol_exporter_(sent|send_failed|enqueue_failed)_metric_points|^otelcol_exporter_ordered_rw_`)

// Drain waits until every node's exporters have stopped moving data (their counters are stable
// for quiet, and queues are empty), or timeout passes.
func (s *Stack) Drain(quiet, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	last, stableSince := "", time.Now()
	for time.Now().Before(deadline) {
		var b strings.Builder
		busy := false
		for _, n := range s.Nodes() {
			if n.Exited() {
				continue
			}
			m, err := fleettest.TryScrapeMetrics(n.MetricsURL())
			if err != nil {
				busy = true
				continue
			}
			if fleettest.Sum(m, "otelcol_exporter_queue_size", nil) > 0 {
				busy = true
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				if pipelineCounters.MatchString(k) {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "%s %s=%g\n", n.Name, k, m[k])
			}
		}
		if cur := b.String(); cur != last || busy {
			last, stableSince = cur, time.Now()
		} else if time.Since(stableSince) >= quiet {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	s.t.Logf("stack did not drain within %s", timeout)
}

// Result is one scenario's accounting.
type Result struct {
	Scenario string
	// Sent is the samples the load generator handed to the agents.
	Sent int
	// Stored counts expected samples found in Prometheus; Missing those not found; Wrong those
	// stored with another value; Duplicates those stored more than once (under several series).
	Stored, Missing, Wrong, Unexpected, Duplicates int
	// MissingSteps counts missing samples by load step, to tell a lost request from scattered loss.
	MissingSteps map[int]int
	// OutOfOrder is Prometheus' own count of out-of-order samples rejected during the scenario.
	OutOfOrder float64
	// DroppedAtCommit is what Prometheus dropped after accepting the request (see PromCounts):
	// out-of-order samples no sender was told about.
	DroppedAtCommit float64
	// Dropped is what each component counted as dropped or failed, by node and metric.
	Dropped map[string]float64
	// Ready is each node's readiness (fleet_health /readyz), "n/a" without one.
	Ready map[string]string
}

func missingSteps(gen *loadgen.Generator, expected, stored map[string]map[int64]float64) map[int]int {
	out := map[int]int{}
	start := gen.Timestamp(0).UnixMilli()
	interval := gen.Config().Interval.Milliseconds()
	for s, want := range expected {
		for ts := range want {
			if _, ok := stored[s][ts]; !ok {
				out[int((ts-start)/interval)]++
			}
		}
	}
	return out
}

// CountedDrops is the sum of every drop a component counted: the collectors' counters, and
// Prometheus' for the samples it dropped while answering 2xx, which no collector can count.
func (r Result) CountedDrops() float64 {
	total := r.DroppedAtCommit
	for _, v := range r.Dropped {
		total += v
	}
	return total
}

// Unaccounted is the number of missing samples that no component counted as dropped.
func (r Result) Unaccounted() int {
	if d := float64(r.Missing) - r.CountedDrops(); d > 0 {
		return int(d)
	}
	return 0
}

// dropCounters are the self-metrics that count data a component gave up on (or, for filter,
// dropped by configuration).
var dropCounters = regexp.MustCompile(`^otelcol_(exporter_(send_failed|enqueue_failed)_metric_points|receiver_refused_metric_points|processor_memory_limiter_refused_metric_points|processor_series_guard_refused_samples|processor_filter_datapoints_filtered|exporter_ordered_rw_\w*(dropped|rejected|undelivered)\w*)\b`)

// Collect reads back everything stored for gen's metric and every node's counters.
// before is Prometheus' counters when the scenario began.
func (s *Stack) Collect(name string, gen *loadgen.Generator, steps int, before PromCounts) Result {
	s.t.Helper()
	cfg := gen.Config()
	r := Result{Scenario: name, Sent: cfg.Series * steps, Dropped: map[string]float64{}, Ready: map[string]string{}}
	expected := gen.Expected(steps, 0, cfg.Series)
	stored := map[string]map[int64]float64{}
	// Generous: the query time is rounded to seconds, and step 0 sits right at Start.
	window := time.Since(cfg.Start) + 5*time.Minute
	for _, ser := range s.Prom.RawSamples(s.t, cfg.Metric, window) {
		label := ser.Labels["series"]
		if stored[label] == nil {
			stored[label] = map[int64]float64{}
		}
		for ts, v := range ser.Samples {
			if _, dup := stored[label][ts]; dup {
				r.Duplicates++
			}
			stored[label][ts] = v
		}
	}
	r.Missing, r.Wrong, r.Unexpected = loadgen.Diff(expected, stored)
	r.MissingSteps = missingSteps(gen, expected, stored)
	r.Stored = r.Sent - r.Missing
	during := s.PromCounts().Since(before)
	r.OutOfOrder = during.OutOfOrder
	r.DroppedAtCommit = during.DroppedAtCommit()
	for _, n := range s.Nodes() {
		if n.Exited() {
			r.Ready[n.Name] = "down"
			continue
		}
		m, err := fleettest.TryScrapeMetrics(n.MetricsURL())
		if err != nil {
			continue
		}
		for k, v := range m {
			if v != 0 && dropCounters.MatchString(k) {
				r.Dropped[n.Name+" "+k] += v
			}
		}
		r.Ready[n.Name] = n.Readiness()
	}
	return r
}

// PromCounts are the Prometheus counters the accounting needs, read together.
//
// Prometheus (2.42 here, storage/remote/write_handler.go and tsdb/head_append.go) rejects an
// out-of-order sample at two moments. While appending a request's samples it checks each
// against what is committed; the first out-of-order one counts 1 in
// prometheus_tsdb_out_of_order_samples_total, the request is rolled back and answered 400, and
// the sender counts the whole request as failed. Then it commits and checks again, because a
// concurrent request for the same series may have committed newer samples meanwhile: each
// sample out of order by now is dropped and counted, one by one, in the same counter, and the
// request is answered 204. The sender counts those as sent. So the out-of-order counter less
// one per 400 answer is what Prometheus dropped behind a success, and only Prometheus counts it.
type PromCounts struct {
	// OutOfOrder is prometheus_tsdb_out_of_order_samples_total.
	OutOfOrder float64
	// WriteRejected is the remote-write requests answered 400.
	WriteRejected float64
}

// PromCounts reads Prometheus' counters.
func (s *Stack) PromCounts() PromCounts { return ReadPromCounts(s.t, s.Prom) }

// ReadPromCounts reads p's counters.
func ReadPromCounts(t fleettest.T, p *fleettest.Prometheus) PromCounts {
	t.Helper()
	m := p.Metrics(t)
	return PromCounts{
		OutOfOrder:    fleettest.Sum(m, "prometheus_tsdb_out_of_order_samples_total", nil),
		WriteRejected: fleettest.Sum(m, "prometheus_http_requests_total", map[string]string{"handler": "/api/v1/write", "code": "400"}),
	}
}

// Since is what was counted between before and c.
func (c PromCounts) Since(before PromCounts) PromCounts {
	return PromCounts{OutOfOrder: c.OutOfOrder - before.OutOfOrder, WriteRejected: c.WriteRejected - before.WriteRejected}
}

// DroppedAtCommit is the out-of-order samples Prometheus dropped in requests it answered 2xx.
// A 400 can also mean a sample out of bounds or a duplicate timestamp, which count 0 out of
// order: subtracting every 400 can only understate these drops, so the accounting never takes
// more from Prometheus than it dropped. The counter covers every series, target_info included:
// a scenario whose gateways write target_info may have part of this figure in that series.
func (c PromCounts) DroppedAtCommit() float64 {
	return max(c.OutOfOrder-c.WriteRejected, 0)
}

// Readiness asks the node's fleet_health /readyz ("n/a" when its config has none).
func (n *Node) Readiness() string {
	if !strings.Contains(n.config, "fleet_health:") {
		return "n/a"
	}
	resp, err := http.Get("http://" + n.HealthEndpoint + "/readyz")
	if err != nil {
		return "unreachable"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode == http.StatusOK {
		return "ready"
	}
	return fmt.Sprintf("not ready (%d)", resp.StatusCode)
}

// Table renders results side by side, one column per scenario.
func Table(w io.Writer, results ...Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(Result) string) {
		fmt.Fprint(tw, label+"\t")
		for _, r := range results {
			fmt.Fprint(tw, f(r)+"\t")
		}
		fmt.Fprintln(tw)
	}
	row("scenario", func(r Result) string { return r.Scenario })
	row("samples sent", func(r Result) string { return fmt.Sprint(r.Sent) })
	row("stored in Prometheus", func(r Result) string { return fmt.Sprint(r.Stored) })
	row("missing", func(r Result) string {
		return fmt.Sprintf("%d (%.1f%%)", r.Missing, 100*float64(r.Missing)/float64(max(r.Sent, 1)))
	})
	row("wrong value / unexpected", func(r Result) string { return fmt.Sprintf("%d / %d", r.Wrong, r.Unexpected) })
	row("stored twice", func(r Result) string { return fmt.Sprint(r.Duplicates) })
	row("out-of-order rejected (Prometheus)", func(r Result) string { return fmt.Sprint(r.OutOfOrder) })
	row("dropped at commit, answered 2xx (Prometheus)", func(r Result) string { return fmt.Sprint(r.DroppedAtCommit) })
	row("drops counted by components", func(r Result) string { return fmt.Sprint(r.CountedDrops()) })
	row("missing and uncounted", func(r Result) string { return fmt.Sprint(r.Unaccounted()) })
	_ = tw.Flush()
	for _, r := range results {
		keys := make([]string, 0, len(r.Dropped)+len(r.Ready))
		for k := range r.Dropped {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "  %s:\n", r.Scenario)
		if len(r.MissingSteps) > 0 {
			fmt.Fprintf(w, "    missing by step: %v\n", r.MissingSteps)
		}
		for _, k := range keys {
			fmt.Fprintf(w, "    dropped  %-70s %g\n", k, r.Dropped[k])
		}
		nodes := make([]string, 0, len(r.Ready))
		for k := range r.Ready {
			nodes = append(nodes, k)
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			fmt.Fprintf(w, "    ready    %-70s %s\n", n, r.Ready[n])
		}
	}
}

// FleetMember is one member as the fleet view (GET /fleet on gateway-1) shows it.
type FleetMember struct {
	ID      string   `json:"id"`
	Role    string   `json:"role"`
	State   string   `json:"state"`
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons"`
}

// Fleet reads the fleet view: member id -> member.
func (s *Stack) Fleet() (map[string]FleetMember, error) {
	resp, err := http.Get("http://" + s.FleetView + "/fleet")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var view struct {
		Members []FleetMember `json:"members"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
		return nil, err
	}
	out := make(map[string]FleetMember, len(view.Members))
	for _, m := range view.Members {
		out[m.ID] = m
	}
	return out, nil
}

// FleetState is one member's state in the fleet view ("" when absent or unreadable).
func (s *Stack) FleetState(id string) string {
	f, err := s.Fleet()
	if err != nil {
		return ""
	}
	return f[id].State
}

// WaitFor polls cond every 200ms until it holds or timeout passes, and says which.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
