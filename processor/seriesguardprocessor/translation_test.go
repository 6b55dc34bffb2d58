package seriesguardprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/identity"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"
)

// captureExporter lets the real resourcetotelemetry wrapper promote resource attributes.
type captureExporter struct {
	got pmetric.Metrics
}

func (*captureExporter) Start(context.Context, component.Host) error { return nil }
func (*captureExporter) Shutdown(context.Context) error              { return nil }
func (*captureExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (c *captureExporter) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	c.got = md
	return nil
}

// translatorSeries runs the exporter's real translation of a one-point batch and returns the
// label sets it produces, each as a sorted "k=v,..." string, and the most labels of one series.
func translatorSeries(t *testing.T, md pmetric.Metrics, cfg TranslationConfig) ([]string, int) {
	promote := cfg.ResourceConstantLabels
	if promote.IsEmpty() {
		promote = cfg.ResourceToTelemetryConversion
	}
	capture := &captureExporter{}
	require.NoError(t, resourcetotelemetry.WrapMetricsExporter(promote, capture).ConsumeMetrics(context.Background(), md))
	tss, err := prometheusremotewrite.FromMetrics(capture.got, prometheusremotewrite.Settings{
		Namespace:           cfg.Namespace,
		ExternalLabels:      cfg.ExternalLabels,
		DisableTargetInfo:   true,
		DisableScopeInfo:    cfg.DisableScopeInfo,
		AddMetricSuffixes:   cfg.AddMetricSuffixes,
		TranslationStrategy: cfg.TranslationStrategy,
	})
	require.NoError(t, err)
	var out []string
	most := 0
	for _, ts := range tss {
		labels := make([]string, 0, len(ts.Labels))
		for _, l := range ts.Labels {
			labels = append(labels, l.Name+"="+l.Value)
		}
		sort.Strings(labels)
		out = append(out, strings.Join(labels, ","))
		most = max(most, len(ts.Labels))
	}
	sort.Strings(out)
	return out, most
}

func pick[T any](r *rand.Rand, from ...T) T { return from[r.IntN(len(from))] }

// randomBatch builds points whose attributes often collide: same values from other resources,
// names equal after sanitization, attributes that job/instance/scope labels or promoted resource
// attributes replace, empty values, integer values.
func randomBatch(r *rand.Rand, points int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for range points {
		rm := md.ResourceMetrics().AppendEmpty()
		res := rm.Resource().Attributes()
		if r.IntN(4) > 0 {
			res.PutStr("service.name", pick(r, "api", "web"))
		}
		if r.IntN(2) == 0 {
			res.PutStr("service.namespace", pick(r, "shop", "ops"))
		}
		if r.IntN(2) == 0 {
			res.PutStr("service.instance.id", pick(r, "i-1", "i-2"))
		}
		if r.IntN(2) == 0 {
			res.PutStr("k8s.namespace.name", pick(r, "payments", "search"))
		}
		if r.IntN(3) == 0 {
			res.PutStr("host.name", pick(r, "h1", "h2"))
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		if r.IntN(2) == 0 {
			sm.Scope().SetName(pick(r, "lib", "otherlib"))
			sm.Scope().SetVersion(pick(r, "", "1.0"))
		}
		if r.IntN(4) == 0 {
			sm.Scope().Attributes().PutStr("shard", pick(r, "a", "b"))
		}
		m := sm.Metrics().AppendEmpty()
		switch r.IntN(6) {
		case 0:
			m.SetName("cpu.usage")
			m.SetUnit("1")
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetDoubleValue(1)
			fillAttrs(r, dp.Attributes())
		case 1:
			m.SetName("http.requests")
			m.SetUnit("{request}")
			s := m.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := s.DataPoints().AppendEmpty()
			dp.SetIntValue(3)
			fillAttrs(r, dp.Attributes())
		case 2:
			m.SetName("queue.depth")
			m.SetUnit("By")
			s := m.SetEmptySum()
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := s.DataPoints().AppendEmpty()
			dp.SetIntValue(3)
			fillAttrs(r, dp.Attributes())
		case 3, 4:
			m.SetName("http.server.duration")
			m.SetUnit("ms")
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := h.DataPoints().AppendEmpty()
			if r.IntN(2) == 0 {
				dp.ExplicitBounds().FromRaw([]float64{1, 10, 100})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
			} else {
				dp.ExplicitBounds().FromRaw([]float64{5, 50})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3})
			}
			dp.SetCount(10)
			if r.IntN(3) > 0 {
				dp.SetSum(42)
			}
			fillAttrs(r, dp.Attributes())
		case 5:
			m.SetName("rpc.latency")
			m.SetUnit("s")
			dp := m.SetEmptySummary().DataPoints().AppendEmpty()
			q := dp.QuantileValues()
			for _, quantile := range pick(r, []float64{0.5, 0.99}, []float64{0.9}) {
				v := q.AppendEmpty()
				v.SetQuantile(quantile)
				v.SetValue(1)
			}
			dp.SetCount(3)
			dp.SetSum(3)
			fillAttrs(r, dp.Attributes())
		}
	}
	return md
}

func fillAttrs(r *rand.Rand, attrs interface {
	PutStr(string, string)
	PutInt(string, int64)
},
) {
	if r.IntN(2) == 0 {
		attrs.PutStr("method", pick(r, "GET", "POST"))
	}
	if r.IntN(3) == 0 {
		attrs.PutStr("a.b", pick(r, "x", "y"))
	}
	if r.IntN(3) == 0 {
		attrs.PutStr("a_b", pick(r, "x", "z"))
	}
	if r.IntN(4) == 0 {
		attrs.PutStr("job", "attr-job")
	}
	if r.IntN(4) == 0 {
		attrs.PutStr("otel_scope_name", "attr-scope")
	}
	if r.IntN(4) == 0 {
		attrs.PutStr("cluster", pick(r, "prod", "dev"))
	}
	if r.IntN(4) == 0 {
		attrs.PutStr("k8s.namespace.name", "from-point")
	}
	if r.IntN(4) == 0 {
		attrs.PutStr("empty", "")
	}
	if r.IntN(3) == 0 {
		attrs.PutInt("code", int64(pick(r, 200, 500)))
	}
	if r.IntN(5) == 0 {
		attrs.PutStr("0digit", "d")
	}
}

// translationVariants are the exporter settings the translation tests run under.
var translationVariants = map[string]TranslationConfig{
	"exporter defaults": {AddMetricSuffixes: true},
	"no suffixes, namespace, external labels": {
		Namespace: "fleet", TranslationStrategy: "UnderscoreEscapingWithoutSuffixes",
		ExternalLabels: map[string]string{"cluster": "eu-1", "region": "eu"},
	},
	"scope info disabled":               {AddMetricSuffixes: true, DisableScopeInfo: true},
	"resource_to_telemetry_conversion":  {AddMetricSuffixes: true, ResourceToTelemetryConversion: resourcetotelemetry.Settings{Enabled: true}},
	"exclude_service_attributes":        {AddMetricSuffixes: true, ResourceToTelemetryConversion: resourcetotelemetry.Settings{Enabled: true, ExcludeServiceAttributes: true}},
	"resource_constant_labels patterns": {AddMetricSuffixes: true, ResourceConstantLabels: resourcetotelemetry.Settings{Included: []string{"k8s.*", "host.name"}}},
}

// TestIdentityMatchesTranslator checks the series identity against what the real
// prometheusremotewrite translator (v0.165.1) emits: two points get the same identity exactly
// when they become the same Prometheus series, the weight is the number of series, and the label
// count is the translator's.
func TestIdentityMatchesTranslator(t *testing.T) {
	for name, tr := range translationVariants {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Translation = tr
			require.NoError(t, cfg.Validate())
			ids := identity.NewBuilder(cfg.walkSettings().Identity)
			// The same 300 random points twice: every series is met again at least once.
			md := randomBatch(rand.New(rand.NewPCG(1, 2)), 300)
			randomBatch(rand.New(rand.NewPCG(1, 2)), 300).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())

			byHash := map[uint64]string{}
			byKey := map[string]uint64{}
			distinct := 0
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				rm := md.ResourceMetrics().At(i)
				one := pmetric.NewMetrics()
				rm.CopyTo(one.ResourceMetrics().AppendEmpty())
				series, mostLabels := translatorSeries(t, one, tr)
				key := strings.Join(series, "|")

				hash, weight, labels := identityOf(ids, rm)
				require.Len(t, series, weight, "series of %s", key)
				require.Equal(t, mostLabels, labels, "labels of %s", key)
				if k, ok := byHash[hash]; ok {
					require.Equal(t, k, key, "same identity, different series")
				} else {
					byHash[hash] = key
					distinct++
				}
				if h, ok := byKey[key]; ok {
					require.Equal(t, h, hash, "same series, different identity: %s", key)
				}
				byKey[key] = hash
			}
			require.Greater(t, distinct, 50, "the batch must exercise many distinct series")
			require.LessOrEqual(t, distinct, 300)
			require.Len(t, byKey, distinct)
		})
	}
}

// identityOf computes the identity of the only point of a one-point resource as the walker does.
func identityOf(ids *identity.Builder, rm pmetric.ResourceMetrics) (hash uint64, weight, labels int) {
	ids.SetResource(rm.Resource())
	sm := rm.ScopeMetrics().At(0)
	ids.SetScope(sm.Scope())
	m := sm.Metrics().At(0)
	nameHash := identity.HashString(ids.MetricName(m))
	var s identity.Series
	var layout uint64
	extra := 0
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		s, weight = ids.Series(m.Gauge().DataPoints().At(0).Attributes()), 1
	case pmetric.MetricTypeSum:
		s, weight = ids.Series(m.Sum().DataPoints().At(0).Attributes()), 1
	case pmetric.MetricTypeHistogram:
		dp := m.Histogram().DataPoints().At(0)
		s, weight = ids.Series(dp.Attributes()), walk.HistogramWeight(dp)
		layout, extra = walk.HistogramLayout(dp), 1
	case pmetric.MetricTypeSummary:
		dp := m.Summary().DataPoints().At(0)
		s, weight = ids.Series(dp.Attributes()), dp.QuantileValues().Len()+2
		layout, extra = walk.SummaryLayout(dp), 1
	default:
		panic(fmt.Sprintf("unexpected type %s", m.Type()))
	}
	return walk.MixHash(s.Hash, nameHash, layout), weight, s.Labels + 1 + extra
}

// reverseAttributes reverses the order of every data point's attributes: the same series under
// other raw identities.
func reverseAttributes(md pmetric.Metrics) {
	reverse := func(attrs pcommon.Map) {
		raw := pcommon.NewMap()
		attrs.CopyTo(raw)
		keys := make([]string, 0, raw.Len())
		for k := range raw.All() {
			keys = append(keys, k)
		}
		attrs.Clear()
		for i := len(keys) - 1; i >= 0; i-- {
			v, _ := raw.Get(keys[i])
			v.CopyTo(attrs.PutEmpty(keys[i]))
		}
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		m := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics().At(0)
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			reverse(m.Gauge().DataPoints().At(0).Attributes())
		case pmetric.MetricTypeSum:
			reverse(m.Sum().DataPoints().At(0).Attributes())
		case pmetric.MetricTypeHistogram:
			reverse(m.Histogram().DataPoints().At(0).Attributes())
		case pmetric.MetricTypeSummary:
			reverse(m.Summary().DataPoints().At(0).Attributes())
		}
	}
}

// TestSeriesCountMatchesTranslator runs the processor itself, series caps on, over random points
// sent three times (the third time with every point's attributes in reverse order), so that
// points are found by their raw identities after the first pass: the series it counts must
// stay those the real translator makes, whatever the raw form.
func TestSeriesCountMatchesTranslator(t *testing.T) {
	for name, tr := range translationVariants {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Translation = tr
			cfg.SeriesLimits.MaxSeries = 1_000_000
			p := newTestGuard(t, cfg)
			batch := func() pmetric.Metrics { return randomBatch(rand.New(rand.NewPCG(3, 4)), 300) }

			// The translator's series, one group per distinct series list of a point, as counted.
			groups := map[string]int{}
			md := batch()
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				one := pmetric.NewMetrics()
				md.ResourceMetrics().At(i).CopyTo(one.ResourceMetrics().AppendEmpty())
				series, _ := translatorSeries(t, one, tr)
				if len(series) > 0 {
					groups[strings.Join(series, "|")] = len(series)
				}
			}
			want := int64(0)
			for _, n := range groups {
				want += int64(n)
			}
			require.Greater(t, len(groups), 50, "the batch must exercise many distinct series")

			for pass := range 3 {
				md := batch()
				if pass == 2 {
					reverseAttributes(md)
				}
				points := md.DataPointCount()
				out, err := p.processMetrics(context.Background(), md)
				require.NoError(t, err)
				require.Equal(t, points, out.DataPointCount(), "pass %d: nothing is refused", pass)
				require.Equal(t, want, p.guard.Active(), "pass %d: the translator's series", pass)
			}
			require.Positive(t, p.guard.Identities(), "points were found by their raw identities")
		})
	}
}
