package seriesguardprocessor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/pooltest"
)

// With the pdata.useProtoPooling feature gate, the pipeline (service/internal/refconsumer)
// returns a batch's objects to pdata's pools as soon as the component's ConsumeMetrics returns,
// and the next unmarshal takes them again. A component that keeps anything of the batch beyond
// that (a pcommon.Map, a data point, a slice of one) reads another request's data later. These
// tests run series_guard with the gate on over batches that are, after each call, overwritten,
// released to the pools and reused by a decoy batch, and require the same output as when the
// batches are left alone.

// poolingBatch is batch i: two resources (one tenant each), every metric type, string, int and
// bool attributes, a value longer than the label limit (40 > 24); later batches bring new series, so that
// the series cap folds some into overflow series made from what earlier batches carried.
func poolingBatch(i int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 2 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		rm.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("inst-%d", r))
		rm.Resource().Attributes().PutStr("tenant", fmt.Sprintf("team-%d", r))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("scope")
		ms := sm.Metrics()
		ts := pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i)*1_000_000_000)
		for s := range 3 + i {
			attrs := func(a pcommon.Map) {
				a.PutStr("series", fmt.Sprintf("s%d", s))
				a.PutInt("shard", int64(s%3))
				a.PutBool("even", s%2 == 0)
				a.PutStr("long", strings.Repeat("v", 40))
			}
			pooltest.AppendSeries(ms, attrs, 1_700_000_000_000_000_000, ts, i, s)
		}
	}
	return md
}

// poolingConfig caps series so that the later batches overflow, truncates long label values and
// counts tenants: every path that could keep something of a batch.
func poolingConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.LabelLimits.MaxLabelValueLength = 24
	cfg.LabelLimits.Action = LabelActionTruncate
	cfg.SeriesLimits.MaxSeries = 40
	cfg.SeriesLimits.Action = SeriesActionOverflow
	cfg.SeriesLimits.Tenant.Attribute = "tenant"
	cfg.SeriesLimits.Tenant.MaxSeries = 25
	return cfg
}

// feedPooled unmarshals each batch as the otlp receiver does (from the pools, with the gate on),
// hands it to consume as the pipeline does (pipeline-owned), and returns what consume output, as
// JSON. With recycle, each batch is then poisoned, released to the pools (as refconsumer does
// when ConsumeMetrics returns) and its objects reused by a poisoned decoy batch.
func feedPooled(t *testing.T, batches []pmetric.Metrics, recycle bool, consume func(pmetric.Metrics) pmetric.Metrics) []string {
	t.Helper()
	var (
		marshaler pmetric.ProtoMarshaler
		jsonOut   pmetric.JSONMarshaler
	)
	decoy, err := marshaler.MarshalMetrics(poolingBatch(9))
	require.NoError(t, err)
	var outputs []string
	for _, batch := range batches {
		md := pooltest.Unmarshal(t, batch)
		out := consume(md)
		b, err := jsonOut.MarshalMetrics(out)
		require.NoError(t, err)
		outputs = append(outputs, string(b))
		if recycle { // otherwise md stays alive and untouched: the reference run
			pooltest.Recycle(t, md, decoy)
		}
	}
	return outputs
}

func TestPooledBatchesAreNotRetained(t *testing.T) {
	pooltest.Enable(t)
	var batches []pmetric.Metrics
	for i := range 6 {
		batches = append(batches, poolingBatch(i))
	}
	run := func(recycle bool) []string {
		p := newTestGuard(t, poolingConfig())
		return feedPooled(t, batches, recycle, func(md pmetric.Metrics) pmetric.Metrics {
			out, err := p.processMetrics(context.Background(), md)
			require.NoError(t, err)
			return out
		})
	}
	want := run(false)
	require.Contains(t, want[len(want)-1], "otel_metric_overflow", "the series cap must fold series, or the overflow path is not exercised")
	require.Contains(t, want[0], strings.Repeat("v", 6)+"~", "long values must be truncated, not dropped")
	got := run(true)
	require.Len(t, got, len(want))
	for i := range want {
		assert.JSONEq(t, want[i], got[i], "batch %d", i)
		assert.NotContains(t, got[i], "poison", "batch %d", i)
	}
}

// A component that keeps a batch's attributes and reads them in the next call is what the test
// above exists to catch: feedPooled must show it.
func TestPooledBatchesCatchRetention(t *testing.T) {
	pooltest.Enable(t)
	batches := []pmetric.Metrics{poolingBatch(0), poolingBatch(1)}
	run := func(recycle bool) []string {
		var kept pcommon.Map
		return feedPooled(t, batches, recycle, func(md pmetric.Metrics) pmetric.Metrics {
			out := pmetric.NewMetrics()
			if kept != (pcommon.Map{}) {
				// Once recycled, the map may hold a decoy's, a poisoned or no value at all
				// (pools drop objects at random, under -race more so): any of them differs.
				previous := "<missing>"
				if v, ok := kept.Get("service.name"); ok {
					previous = v.AsString()
				}
				out.ResourceMetrics().AppendEmpty().Resource().Attributes().PutStr("previous", previous)
			}
			kept = md.ResourceMetrics().At(0).Resource().Attributes()
			return out
		})
	}
	want, got := run(false), run(true)
	assert.Contains(t, want[1], "svc-0")
	assert.NotEqual(t, want[1], got[1], "a retained pcommon.Map must read recycled data")
}
