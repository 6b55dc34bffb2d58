// Package loadgen generates deterministic metric series: every sample's name, labels, timestamp
// and value follow from (series, step), so a test can check each sample a backend stored and
// name each one that is missing.
package loadgen

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Config describes the series a Generator produces.
type Config struct {
	// Metric is the gauge's name (stored under the same name in Prometheus).
	Metric string
	// Series is how many series there are; series i carries the label series="s<i>".
	Series int
	// Start is the timestamp of step 0; step k is at Start + k*Interval.
	Start    time.Time
	Interval time.Duration
	// ServiceName becomes the resource's service.name (Prometheus' job label).
	ServiceName string
	// Tenants, when set, spreads the series over them: series i belongs to Tenants[i % len],
	// set as the resource attribute TenantAttribute [tenant].
	Tenants         []string
	TenantAttribute string
	// ExtraResourceAttributes are added to every resource. Attributes beyond service.name,
	// service.namespace and service.instance.id make the remote-write exporter emit target_info.
	ExtraResourceAttributes map[string]string
}

// Generator builds batches of Config's series.
type Generator struct{ cfg Config }

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.TenantAttribute == "" {
		cfg.TenantAttribute = "tenant"
	}
	return &Generator{cfg: cfg}
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Value is the value of series at step: unique per (series, step), exact in a float64.
func Value(series, step int) float64 { return float64(series)*1e6 + float64(step) }

// SeriesLabel is the value of the "series" label of series i.
func SeriesLabel(i int) string { return fmt.Sprintf("s%d", i) }

// Tenant is the tenant of series i ("" without tenants).
func (g *Generator) Tenant(i int) string {
	if len(g.cfg.Tenants) == 0 {
		return ""
	}
	return g.cfg.Tenants[i%len(g.cfg.Tenants)]
}

// Timestamp is the time of step.
func (g *Generator) Timestamp(step int) time.Time {
	return g.cfg.Start.Add(time.Duration(step) * g.cfg.Interval)
}

// Batch returns one sample of each series in [from, to) at step, one resource per tenant.
func (g *Generator) Batch(step, from, to int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(g.Timestamp(step))
	byTenant := map[string]pmetric.NumberDataPointSlice{}
	for i := from; i < to; i++ {
		tenant := g.Tenant(i)
		dps, ok := byTenant[tenant]
		if !ok {
			rm := md.ResourceMetrics().AppendEmpty()
			attrs := rm.Resource().Attributes()
			attrs.PutStr("service.name", g.cfg.ServiceName)
			if tenant != "" {
				attrs.PutStr(g.cfg.TenantAttribute, tenant)
			}
			for k, v := range g.cfg.ExtraResourceAttributes {
				attrs.PutStr(k, v)
			}
			m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName(g.cfg.Metric)
			dps = m.SetEmptyGauge().DataPoints()
			byTenant[tenant] = dps
		}
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("series", SeriesLabel(i))
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(Value(i, step))
	}
	return md
}

// Expected lists what a store should hold after steps [0, steps) of series [from, to):
// series label -> timestamp in ms -> value.
func (g *Generator) Expected(steps, from, to int) map[string]map[int64]float64 {
	out := make(map[string]map[int64]float64, to-from)
	for i := from; i < to; i++ {
		m := make(map[int64]float64, steps)
		for s := range steps {
			m[g.Timestamp(s).UnixMilli()] = Value(i, s)
		}
		out[SeriesLabel(i)] = m
	}
	return out
}

// Diff compares stored samples (series label -> ts ms -> value) with the expected ones and
// returns how many expected samples are missing, how many stored ones are wrong or unexpected.
func Diff(expected, stored map[string]map[int64]float64) (missing, wrong, unexpected int) {
	for s, want := range expected {
		got := stored[s]
		for ts, v := range want {
			gv, ok := got[ts]
			switch {
			case !ok:
				missing++
			case gv != v:
				wrong++
			}
		}
	}
	for s, got := range stored {
		want := expected[s]
		for ts := range got {
			if _, ok := want[ts]; !ok {
				unexpected++
			}
		}
	}
	return missing, wrong, unexpected
}
