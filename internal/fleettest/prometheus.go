package fleettest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Prometheus is a real Prometheus server (Debian package `prometheus`) with the remote-write
// receiver enabled, standing in for Amazon Managed Service for Prometheus.
type Prometheus struct {
	Port int
	proc *process
}

// StartPrometheus starts Prometheus on a free loopback port with its own data directory and
// waits until it is ready. It is stopped at the end of the test.
func StartPrometheus(t T) *Prometheus {
	t.Helper()
	return startPrometheus(t, "")
}

// StartPrometheusWithOutOfOrderWindow is StartPrometheus with
// `storage.tsdb.out_of_order_time_window` set in its config file (honoured since 2.39): samples
// up to window older than the newest one in the TSDB are accepted, as AMP does by default.
func StartPrometheusWithOutOfOrderWindow(t T, window time.Duration) *Prometheus {
	t.Helper()
	return startPrometheus(t, fmt.Sprintf("storage:\n  tsdb:\n    out_of_order_time_window: %dms\n", window.Milliseconds()))
}

// startPrometheus starts Prometheus with extraConfig appended to its config file.
func startPrometheus(t T, extraConfig string) *Prometheus {
	t.Helper()
	SkipIfE2EDisabled(t)
	bin, err := LookPath("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := dir + "/prometheus.yml"
	// No scrape jobs: everything it stores arrives by remote write.
	if err := writeFile(cfg, "global:\n  scrape_interval: 1h\n"+extraConfig); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	p := &Prometheus{Port: port}
	p.proc = startProcess(t, "prometheus", nil, bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+dir+"/data",
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
		"--web.enable-remote-write-receiver",
		"--web.enable-admin-api",
		"--storage.tsdb.retention.time=1d",
		// Queries must see every stored sample, not only the last 5 minutes' worth.
		"--query.lookback-delta=1h",
		"--log.level=info",
	)
	waitFor(t, p.proc, 60*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(p.URL() + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Cleanup(func() {
		if err := p.proc.terminate(20 * time.Second); err != nil {
			t.Logf("prometheus stop: %v", err)
		}
	})
	return p
}

// URL is Prometheus' base URL.
func (p *Prometheus) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", p.Port) }

// RemoteWriteURL is where remote write is accepted.
func (p *Prometheus) RemoteWriteURL() string { return p.URL() + "/api/v1/write" }

// Logs returns what Prometheus printed so far (its rejections are logged there).
func (p *Prometheus) Logs() string { return p.proc.out.String() }

// Sample is one element of an instant-query result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

type apiResponse struct {
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Data   json.RawMessage `json:"data"`
}

func (p *Prometheus) api(t T, path string, params url.Values, into any) {
	t.Helper()
	resp, err := http.PostForm(p.URL()+path, params)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("prometheus %s %v: status %d: %s", path, params, resp.StatusCode, body)
	}
	if err := json.Unmarshal(r.Data, into); err != nil {
		t.Fatalf("prometheus %s: decode %s: %v", path, r.Data, err)
	}
}

// Query runs an instant PromQL query at the current time.
func (p *Prometheus) Query(t T, promql string) []Sample {
	t.Helper()
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	p.api(t, "/api/v1/query", url.Values{"query": {promql}}, &data)
	out := make([]Sample, 0, len(data.Result))
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %q: value %v: %v", promql, r.Value, err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out
}

// QueryScalar runs an instant query expected to return at most one sample; no result is 0.
func (p *Prometheus) QueryScalar(t T, promql string) float64 {
	t.Helper()
	res := p.Query(t, promql)
	switch len(res) {
	case 0:
		return 0
	case 1:
		return res[0].Value
	default:
		t.Fatalf("query %q returned %d series, want at most 1", promql, len(res))
		return 0
	}
}

// Series lists the label sets of every stored series matching the selector.
func (p *Prometheus) Series(t T, match string) []map[string]string {
	t.Helper()
	var data []map[string]string
	p.api(t, "/api/v1/series", url.Values{
		"match[]": {match},
		"start":   {strconv.FormatInt(time.Now().Add(-24*time.Hour).Unix(), 10)},
		"end":     {strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)},
	}, &data)
	return data
}

// StoredSeries is one series as Prometheus stores it: its labels and raw samples (ms -> value).
type StoredSeries struct {
	Labels  map[string]string
	Samples map[int64]float64
}

// RawSamples returns every stored sample of every series matching the selector within window
// before now. The range is read with a range-vector query, which returns raw samples.
func (p *Prometheus) RawSamples(t T, match string, window time.Duration) []StoredSeries {
	t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	q := fmt.Sprintf("%s[%ds]", match, int(window.Seconds()))
	p.api(t, "/api/v1/query", url.Values{"query": {q}, "time": {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)}}, &data)
	out := make([]StoredSeries, 0, len(data.Result))
	for _, r := range data.Result {
		m := make(map[int64]float64, len(r.Values))
		for _, v := range r.Values {
			ts, _ := v[0].(float64)
			s, _ := v[1].(string)
			f, _ := strconv.ParseFloat(s, 64)
			m[int64(ts*1000+0.5)] = f
		}
		out = append(out, StoredSeries{Labels: r.Metric, Samples: m})
	}
	return out
}

// Samples is RawSamples keyed by each series' sorted label string.
func (p *Prometheus) Samples(t T, match string, window time.Duration) map[string]map[int64]float64 {
	t.Helper()
	out := map[string]map[int64]float64{}
	for _, s := range p.RawSamples(t, match, window) {
		out[LabelString(s.Labels)] = s.Samples
	}
	return out
}

// CountSamples counts the stored samples of every series matching the selector within window.
func (p *Prometheus) CountSamples(t T, match string, window time.Duration) int {
	t.Helper()
	n := 0
	for _, s := range p.Samples(t, match, window) {
		n += len(s)
	}
	return n
}

// Metrics reads Prometheus' own /metrics (e.g. prometheus_tsdb_out_of_order_samples_total).
func (p *Prometheus) Metrics(t T) map[string]float64 {
	t.Helper()
	return ScrapeMetrics(t, p.URL()+"/metrics")
}

// MetricValue returns one of Prometheus' own metrics summed over every series whose labels
// include the given ones.
func (p *Prometheus) MetricValue(t T, name string, labels map[string]string) float64 {
	t.Helper()
	return Sum(p.Metrics(t), name, labels)
}

// ScrapeMetrics reads a Prometheus text exposition into "name{k=v,...}" -> value, labels sorted.
// Histograms and summaries are flattened to their _bucket/_sum/_count series.
func ScrapeMetrics(t T, u string) map[string]float64 {
	t.Helper()
	m, err := TryScrapeMetrics(u)
	if err != nil {
		t.Fatalf("scrape %s: %v", u, err)
	}
	return m
}

// TryScrapeMetrics is ScrapeMetrics returning the error instead of failing.
func TryScrapeMetrics(u string) (map[string]float64, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[name+LabelString(labels)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[name+LabelString(labels)] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				out[name+LabelString(labels)] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				out[name+"_sum"+LabelString(labels)] = m.GetHistogram().GetSampleSum()
				out[name+"_count"+LabelString(labels)] = float64(m.GetHistogram().GetSampleCount())
			case m.Summary != nil:
				out[name+"_sum"+LabelString(labels)] = m.GetSummary().GetSampleSum()
				out[name+"_count"+LabelString(labels)] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return out, nil
}

// LabelString renders labels as {k="v",...} sorted by name ("" when empty).
func LabelString(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Sum adds up every series of the named metric whose labels include the given ones.
func Sum(metrics map[string]float64, name string, labels map[string]string) float64 {
	total := 0.0
	for key, v := range metrics {
		n, ls := splitKey(key)
		if n != name {
			continue
		}
		ok := true
		for k, want := range labels {
			if !strings.Contains(ls, fmt.Sprintf("%s=%q", k, want)) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

func splitKey(key string) (name, labels string) {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		return key[:i], key[i:]
	}
	return key, ""
}

// Pause freezes Prometheus (SIGSTOP): connections are accepted by the kernel but never
// answered, the way a backend that stops answering looks to an exporter. Resume undoes it.
func (p *Prometheus) Pause(t T) {
	t.Helper()
	if err := p.proc.cmd.Process.Signal(syscallSIGSTOP); err != nil {
		t.Fatalf("pause prometheus: %v", err)
	}
	// Never leave a frozen server behind: its shutdown would wait forever.
	t.Cleanup(func() { _ = p.proc.cmd.Process.Signal(syscallSIGCONT) })
}

// Resume lets a paused Prometheus run again (SIGCONT).
func (p *Prometheus) Resume(t T) {
	t.Helper()
	if err := p.proc.cmd.Process.Signal(syscallSIGCONT); err != nil {
		t.Fatalf("resume prometheus: %v", err)
	}
}
